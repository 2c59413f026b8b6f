// Bounds on the GraphQL document itself, checked before graphql-js
// validates it. Validation is not linear: OverlappingFieldsCanBeMerged
// compares every pair of fields that share a response name (625 copies of
// `channels { page { name } }` in 17 KB take 330 ms) and every pair of
// fragments spread into one selection set. Parsing with a token bound and
// counting fields per response name and fragments keeps each request's
// validation to a few milliseconds; real documents (the introspection query,
// the UI's pages, prefix.dev's scripts) stay far below these numbers.
import { GraphQLError, Kind, parse, visit, type DocumentNode } from 'graphql';

/** Lexical tokens per document (the full introspection query has a few hundred). */
export const MAX_DOCUMENT_TOKENS = 4000;
/** Field selections sharing one response name, across the document. */
export const MAX_FIELDS_PER_NAME = 64;
/** Fragment definitions per document. */
export const MAX_FRAGMENTS = 64;
/** Fragment spreads per document. */
export const MAX_FRAGMENT_SPREADS = 500;

const refused = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

/**
 * Parses a query under the bounds. Throws the GraphQLError to answer: a
 * syntax error, or a bound crossed. Also the only parser a query string
 * meets: mercurius, when a string fails to parse, tries it as a JSON-encoded
 * AST, which no bound covers.
 */
export function parseBounded(source: string): DocumentNode {
  let document: DocumentNode;
  try {
    document = parse(source, { maxTokens: MAX_DOCUMENT_TOKENS });
  } catch (err) {
    if (err instanceof GraphQLError && /contains more that \d+ tokens/.test(err.message)) {
      throw refused(`the query has more than ${MAX_DOCUMENT_TOKENS} tokens; split it`);
    }
    throw err;
  }
  const perName = new Map<string, number>();
  let fragments = 0;
  let spreads = 0;
  let over: GraphQLError | null = null;
  visit(document, {
    Field(node) {
      const name = node.alias?.value ?? node.name.value;
      const n = (perName.get(name) ?? 0) + 1;
      perName.set(name, n);
      if (n > MAX_FIELDS_PER_NAME) over ??= refused(`the query selects "${name}" ${n} times or more; at most ${MAX_FIELDS_PER_NAME}`);
    },
    FragmentDefinition() {
      if (++fragments > MAX_FRAGMENTS) over ??= refused(`the query defines more than ${MAX_FRAGMENTS} fragments`);
    },
    FragmentSpread() {
      if (++spreads > MAX_FRAGMENT_SPREADS) over ??= refused(`the query spreads fragments more than ${MAX_FRAGMENT_SPREADS} times`);
    },
  });
  if (over) throw over;
  return document;
}

export const isDocument = (d: unknown): d is DocumentNode => (d as { kind?: unknown } | null)?.kind === Kind.DOCUMENT;
