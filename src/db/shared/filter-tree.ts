// Walks a GraphQL-style filter tree (fields, and/or) into one SQL condition;
// each database says how a boolean and a string filter are written in its
// dialect. Column names come only from the caller's field map, never from input.
import type { FilterTree, StringFilter } from '../../types.js';

export type FieldMap = Record<string, { kind: 'string' | 'boolean'; sql: string }>;

export interface FilterDialect {
  /** A condition that is always true. */
  always: string;
  boolean(col: string, value: boolean): string;
  strings(col: string, filter: StringFilter): string[];
}

export function filterTreeSql<F>(tree: FilterTree<F> | null | undefined, fields: FieldMap, dialect: FilterDialect): string {
  if (!tree) return dialect.always;
  const parts: string[] = [];
  for (const [key, value] of Object.entries(tree as Record<string, unknown>)) {
    if (value === null || value === undefined) continue;
    if (key === 'and' || key === 'or') {
      const subs = (value as FilterTree<F>[]).map((t) => `(${filterTreeSql(t, fields, dialect)})`);
      if (subs.length > 0) parts.push(`(${subs.join(key === 'and' ? ' AND ' : ' OR ')})`);
      continue;
    }
    const field = fields[key];
    if (!field) continue;
    if (field.kind === 'boolean') parts.push(dialect.boolean(field.sql, Boolean(value)));
    else parts.push(...dialect.strings(field.sql, value as StringFilter));
  }
  return parts.length === 0 ? dialect.always : parts.join(' AND ');
}
