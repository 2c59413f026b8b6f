import type { SqliteDb } from './database.js';
import type { SessionRepository } from '../repositories.js';

export class SqliteSessionRepository implements SessionRepository {
  private readonly insert;
  private readonly select;
  private readonly deleteOne;
  private readonly deleteUser;
  private readonly deleteExpired;

  constructor(db: SqliteDb) {
    this.insert = db.prepare<[string, number, number, number]>(
      'INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)');
    this.select = db.prepare<[string, number], { user_id: number }>(
      'SELECT user_id FROM sessions WHERE token_hash = ? AND expires_at > ?');
    this.deleteOne = db.prepare<[string]>('DELETE FROM sessions WHERE token_hash = ?');
    this.deleteUser = db.prepare<[number]>('DELETE FROM sessions WHERE user_id = ?');
    this.deleteExpired = db.prepare<[number]>('DELETE FROM sessions WHERE expires_at <= ?');
  }

  async create(tokenHash: string, userId: number, expiresAt: number): Promise<void> {
    const now = Date.now();
    this.deleteExpired.run(now);
    this.insert.run(tokenHash, userId, now, expiresAt);
  }

  async userOf(tokenHash: string, now: number): Promise<number | null> {
    return this.select.get(tokenHash, now)?.user_id ?? null;
  }

  async delete(tokenHash: string): Promise<void> {
    this.deleteOne.run(tokenHash);
  }

  async deleteForUser(userId: number): Promise<void> {
    this.deleteUser.run(userId);
  }
}
