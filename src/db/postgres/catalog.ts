// Read-side queries behind GraphQL listings, one statement per method as in
// ../sqlite/catalog.ts. Keys arrive as parallel arrays unnested into rows
// (SQLite joins a JSON array instead). Similarity is pg_trgm's similarity(),
// the function the SQLite adapter imitates. Text columns are COLLATE "C", so
// ORDER BY name matches SQLite's byte order without further ado.
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
import type { QueryResultRow } from 'pg';
import { type Pool, rows } from './database.js';
import { filterSql, PgParams } from './filters.js';

/** A JSON value of index.json/post_install as a number when it is one (json_extract's integer), else null. */
const jsonNumber = (col: string, key: string) =>
  `(CASE WHEN jsonb_typeof(${col}::jsonb -> '${key}') = 'number' THEN (${col}::jsonb ->> '${key}')::numeric END)`;

export class PgCatalogRepository implements CatalogRepository {
  /** Statements run for requests, for the "statements per request" figure (channeldata.json's background reads are not counted). */
  statements = 0;

  constructor(private readonly pool: Pool) {}

  private all<T extends QueryResultRow>(sql: string, values: unknown[], counted = true): Promise<T[]> {
    if (counted) this.statements++;
    return rows<T>(this.pool, sql, values);
  }

  async channelsPage(scope: ReadScope, filter: ChannelFilter | null, order: OrderBy<ChannelOrderField> | null, page: PageRequest, memberOf?: MemberOf): Promise<Page<ChannelListRow>> {
    const params = new PgParams();
    const where = [scopeSql(scope, params), memberOfSql(memberOf, params), filterSql(filter, CHANNEL_FIELDS, params)];
    const { sim, similar, orderSql } = listingOrder(order, CHANNEL_ORDER, params);
    if (similar) where.push(similar);
    const found = await this.all<ListedChannelRow & { sim: number }>(
      `SELECT c.*, u.login AS owner_login, ${sim} AS sim, count(*) OVER () AS total,
         (SELECT coalesce(sum(p.size_bytes), 0) FROM packages p WHERE p.channel_id = c.id) AS size,
         (SELECT count(DISTINCT p.name) FROM packages p WHERE p.channel_id = c.id) AS package_count
       FROM channels c JOIN users u ON u.id = c.owner_id
       WHERE ${where.join(' AND ')}
       ORDER BY ${orderSql} LIMIT ${params.add(page.limit, '::bigint')} OFFSET ${params.add(page.limit * page.page, '::bigint')}`,
      params.values);
    return channelPage(found, page, () => this.countChannels(scope, filter, order, memberOf));
  }

  private async countChannels(scope: ReadScope, filter: ChannelFilter | null, order: OrderBy<ChannelOrderField> | null, memberOf?: MemberOf): Promise<number> {
    // Only reached when the requested page is past the end.
    const params = new PgParams();
    const where = [scopeSql(scope, params), memberOfSql(memberOf, params), filterSql(filter, CHANNEL_FIELDS, params)];
    const { similar } = listingOrder(order, CHANNEL_ORDER, params);
    if (similar) where.push(similar);
    return (await this.all<{ n: number }>(
      `SELECT count(*) AS n FROM channels c JOIN users u ON u.id = c.owner_id WHERE ${where.join(' AND ')}`, params.values))[0]!.n;
  }

  async packagesPages(channelIds: number[] | 'all-in-scope', scope: ReadScope, filter: PackageFilter | null, order: OrderBy<PackageOrderField> | null, page: PageRequest, perChannel: boolean): Promise<Map<number | 'all', Page<PackageListRow>>> {
    const params = new PgParams();
    const where: string[] = [];
    if (channelIds === 'all-in-scope') {
      where.push(`p.channel_id IN (SELECT c.id FROM channels c WHERE ${scopeSql(scope, params)})`);
    } else {
      where.push(`p.channel_id = ANY(${params.add(channelIds, '::bigint[]')})`);
    }
    where.push(filterSql(filter, PACKAGE_FIELDS, params));
    const { sim, similar, orderSql } = listingOrder(order, PACKAGE_ORDER, params);
    // PostgreSQL's HAVING cannot name the select's alias.
    const having = similar === null ? '' : `HAVING ${similar}`;
    const partition = perChannel ? 'PARTITION BY channel_id' : '';
    const offset = page.limit * page.page;
    const found = await this.all<RankedPackageRow & { rn: number }>(
      `WITH agg AS (
         SELECT p.channel_id, p.name, sum(p.size_bytes) AS total_size, max(p.created_at) AS last_created,
                count(*) AS variants, ${sim} AS sim
         FROM packages p WHERE ${where.join(' AND ')}
         GROUP BY p.channel_id, p.name ${having}
       ), ranked AS (
         SELECT agg.*, row_number() OVER (${partition} ORDER BY ${orderSql}) AS rn, count(*) OVER (${partition}) AS total
         FROM agg
       )
       SELECT * FROM ranked WHERE rn > ${params.add(offset, '::bigint')} AND rn <= ${params.add(offset + page.limit, '::bigint')}
       ORDER BY ${perChannel ? 'channel_id, ' : ''}rn`,
      params.values);
    return packagePages(found, {
      perChannel, withSimilarity: order !== null && 'bySimilarity' in order, offset, channelIds,
      totals: () => this.packagesPages(channelIds, scope, filter, order, { limit: 1, page: 0 }, perChannel),
    });
  }

  async packageRows(keys: PackageKey[]): Promise<PackageListRow[]> {
    const found = await this.all<AggregatedPackageRow>(
      `SELECT p.channel_id, p.name, sum(p.size_bytes) AS total_size, max(p.created_at) AS last_created, count(*) AS variants
       FROM unnest($1::bigint[], $2::text[]) AS k(channel_id, name) JOIN packages p ON k.channel_id = p.channel_id AND k.name = p.name
       GROUP BY p.channel_id, p.name`,
      [keys.map((k) => k.channelId), keys.map((k) => k.name)]);
    return found.map((r) => toPackageListRow(r, null));
  }

  async versionRows(keys: PackageKey[]): Promise<VersionRow[]> {
    const found = await this.all<AggregatedVersionRow & { subdirs: string[] }>(
      `SELECT p.channel_id, p.name, p.version, array_agg(DISTINCT p.subdir) AS subdirs,
              max(p.created_at) AS last_created, count(*) FILTER (WHERE p.hidden = 0) AS visible,
              count(*) FILTER (WHERE p.hidden = 0 AND p.has_attestation = 1) AS attested, count(*) AS n
       FROM unnest($1::bigint[], $2::text[]) AS k(channel_id, name) JOIN packages p ON k.channel_id = p.channel_id AND k.name = p.name
       GROUP BY p.channel_id, p.name, p.version`,
      [keys.map((k) => k.channelId), keys.map((k) => k.name)]);
    return found.map((r) => toVersionRow(r, r.subdirs));
  }

  async newestVariantOfVersions(keys: Array<PackageKey & { version: string }>): Promise<PackageRow[]> {
    const found = await this.all<PackageDbRow>(
      `WITH ranked AS (
         SELECT p.*, row_number() OVER (PARTITION BY p.channel_id, p.name ORDER BY p.hidden ASC, p.created_at DESC, p.id DESC) AS rn
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k(channel_id, name, version)
         JOIN packages p ON k.channel_id = p.channel_id AND k.name = p.name AND k.version = p.version
       )
       SELECT * FROM ranked WHERE rn = 1`,
      [keys.map((k) => k.channelId), keys.map((k) => k.name), keys.map((k) => k.version)]);
    return found.map(toPackageRow);
  }

  async variantsPages(keys: PackageKey[], opts: VariantOptions, order: { field: VariantOrderField; direction: Direction } | null, page: PageRequest): Promise<Map<string, Page<PackageRow>>> {
    const params = new PgParams();
    const keySql = `unnest(${params.add(keys.map((k) => k.channelId), '::bigint[]')}, ${params.add(keys.map((k) => k.name), '::text[]')}) AS k(channel_id, name)`;
    const where = variantConditions(opts, params);
    const orderSql = variantOrderSql(order);
    const offset = page.limit * page.page;
    const found = await this.all<PackageDbRow & { rn: number; total: number }>(
      `WITH ranked AS (
         SELECT p.*, row_number() OVER (PARTITION BY p.channel_id, p.name ORDER BY ${orderSql}) AS rn,
                count(*) OVER (PARTITION BY p.channel_id, p.name) AS total
         FROM ${keySql} JOIN packages p ON k.channel_id = p.channel_id AND k.name = p.name
         WHERE ${where.length ? where.join(' AND ') : 'TRUE'}
       )
       SELECT * FROM ranked WHERE rn > ${params.add(offset, '::bigint')} AND rn <= ${params.add(offset + page.limit, '::bigint')} ORDER BY channel_id, name, rn`,
      params.values);
    return variantPages(found, keys, offset, (missing) => this.variantsPages(missing, opts, order, { limit: 1, page: 0 }));
  }

  async channeldataNames(channelId: number): Promise<string[]> {
    return (await this.all<{ name: string }>('SELECT DISTINCT name FROM packages WHERE channel_id = $1 ORDER BY name', [channelId], false)).map((r) => r.name);
  }

  async channeldataVersions(channelId: number, names: string[]): Promise<ChanneldataVersion[]> {
    // A flag counts when post_install holds it as true (json_extract gives 1 for true in SQLite).
    const flagCols = channeldataFlagColumns((f) => `CASE WHEN post_install::jsonb -> '${f}' IN ('true'::jsonb, '1'::jsonb) THEN 1 ELSE 0 END`);
    const found = await this.all<ChanneldataVersionRow & { subdirs: string[] }>(
      `SELECT name, version, array_agg(DISTINCT subdir) AS subdirs,
              max(coalesce(${jsonNumber('index_json', 'timestamp')}, 0)) AS ts, ${flagCols},
              max(CASE WHEN run_exports_json IS NOT NULL AND run_exports_json NOT IN ('{}', '[]', 'null') THEN run_exports_json END) AS re
       FROM packages WHERE channel_id = $1 AND name = ANY($2::text[]) AND yanked_reason IS NULL GROUP BY name, version`,
      [channelId, names], false);
    return found.map((r) => toChanneldataVersion(r, r.subdirs));
  }

  async channeldataAbout(channelId: number, wanted: Array<{ name: string; version: string }>): Promise<Map<string, ChanneldataAbout>> {
    const found = await this.all<{ name: string; about_json: string | null; index_json: string }>(
      `WITH ranked AS (
         SELECT p.name, p.about_json, p.index_json, row_number() OVER (
           PARTITION BY p.name ORDER BY coalesce(${jsonNumber('p.index_json', 'timestamp')}, 0) DESC, p.id DESC) AS rn
         FROM unnest($2::text[], $3::text[]) AS k(name, version) JOIN packages p ON k.name = p.name AND k.version = p.version
         WHERE p.channel_id = $1 AND p.yanked_reason IS NULL
       )
       SELECT name, about_json, index_json FROM ranked WHERE rn = 1`,
      [channelId, wanted.map((w) => w.name), wanted.map((w) => w.version)], false);
    return new Map(found.map((r) => [r.name, { aboutJson: r.about_json, indexJson: r.index_json }]));
  }

  async usersPage(filter: UserFilter | null, order: OrderBy<'LOGIN' | 'IS_ADMIN'> | null, page: PageRequest): Promise<Page<User>> {
    const params = new PgParams();
    const where = [filterSql(filter, USER_FIELDS, params)];
    const { sim, similar, orderSql } = listingOrder(order, USER_ORDER, params);
    if (similar) where.push(similar);
    const countValues = [...params.values];
    const found = await this.all<UserRow & { sim: number }>(
      `SELECT users.*, ${sim} AS sim FROM users WHERE ${where.join(' AND ')} ORDER BY ${orderSql}
       LIMIT ${params.add(page.limit, '::bigint')} OFFSET ${params.add(page.limit * page.page, '::bigint')}`, params.values);
    const total = (await this.all<{ n: number }>(`SELECT count(*) AS n FROM users WHERE ${where.join(' AND ')}`, countValues))[0]!.n;
    return { items: found.map(toUser), totalCount: total };
  }
}

/** Channels where a user has a role: owner, or a member with one of `roles` (any role when null). */
function memberOfSql(memberOf: MemberOf | undefined, params: PgParams): string {
  if (!memberOf) return 'TRUE';
  const uid = params.add(memberOf.userId, '::bigint');
  const roles = memberOf.roles;
  const ownerCounts = roles === null || roles.includes('OWNER');
  const memberRoles = roles === null ? 'TRUE' : `m.role = ANY(${params.add(roles, '::text[]')})`;
  return `(${ownerCounts ? `c.owner_id = ${uid} OR ` : ''}EXISTS (SELECT 1 FROM channel_members m WHERE m.channel_id = c.id AND m.user_id = ${uid} AND ${memberRoles}))`;
}

function scopeSql(scope: ReadScope, params: PgParams): string {
  if (scope.all) return 'TRUE';
  const parts = ['c.is_public = 1'];
  if (scope.userId !== null) {
    // A parameter is added only where used: PostgreSQL refuses one it cannot type.
    let own = 'TRUE';
    if (!scope.admin) {
      const uid = params.add(scope.userId, '::bigint');
      own = `(c.owner_id = ${uid} OR EXISTS (SELECT 1 FROM channel_members m WHERE m.channel_id = c.id AND m.user_id = ${uid}))`;
    }
    if (scope.onlyChannelId !== null) own = `(${own} AND c.id = ${params.add(scope.onlyChannelId, '::bigint')})`;
    parts.push(own);
  }
  if (scope.grantedChannelIds?.length) parts.push(`c.id = ANY(${params.add(scope.grantedChannelIds, '::bigint[]')})`);
  return `(${parts.join(' OR ')})`;
}
