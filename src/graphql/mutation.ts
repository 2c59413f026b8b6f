// Mutation root: thin over core; every check is the core's (and policy's).
import { mayManageAccount, requireUser } from '../auth/policy.js';
import { Errors } from '../errors.js';
import type { AccessMode, ChannelMember, ChannelRole } from '../types.js';
import type { GqlContext } from './context.js';
import { parseDateTime, publisherObj, type ApiKeyObj, type MemberObj } from './shapes.js';

const DEFAULT_KEY_LIFETIME_MS = 30 * 86_400_000;

interface ChannelArgs {
  name: string;
  description?: string | null;
  isPublic?: boolean | null;
  logo?: string | null;
  channelRelationBase?: string | null;
  channelRelationOverrides?: string | null;
  allowV3Uploads?: boolean | null;
}

interface Entries {
  channelName: string;
  entries: Array<{ subdir: string; filename: string }>;
}

function memberObj(m: ChannelMember, channel: MemberObj['channel']): MemberObj {
  return { username: m.login, channel, role: m.role, isOwner: m.userId === channel.ownerId };
}

/** The signed-in user, when the request carries the user's full rights. */
function accountUser(ctx: GqlContext) {
  const { user } = requireUser(ctx.principal);
  if (!mayManageAccount(ctx.principal)) {
    throw new Errors.FORBIDDEN('this API key is scoped to a channel or an access mode; use an unscoped ALL key for account changes');
  }
  return user;
}

export const Mutation = {
  async createApiKey(_: unknown, args: { name: string; description?: string | null; expiresAt?: string | null; accessMode?: AccessMode | null; channelName?: string | null }, ctx: GqlContext): Promise<ApiKeyObj> {
    const user = accountUser(ctx);
    const expiresAt = args.expiresAt ? parseDateTime(args.expiresAt) : Date.now() + DEFAULT_KEY_LIFETIME_MS;
    const { token, key } = await ctx.core.users.createKey(user, {
      name: args.name, description: args.description ?? null, expiresAt,
      accessMode: args.accessMode ?? 'ALL', channelName: args.channelName ?? null,
    }, ctx.principal);
    return { ...key, token };
  },

  async revokeApiKey(_: unknown, args: { name: string }, ctx: GqlContext) {
    await ctx.core.users.revokeKey(accountUser(ctx), args.name, ctx.principal);
    return true;
  },

  async deleteApiKey(_: unknown, args: { name: string }, ctx: GqlContext) {
    await ctx.core.users.deleteKey(accountUser(ctx), args.name, ctx.principal);
    return true;
  },

  async createChannel(_: unknown, args: ChannelArgs, ctx: GqlContext) {
    const user = accountUser(ctx);
    const channel = await ctx.core.channels.create(args.name, user.id, { ...args, isPublic: args.isPublic ?? true }, ctx.principal);
    return { channel };
  },

  async updateChannel(_: unknown, args: ChannelArgs, ctx: GqlContext) {
    const { name, ...settings } = args;
    return { channel: await ctx.core.channels.update(ctx.principal, name, settings) };
  },

  async deleteChannel(_: unknown, args: { name: string }, ctx: GqlContext) {
    return { channel: await ctx.core.channels.delete(ctx.principal, args.name) };
  },

  async addChannelMember(_: unknown, args: { userName: string; channelName: string; role: ChannelRole | 'MEMBER' }, ctx: GqlContext) {
    const member = await ctx.core.channels.setMember(ctx.principal, args.channelName, args.userName, args.role);
    const channel = (await ctx.core.channels.byName(args.channelName))!;
    return memberObj(member, channel);
  },

  async deleteChannelMember(_: unknown, args: { userName: string; channelName: string }, ctx: GqlContext) {
    const channel = await ctx.core.channels.resolve(ctx.principal, args.channelName, 'manage');
    const member = await ctx.core.channels.removeMember(ctx.principal, args.channelName, args.userName);
    return memberObj(member, channel);
  },

  async addGithubOidcPublisher(_: unknown, args: { channelName: string; repositoryOwner: string; repositoryName: string; workflowFilename: string; environment?: string | null; accessMode?: AccessMode | null }, ctx: GqlContext) {
    return publisherObj(await ctx.core.publishers.add(ctx.principal, args.channelName, {
      provider: 'github', owner: args.repositoryOwner, project: args.repositoryName, workflow: args.workflowFilename,
      environment: args.environment, accessMode: args.accessMode,
    }));
  },

  async addGitlabOidcPublisher(_: unknown, args: { channelName: string; namespace: string; project: string; workflowFilepath: string; environment?: string | null; accessMode?: AccessMode | null }, ctx: GqlContext) {
    return publisherObj(await ctx.core.publishers.add(ctx.principal, args.channelName, {
      provider: 'gitlab', owner: args.namespace, project: args.project, workflow: args.workflowFilepath,
      environment: args.environment, accessMode: args.accessMode,
    }));
  },

  async deleteOidcPublisher(_: unknown, args: { channelName: string; id: string }, ctx: GqlContext) {
    return publisherObj(await ctx.core.publishers.delete(ctx.principal, args.channelName, args.id));
  },

  async batchYankPackageVariants(_: unknown, args: Entries & { reason: string; alsoHide?: boolean | null }, ctx: GqlContext) {
    await ctx.core.packages.setYanked(ctx.principal, args.channelName, args.entries, args.reason, args.alsoHide ?? false);
    return true;
  },

  async batchUnyankPackageVariants(_: unknown, args: Entries & { alsoUnhide?: boolean | null }, ctx: GqlContext) {
    // Unyanking always unhides: a hidden but not yanked variant has no meaning here.
    await ctx.core.packages.setYanked(ctx.principal, args.channelName, args.entries, null, false);
    return true;
  },

  async batchDeletePackageVariants(_: unknown, args: Entries, ctx: GqlContext) {
    await ctx.core.packages.deleteMany(ctx.principal, args.channelName, args.entries);
    return true;
  },
};
