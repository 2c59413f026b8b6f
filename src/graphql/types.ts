// Field resolvers of the object types. Nested lists (Channel.packages,
// Package.variants, Package.versions) are batched by mercurius loaders
// (loaders.ts); per-package facts go through per-request DataLoaders.
import { GraphQLScalarType, Kind, valueFromASTUntyped } from 'graphql';
import { can, roleOn } from '../auth/policy.js';
import type { BackgroundJob, Channel, User } from '../types.js';
import type { GqlContext } from './context.js';
import { pageRequest } from '../core/catalog.js';
import { normaliseOrder } from './order.js';
import type { ChannelOrderField } from '../core/catalog.js';
import {
  aboutField, int32, iso, pageResult, parseDateTime, parseJsonOrNull, publisherObj, urlsOf, type ApiKeyObj, type ChannelObj,
  type MemberObj, type PackageObj, type VariantObj, type VersionObj,
} from './shapes.js';
import { readScope } from '../auth/policy.js';

const keyOf = (p: { channelId: number; name: string }) => ({ channelId: p.channelId, name: p.name });

export const scalars = {
  DateTime: new GraphQLScalarType({
    name: 'DateTime',
    serialize: (v) => (typeof v === 'number' ? new Date(v).toISOString() : v instanceof Date ? v.toISOString() : v),
    parseValue: (v) => (parseDateTime(v), v),
    parseLiteral: (ast) => {
      if (ast.kind !== Kind.STRING) throw new TypeError('DateTime must be a string');
      parseDateTime(ast.value);
      return ast.value;
    },
  }),
  JSON: new GraphQLScalarType({
    name: 'JSON',
    serialize: (v) => v,
    parseValue: (v) => v,
    parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
  }),
};

async function visibleChannel(ctx: GqlContext, id: number | null): Promise<Channel | null> {
  if (id === null) return null;
  const c = await ctx.batch.channel.load(id);
  return c && can(ctx.principal, 'read', c) ? c : null;
}

export const typeResolvers = {
  ...scalars,

  Owner: { resolveType: () => 'User' },
  Publisher: { resolveType: (obj: { provider: string }) => (obj.provider === 'gitlab' ? 'GitlabPublisher' : 'GithubPublisher') },

  User: {
    name: (u: User) => u.login,
    async channels(u: User, args: { filters?: never; orderBy?: unknown; roles?: Array<'OWNER' | 'CONTRIBUTOR' | 'VIEWER' | 'MEMBER'> | null; limit?: number | null; page?: number | null }, ctx: GqlContext) {
      const req = pageRequest(args.limit, args.page);
      const roles = args.roles ? [...new Set(args.roles.map((r) => (r === 'MEMBER' ? 'VIEWER' : r)))] : null;
      const page = await ctx.core.catalog.channels(readScope(ctx.principal), args.filters ?? null, normaliseOrder<ChannelOrderField>(args.orderBy), req, { userId: u.id, roles });
      return pageResult(page, req, (r): ChannelObj => ({ ...r.channel, sizeBytes: r.sizeBytes }));
    },
  },

  ApiKeyResult: {
    // The key itself only exists in the createApiKey answer.
    key: (k: ApiKeyObj) => k.token ?? null,
    createdAt: (k: ApiKeyObj) => iso(k.createdAt),
    expiresAt: (k: ApiKeyObj) => iso(k.expiresAt),
    lastUsedAt: (k: ApiKeyObj) => iso(k.lastUsedAt),
    revokedAt: (k: ApiKeyObj) => iso(k.revokedAt),
    channel: (k: ApiKeyObj, _: unknown, ctx: GqlContext) => visibleChannel(ctx, k.channelId),
  },

  BackgroundJob: {
    createdAt: (j: BackgroundJob) => iso(j.createdAt),
    completedAt: (j: BackgroundJob) => iso(j.completedAt),
  },

  Channel: {
    channelPath: (c: ChannelObj) => `/${c.name}`,
    namespace: (c: ChannelObj, _: unknown, ctx: GqlContext) => ctx.batch.user.load(c.ownerId),
    owner: (c: ChannelObj, _: unknown, ctx: GqlContext) => ctx.batch.user.load(c.ownerId),
    isPrimary: () => false,
    createdAt: (c: ChannelObj) => iso(c.createdAt),
    updatedAt: (c: ChannelObj) => iso(c.updatedAt),
    baseUrl: (c: ChannelObj, _: unknown, ctx: GqlContext) => `${ctx.baseUrl}/${c.name}`,
    mirror: () => null,
    notices: () => [],
    oidcPublishers: async (c: ChannelObj, _: unknown, ctx: GqlContext) => (await ctx.core.publishers.list(ctx.principal, c)).map(publisherObj),
    async channelMembers(c: ChannelObj, _: unknown, ctx: GqlContext): Promise<MemberObj[]> {
      // Who has access is for those who have access, not for every reader of a public channel.
      if (roleOn(ctx.principal, c) === null && !(ctx.principal.kind === 'user' && ctx.principal.user.isAdmin)) return [];
      const owner = await ctx.batch.user.load(c.ownerId);
      const members = await ctx.core.channels.members(c);
      const list: MemberObj[] = owner ? [{ username: owner.login, channel: c, role: 'OWNER', isOwner: true }] : [];
      for (const m of members) if (m.userId !== c.ownerId) list.push({ username: m.login, channel: c, role: m.role, isOwner: false });
      return list;
    },
    size: async (c: ChannelObj, _: unknown, ctx: GqlContext) => int32(c.sizeBytes ?? (await ctx.core.channels.sizeBytes(c.id))),
    channelRelationBase: (c: ChannelObj, _: unknown, ctx: GqlContext) => visibleChannel(ctx, c.relationBaseId),
    channelRelationOverrides: (c: ChannelObj, _: unknown, ctx: GqlContext) => visibleChannel(ctx, c.relationOverridesId),
  },

  Package: {
    channel: (p: PackageObj) => p.channel,
    summary: async (p: PackageObj, _: unknown, ctx: GqlContext) => aboutField((await ctx.batch.latestVariant.load(keyOf(p)))?.aboutJson ?? null, 'summary'),
    description: async (p: PackageObj, _: unknown, ctx: GqlContext) => aboutField((await ctx.batch.latestVariant.load(keyOf(p)))?.aboutJson ?? null, 'description'),
    lastCreatedDate: (p: PackageObj) => iso(p.lastCreatedAt),
    totalSize: (p: PackageObj) => int32(p.totalSizeBytes),
    downloadCountVersions: () => null,
    async latestVersion(p: PackageObj, _: unknown, ctx: GqlContext): Promise<VersionObj> {
      const facts = await ctx.batch.facts.load(keyOf(p));
      const latest = facts!.latest;
      return { channel: p.channel, channelId: p.channelId, name: p.name, version: latest.version, platforms: latest.platforms };
    },
    similarityScore: (p: PackageObj) => p.similarity,
    platforms: async (p: PackageObj, _: unknown, ctx: GqlContext) => (await ctx.batch.facts.load(keyOf(p)))?.platforms ?? [],
    urls: async (p: PackageObj, _: unknown, ctx: GqlContext) => urlsOf((await ctx.batch.latestVariant.load(keyOf(p)))?.aboutJson ?? null),
    monthlyVersions: () => [],
    totalCount: () => null,
    // "Verified" as prefix.dev means it: every visible variant of the latest
    // version came with an attestation that passed the upload checks.
    latestVersionVerified: async (p: PackageObj, _: unknown, ctx: GqlContext) => (await ctx.batch.facts.load(keyOf(p)))?.latest.verified ?? false,
  },

  PackageVersion: {
    urls: async (v: VersionObj, _: unknown, ctx: GqlContext) =>
      urlsOf((await ctx.batch.versionVariant.load({ channelId: v.channelId, name: v.name, version: v.version }))?.aboutJson ?? null),
    totalCount: () => null,
  },

  PackageVariant: {
    filename: (v: VariantObj) => v.row.filename,
    buildString: (v: VariantObj) => v.row.build,
    buildNumber: (v: VariantObj) => v.row.buildNumber,
    description: (v: VariantObj) => aboutField(v.row.aboutJson, 'description'),
    summary: (v: VariantObj) => aboutField(v.row.aboutJson, 'summary'),
    license: (v: VariantObj) => aboutField(v.row.aboutJson, 'license') ?? indexField(v, 'license'),
    licenseFamily: (v: VariantObj) => aboutField(v.row.aboutJson, 'license_family') ?? indexField(v, 'license_family'),
    createdAt: (v: VariantObj) => iso(v.row.createdAt),
    updatedAt: (v: VariantObj) => iso(v.row.updatedAt),
    version: (v: VariantObj) => v.row.version,
    platform: (v: VariantObj) => v.row.subdir,
    rawIndex: (v: VariantObj) => parseJsonOrNull(v.row.indexJson),
    rawAbout: (v: VariantObj) => parseJsonOrNull(v.row.aboutJson),
    rawRunExports: (v: VariantObj) => parseJsonOrNull(v.row.runExportsJson),
    size: (v: VariantObj) => int32(v.row.sizeBytes),
    md5: (v: VariantObj) => v.row.md5,
    sha256: (v: VariantObj) => v.row.sha256,
    yankedReason: (v: VariantObj) => v.row.yankedReason,
    hidden: (v: VariantObj) => v.row.hidden,
    repoDataPatches: () => null,
    attestationsUrl: (v: VariantObj, _: unknown, ctx: GqlContext) => `${ctx.baseUrl}/${v.channel.name}/${v.row.subdir}/${v.row.filename}.v0.sigs`,
    urls: (v: VariantObj) => urlsOf(v.row.aboutJson),
    totalDownloads: () => null,
    isDownloadBlocked: () => false,
    paths: () => null,
  },
};

function indexField(v: VariantObj, field: string): string | null {
  const index = parseJsonOrNull(v.row.indexJson) as Record<string, unknown> | null;
  const value = index?.[field];
  return typeof value === 'string' ? value : null;
}
