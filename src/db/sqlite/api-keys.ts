import type { SqliteDb } from './database.js';
import type { ApiKeyRepository, NewApiKey } from '../repositories.js';
import type { ApiKey } from '../../types.js';
import { type ApiKeyRow, toKey } from '../shared/rows.js';

export class SqliteApiKeyRepository implements ApiKeyRepository {
  private readonly insert;
  private readonly selectByLookup;
  private readonly selectForUser;
  private readonly updateRevoke;
  private readonly updateTouch;
  private readonly deleteStmt;

  constructor(db: SqliteDb) {
    this.insert = db.prepare(
      `INSERT INTO api_keys (user_id, lookup_id, secret_hash, name, description, access_mode, channel_id, created_at, expires_at)
       VALUES (@userId, @lookupId, @secretHash, @name, @description, @accessMode, @channelId, @createdAt, @expiresAt)
       ON CONFLICT (user_id, name) DO NOTHING RETURNING *`);
    this.selectByLookup = db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE lookup_id = ?');
    this.selectForUser = db.prepare<[number], ApiKeyRow>('SELECT * FROM api_keys WHERE user_id = ? ORDER BY created_at, id');
    this.updateRevoke = db.prepare<[number, number, string]>(
      'UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND name = ? AND revoked_at IS NULL');
    this.updateTouch = db.prepare<[number, number]>('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
    this.deleteStmt = db.prepare<[number, string], { lookup_id: string }>(
      'DELETE FROM api_keys WHERE user_id = ? AND name = ? RETURNING lookup_id');
  }

  async create(key: NewApiKey): Promise<ApiKey | null> {
    const row = this.insert.get({ ...key, createdAt: Date.now() }) as ApiKeyRow | undefined;
    return row ? toKey(row) : null;
  }

  async byLookupId(lookupId: string): Promise<ApiKey | null> {
    const r = this.selectByLookup.get(lookupId);
    return r ? toKey(r) : null;
  }

  async listForUser(userId: number): Promise<ApiKey[]> {
    return this.selectForUser.all(userId).map(toKey);
  }

  async revoke(userId: number, name: string): Promise<boolean> {
    return this.updateRevoke.run(Date.now(), userId, name).changes > 0;
  }

  async touch(id: number, at: number): Promise<void> {
    this.updateTouch.run(at, id);
  }

  async delete(userId: number, name: string): Promise<string | null> {
    return this.deleteStmt.get(userId, name)?.lookup_id ?? null;
  }
}
