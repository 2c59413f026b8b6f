import type { AuditRepository } from '../repositories.js';
import type { AuditEvent } from '../../types.js';
import { type AuditRow, toAuditEvent } from '../shared/rows.js';
import { type Pool, rows } from './database.js';

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
    return found.map(toAuditEvent);
  }
}
