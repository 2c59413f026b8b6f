// Read-side operations behind GraphQL: listings with filters, ordering and
// paging, and per-package facts (versions, latest version, about.json
// fields). Every method takes many keys at once so resolvers can batch.
import { sortVersionsDesc } from '../conda/version-order.js';
import type {
  CatalogRepository, ChannelListRow, MemberOf, ChannelOrderField, PackageKey, PackageListRow, PackageOrderField, VariantOptions,
  VariantOrderField, VersionRow,
} from '../db/repositories.js';
import { packageKeyString } from '../db/repositories.js';
import { Errors } from '../errors.js';
import type {
  ChannelFilter, Direction, OrderBy, Page, PackageFilter, PackageRow, PageRequest, ReadScope, User, UserFilter,
} from '../types.js';

// The catalog's vocabulary, as the transports see it: rows and keys of
// listings and the fields they may be ordered by.
export type { ChannelOrderField, PackageKey, PackageListRow, PackageOrderField, VariantOrderField };
export { packageKeyString };

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 500;

/**
 * Conditions per filter tree (every field and every and/or entry counts). An
 * or of 33k entries was an SQLite "expression tree is too large" error (its
 * limit is 1,000 levels) and, on PostgreSQL, past the 65,535 parameters of
 * one statement.
 */
export const MAX_FILTER_CONDITIONS = 100;

function boundFilter<T>(filter: T | null): T | null {
  let conditions = 0;
  const stack: unknown[] = [filter];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    for (const [key, value] of Object.entries(node)) {
      if (value === null || value === undefined) continue;
      if ((key === 'and' || key === 'or') && Array.isArray(value)) stack.push(...value);
      if (++conditions > MAX_FILTER_CONDITIONS) {
        throw new Errors.BAD_REQUEST(`a filter may have at most ${MAX_FILTER_CONDITIONS} conditions (and/or entries count)`);
      }
    }
  }
  return filter;
}

export function pageRequest(limit: number | null | undefined, page: number | null | undefined): PageRequest {
  const l = limit ?? DEFAULT_PAGE_SIZE;
  const p = page ?? 0;
  if (!Number.isInteger(l) || l < 1 || l > MAX_PAGE_SIZE) throw new Errors.BAD_REQUEST(`limit must be between 1 and ${MAX_PAGE_SIZE}`);
  if (!Number.isInteger(p) || p < 0) throw new Errors.BAD_REQUEST('page must be 0 or more');
  return { limit: l, page: p };
}

export interface VersionInfo {
  version: string;
  platforms: string[];
  lastCreatedAt: number;
  hidden: boolean;
  /** Every visible variant has an attestation (prefix.dev's "verified" badge). */
  verified: boolean;
}

export interface PackageFacts {
  /** Newest first, by conda version order. */
  versions: VersionInfo[];
  latest: VersionInfo;
  platforms: string[];
}

export class CatalogService {
  constructor(private readonly repo: CatalogRepository) {}

  get statements(): number {
    return this.repo.statements;
  }

  channels(scope: ReadScope, filter: ChannelFilter | null, order: OrderBy<ChannelOrderField> | null, page: PageRequest, memberOf?: MemberOf): Promise<Page<ChannelListRow>> {
    return this.repo.channelsPage(scope, boundFilter(filter), order, page, memberOf);
  }

  packagesOfChannels(channelIds: number[], filter: PackageFilter | null, order: OrderBy<PackageOrderField> | null, page: PageRequest): Promise<Map<number | 'all', Page<PackageListRow>>> {
    return this.repo.packagesPages(channelIds, { all: true }, boundFilter(filter), order, page, true);
  }

  async packagesInScope(scope: ReadScope, filter: PackageFilter | null, order: OrderBy<PackageOrderField> | null, page: PageRequest): Promise<Page<PackageListRow>> {
    const pages = await this.repo.packagesPages('all-in-scope', scope, boundFilter(filter), order, page, false);
    return pages.get('all') ?? { items: [], totalCount: 0 };
  }

  async packageRows(keys: PackageKey[]): Promise<Map<string, PackageListRow>> {
    const rows = await this.repo.packageRows(keys);
    return new Map(rows.map((r) => [packageKeyString(r), r]));
  }

  /** Versions (newest first), the latest visible version and all platforms, per package. */
  async facts(keys: PackageKey[]): Promise<Map<string, PackageFacts>> {
    const rows = await this.repo.versionRows(keys);
    const byPackage = new Map<string, VersionRow[]>();
    for (const r of rows) {
      const k = packageKeyString(r);
      byPackage.set(k, [...(byPackage.get(k) ?? []), r]);
    }
    const out = new Map<string, PackageFacts>();
    for (const [k, list] of byPackage) {
      const order = sortVersionsDesc(list.map((r) => r.version));
      const byVersion = new Map(list.map((r) => [r.version, r]));
      const versions = order.map((v) => {
        const r = byVersion.get(v)!;
        return {
          version: v, platforms: r.subdirs, lastCreatedAt: r.lastCreatedAt, hidden: r.visibleCount === 0,
          verified: r.visibleCount > 0 && r.attestedVisibleCount === r.visibleCount,
        };
      });
      const latest = versions.find((v) => !v.hidden) ?? versions[0]!;
      const platforms = [...new Set(list.flatMap((r) => r.subdirs))].sort();
      out.set(k, { versions, latest, platforms });
    }
    return out;
  }

  /** The newest variant of each package's latest version (for summary, license, urls). */
  /** The newest build of each (channel, name, version). */
  newestVariantOfVersions(keys: Array<PackageKey & { version: string }>): Promise<PackageRow[]> {
    return this.repo.newestVariantOfVersions(keys);
  }

  async latestVariants(keys: PackageKey[]): Promise<Map<string, PackageRow>> {
    const facts = await this.facts(keys);
    const wanted = keys.flatMap((k) => {
      const f = facts.get(packageKeyString(k));
      return f ? [{ ...k, version: f.latest.version }] : [];
    });
    const rows = wanted.length ? await this.repo.newestVariantOfVersions(wanted) : [];
    return new Map(rows.map((r) => [packageKeyString(r), r]));
  }

  variants(keys: PackageKey[], opts: VariantOptions, order: { field: VariantOrderField; direction: Direction } | null, page: PageRequest): Promise<Map<string, Page<PackageRow>>> {
    return this.repo.variantsPages(keys, opts, order, page);
  }

  users(filter: UserFilter | null, order: OrderBy<'LOGIN' | 'IS_ADMIN'> | null, page: PageRequest): Promise<Page<User>> {
    return this.repo.usersPage(boundFilter(filter), order, page);
  }
}
