// Channels: creation, settings, members, deletion. A new channel gets its
// empty noarch/repodata.json written before create() returns: clients probe
// noarch to decide whether a channel exists.
import { assertCan, can, dependsOnPrincipal, refuseAbsent, type ChannelAction } from '../auth/policy.js';
import type { ChannelUpdate, Repositories } from '../db/repositories.js';
import { Errors } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { channelKey } from '../storage/keys.js';
import type { AuditLog } from './audit.js';
import { validateChannelName } from '../conda/channel-names.js';
import type { Channel, ChannelMember, ChannelRole, Principal, SubdirRef } from '../types.js';

export interface ChannelIndexer {
  indexNow(ref: SubdirRef): Promise<void>;
  forgetChannel(channelId: number): Promise<void>;
}

export interface ChannelSettings {
  description?: string | null;
  isPublic?: boolean | null;
  logo?: string | null;
  allowV3Uploads?: boolean | null;
  channelRelationBase?: string | null;
  channelRelationOverrides?: string | null;
}

const MAX_DESCRIPTION = 10_000;

/**
 * Who is asking: the principal, or how to learn it. Asked only when the
 * answer depends on it, so a public channel's files are served without
 * authenticating anyone.
 */
export type PrincipalSource = Principal | (() => Promise<Principal>);

const principalOf = async (who: PrincipalSource): Promise<Principal> => (typeof who === 'function' ? who() : who);

export class ChannelService {
  constructor(
    private readonly repos: Repositories,
    private readonly store: ObjectStore,
    private readonly indexer: ChannelIndexer,
    private readonly audit: AuditLog,
  ) {}

  async create(name: string, ownerId: number, opts: { isPublic: boolean } & ChannelSettings, actor: Principal | null = null): Promise<Channel> {
    validateChannelName(name);
    checkText(opts);
    const channel = await this.repos.channels.create({
      name, ownerId, isPublic: opts.isPublic, description: opts.description ?? null, logo: opts.logo ?? null,
      allowV3Uploads: opts.allowV3Uploads ?? false,
      relationBaseId: await this.relationId(opts.channelRelationBase),
      relationOverridesId: await this.relationId(opts.channelRelationOverrides),
    });
    if (!channel) throw new Errors.CONFLICT(`channel '${name}' already exists`);
    await this.indexer.indexNow({ channelId: channel.id, channel: channel.name, subdir: 'noarch' });
    await this.audit.record(actor, 'channel.created', { channel: channel.name, details: { isPublic: channel.isPublic } });
    return channel;
  }

  byId(id: number): Promise<Channel | null> {
    return this.repos.channels.byId(id);
  }

  /** Bytes of all the channel's package files. */
  sizeBytes(channelId: number): Promise<number> {
    return this.repos.channels.sizeBytes(channelId);
  }

  async byName(name: string): Promise<Channel | null> {
    return this.repos.channels.byName(name);
  }

  /**
   * The channel, if the principal may do `action` on it; otherwise throws
   * what the policy says the client is told (401, 403 or 404). A name no
   * channel can have is 400 for a write, and simply not found for a read.
   */
  async resolve(who: PrincipalSource, name: string, action: ChannelAction): Promise<Channel> {
    // Checked once: every download passes here.
    if (action !== 'read') validateChannelName(name);
    else if (!isChannelName(name)) throw new Errors.CHANNEL_NOT_FOUND(`channel '${name}' not found`);
    const channel = await this.repos.channels.byName(name);
    if (!channel) return refuseAbsent(await principalOf(who), action, name);
    if (dependsOnPrincipal(action, channel)) assertCan(await principalOf(who), action, channel);
    return channel;
  }

  /** The channel if the principal may read it; null otherwise (hidden and absent look the same). */
  async visible(principal: Principal, name: string): Promise<Channel | null> {
    if (!isChannelName(name)) return null;
    const channel = await this.repos.channels.byName(name);
    return channel && can(principal, 'read', channel) ? channel : null;
  }

  async update(principal: Principal, name: string, settings: ChannelSettings): Promise<Channel> {
    const channel = await this.resolve(principal, name, 'manage');
    checkText(settings);
    const update: ChannelUpdate = {};
    if (settings.description !== undefined) update.description = settings.description;
    if (settings.isPublic !== undefined && settings.isPublic !== null) update.isPublic = settings.isPublic;
    if (settings.logo !== undefined) update.logo = settings.logo;
    if (settings.allowV3Uploads !== undefined && settings.allowV3Uploads !== null) update.allowV3Uploads = settings.allowV3Uploads;
    if (settings.channelRelationBase !== undefined) update.relationBaseId = await this.relationId(settings.channelRelationBase, channel.id);
    if (settings.channelRelationOverrides !== undefined) update.relationOverridesId = await this.relationId(settings.channelRelationOverrides, channel.id);
    const updated = await this.repos.channels.update(channel.id, update);
    if (!updated) throw new Errors.CHANNEL_NOT_FOUND(`channel '${name}' not found`);
    if (updated.isPublic !== channel.isPublic) {
      await this.audit.record(principal, 'channel.visibility', { channel: name, details: { isPublic: updated.isPublic } });
    }
    await this.audit.record(principal, 'channel.updated', { channel: name, details: settings });
    return updated;
  }

  /** Deletes the channel's records, then its files. */
  async delete(principal: Principal, name: string): Promise<Channel> {
    const channel = await this.resolve(principal, name, 'manage');
    await this.repos.channels.delete(channel.id);
    // No index rewrite may recreate files in the folder after it is gone.
    await this.indexer.forgetChannel(channel.id);
    await this.store.deleteFolder(channelKey(channel.name));
    await this.audit.record(principal, 'channel.deleted', { channel: channel.name });
    return channel;
  }

  async members(channel: Channel): Promise<ChannelMember[]> {
    return this.repos.channels.members(channel.id);
  }

  async setMember(principal: Principal, channelName: string, login: string, role: ChannelRole | 'MEMBER'): Promise<ChannelMember> {
    const channel = await this.resolve(principal, channelName, 'manage');
    const user = await this.repos.users.byLogin(login);
    if (!user) throw new Errors.USER_NOT_FOUND(`user '${login}' not found`);
    const stored: ChannelRole = role === 'MEMBER' ? 'VIEWER' : role;
    await this.repos.channels.setMember(channel.id, user.id, stored);
    const member = (await this.repos.channels.members(channel.id)).find((m) => m.userId === user.id)!;
    await this.audit.record(principal, 'member.added', { channel: channel.name, target: login, details: { role: stored } });
    return member;
  }

  async removeMember(principal: Principal, channelName: string, login: string): Promise<ChannelMember> {
    const channel = await this.resolve(principal, channelName, 'manage');
    const member = (await this.repos.channels.members(channel.id)).find((m) => m.login === login);
    if (!member) throw new Errors.NOT_FOUND(`'${login}' is not a member of channel '${channelName}'`);
    await this.repos.channels.removeMember(channel.id, member.userId);
    await this.audit.record(principal, 'member.removed', { channel: channel.name, target: login });
    return member;
  }

  private async relationId(name: string | null | undefined, self?: number): Promise<number | null> {
    if (name === null || name === undefined || name === '') return null;
    validateChannelName(name);
    const other = await this.repos.channels.byName(name);
    if (!other) throw new Errors.CHANNEL_NOT_FOUND(`related channel '${name}' not found`);
    if (other.id === self) throw new Errors.BAD_REQUEST('a channel cannot be related to itself');
    return other.id;
  }
}

function checkText(s: ChannelSettings): void {
  if (s.description && s.description.length > MAX_DESCRIPTION) throw new Errors.BAD_REQUEST(`the description is longer than ${MAX_DESCRIPTION} characters`);
  if (s.logo && s.logo.length > 2048) throw new Errors.BAD_REQUEST('the logo URL is too long');
}

function isChannelName(name: string): boolean {
  try {
    validateChannelName(name);
    return true;
  } catch {
    return false;
  }
}
