// The audit log: every change of rights, keys and contents, with its actor
// (a user and key, or a trusted-publishing token and the CI claims behind it).
import type { AuditRepository } from '../db/repositories.js';
import type { AuditAction, AuditEvent, Principal } from '../types.js';

export class AuditLog {
  constructor(private readonly repo: AuditRepository) {}

  async record(actor: Principal | null, action: AuditAction, what: { channel?: string | null; target?: string | null; details?: unknown } = {}): Promise<void> {
    await this.repo.record({
      at: Date.now(),
      actorUserId: actor?.kind === 'user' ? actor.user.id : null,
      actorLogin: actor?.kind === 'user' ? actor.user.login : null,
      actorKeyId: actor?.kind === 'user' ? (actor.key?.id ?? null) : null,
      actorPublisher: actor?.kind === 'publisher' ? { publisherIds: actor.grants.map((g) => g.publisherId), claims: actor.claims } : null,
      action,
      channel: what.channel ?? null,
      target: what.target ?? null,
      details: what.details ?? null,
    });
  }

  list(opts: { limit: number; channel?: string | null; action?: string | null }): Promise<AuditEvent[]> {
    return this.repo.list(opts);
  }
}
