import type { ApiKeyRepository, NewApiKey } from '../repositories.js';
import type { ApiKey } from '../../types.js';
import { type ApiKeyRow, toKey } from '../shared/rows.js';
import { type Pool, changes, row, rows } from './database.js';

export class PgApiKeyRepository implements ApiKeyRepository {
  constructor(private readonly pool: Pool) {}

  async create(k: NewApiKey): Promise<ApiKey | null> {
    const r = await row<ApiKeyRow>(this.pool,
      `INSERT INTO api_keys (user_id, lookup_id, secret_hash, name, description, access_mode, channel_id, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (user_id, name) DO NOTHING RETURNING *`,
      [k.userId, k.lookupId, k.secretHash, k.name, k.description, k.accessMode, k.channelId, Date.now(), k.expiresAt]);
    return r ? toKey(r) : null;
  }

  async byLookupId(lookupId: string): Promise<ApiKey | null> {
    const r = await row<ApiKeyRow>(this.pool, 'SELECT * FROM api_keys WHERE lookup_id = $1', [lookupId]);
    return r ? toKey(r) : null;
  }

  async listForUser(userId: number): Promise<ApiKey[]> {
    return (await rows<ApiKeyRow>(this.pool, 'SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at, id', [userId])).map(toKey);
  }

  async revoke(userId: number, name: string): Promise<boolean> {
    return (await changes(this.pool,
      'UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND name = $3 AND revoked_at IS NULL', [Date.now(), userId, name])) > 0;
  }

  async touch(id: number, at: number): Promise<void> {
    await this.pool.query('UPDATE api_keys SET last_used_at = $1 WHERE id = $2', [at, id]);
  }

  async delete(userId: number, name: string): Promise<string | null> {
    return (await row<{ lookup_id: string }>(this.pool,
      'DELETE FROM api_keys WHERE user_id = $1 AND name = $2 RETURNING lookup_id', [userId, name]))?.lookup_id ?? null;
  }
}
