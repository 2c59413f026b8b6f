// The one place that decides what a principal may do to a channel. REST,
// GraphQL and file serving ask here and nowhere else.
//
// Today: public channels are readable by everyone; the channel's owner and
// server admins may write. A key never grants more than its user has: its
// access mode and channel scope only narrow that.
import { Errors } from '../errors.js';
import type { AccessMode, Channel, Principal, ReadScope } from '../core/types.js';

/** 'manage' = channel settings, members, deleting the channel. */
export type ChannelAction = 'read' | 'upload' | 'force-upload' | 'yank' | 'delete' | 'reindex' | 'manage';

const KEY_ALLOWS: Record<AccessMode, ReadonlySet<ChannelAction>> = {
  ALL: new Set(['read', 'upload', 'force-upload', 'yank', 'delete', 'reindex', 'manage']),
  READ: new Set(['read']),
  READ_WRITE: new Set(['read', 'upload', 'force-upload', 'yank', 'reindex']),
  READ_WRITE_DELETE: new Set(['read', 'upload', 'force-upload', 'yank', 'delete', 'reindex']),
};

function userMay(principal: Principal, action: ChannelAction, channel: Channel): boolean {
  if (action === 'read' && channel.isPublic) return true;
  if (principal.kind !== 'user') return false;
  return principal.user.isAdmin || principal.user.id === channel.ownerId;
}

function keyMay(principal: Principal, action: ChannelAction, channel: Channel): boolean {
  if (principal.kind !== 'user' || principal.key === null) return true;
  const { accessMode, channelId } = principal.key;
  if (channelId !== null && channelId !== channel.id) return action === 'read' && channel.isPublic;
  return KEY_ALLOWS[accessMode].has(action);
}

export function can(principal: Principal, action: ChannelAction, channel: Channel): boolean {
  return userMay(principal, action, channel) && keyMay(principal, action, channel);
}

/** Throws the error a client should see: 401 for anonymous, 404 for hidden reads, 403 otherwise. */
export function assertCan(principal: Principal, action: ChannelAction, channel: Channel): void {
  if (can(principal, action, channel)) return;
  if (principal.kind === 'anonymous') throw new Errors.UNAUTHENTICATED();
  if (action === 'read') throw new Errors.CHANNEL_NOT_FOUND(`channel '${channel.name}' not found`);
  throw new Errors.FORBIDDEN(`you may not ${action.replace('-', ' ')} in channel '${channel.name}'`);
}

/** Which channels a principal's listings may show. */
export function readScope(principal: Principal): ReadScope {
  if (principal.kind !== 'user') return { all: false, userId: null, onlyChannelId: null };
  if (principal.user.isAdmin && (principal.key === null || principal.key.channelId === null)) return { all: true };
  return { all: false, userId: principal.user.id, onlyChannelId: principal.key?.channelId ?? null };
}

/** How a principal may manage a channel (GraphQL channelManageAccess). */
export function manageAccess(principal: Principal, channel: Channel): 'ADMIN' | 'CHANNEL_ROLE' | 'NONE' {
  if (!can(principal, 'manage', channel)) return 'NONE';
  return principal.kind === 'user' && principal.user.isAdmin ? 'ADMIN' : 'CHANNEL_ROLE';
}

export function requireUser(principal: Principal): Extract<Principal, { kind: 'user' }> {
  if (principal.kind !== 'user') throw new Errors.UNAUTHENTICATED();
  return principal;
}
