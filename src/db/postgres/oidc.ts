import type { NewOidcPublisher, NewPublisherToken, OidcRepository } from '../repositories.js';
import type { OidcProvider, OidcPublisher, PublisherClaims, PublisherGrant } from '../../types.js';
import { RollBack, answerOf } from '../shared/roll-back.js';
import { type PublisherRow, type TokenGrantRow, toPublisher, toTokenGrants } from '../shared/rows.js';
import { type Pool, changes, inTransaction, row, rows } from './database.js';

type Minted = Awaited<ReturnType<OidcRepository['mintToken']>>;

export class PgOidcRepository implements OidcRepository {
  constructor(private readonly pool: Pool) {}

  async addPublisher(p: NewOidcPublisher): Promise<OidcPublisher | null> {
    const now = Date.now();
    const r = await row<PublisherRow>(this.pool,
      `INSERT INTO oidc_publishers (id, channel_id, provider, owner, project, workflow, environment, access_mode, owner_id, project_id, created_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
       ON CONFLICT (channel_id, provider, owner, project, workflow, environment) DO NOTHING RETURNING *`,
      [p.id, p.channelId, p.provider, p.owner, p.project, p.workflow, p.environment, p.accessMode, p.ownerId, p.projectId, p.createdBy, now]);
    return r ? toPublisher(r) : null;
  }

  async publishers(channelId: number): Promise<OidcPublisher[]> {
    return (await rows<PublisherRow>(this.pool, 'SELECT * FROM oidc_publishers WHERE channel_id = $1 ORDER BY created_at, id', [channelId])).map(toPublisher);
  }

  async publishersOfOwner(provider: OidcProvider, owner: string): Promise<OidcPublisher[]> {
    return (await rows<PublisherRow>(this.pool,
      'SELECT * FROM oidc_publishers WHERE provider = $1 AND owner = $2 ORDER BY created_at, id', [provider, owner])).map(toPublisher);
  }

  async deletePublisher(channelId: number, id: string): Promise<OidcPublisher | null> {
    // Tokens go with their publisher (ON DELETE CASCADE).
    const r = await row<PublisherRow>(this.pool, 'DELETE FROM oidc_publishers WHERE channel_id = $1 AND id = $2 RETURNING *', [channelId, id]);
    return r ? toPublisher(r) : null;
  }

  async pinPublisherIds(id: string, ids: { ownerId: string; projectId: string }, now: number): Promise<{ publisher: OidcPublisher; changed: boolean } | null> {
    // A racing UPDATE of the same row waits for ours, then finds its WHERE false on the row we wrote.
    const changed = (await changes(this.pool,
      `UPDATE oidc_publishers SET owner_id = COALESCE(owner_id, $2), project_id = COALESCE(project_id, $3), updated_at = $4
       WHERE id = $1 AND (owner_id IS NULL OR project_id IS NULL)
         AND (owner_id IS NULL OR owner_id = $2) AND (project_id IS NULL OR project_id = $3)`,
      [id, ids.ownerId, ids.projectId, now])) > 0;
    const r = await row<PublisherRow>(this.pool, 'SELECT * FROM oidc_publishers WHERE id = $1', [id]);
    return r ? { publisher: toPublisher(r), changed } : null;
  }

  async mintToken(t: NewPublisherToken, now: number): Promise<Minted> {
    return answerOf(() => inTransaction(this.pool, async (tx): Promise<Minted> => {
      await tx.query('DELETE FROM oidc_tokens WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM oidc_used_jtis WHERE expires_at <= $1', [now]);
      // A concurrent mint of the same jti waits here for ours, then inserts nothing.
      if ((await changes(tx, 'INSERT INTO oidc_used_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [t.issuer, t.jti, t.jtiExpiresAt])) === 0) return 'replayed';
      // FOR SHARE: a publisher deleted by another replica meanwhile must not vanish between this check and the insert.
      const ids = [...new Set(t.grants.map((g) => g.publisherId))];
      const present = await rows(tx, 'SELECT id FROM oidc_publishers WHERE id = ANY($1::text[]) FOR SHARE', [ids]);
      // Undo the jti too: the token was never honoured, the CI may retry it.
      if (present.length !== ids.length) throw new RollBack<Minted>('publisher-gone');
      const claims = JSON.stringify(t.claims);
      for (const g of t.grants) {
        await tx.query(
          `INSERT INTO oidc_tokens (token_hash, publisher_id, channel_id, access_mode, claims, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`, [t.tokenHash, g.publisherId, g.channelId, g.accessMode, claims, now, t.expiresAt]);
      }
      return 'minted';
    }));
  }

  async tokenGrants(tokenHash: string, now: number): Promise<{ grants: PublisherGrant[]; claims: PublisherClaims } | null> {
    return toTokenGrants(await rows<TokenGrantRow>(this.pool,
      'SELECT publisher_id, channel_id, access_mode, claims FROM oidc_tokens WHERE token_hash = $1 AND expires_at > $2', [tokenHash, now]));
  }
}
