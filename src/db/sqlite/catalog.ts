// Read-side queries behind GraphQL listings. Each method is ONE statement
// however many parents it serves (a JSON array of keys is joined in), so a
// nested query costs the same number of statements whatever its page size.
// The keys are CROSS JOINed first: SQLite then keeps them as the outer loop
// and looks each one up through packages_by_name, instead of scanning the
// channel's packages once per key (6.3 s → 8 ms for 1,250 names at 10k rows).
import Database from 'better-sqlite3';
import type { SqliteDb } from './database.js';
import type {
  CatalogRepository, ChanneldataAbout, ChanneldataVersion, ChannelListRow, MemberOf, ChannelOrderField, PackageKey, PackageListRow,
  PackageOrderField, VariantOptions, VariantOrderField, VersionRow,
} from '../repositories.js';
import type {
  ChannelFilter, Direction, OrderBy, Page, PackageFilter, PackageRow, PageRequest, ReadScope, User, UserFilter,
} from '../../types.js';
import {
  CHANNEL_FIELDS, CHANNEL_ORDER, PACKAGE_FIELDS, PACKAGE_ORDER, USER_FIELDS, USER_ORDER, listingOrder, variantConditions, variantOrderSql,
} from '../shared/catalog-fields.js';
import {
  type AggregatedPackageRow, type AggregatedVersionRow, type ChanneldataVersionRow, type ListedChannelRow, type RankedPackageRow,
  channelPage, channeldataFlagColumns, packagePages, toChanneldataVersion, toPackageListRow, toVersionRow, variantPages,
} from '../shared/catalog-rows.js';
import { type PackageDbRow, type UserRow, toPackageRow, toUser } from '../shared/rows.js';
import { filterSql, SqlParams, trigramSimilarity } from './filters.js';

export class SqliteCatalogRepository implements CatalogRepository {
  /** Statements run for requests, for the "statements per request" figure (channeldata.json's background reads are not counted). */
  statements = 0;
  private readonly cache = new Map<string, ReturnType<SqliteDb['prepare']>>();

  constructor(private readonly db: SqliteDb) {
    db.function('similarity', { deterministic: true }, (a: unknown, b: unknown) =>
      trigramSimilarity(String(a ?? ''), String(b ?? '')));
  }

  private all<T>(sql: string, params: Record<string, unknown>, counted = true): T[] {
    let stmt = this.cache.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      if (this.cache.size > 500) this.cache.clear();
      this.cache.set(sql, stmt);
    }
    if (counted) this.statements++;
    return stmt.all(params) as T[];
  }

  async channelsPage(scope: ReadScope, filter: ChannelFilter | null, order: OrderBy<ChannelOrderField> | null, page: PageRequest, memberOf?: MemberOf): Promise<Page<ChannelListRow>> {
    const params = new SqlParams();
    const where = [scopeSql(scope, params), memberOfSql(memberOf, params), filterSql(filter, CHANNEL_FIELDS, params)];
    const { sim, similar, orderSql } = listingOrder(order, CHANNEL_ORDER, params);
    if (similar) where.push(similar);
    const rows = this.all<ListedChannelRow & { sim: number }>(
      `SELECT c.*, u.login AS owner_login, ${sim} AS sim, count(*) OVER () AS total,
         (SELECT coalesce(sum(p.size_bytes), 0) FROM packages p WHERE p.channel_id = c.id) AS size,
         (SELECT count(DISTINCT p.name) FROM packages p WHERE p.channel_id = c.id) AS package_count
       FROM channels c JOIN users u ON u.id = c.owner_id
       WHERE ${where.join(' AND ')}
       ORDER BY ${orderSql} LIMIT ${params.add(page.limit)} OFFSET ${params.add(page.limit * page.page)}`,
      params.values);
    return channelPage(rows, page, () => this.countChannels(scope, filter, order, memberOf));
  }

  private countChannels(scope: ReadScope, filter: ChannelFilter | null, order: OrderBy<ChannelOrderField> | null, memberOf?: MemberOf): number {
    // Only reached when the requested page is past the end.
    const params = new SqlParams();
    const where = [scopeSql(scope, params), memberOfSql(memberOf, params), filterSql(filter, CHANNEL_FIELDS, params)];
    const { similar } = listingOrder(order, CHANNEL_ORDER, params);
    if (similar) where.push(similar);
    return this.all<{ n: number }>(
      `SELECT count(*) AS n FROM channels c JOIN users u ON u.id = c.owner_id WHERE ${where.join(' AND ')}`, params.values)[0]!.n;
  }

  async packagesPages(channelIds: number[] | 'all-in-scope', scope: ReadScope, filter: PackageFilter | null, order: OrderBy<PackageOrderField> | null, page: PageRequest, perChannel: boolean): Promise<Map<number | 'all', Page<PackageListRow>>> {
    const params = new SqlParams();
    const where: string[] = [];
    if (channelIds === 'all-in-scope') {
      where.push(`p.channel_id IN (SELECT c.id FROM channels c WHERE ${scopeSql(scope, params)})`);
    } else {
      where.push(`p.channel_id IN (SELECT value FROM json_each(${params.add(JSON.stringify(channelIds))}))`);
    }
    where.push(filterSql(filter, PACKAGE_FIELDS, params));
    const { sim, similar, orderSql } = listingOrder(order, PACKAGE_ORDER, params);
    const having = similar === null ? '' : 'HAVING sim > 0';
    const partition = perChannel ? 'PARTITION BY channel_id' : '';
    const offset = page.limit * page.page;
    const rows = this.all<RankedPackageRow & { rn: number }>(
      `WITH agg AS (
         SELECT p.channel_id, p.name, sum(p.size_bytes) AS total_size, max(p.created_at) AS last_created,
                count(*) AS variants, ${sim} AS sim
         FROM packages p WHERE ${where.join(' AND ')}
         GROUP BY p.channel_id, p.name ${having}
       ), ranked AS (
         SELECT agg.*, row_number() OVER (${partition} ORDER BY ${orderSql}) AS rn, count(*) OVER (${partition}) AS total
         FROM agg
       )
       SELECT * FROM ranked WHERE rn > ${params.add(offset)} AND rn <= ${params.add(offset + page.limit)}
       ORDER BY ${perChannel ? 'channel_id, ' : ''}rn`,
      params.values);
    return packagePages(rows, {
      perChannel, withSimilarity: order !== null && 'bySimilarity' in order, offset, channelIds,
      totals: () => this.packagesPages(channelIds, scope, filter, order, { limit: 1, page: 0 }, perChannel),
    });
  }

  async packageRows(keys: PackageKey[]): Promise<PackageListRow[]> {
    const rows = this.all<AggregatedPackageRow>(
      `WITH keys AS (SELECT json_extract(value, '$[0]') AS channel_id, json_extract(value, '$[1]') AS name FROM json_each(@keys))
       SELECT p.channel_id, p.name, sum(p.size_bytes) AS total_size, max(p.created_at) AS last_created, count(*) AS variants
       FROM keys k CROSS JOIN packages p ON k.channel_id = p.channel_id AND k.name = p.name
       GROUP BY p.channel_id, p.name`,
      { keys: JSON.stringify(keys.map((k) => [k.channelId, k.name])) });
    return rows.map((r) => toPackageListRow(r, null));
  }

  async versionRows(keys: PackageKey[]): Promise<VersionRow[]> {
    const rows = this.all<AggregatedVersionRow & { subdirs: string }>(
      `WITH keys AS (SELECT json_extract(value, '$[0]') AS channel_id, json_extract(value, '$[1]') AS name FROM json_each(@keys))
       SELECT p.channel_id, p.name, p.version, json_group_array(DISTINCT p.subdir) AS subdirs,
              max(p.created_at) AS last_created, sum(p.hidden = 0) AS visible,
              sum(p.hidden = 0 AND p.has_attestation = 1) AS attested, count(*) AS n
       FROM keys k CROSS JOIN packages p ON k.channel_id = p.channel_id AND k.name = p.name
       GROUP BY p.channel_id, p.name, p.version`,
      { keys: JSON.stringify(keys.map((k) => [k.channelId, k.name])) });
    return rows.map((r) => toVersionRow(r, JSON.parse(r.subdirs) as string[]));
  }

  async newestVariantOfVersions(keys: Array<PackageKey & { version: string }>): Promise<PackageRow[]> {
    const rows = this.all<PackageDbRow>(
      `WITH keys AS (SELECT json_extract(value, '$[0]') AS channel_id, json_extract(value, '$[1]') AS name,
                            json_extract(value, '$[2]') AS version FROM json_each(@keys)),
       ranked AS (
         SELECT p.*, row_number() OVER (PARTITION BY p.channel_id, p.name ORDER BY p.hidden ASC, p.created_at DESC, p.id DESC) AS rn
         FROM keys k CROSS JOIN packages p ON k.channel_id = p.channel_id AND k.name = p.name AND k.version = p.version
       )
       SELECT * FROM ranked WHERE rn = 1`,
      { keys: JSON.stringify(keys.map((k) => [k.channelId, k.name, k.version])) });
    return rows.map(toPackageRow);
  }

  async variantsPages(keys: PackageKey[], opts: VariantOptions, order: { field: VariantOrderField; direction: Direction } | null, page: PageRequest): Promise<Map<string, Page<PackageRow>>> {
    const params = new SqlParams();
    const where = variantConditions(opts, params);
    const orderSql = variantOrderSql(order);
    const offset = page.limit * page.page;
    const rows = this.all<PackageDbRow & { rn: number; total: number }>(
      `WITH keys AS (SELECT json_extract(value, '$[0]') AS channel_id, json_extract(value, '$[1]') AS name FROM json_each(${params.add(JSON.stringify(keys.map((k) => [k.channelId, k.name])))})),
       ranked AS (
         SELECT p.*, row_number() OVER (PARTITION BY p.channel_id, p.name ORDER BY ${orderSql}) AS rn,
                count(*) OVER (PARTITION BY p.channel_id, p.name) AS total
         FROM keys k CROSS JOIN packages p ON k.channel_id = p.channel_id AND k.name = p.name
         WHERE ${where.length ? where.join(' AND ') : '1'}
       )
       SELECT * FROM ranked WHERE rn > ${params.add(offset)} AND rn <= ${params.add(offset + page.limit)} ORDER BY channel_id, name, rn`,
      params.values);
    return variantPages(rows, keys, offset, (missing) => this.variantsPages(missing, opts, order, { limit: 1, page: 0 }));
  }

  async channeldataNames(channelId: number): Promise<string[]> {
    // Index-only (packages_by_name): yanked-only names drop out in channeldataVersions.
    return this.all<{ name: string }>('SELECT DISTINCT name FROM packages WHERE channel_id = @channelId ORDER BY name', { channelId }, false)
      .map((r) => r.name);
  }

  async channeldataVersions(channelId: number, names: string[]): Promise<ChanneldataVersion[]> {
    const flagCols = channeldataFlagColumns((f) => `coalesce(json_extract(post_install, '$."${f}"'), 0)`);
    const rows = this.all<ChanneldataVersionRow & { subdirs: string }>(
      `SELECT name, version, json_group_array(DISTINCT subdir) AS subdirs,
              max(coalesce(json_extract(index_json, '$.timestamp'), 0)) AS ts, ${flagCols},
              max(CASE WHEN run_exports_json IS NOT NULL AND run_exports_json NOT IN ('{}', '[]', 'null') THEN run_exports_json END) AS re
       FROM packages WHERE channel_id = @channelId AND name IN (SELECT value FROM json_each(@names)) AND yanked_reason IS NULL
       GROUP BY name, version`,
      { channelId, names: JSON.stringify(names) }, false);
    return rows.map((r) => toChanneldataVersion(r, JSON.parse(r.subdirs) as string[]));
  }

  async channeldataAbout(channelId: number, wanted: Array<{ name: string; version: string }>): Promise<Map<string, ChanneldataAbout>> {
    const rows = this.all<{ name: string; about_json: string | null; index_json: string }>(
      `WITH keys AS (SELECT json_extract(value, '$[0]') AS name, json_extract(value, '$[1]') AS version FROM json_each(@keys)),
       ranked AS (
         SELECT p.name, p.about_json, p.index_json, row_number() OVER (
           PARTITION BY p.name ORDER BY coalesce(json_extract(p.index_json, '$.timestamp'), 0) DESC, p.id DESC) AS rn
         FROM keys k CROSS JOIN packages p ON k.name = p.name AND k.version = p.version
         WHERE p.channel_id = @channelId AND p.yanked_reason IS NULL
       )
       SELECT name, about_json, index_json FROM ranked WHERE rn = 1`,
      { channelId, keys: JSON.stringify(wanted.map((w) => [w.name, w.version])) }, false);
    return new Map(rows.map((r) => [r.name, { aboutJson: r.about_json, indexJson: r.index_json }]));
  }

  async usersPage(filter: UserFilter | null, order: OrderBy<'LOGIN' | 'IS_ADMIN'> | null, page: PageRequest): Promise<Page<User>> {
    const params = new SqlParams();
    const where = [filterSql(filter, USER_FIELDS, params)];
    const { sim, similar, orderSql } = listingOrder(order, USER_ORDER, params);
    if (similar) where.push(similar);
    const countParams = { ...params.values };
    const rows = this.all<UserRow & { sim: number }>(
      `SELECT *, ${sim} AS sim FROM users WHERE ${where.join(' AND ')} ORDER BY ${orderSql}
       LIMIT ${params.add(page.limit)} OFFSET ${params.add(page.limit * page.page)}`, params.values);
    const total = this.all<{ n: number }>(`SELECT count(*) AS n FROM users WHERE ${where.join(' AND ')}`, countParams)[0]!.n;
    return { items: rows.map(toUser), totalCount: total };
  }
}

/**
 * Runs `read` over a read-only connection of its own, in one read
 * transaction (every query sees one snapshot), then closes it: a worker
 * thread's reads then never queue behind the server's connection.
 */
export async function readCatalogSnapshot<T>(file: string, read: (catalog: CatalogRepository) => Promise<T>): Promise<T> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  try {
    db.exec('BEGIN');
    return await read(new SqliteCatalogRepository(db));
  } finally {
    db.close();
  }
}

/** Channels where a user has a role: owner, or a member with one of `roles` (any role when null). */
function memberOfSql(memberOf: MemberOf | undefined, params: SqlParams): string {
  if (!memberOf) return '1';
  const uid = params.add(memberOf.userId);
  const roles = memberOf.roles;
  const ownerCounts = roles === null || roles.includes('OWNER');
  const memberRoles = roles === null ? 'm.role = m.role' : `m.role IN (SELECT value FROM json_each(${params.add(JSON.stringify(roles))}))`;
  return `(${ownerCounts ? `c.owner_id = ${uid} OR ` : ''}EXISTS (SELECT 1 FROM channel_members m WHERE m.channel_id = c.id AND m.user_id = ${uid} AND ${memberRoles}))`;
}

function scopeSql(scope: ReadScope, params: SqlParams): string {
  if (scope.all) return '1';
  const parts = ['c.is_public = 1'];
  if (scope.userId !== null) {
    const uid = params.add(scope.userId);
    let own = scope.admin
      ? '1'
      : `(c.owner_id = ${uid} OR EXISTS (SELECT 1 FROM channel_members m WHERE m.channel_id = c.id AND m.user_id = ${uid}))`;
    if (scope.onlyChannelId !== null) own = `(${own} AND c.id = ${params.add(scope.onlyChannelId)})`;
    parts.push(own);
  }
  if (scope.grantedChannelIds?.length) parts.push(`c.id IN (SELECT value FROM json_each(${params.add(JSON.stringify(scope.grantedChannelIds))}))`);
  return `(${parts.join(' OR ')})`;
}
