import type { SqliteDb } from './database.js';
import type { UserRepository } from '../repositories.js';
import type { User } from '../../types.js';
import { type UserRow, toUser } from '../shared/rows.js';

export class SqliteUserRepository implements UserRepository {
  private readonly insert;
  private readonly selectByLogin;
  private readonly selectById;
  private readonly selectCount;
  private readonly updatePassword;
  private readonly selectPassword;

  constructor(db: SqliteDb) {
    this.insert = db.prepare<[string, number, number], UserRow>(
      'INSERT INTO users (login, is_admin, created_at) VALUES (?, ?, ?) ON CONFLICT (login) DO NOTHING RETURNING *');
    this.selectByLogin = db.prepare<[string], UserRow>('SELECT * FROM users WHERE login = ?');
    this.selectById = db.prepare<[number], UserRow>('SELECT * FROM users WHERE id = ?');
    this.selectCount = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM users');
    this.updatePassword = db.prepare<[string | null, number]>('UPDATE users SET password_hash = ? WHERE id = ?');
    this.selectPassword = db.prepare<[number], { password_hash: string | null }>('SELECT password_hash FROM users WHERE id = ?');
  }

  async create(login: string, isAdmin: boolean): Promise<User | null> {
    const r = this.insert.get(login, isAdmin ? 1 : 0, Date.now());
    return r ? toUser(r) : null;
  }

  async byLogin(login: string): Promise<User | null> {
    const r = this.selectByLogin.get(login);
    return r ? toUser(r) : null;
  }

  async byId(id: number): Promise<User | null> {
    const r = this.selectById.get(id);
    return r ? toUser(r) : null;
  }

  async count(): Promise<number> {
    return this.selectCount.get()!.n;
  }

  async setPasswordHash(userId: number, hash: string | null): Promise<void> {
    this.updatePassword.run(hash, userId);
  }

  async passwordHash(userId: number): Promise<string | null> {
    return this.selectPassword.get(userId)?.password_hash ?? null;
  }
}
