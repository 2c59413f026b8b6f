import type { AuditRepository } from '../repositories.js';
import type { AuditAction, AuditEvent } from '../../core/types.js';
import { type Pool, rows } from './database.js';

interface AuditRow {
  id: number; at: number; actor_user_id: number | null; actor_login: string | null; actor_key_id: number | null;
  actor_publisher: string | null; action: string; channel: string | null; target: string | null; details: string | null;
}

export class PgAuditRepository implements AuditRepository {
  constructor(private readonly pool: Pool) {}

  async record(e: Omit<AuditEvent, 'id'>): Promise<void> {
    await this.pool.query(
      `INSERT INTO audit_events (at, actor_user_id, actor_login, actor_key_id, actor_publisher, action, channel, target, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [e.at, e.actorUserId, e.actorLogin, e.actorKeyId, e.actorPublisher === null ? null : JSON.stringify(e.actorPublisher),
        e.action, e.channel, e.target, e.details === undefined || e.details === null ? null : JSON.stringify(e.details)]);
  }

  async list(opts: { limit: number; channel?: string | null; action?: string | null }): Promise<AuditEvent[]> {
    const found = await rows<AuditRow>(this.pool,
      `SELECT * FROM audit_events WHERE ($1::text IS NULL OR channel = $1) AND ($2::text IS NULL OR action = $2)
       ORDER BY at DESC, id DESC LIMIT $3`,
      [opts.channel ?? null, opts.action ?? null, opts.limit]);
    return found.map((r) => ({
      id: r.id, at: r.at, actorUserId: r.actor_user_id, actorLogin: r.actor_login, actorKeyId: r.actor_key_id,
      actorPublisher: r.actor_publisher === null ? null : JSON.parse(r.actor_publisher),
      action: r.action as AuditAction, channel: r.channel, target: r.target,
      details: r.details === null ? null : JSON.parse(r.details),
    }));
  }
}
