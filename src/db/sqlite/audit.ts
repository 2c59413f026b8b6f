import type { SqliteDb } from './database.js';
import type { AuditRepository } from '../repositories.js';
import type { AuditAction, AuditEvent } from '../../core/types.js';

interface AuditRow {
  id: number; at: number; actor_user_id: number | null; actor_login: string | null; actor_key_id: number | null;
  actor_publisher: string | null; action: string; channel: string | null; target: string | null; details: string | null;
}

export class SqliteAuditRepository implements AuditRepository {
  private readonly insert;
  private readonly select;

  constructor(db: SqliteDb) {
    this.insert = db.prepare(
      `INSERT INTO audit_events (at, actor_user_id, actor_login, actor_key_id, actor_publisher, action, channel, target, details)
       VALUES (@at, @actorUserId, @actorLogin, @actorKeyId, @actorPublisher, @action, @channel, @target, @details)`);
    this.select = db.prepare<[{ channel: string | null; action: string | null; limit: number }], AuditRow>(
      `SELECT * FROM audit_events WHERE (@channel IS NULL OR channel = @channel) AND (@action IS NULL OR action = @action)
       ORDER BY at DESC, id DESC LIMIT @limit`);
  }

  async record(e: Omit<AuditEvent, 'id'>): Promise<void> {
    this.insert.run({
      ...e,
      actorPublisher: e.actorPublisher === null ? null : JSON.stringify(e.actorPublisher),
      details: e.details === undefined || e.details === null ? null : JSON.stringify(e.details),
    });
  }

  async list(opts: { limit: number; channel?: string | null; action?: string | null }): Promise<AuditEvent[]> {
    return this.select.all({ channel: opts.channel ?? null, action: opts.action ?? null, limit: opts.limit }).map((r) => ({
      id: r.id, at: r.at, actorUserId: r.actor_user_id, actorLogin: r.actor_login, actorKeyId: r.actor_key_id,
      actorPublisher: r.actor_publisher === null ? null : JSON.parse(r.actor_publisher),
      action: r.action as AuditAction, channel: r.channel, target: r.target,
      details: r.details === null ? null : JSON.parse(r.details),
    }));
  }
}
