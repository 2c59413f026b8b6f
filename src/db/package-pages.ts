// The JS half of CatalogRepository.packagesPages, the same for every
// database: the adapter runs one ranked statement (one row per package
// name, with its page's total), this turns the rows into pages.
import type { Page } from '../core/types.js';
import type { PackageListRow } from './repositories.js';

export interface RankedPackageRow {
  channel_id: number;
  name: string;
  total_size: number;
  last_created: number;
  variants: number;
  sim: number;
  total: number;
}

/**
 * Pages by channel id (perChannel) or one page under 'all'. A page past the
 * end has no rows and so no total: `totals` (the same query at page 0,
 * limit 1) supplies it, only when such a page was asked for.
 */
export async function packagePages(
  rows: readonly RankedPackageRow[],
  opts: {
    perChannel: boolean;
    withSimilarity: boolean;
    offset: number;
    channelIds: number[] | 'all-in-scope';
    totals: () => Promise<Map<number | 'all', Page<PackageListRow>>>;
  },
): Promise<Map<number | 'all', Page<PackageListRow>>> {
  const out = new Map<number | 'all', Page<PackageListRow>>();
  for (const r of rows) {
    const key = opts.perChannel ? r.channel_id : 'all';
    let p = out.get(key);
    if (!p) out.set(key, (p = { items: [], totalCount: r.total }));
    p.items.push({
      channelId: r.channel_id, name: r.name, totalSizeBytes: r.total_size, lastCreatedAt: r.last_created,
      variantCount: r.variants, similarity: opts.withSimilarity ? r.sim : null,
    });
  }
  if (opts.offset > 0) {
    const { channelIds } = opts;
    const missing = opts.perChannel ? (channelIds === 'all-in-scope' ? [] : channelIds.filter((id) => !out.has(id))) : out.has('all') ? [] : ['all'];
    if (missing.length > 0) {
      for (const [k, v] of await opts.totals()) if (!out.has(k)) out.set(k, { items: [], totalCount: v.totalCount });
    }
  }
  return out;
}
