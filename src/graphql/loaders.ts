// mercurius loaders: every Channel.packages / Package.variants /
// Package.versions in one response is answered by one statement per
// distinct argument set, however many parents and whatever the page size.
import type { MercuriusLoaders } from 'mercurius';
import { pageRequest } from '../core/catalog.js';
import type { PackageFilter } from '../types.js';
import { packageKeyString, type PackageOrderField, type VariantOrderField } from '../core/catalog.js';
import type { GqlContext } from './context.js';
import { normaliseOrder } from './order.js';
import { packageObj, pageResult, parseDateTime, type ChannelObj, type PackageObj, type VariantObj, type VersionObj } from './shapes.js';

type Query<O, P> = { obj: O; params: P };

/** Runs `run` once per distinct params, in input order. */
async function byParams<O, P, R>(queries: Array<Query<O, P>>, run: (objs: O[], params: P) => Promise<R[]>): Promise<R[]> {
  const groups = new Map<string, { params: P; idx: number[] }>();
  queries.forEach((q, i) => {
    const k = JSON.stringify(q.params ?? {});
    const g = groups.get(k) ?? { params: q.params, idx: [] };
    g.idx.push(i);
    groups.set(k, g);
  });
  const out: R[] = new Array(queries.length);
  for (const g of groups.values()) {
    const results = await run(g.idx.map((i) => queries[i]!.obj), g.params);
    g.idx.forEach((i, j) => (out[i] = results[j]!));
  }
  return out;
}

interface PackagesParams { filters?: PackageFilter | null; orderBy?: unknown; limit?: number | null; page?: number | null }
interface VariantsParams {
  limit?: number | null; page?: number | null; version?: string | null; platform?: string | null; buildString?: string | null;
  createdAtFrom?: string | null; createdAtTo?: string | null; includeHidden?: boolean | null;
  orderBy?: { byField?: { field: VariantOrderField; direction?: 'ASC' | 'DESC' } } | null;
}

export const loaders: MercuriusLoaders<GqlContext> = {
  Channel: {
    async packages(queries: Array<Query<ChannelObj, PackagesParams>>, ctx: GqlContext) {
      return byParams(queries, async (channels, params) => {
        const req = pageRequest(params.limit, params.page);
        const pages = await ctx.core.catalog.packagesOfChannels(channels.map((c) => c.id), params.filters ?? null, normaliseOrder<PackageOrderField>(params.orderBy), req);
        return channels.map((c) => pageResult(pages.get(c.id) ?? { items: [], totalCount: 0 }, req, (r) => packageObj(c, r)));
      });
    },
  },
  Package: {
    async variants(queries: Array<Query<PackageObj, VariantsParams>>, ctx: GqlContext) {
      return byParams(queries, async (pkgs, params) => {
        const req = pageRequest(params.limit, params.page);
        const order = params.orderBy?.byField ? { field: params.orderBy.byField.field, direction: params.orderBy.byField.direction ?? 'ASC' } : null;
        const pages = await ctx.core.catalog.variants(pkgs.map((p) => ({ channelId: p.channelId, name: p.name })), {
          version: params.version, platform: params.platform, buildString: params.buildString,
          createdAtFrom: params.createdAtFrom ? parseDateTime(params.createdAtFrom) : null,
          createdAtTo: params.createdAtTo ? parseDateTime(params.createdAtTo) : null,
          includeHidden: params.includeHidden ?? false,
        }, order, req);
        return pkgs.map((p) => pageResult(pages.get(packageKeyString(p)) ?? { items: [], totalCount: 0 }, req, (row): VariantObj => ({ channel: p.channel, row })));
      });
    },
    async versions(queries: Array<Query<PackageObj, { limit?: number | null; page?: number | null }>>, ctx: GqlContext) {
      const facts = await ctx.batch.facts.loadMany(queries.map((q) => ({ channelId: q.obj.channelId, name: q.obj.name })));
      return queries.map((q, i) => {
        const req = pageRequest(q.params.limit, q.params.page);
        const f = facts[i];
        const all = f && !(f instanceof Error) ? f.versions : [];
        const items = all.slice(req.limit * req.page, req.limit * (req.page + 1));
        return pageResult({ items, totalCount: all.length }, req, (v): VersionObj => ({
          channel: q.obj.channel, channelId: q.obj.channelId, name: q.obj.name, version: v.version, platforms: v.platforms,
        }));
      });
    },
  },
};
