import type { SessionRepository } from '../repositories.js';
import { type Pool, inTransaction, row } from './database.js';

export class PgSessionRepository implements SessionRepository {
  constructor(private readonly pool: Pool) {}

  async create(tokenHash: string, userId: number, expiresAt: number): Promise<void> {
    const now = Date.now();
    await inTransaction(this.pool, async (c) => {
      await c.query('DELETE FROM sessions WHERE expires_at <= $1', [now]);
      await c.query('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)', [tokenHash, userId, now, expiresAt]);
    });
  }

  async userOf(tokenHash: string, now: number): Promise<number | null> {
    return (await row<{ user_id: number }>(this.pool,
      'SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2', [tokenHash, now]))?.user_id ?? null;
  }

  async delete(tokenHash: string): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE token_hash = $1', [tokenHash]);
  }

  async deleteForUser(userId: number): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE user_id = $1', [userId]);
  }
}
