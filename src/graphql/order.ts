// GraphQL orderBy inputs (@oneOf: byField | bySimilarity) → core's OrderBy.
import type { Direction, OrderBy } from '../types.js';
import { Errors } from '../errors.js';

/** Characters of a similarity search's `matches` (package names are far shorter). */
export const MAX_MATCHES_CHARS = 256;

export function normaliseOrder<F extends string>(input: unknown): OrderBy<F> | null {
  if (input === null || input === undefined) return null;
  const o = input as { byField?: { field: F; direction?: Direction } | null; bySimilarity?: { matches: string; direction?: Direction } | null };
  const given = [o.byField, o.bySimilarity].filter((x) => x !== null && x !== undefined);
  if (given.length !== 1) throw new Errors.BAD_REQUEST('orderBy takes exactly one of byField or bySimilarity');
  if (o.byField) return { byField: { field: o.byField.field, direction: o.byField.direction ?? 'ASC' } };
  if (o.bySimilarity!.matches.length > MAX_MATCHES_CHARS) {
    throw new Errors.BAD_REQUEST(`bySimilarity.matches may be at most ${MAX_MATCHES_CHARS} characters`);
  }
  return { bySimilarity: { matches: o.bySimilarity!.matches, direction: o.bySimilarity!.direction ?? 'DESC' } };
}
