// Query root: thin over core. Reads answer null (not an error) for what the
// caller cannot see, so private things are indistinguishable from absent.
import { manageAccess, mayListUsers, maySeeAdminFlag, readScope } from '../auth/policy.js';
import { Errors } from '../errors.js';
import { pageRequest } from '../core/catalog.js';
import type { ChannelFilter, Channel, PackageFilter, UserFilter } from '../types.js';
import type { ChannelOrderField, PackageOrderField } from '../core/catalog.js';
import type { GqlContext } from './context.js';
import { normaliseOrder } from './order.js';
import { packageObj, pageResult, type ChannelObj, type VariantObj } from './shapes.js';

interface PageArgs { limit?: number | null; page?: number | null }

const readableChannel = (ctx: GqlContext, name: string): Promise<Channel | null> => ctx.core.channels.visible(ctx.principal, name);

function filtersByAdmin(f: UserFilter | null | undefined): boolean {
  if (!f) return false;
  return (f.isAdmin !== undefined && f.isAdmin !== null) || !!f.and?.some(filtersByAdmin) || !!f.or?.some(filtersByAdmin);
}

export const Query = {
  viewer: (_: unknown, __: unknown, ctx: GqlContext) => (ctx.principal.kind === 'user' ? ctx.principal.user : null),

  user: (_: unknown, args: { login: string }, ctx: GqlContext) => ctx.core.users.find(args.login),

  async users(_: unknown, args: PageArgs & { filters?: UserFilter | null; orderBy?: unknown }, ctx: GqlContext) {
    const req = pageRequest(args.limit, args.page);
    const order = normaliseOrder<'LOGIN' | 'IS_ADMIN'>(args.orderBy);
    if (!maySeeAdminFlag(ctx.principal) && (filtersByAdmin(args.filters) || (order && 'byField' in order && order.byField.field === 'IS_ADMIN'))) {
      throw new Errors.FORBIDDEN('only admins may filter or order users by isAdmin');
    }
    if (!mayListUsers(ctx.principal)) return pageResult({ items: [], totalCount: 0 }, req, (u) => u);
    const page = await ctx.core.catalog.users(args.filters ?? null, order, req);
    return pageResult(page, req, (u) => u);
  },

  async apiKeys(_: unknown, __: unknown, ctx: GqlContext) {
    if (ctx.principal.kind !== 'user') return [];
    return ctx.core.users.listKeys(ctx.principal.user);
  },

  async channels(_: unknown, args: PageArgs & { filters?: ChannelFilter | null; orderBy?: unknown }, ctx: GqlContext) {
    const req = pageRequest(args.limit, args.page);
    const page = await ctx.core.catalog.channels(readScope(ctx.principal), args.filters ?? null, normaliseOrder<ChannelOrderField>(args.orderBy), req);
    return pageResult(page, req, (r): ChannelObj => ({ ...r.channel, sizeBytes: r.sizeBytes }));
  },

  channel: (_: unknown, args: { name: string }, ctx: GqlContext) => readableChannel(ctx, args.name),

  async channelManageAccess(_: unknown, args: { channelName: string }, ctx: GqlContext) {
    const channel = await readableChannel(ctx, args.channelName);
    return channel ? manageAccess(ctx.principal, channel) : 'NONE';
  },

  async backgroundJob(_: unknown, args: { id: string }, ctx: GqlContext) {
    return ctx.core.packages.backgroundJob(ctx.principal, args.id);
  },

  async packages(_: unknown, args: PageArgs & { filters?: PackageFilter | null; orderBy?: unknown }, ctx: GqlContext) {
    const req = pageRequest(args.limit, args.page);
    const page = await ctx.core.catalog.packagesInScope(readScope(ctx.principal), args.filters ?? null, normaliseOrder<PackageOrderField>(args.orderBy), req);
    const channels = await ctx.batch.channel.loadMany([...new Set(page.items.map((r) => r.channelId))]);
    const byId = new Map(channels.filter((c): c is Channel => !!c && !(c instanceof Error)).map((c) => [c.id, c]));
    return pageResult(page, req, (r) => packageObj(byId.get(r.channelId)!, r));
  },

  async package(_: unknown, args: { channelName: string; name: string }, ctx: GqlContext) {
    const channel = await readableChannel(ctx, args.channelName);
    if (!channel) return null;
    const row = await ctx.batch.packageRow.load({ channelId: channel.id, name: args.name });
    return row ? packageObj(channel, row) : null;
  },

  async variant(_: unknown, args: { channelName: string; packageName: string; platformName: string; fileName: string }, ctx: GqlContext): Promise<VariantObj | null> {
    const channel = await readableChannel(ctx, args.channelName);
    if (!channel) return null;
    const row = await ctx.core.packages.find(channel, args.platformName, args.fileName);
    return row && row.name === args.packageName ? { channel, row } : null;
  },
};
