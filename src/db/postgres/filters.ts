// The GraphQL-style filter trees (StringFilter with and/or) as PostgreSQL
// with numbered parameters. Same meaning as ../sqlite/filters.ts: exact,
// case-sensitive matches, no LIKE wildcards. Column names come only from the
// caller's field map, never from input.
import type { FilterTree, StringFilter } from '../../types.js';
import { type FieldMap, filterTreeSql } from '../shared/filter-tree.js';

export class PgParams {
  readonly values: unknown[] = [];
  /** The placeholder of a new parameter; `cast` pins its type where PostgreSQL cannot infer it. */
  add(value: unknown, cast = ''): string {
    this.values.push(value);
    return `$${this.values.length}${cast}`;
  }
}

function stringConditions(col: string, f: StringFilter, params: PgParams): string[] {
  const out: string[] = [];
  if (f.eq != null) out.push(`${col} = ${params.add(f.eq, '::text')}`);
  if (f.ne != null) out.push(`${col} <> ${params.add(f.ne, '::text')}`);
  if (f.isIn != null) out.push(`${col} = ANY(${params.add(f.isIn, '::text[]')})`);
  if (f.isNotIn != null) out.push(`NOT (${col} = ANY(${params.add(f.isNotIn, '::text[]')}))`);
  if (f.startsWith != null) out.push(`starts_with(${col}, ${params.add(f.startsWith, '::text')})`);
  if (f.endsWith != null) {
    const p = params.add(f.endsWith, '::text');
    out.push(`right(${col}, length(${p})) = ${p}`);
  }
  if (f.contains != null) out.push(`strpos(${col}, ${params.add(f.contains, '::text')}) > 0`);
  return out;
}

export function filterSql<F>(tree: FilterTree<F> | null | undefined, fields: FieldMap, params: PgParams): string {
  return filterTreeSql(tree, fields, {
    always: 'TRUE',
    // Boolean fields are 0/1 integers, as in SQLite.
    boolean: (col, value) => `${col} = ${params.add(value ? 1 : 0, '::bigint')}`,
    strings: (col, f) => stringConditions(col, f, params),
  });
}
