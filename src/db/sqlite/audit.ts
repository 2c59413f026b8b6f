import type { SqliteDb } from './database.js';
import type { AuditRepository } from '../repositories.js';
import type { AuditEvent } from '../../types.js';
import { type AuditRow, toAuditEvent } from '../shared/rows.js';

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
    return this.select.all({ channel: opts.channel ?? null, action: opts.action ?? null, limit: opts.limit }).map(toAuditEvent);
  }
}
