// What the listings' filter and order fields mean as columns, the same in
// both dialects (only written as SQL both accept). Column names come only
// from these tables, never from input.
import type { Direction, OrderBy } from '../../types.js';
import type { ChannelOrderField, PackageOrderField, VariantOptions, VariantOrderField } from '../repositories.js';
import type { FieldMap } from './filter-tree.js';

export const direction = (d: Direction): 'ASC' | 'DESC' => (d === 'DESC' ? 'DESC' : 'ASC');

/** How a listing may be ordered: the column a similarity search compares, each order field's column, and the tie-break. */
export interface ListingOrder<F extends string> {
  searched: string;
  columns: Record<F, string>;
  tieBreak: string;
}

/** Over `channels c JOIN users u ON u.id = c.owner_id`. Boolean fields are 0/1, as the filter compares them. */
export const CHANNEL_FIELDS: FieldMap = {
  name: { kind: 'string', sql: 'c.name' },
  owner: { kind: 'string', sql: 'u.login' },
  namespace: { kind: 'string', sql: 'u.login' },
  isPublic: { kind: 'boolean', sql: 'c.is_public' },
  hasOwner: { kind: 'boolean', sql: '(CASE WHEN c.owner_id IS NOT NULL THEN 1 ELSE 0 END)' },
  // No channel has a mirror here (Channel.mirror is always null).
  hasMirror: { kind: 'boolean', sql: '0' },
};

/** Orders over channelsPage's select (size and package_count are its subqueries). */
export const CHANNEL_ORDER: ListingOrder<ChannelOrderField> = {
  searched: 'c.name',
  columns: { NAME: 'c.name', BILLING_OWNER: 'u.login', NAMESPACE: 'u.login', SIZE: 'size', CREATED_AT: 'c.created_at', PACKAGE_COUNT: 'package_count' },
  tieBreak: 'c.name ASC',
};

/** Over `packages p`. */
export const PACKAGE_FIELDS: FieldMap = { name: { kind: 'string', sql: 'p.name' } };

/** Orders over packagesPages' per-name aggregate. */
export const PACKAGE_ORDER: ListingOrder<PackageOrderField> = {
  searched: 'p.name',
  columns: { NAME: 'name', LAST_CREATED_DATE: 'last_created', TOTAL_SIZE: 'total_size' },
  tieBreak: 'name ASC, channel_id ASC',
};

export const USER_FIELDS: FieldMap = { login: { kind: 'string', sql: 'login' }, isAdmin: { kind: 'boolean', sql: 'is_admin' } };

export const USER_ORDER: ListingOrder<'LOGIN' | 'IS_ADMIN'> = { searched: 'login', columns: { LOGIN: 'login', IS_ADMIN: 'is_admin' }, tieBreak: 'login ASC' };

/** How an adapter writes a parameter: SQLite names it; PostgreSQL numbers it and casts it where it cannot infer the type. */
export interface Placeholders {
  add(value: unknown, cast?: string): string;
}

/** variantsPages' conditions on `packages p`, one per option set (none: every visible variant). */
export function variantConditions(opts: VariantOptions, params: Placeholders): string[] {
  const where: string[] = [];
  if (opts.version != null) where.push(`p.version = ${params.add(opts.version, '::text')}`);
  if (opts.platform != null) where.push(`p.subdir = ${params.add(opts.platform, '::text')}`);
  if (opts.buildString != null) where.push(`p.build = ${params.add(opts.buildString, '::text')}`);
  if (opts.createdAtFrom != null) where.push(`p.created_at >= ${params.add(opts.createdAtFrom, '::bigint')}`);
  if (opts.createdAtTo != null) where.push(`p.created_at <= ${params.add(opts.createdAtTo, '::bigint')}`);
  if (!opts.includeHidden) where.push('p.hidden = 0');
  return where;
}

const VARIANT_ORDER_COLUMNS: Record<VariantOrderField, string> = { BUILD_STRING: 'p.build', CREATED_AT: 'p.created_at', SIZE: 'p.size_bytes' };

/** Newest first by default; filename, then subdir, break ties so that pages never overlap. */
export function variantOrderSql(order: { field: VariantOrderField; direction: Direction } | null): string {
  const col = order ? VARIANT_ORDER_COLUMNS[order.field] : 'p.created_at';
  return `${col} ${order ? direction(order.direction) : 'DESC'}, p.filename ASC, p.subdir ASC`;
}

/**
 * A listing's similarity column (`sim`, '0' unless searching) and ORDER BY.
 * A similarity search lists only rows that resemble the term at all
 * (`similar`, a condition on the listing's rows), most alike first; every
 * order ends with the tie-break, so that pages never overlap.
 */
export function listingOrder<F extends string>(order: OrderBy<F> | null, listing: ListingOrder<F>, params: Placeholders): { sim: string; similar: string | null; orderSql: string } {
  if (order && 'bySimilarity' in order) {
    const sim = `similarity(${listing.searched}, ${params.add(order.bySimilarity.matches, '::text')})`;
    return { sim, similar: `${sim} > 0`, orderSql: `sim ${direction(order.bySimilarity.direction)}, ${listing.tieBreak}` };
  }
  const orderSql = order ? `${listing.columns[order.byField.field]} ${direction(order.byField.direction)}, ${listing.tieBreak}` : listing.tieBreak;
  return { sim: '0', similar: null, orderSql };
}
