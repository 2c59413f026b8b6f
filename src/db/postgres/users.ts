import type { UserRepository } from '../repositories.js';
import type { User } from '../../types.js';
import { type UserRow, toUser } from '../shared/rows.js';
import { type Pool, row, rows } from './database.js';

export class PgUserRepository implements UserRepository {
  constructor(private readonly pool: Pool) {}

  async create(login: string, isAdmin: boolean): Promise<User | null> {
    const r = await row<UserRow>(this.pool,
      'INSERT INTO users (login, is_admin, created_at) VALUES ($1, $2, $3) ON CONFLICT (login) DO NOTHING RETURNING *',
      [login, isAdmin ? 1 : 0, Date.now()]);
    return r ? toUser(r) : null;
  }

  async byLogin(login: string): Promise<User | null> {
    const r = await row<UserRow>(this.pool, 'SELECT * FROM users WHERE login = $1', [login]);
    return r ? toUser(r) : null;
  }

  async byId(id: number): Promise<User | null> {
    const r = await row<UserRow>(this.pool, 'SELECT * FROM users WHERE id = $1', [id]);
    return r ? toUser(r) : null;
  }

  async count(): Promise<number> {
    return (await rows<{ n: number }>(this.pool, 'SELECT count(*) AS n FROM users'))[0]!.n;
  }

  async setPasswordHash(userId: number, hash: string | null): Promise<void> {
    await this.pool.query('UPDATE users SET password_hash = $1 WHERE id = $2', [hash, userId]);
  }

  async passwordHash(userId: number): Promise<string | null> {
    return (await row<{ password_hash: string | null }>(this.pool, 'SELECT password_hash FROM users WHERE id = $1', [userId]))?.password_hash ?? null;
  }
}
