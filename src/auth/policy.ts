// The one place that decides what a principal may do to a channel. REST,
// GraphQL and file serving ask here and nowhere else.
//
// Users: server admins may do everything. On a channel, its owner and
// members with role OWNER may do everything (settings, members, overwrite,
// delete the channel); CONTRIBUTOR may read, upload, yank and delete files;
// VIEWER may read. Public channels are readable by everyone.
// Keys: a key acts as its user, narrowed by its access mode and, when it is
// scoped to a channel, limited to that channel. A key never grants more
// than its user has.
// Trusted-publishing tokens: no user behind them; on each channel whose
// publisher they matched they have that publisher's access mode (never
// 'manage'); elsewhere only what anyone has.
import { Errors } from '../errors.js';
import type { AccessMode, Channel, ChannelRole, Principal, ReadScope } from '../types.js';

/** 'manage' = channel settings, members, deleting the channel. */
export type ChannelAction = 'read' | 'upload' | 'force-upload' | 'yank' | 'delete' | 'reindex' | 'manage';

const ROLE_ALLOWS: Record<ChannelRole, ReadonlySet<ChannelAction>> = {
  OWNER: new Set(['read', 'upload', 'force-upload', 'yank', 'delete', 'reindex', 'manage']),
  CONTRIBUTOR: new Set(['read', 'upload', 'yank', 'delete', 'reindex']),
  VIEWER: new Set(['read']),
};

// READ_WRITE is prefix.dev's "read, upload, yank"; replacing a file
// (force) destroys the old one, so it needs the delete right.
const KEY_ALLOWS: Record<AccessMode, ReadonlySet<ChannelAction>> = {
  ALL: new Set(['read', 'upload', 'force-upload', 'yank', 'delete', 'reindex', 'manage']),
  READ: new Set(['read']),
  READ_WRITE: new Set(['read', 'upload', 'yank', 'reindex']),
  READ_WRITE_DELETE: new Set(['read', 'upload', 'force-upload', 'yank', 'delete', 'reindex']),
};

/** The user's role on the channel (the owner counts as OWNER), or null. */
export function roleOn(principal: Principal, channel: Channel): ChannelRole | null {
  if (principal.kind !== 'user') return null;
  if (principal.user.id === channel.ownerId) return 'OWNER';
  return principal.roles.get(channel.id) ?? null;
}

function userMay(principal: Principal, action: ChannelAction, channel: Channel): boolean {
  if (action === 'read' && channel.isPublic) return true;
  if (principal.kind !== 'user') return false;
  if (principal.user.isAdmin) return true;
  const role = roleOn(principal, channel);
  return role !== null && ROLE_ALLOWS[role].has(action);
}

function keyMay(principal: Principal, action: ChannelAction, channel: Channel): boolean {
  if (principal.kind !== 'user' || principal.key === null) return true;
  const { accessMode, channelId } = principal.key;
  // Elsewhere a scoped key is worth what no key is: public reads.
  if (channelId !== null && channelId !== channel.id) return action === 'read' && channel.isPublic;
  return KEY_ALLOWS[accessMode].has(action);
}

function publisherMay(principal: Extract<Principal, { kind: 'publisher' }>, action: ChannelAction, channel: Channel): boolean {
  const grants = principal.grants.filter((g) => g.channelId === channel.id);
  if (grants.length === 0) return action === 'read' && channel.isPublic;
  return action !== 'manage' && grants.some((g) => KEY_ALLOWS[g.accessMode].has(action));
}

export function can(principal: Principal, action: ChannelAction, channel: Channel): boolean {
  if (principal.kind === 'publisher') return publisherMay(principal, action, channel);
  return userMay(principal, action, channel) && keyMay(principal, action, channel);
}

/** Whether the answer about `channel` depends on who asks (a public channel's reads do not). */
export function dependsOnPrincipal(action: ChannelAction, channel: Channel): boolean {
  return !(action === 'read' && channel.isPublic);
}

/**
 * What a client is told of a channel that does not exist (or cannot, by its
 * name): what it would be told of one it may not see. Anonymous writers get
 * 401, as for an existing channel; everyone else 404.
 */
export function refuseAbsent(principal: Principal, action: ChannelAction, name: string): never {
  if (principal.kind === 'anonymous' && action !== 'read') throw new Errors.UNAUTHENTICATED();
  throw new Errors.CHANNEL_NOT_FOUND(`channel '${name}' not found`);
}

/**
 * Throws what a client should see: 401 (with a Bearer challenge) for
 * anonymous callers; for authenticated ones 404 whenever they may not read
 * the channel — reads and writes alike, so a refused write does not tell a
 * private channel from one that does not exist — and 403 for a write to a
 * channel they can read.
 */
export function assertCan(principal: Principal, action: ChannelAction, channel: Channel): void {
  if (can(principal, action, channel)) return;
  if (principal.kind === 'anonymous') throw new Errors.UNAUTHENTICATED();
  if (action === 'read' || !can(principal, 'read', channel)) throw new Errors.CHANNEL_NOT_FOUND(`channel '${channel.name}' not found`);
  throw new Errors.FORBIDDEN(`you may not ${action.replace('-', ' ')} in channel '${channel.name}'`);
}

/** Which channels a principal's listings may show (mirrors `can(…, 'read', …)`). */
export function readScope(principal: Principal): ReadScope {
  if (principal.kind === 'publisher') {
    const granted = principal.grants.filter((g) => KEY_ALLOWS[g.accessMode].has('read')).map((g) => g.channelId);
    return { all: false, userId: null, onlyChannelId: null, grantedChannelIds: granted };
  }
  if (principal.kind !== 'user') return { all: false, userId: null, onlyChannelId: null };
  if (principal.user.isAdmin && (principal.key === null || principal.key.channelId === null)) return { all: true };
  return { all: false, userId: principal.user.id, onlyChannelId: principal.key?.channelId ?? null, admin: principal.user.isAdmin };
}

/** How a principal may manage a channel (GraphQL channelManageAccess). */
export function manageAccess(principal: Principal, channel: Channel): 'ADMIN' | 'CHANNEL_ROLE' | 'NONE' {
  if (!can(principal, 'manage', channel)) return 'NONE';
  return principal.kind === 'user' && principal.user.isAdmin && roleOn(principal, channel) !== 'OWNER' ? 'ADMIN' : 'CHANNEL_ROLE';
}

/**
 * Account-level actions (creating channels, minting/revoking keys) need the
 * user's full rights: a narrowed key must not mint a broader one.
 */
export function mayManageAccount(principal: Principal): boolean {
  if (principal.kind !== 'user') return false;
  return principal.key === null || (principal.key.channelId === null && principal.key.accessMode === 'ALL');
}

/**
 * Who the users are is for signed-in users (anonymous callers and CI tokens
 * see an empty listing), and who the admins are for admins only: a filter or
 * an order by the admin flag from anyone else is refused. The User type has
 * no admin flag of its own (prefix.dev's has none); a user learns their own
 * from GET /api/session.
 */
export function mayListUsers(principal: Principal): boolean {
  return principal.kind === 'user';
}

export function maySeeAdminFlag(principal: Principal): boolean {
  return principal.kind === 'user' && principal.user.isAdmin;
}

export function requireUser(principal: Principal): Extract<Principal, { kind: 'user' }> {
  if (principal.kind === 'publisher') throw new Errors.FORBIDDEN('a trusted-publishing token acts only on its channel\'s packages');
  if (principal.kind !== 'user') throw new Errors.UNAUTHENTICATED();
  return principal;
}
