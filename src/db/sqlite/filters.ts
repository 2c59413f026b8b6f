// Turns the GraphQL-style filter trees (StringFilter with and/or) into SQL
// with named parameters. Column names come only from the caller's field map,
// never from input.
import type { FilterTree, StringFilter } from '../../types.js';
import { type FieldMap, filterTreeSql } from '../shared/filter-tree.js';

export type { FieldMap };

export class SqlParams {
  readonly values: Record<string, unknown> = {};
  private n = 0;
  add(value: unknown): string {
    const name = `p${this.n++}`;
    this.values[name] = value;
    return `@${name}`;
  }
}

function stringConditions(col: string, f: StringFilter, params: SqlParams): string[] {
  const out: string[] = [];
  if (f.eq != null) out.push(`${col} = ${params.add(f.eq)}`);
  if (f.ne != null) out.push(`${col} <> ${params.add(f.ne)}`);
  if (f.isIn != null) out.push(`${col} IN (SELECT value FROM json_each(${params.add(JSON.stringify(f.isIn))}))`);
  if (f.isNotIn != null) out.push(`${col} NOT IN (SELECT value FROM json_each(${params.add(JSON.stringify(f.isNotIn))}))`);
  // substr/instr instead of LIKE: no wildcard escaping, case-sensitive like eq.
  if (f.startsWith != null) {
    const p = params.add(f.startsWith);
    out.push(`substr(${col}, 1, length(${p})) = ${p}`);
  }
  if (f.endsWith != null) {
    const p = params.add(f.endsWith);
    out.push(`(length(${p}) = 0 OR substr(${col}, -length(${p})) = ${p})`);
  }
  if (f.contains != null) out.push(`instr(${col}, ${params.add(f.contains)}) > 0`);
  return out;
}

export function filterSql<F>(tree: FilterTree<F> | null | undefined, fields: FieldMap, params: SqlParams): string {
  return filterTreeSql(tree, fields, {
    always: '1',
    boolean: (col, value) => `${col} = ${params.add(value ? 1 : 0)}`,
    strings: (col, f) => stringConditions(col, f, params),
  });
}

/**
 * pg_trgm-style trigram similarity in [0, 1] (registered as an SQL function
 * for search ordering). A statement calls it once per row with the same
 * search term, so the term's trigrams are kept from the previous call.
 */
export function trigramSimilarity(a: string, b: string): number {
  const ta = trigrams(a);
  if (b !== lastTerm) {
    lastTerm = b;
    lastTermTrigrams = trigrams(b);
  }
  const tb = lastTermTrigrams;
  if (ta.size === 0 || tb.size === 0) return 0;
  let shared = 0;
  for (const t of ta) if (tb.has(t)) shared++;
  return shared / (ta.size + tb.size - shared);
}

let lastTerm = '';
let lastTermTrigrams = new Set<string>();

function trigrams(s: string): Set<string> {
  const out = new Set<string>();
  for (const word of s.toLowerCase().split(/[^a-z0-9]+/)) {
    if (word === '') continue;
    const padded = `  ${word} `;
    for (let i = 0; i + 3 <= padded.length; i++) out.add(padded.slice(i, i + 3));
  }
  return out;
}
