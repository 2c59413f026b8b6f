// The JS half of CatalogRepository, the same for every database: each
// adapter runs one statement per method (its dialect) and hands the rows
// here, which turns them into list rows and pages.
import type { Page, PackageRow, PageRequest } from '../../types.js';
import { FLAG_NAMES } from '../../conda/post-install-flags.js';
import {
  packageKeyString, type ChanneldataVersion, type ChannelListRow, type PackageKey, type PackageListRow, type VersionRow,
} from '../repositories.js';
import { type ChannelRow, type PackageDbRow, toChannel, toPackageRow } from './rows.js';

export interface ListedChannelRow extends ChannelRow {
  owner_login: string;
  size: number;
  package_count: number;
  /** Rows the query matched before LIMIT (a window count). */
  total: number;
}

/**
 * A page past the end has no rows and so no total: `count` (the same
 * filter, counted) supplies it, only when such a page was asked for.
 */
export async function channelPage(
  rows: readonly ListedChannelRow[], page: PageRequest, count: () => number | Promise<number>,
): Promise<Page<ChannelListRow>> {
  return {
    items: rows.map((r) => ({ channel: toChannel(r), ownerLogin: r.owner_login, sizeBytes: r.size, packageCount: r.package_count })),
    totalCount: rows[0]?.total ?? (page.page === 0 ? 0 : await count()),
  };
}

/** One package name of one channel, aggregated over its files. */
export interface AggregatedPackageRow {
  channel_id: number;
  name: string;
  total_size: number;
  last_created: number;
  variants: number;
}

export const toPackageListRow = (r: AggregatedPackageRow, similarity: number | null): PackageListRow => ({
  channelId: r.channel_id, name: r.name, totalSizeBytes: r.total_size, lastCreatedAt: r.last_created,
  variantCount: r.variants, similarity,
});

export interface RankedPackageRow extends AggregatedPackageRow {
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
    p.items.push(toPackageListRow(r, opts.withSimilarity ? r.sim : null));
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

/**
 * Pages of variants keyed by packageKeyString. A key whose page is past the
 * end has no rows and so no total: `totals` (the same query at page 0,
 * limit 1, for those keys only) supplies it, only when such a page was asked for.
 */
export async function variantPages(
  rows: ReadonlyArray<PackageDbRow & { total: number }>,
  keys: readonly PackageKey[],
  offset: number,
  totals: (missing: PackageKey[]) => Promise<Map<string, Page<PackageRow>>>,
): Promise<Map<string, Page<PackageRow>>> {
  const out = new Map<string, Page<PackageRow>>();
  for (const r of rows) {
    const key = packageKeyString({ channelId: r.channel_id, name: r.name });
    let p = out.get(key);
    if (!p) out.set(key, (p = { items: [], totalCount: r.total }));
    p.items.push(toPackageRow(r));
  }
  if (offset > 0) {
    const missing = keys.filter((k) => !out.has(packageKeyString(k)));
    if (missing.length > 0) {
      for (const [k, v] of await totals(missing)) out.set(k, { items: [], totalCount: v.totalCount });
    }
  }
  return out;
}

/** One version of a package name, aggregated over its files (the subdirs come apart: each dialect aggregates them its own way). */
export interface AggregatedVersionRow {
  channel_id: number;
  name: string;
  version: string;
  last_created: number;
  visible: number;
  attested: number;
  n: number;
}

export const toVersionRow = (r: AggregatedVersionRow, subdirs: readonly string[]): VersionRow => ({
  channelId: r.channel_id, name: r.name, version: r.version, subdirs: [...subdirs].sort(),
  lastCreatedAt: r.last_created, visibleCount: r.visible, attestedVisibleCount: r.attested, variantCount: r.n,
});

/** channeldataVersions' flag columns, f0…fN in FLAG_NAMES order, each the max over builds of the dialect's 0/1 for that flag. */
export const channeldataFlagColumns = (flagIs: (flag: string) => string): string =>
  FLAG_NAMES.map((f, i) => `max(${flagIs(f)}) AS f${i}`).join(', ');

export interface ChanneldataVersionRow {
  name: string;
  version: string;
  ts: number | null;
  re: string | null;
  [flagColumn: `f${number}`]: unknown;
}

export const toChanneldataVersion = (r: ChanneldataVersionRow, subdirs: string[]): ChanneldataVersion => ({
  name: r.name, version: r.version, subdirs, timestamp: Number(r.ts ?? 0),
  flags: Object.fromEntries(FLAG_NAMES.map((f, i) => [f, Number(r[`f${i}`]) === 1])),
  runExportsJson: r.re,
});
