// Hostile GraphQL documents, one builder per class, shared by the hostile
// suite (test/hostile/graphql.test.ts) and the benchmark (bench/hostile.ts).
// Each is small to send and was expensive to answer before issue 14.

export interface GqlAttack {
  name: string;
  body: { query: string; variables?: Record<string, unknown> };
}

/** F0 spreads F1 twice, F1 spreads F2 twice, …: 2^levels selections in a few hundred bytes. */
export function doubledSpreads(levels = 22, leaf = 'viewer { login }'): string {
  let doc = 'query { ...F0 }\n';
  for (let i = 0; i < levels; i++) doc += `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }\n`;
  return `${doc}fragment F${levels} on Query { ${leaf} }`;
}

/** A few fragments each spreading the next one many times (wide, not deep). */
export function fanOutSpreads(width = 200, levels = 4): string {
  let doc = 'query { ...F0 }\n';
  for (let i = 0; i < levels; i++) doc += `fragment F${i} on Query { ${Array.from({ length: width }, () => `...F${i + 1}`).join(' ')} }\n`;
  return `${doc}fragment F${levels} on Query { viewer { login } }`;
}

/** Inline fragments nested inside each other. */
export const nestedInlineFragments = (levels = 1000) => `{ ${'... on Query { '.repeat(levels)}viewer { login }${' }'.repeat(levels)} }`;

/** One field under many aliases (each one a listing). */
export const manyAliases = (n = 1000, field = 'packages { totalCount }') =>
  `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

/** One field repeated under its own name: validation compares every pair. */
export const repeatedField = (n = 600, field = 'channels { page { name } }') =>
  `{ ${Array.from({ length: n }, () => field).join(' ')} }`;

/** Selection sets nested far past the depth limit. */
export const deepSelections = (levels = 400) =>
  `{ ${'packages { page { channel { '.repeat(levels)}name${' } } }'.repeat(levels)} }`;

export const graphqlAttacks = (): GqlAttack[] => [
  { name: '22 levels of doubled fragment spreads', body: { query: doubledSpreads(22) } },
  { name: 'doubled spreads over a paged leaf', body: { query: doubledSpreads(18, 'packages { page { name } }') } },
  { name: 'wide fragment fan-out (200^4)', body: { query: fanOutSpreads(200, 4) } },
  { name: 'nested inline fragments', body: { query: nestedInlineFragments(1000) } },
  { name: '1000 aliases of packages', body: { query: manyAliases(1000) } },
  { name: '80 aliases of packages (under the token bound)', body: { query: manyAliases(80) } },
  { name: 'one field repeated 600 times', body: { query: repeatedField(600) } },
  { name: 'deep selection sets', body: { query: deepSelections(400) } },
  { name: 'limit from a variable default', body: { query: 'query($n: Int = 500) { packages(limit: $n) { page { variants(limit: $n) { page { filename } } } } }' } },
  { name: 'limit from a variable value', body: { query: 'query($n: Int) { channels(limit: $n) { page { packages(limit: $n) { page { name } } } } }', variables: { n: 500 } } },
  {
    name: 'an or of 33k entries', body: {
      query: 'query($f: PackageFilter) { packages(filters: $f) { totalCount } }',
      variables: { f: { or: Array.from({ length: 33_000 }, (_, i) => ({ name: { eq: `n${i}` } })) } },
    },
  },
  {
    name: 'an or of 900 entries (under the body limit)', body: {
      query: 'query($f: PackageFilter) { packages(filters: $f) { totalCount } }',
      variables: { f: { or: Array.from({ length: 900 }, (_, i) => ({ name: { eq: `n${i}` } })) } },
    },
  },
  {
    name: 'and/or nested 1000 deep in a variable', body: {
      query: 'query($f: PackageFilter) { packages(filters: $f) { totalCount } }',
      variables: { f: JSON.parse(`${'{"and":['.repeat(1000)}{}${']}'.repeat(1000)}`) },
    },
  },
  {
    name: 'a 200 KB similarity search', body: {
      query: 'query($m: String!) { packages(orderBy: {bySimilarity: {field: NAME, matches: $m}}) { totalCount } }',
      variables: { m: 'numpy scipy '.repeat(17_000) },
    },
  },
  {
    name: 'a 300-character similarity search literal',
    body: { query: `{ packages(orderBy: {bySimilarity: {field: NAME, matches: "${'ab '.repeat(100)}"}}) { totalCount } }` },
  },
  { name: '40 similarity searches by alias', body: { query: manyAliases(40, 'packages(orderBy: {bySimilarity: {field: NAME, matches: "numpy"}}) { totalCount }') } },
  {
    name: 'similarity searches hidden in a variable orderBy', body: {
      query: `query($o: PackageOrderBy) { ${Array.from({ length: 10 }, (_, i) => `a${i}: packages(orderBy: $o) { totalCount }`).join(' ')} }`,
      variables: { o: { bySimilarity: { field: 'NAME', matches: 'numpy' } } },
    },
  },
  { name: 'a 2000-entry isIn list literal', body: { query: `{ packages(filters: {name: {isIn: [${Array.from({ length: 2000 }, (_, i) => `"n${i}"`).join(',')}]}}) { totalCount } }` } },
  { name: 'a 5000-entry isIn variable', body: { query: 'query($l: [String!]) { packages(filters: {name: {isIn: $l}}) { totalCount } }', variables: { l: Array.from({ length: 5000 }, (_, i) => `n${i}`) } } },
  { name: 'a query string that is a JSON-encoded AST', body: { query: JSON.stringify({ kind: 'Document', definitions: [] }) } },
  { name: 'a negative limit', body: { query: '{ packages(limit: -1) { totalCount } }' } },
  { name: 'a huge limit', body: { query: '{ packages(limit: 2147483647) { totalCount } }' } },
  { name: 'a limit past Int', body: { query: '{ packages(limit: 99999999999999999999) { totalCount } }' } },
];
