// Users and their API keys.
import argon2 from 'argon2';
import { mintKey, type ApiKeyVerifier } from '../auth/api-keys.js';
import { assertCan } from '../auth/policy.js';
import type { Repositories } from '../db/repositories.js';
import { Errors } from '../errors.js';
import type { AuditLog } from './audit.js';
import { ACCESS_MODES, type AccessMode, type ApiKey, type Principal, type User } from '../types.js';

const LOGIN_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,38}$/;
const KEY_NAME_RE = /^[^\x00-\x1f]{1,100}$/;

export interface NewKeyRequest {
  name: string;
  description?: string | null;
  /** Epoch ms; null = never. */
  expiresAt: number | null;
  accessMode?: AccessMode;
  channelName?: string | null;
}

export class UserService {
  constructor(
    private readonly repos: Repositories,
    private readonly verifier: ApiKeyVerifier,
    private readonly audit: AuditLog,
  ) {}

  async create(login: string, isAdmin: boolean): Promise<User> {
    if (!LOGIN_RE.test(login)) {
      throw new Errors.BAD_REQUEST(`invalid login ${JSON.stringify(login)}: use letters, digits, "_", "." and "-" (at most 39)`);
    }
    // One insert decides: a check first would let two concurrent creates of
    // one login both pass it, and the second would fail on the unique index.
    const user = await this.repos.users.create(login, isAdmin);
    if (!user) throw new Errors.CONFLICT(`user '${login}' already exists`);
    return user;
  }

  /** The user, or null: for listings and lookups that answer null, not 404. */
  find(login: string): Promise<User | null> {
    return this.repos.users.byLogin(login);
  }

  byId(id: number): Promise<User | null> {
    return this.repos.users.byId(id);
  }

  async byLogin(login: string): Promise<User> {
    const user = await this.repos.users.byLogin(login);
    if (!user) throw new Errors.USER_NOT_FOUND(`user '${login}' not found`);
    return user;
  }

  /** Sets (or, with null, removes) a user's web sign-in password; signs out their sessions. */
  async setPassword(user: User, password: string | null): Promise<void> {
    if (password !== null && (password.length < 8 || password.length > 1024)) {
      throw new Errors.BAD_REQUEST('a password must be 8 to 1024 characters');
    }
    const hash = password === null ? null : await argon2.hash(password, { type: argon2.argon2id });
    await this.repos.users.setPasswordHash(user.id, hash);
    await this.repos.sessions.deleteForUser(user.id);
  }

  /** Mints a key; the token is returned here and never again. */
  async createKey(user: User, req: NewKeyRequest, actor: Principal | null = null): Promise<{ token: string; key: ApiKey }> {
    if (!KEY_NAME_RE.test(req.name)) throw new Errors.BAD_REQUEST('a key name must be 1 to 100 printable characters');
    const accessMode = req.accessMode ?? 'ALL';
    if (!ACCESS_MODES.includes(accessMode)) throw new Errors.BAD_REQUEST(`unknown access mode ${JSON.stringify(accessMode)}`);
    if (req.expiresAt !== null && req.expiresAt <= Date.now()) throw new Errors.BAD_REQUEST('the expiry date is in the past');
    let channelId: number | null = null;
    if (req.channelName) {
      const channel = await this.repos.channels.byName(req.channelName);
      if (!channel) throw new Errors.CHANNEL_NOT_FOUND(`channel '${req.channelName}' not found`);
      // A key scoped to a channel its user cannot see would only leak that the channel exists.
      if (actor !== null) assertCan(actor, 'read', channel);
      channelId = channel.id;
    }
    const minted = await mintKey();
    const key = await this.repos.apiKeys.create({
      userId: user.id, lookupId: minted.lookupId, secretHash: minted.secretHash, name: req.name,
      description: req.description ?? null, accessMode, channelId, expiresAt: req.expiresAt,
    });
    if (!key) throw new Errors.CONFLICT(`you already have a key named '${req.name}'`);
    await this.audit.record(actor, 'key.created', {
      channel: req.channelName ?? null, target: `${user.login}/${req.name}`, details: { accessMode, expiresAt: req.expiresAt },
    });
    return { token: minted.token, key };
  }

  async revokeKey(user: User, name: string, actor: Principal | null = null): Promise<void> {
    const key = (await this.repos.apiKeys.listForUser(user.id)).find((k) => k.name === name && k.revokedAt === null);
    if (!key || !(await this.repos.apiKeys.revoke(user.id, name))) {
      throw new Errors.NOT_FOUND(`no active key named '${name}'`);
    }
    this.verifier.forget(key.lookupId);
    await this.audit.record(actor, 'key.revoked', { target: `${user.login}/${name}` });
  }

  async listKeys(user: User): Promise<ApiKey[]> {
    return this.repos.apiKeys.listForUser(user.id);
  }

  async deleteKey(user: User, name: string, actor: Principal | null = null): Promise<void> {
    const lookupId = await this.repos.apiKeys.delete(user.id, name);
    if (lookupId === null) throw new Errors.NOT_FOUND(`no key named '${name}'`);
    this.verifier.forget(lookupId);
    await this.audit.record(actor, 'key.deleted', { target: `${user.login}/${name}` });
  }

  /** First start: with no users at all, create `admin` and return its one-time key. */
  async bootstrapAdmin(): Promise<string | null> {
    if ((await this.repos.users.count()) > 0) return null;
    // Replicas starting together on one empty database: one creates the
    // admin; the others' inserts find the login taken and do nothing.
    const admin = await this.repos.users.create('admin', true);
    if (!admin) return null;
    const { token } = await this.createKey(admin, { name: 'bootstrap', description: 'created on first start', expiresAt: null });
    return token;
  }
}
