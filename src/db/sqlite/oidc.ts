import type { SqliteDb } from './database.js';
import type { NewOidcPublisher, NewPublisherToken, OidcRepository } from '../repositories.js';
import type { OidcProvider, OidcPublisher, PublisherClaims, PublisherGrant } from '../../types.js';
import { RollBack, answerOf } from '../shared/roll-back.js';
import { type PublisherRow, type TokenGrantRow, toPublisher, toTokenGrants } from '../shared/rows.js';

export class SqliteOidcRepository implements OidcRepository {
  private readonly insertPublisher;
  private readonly selectForChannel;
  private readonly selectForOwner;
  private readonly deletePublisherStmt;
  private readonly pinIdsStmt;
  private readonly selectPublisher;
  private readonly mintTx;
  private readonly selectToken;

  constructor(db: SqliteDb) {
    this.insertPublisher = db.prepare<[Record<string, unknown>], PublisherRow>(
      `INSERT INTO oidc_publishers (id, channel_id, provider, owner, project, workflow, environment, access_mode, owner_id, project_id, created_by, created_at, updated_at)
       VALUES (@id, @channelId, @provider, @owner, @project, @workflow, @environment, @accessMode, @ownerId, @projectId, @createdBy, @now, @now)
       ON CONFLICT (channel_id, provider, owner, project, workflow, environment) DO NOTHING RETURNING *`);
    this.selectForChannel = db.prepare<[number], PublisherRow>(
      'SELECT * FROM oidc_publishers WHERE channel_id = ? ORDER BY created_at, id');
    this.selectForOwner = db.prepare<[string, string], PublisherRow>(
      'SELECT * FROM oidc_publishers WHERE provider = ? AND owner = ? ORDER BY created_at, id');
    // Tokens go with their publisher (ON DELETE CASCADE).
    this.deletePublisherStmt = db.prepare<[number, string], PublisherRow>(
      'DELETE FROM oidc_publishers WHERE channel_id = ? AND id = ? RETURNING *');
    this.pinIdsStmt = db.prepare<[{ id: string; ownerId: string; projectId: string; now: number }]>(
      `UPDATE oidc_publishers SET owner_id = COALESCE(owner_id, @ownerId), project_id = COALESCE(project_id, @projectId), updated_at = @now
       WHERE id = @id AND (owner_id IS NULL OR project_id IS NULL)
         AND (owner_id IS NULL OR owner_id = @ownerId) AND (project_id IS NULL OR project_id = @projectId)`);
    this.selectPublisher = db.prepare<[string], PublisherRow>('SELECT * FROM oidc_publishers WHERE id = ?');

    const useJti = db.prepare<[string, string, number]>(
      'INSERT INTO oidc_used_jtis (issuer, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
    const publisherExists = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM oidc_publishers WHERE id = ?');
    const insertToken = db.prepare(
      `INSERT INTO oidc_tokens (token_hash, publisher_id, channel_id, access_mode, claims, created_at, expires_at)
       VALUES (@tokenHash, @publisherId, @channelId, @accessMode, @claims, @now, @expiresAt)`);
    const purgeTokens = db.prepare<[number]>('DELETE FROM oidc_tokens WHERE expires_at <= ?');
    const purgeJtis = db.prepare<[number]>('DELETE FROM oidc_used_jtis WHERE expires_at <= ?');
    this.mintTx = db.transaction((t: NewPublisherToken, now: number): 'minted' | 'replayed' | 'publisher-gone' => {
      purgeTokens.run(now);
      purgeJtis.run(now);
      if (useJti.run(t.issuer, t.jti, t.jtiExpiresAt).changes === 0) return 'replayed';
      if (!t.grants.every((g) => publisherExists.get(g.publisherId))) {
        // Undo the jti too: the token was never honoured, the CI may retry it.
        throw new RollBack('publisher-gone');
      }
      const claims = JSON.stringify(t.claims);
      for (const g of t.grants) insertToken.run({ tokenHash: t.tokenHash, ...g, claims, now, expiresAt: t.expiresAt });
      return 'minted';
    });
    this.selectToken = db.prepare<[string, number], TokenGrantRow>(
      'SELECT publisher_id, channel_id, access_mode, claims FROM oidc_tokens WHERE token_hash = ? AND expires_at > ?');
  }

  async addPublisher(p: NewOidcPublisher): Promise<OidcPublisher | null> {
    const row = this.insertPublisher.get({ ...p, now: Date.now() });
    return row ? toPublisher(row) : null;
  }

  async publishers(channelId: number): Promise<OidcPublisher[]> {
    return this.selectForChannel.all(channelId).map(toPublisher);
  }

  async publishersOfOwner(provider: OidcProvider, owner: string): Promise<OidcPublisher[]> {
    return this.selectForOwner.all(provider, owner).map(toPublisher);
  }

  async deletePublisher(channelId: number, id: string): Promise<OidcPublisher | null> {
    const row = this.deletePublisherStmt.get(channelId, id);
    return row ? toPublisher(row) : null;
  }

  async pinPublisherIds(id: string, ids: { ownerId: string; projectId: string }, now: number): Promise<{ publisher: OidcPublisher; changed: boolean } | null> {
    const changed = this.pinIdsStmt.run({ id, ...ids, now }).changes > 0;
    const row = this.selectPublisher.get(id);
    return row ? { publisher: toPublisher(row), changed } : null;
  }

  async mintToken(token: NewPublisherToken, now: number): Promise<'minted' | 'replayed' | 'publisher-gone'> {
    return answerOf(() => this.mintTx(token, now));
  }

  async tokenGrants(tokenHash: string, now: number): Promise<{ grants: PublisherGrant[]; claims: PublisherClaims } | null> {
    return toTokenGrants(this.selectToken.all(tokenHash, now));
  }
}
