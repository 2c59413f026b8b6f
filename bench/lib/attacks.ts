// The attack classes of bench/hostile.ts (issue 14), one request builder per
// class. Each builder returns the next request of its class; the attacker
// process (bench/lib/attacker.ts) sends them in a bounded number of loops.
// Members rotate so a class is more than its first example.
import { randomBase62 } from '../../src/auth/api-keys.js';

export interface AttackRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface AttackContext {
  /** A public channel of the benchmarked server. */
  channel: string;
  /** A valid admin key (for the attacks that need a signed-in caller). */
  key: string;
  /** The package files of the upload-bomb class (bench/lib/upload-bombs.ts). */
  bombs: Array<{ filename: string; body: Buffer }>;
}

/** Doubled fragment spreads: a naive walk visits 2^levels fields. */
export function doubledFragments(levels: number): string {
  const defs = [];
  for (let i = 0; i < levels; i++) defs.push(`fragment F${i} on Channel { ...F${i + 1} ...F${i + 1} }`);
  defs.push(`fragment F${levels} on Channel { name }`);
  return `query { channels { page { ...F0 } } }\n${defs.join('\n')}`;
}

/** The same field under many aliases. */
export function manyAliases(count: number): string {
  const fields = Array.from({ length: count }, (_, i) => `a${i}: channels { page { name packages { page { name } } } }`);
  return `query { ${fields.join(' ')} }`;
}

/** A variable default that asks for the whole database (cost limits used to read literals only). */
export const VARIABLE_DEFAULT = 'query($n: Int = 100000) { channels(limit: $n) { page { packages(limit: $n) { page { name variants(limit: $n) { page { filename } } } } } } }';

export function hugeOr(entries: number): string {
  const or = Array.from({ length: entries }, (_, i) => `{name: {eq: "p${i}"}}`).join(',');
  return `query { packages(filters: {or: [${or}]}) { page { name } } }`;
}

export function similaritySearches(aliases: number, matchesLength: number): string {
  const m = 'ab'.repeat(matchesLength / 2);
  const fields = Array.from({ length: aliases }, (_, i) => `s${i}: packages(orderBy: {bySimilarity: {field: NAME, matches: "${m}"}}) { page { name } }`);
  return `query { ${fields.join(' ')} }`;
}

const graphql = (query: string, variables?: object): AttackRequest => ({
  method: 'POST', path: '/api/graphql', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }),
});

type Builder = (ctx: AttackContext, i: number) => AttackRequest;

export const ATTACKS: Record<string, { what: string; builder: Builder }> = {
  // Not an attack: what the same 4 loops of ordinary requests cost the client
  // on this machine (the attacker shares its cores), to read the others by.
  'control-load': {
    what: 'control: well-formed GETs of /healthz and repodata.json in the same 4 loops',
    builder: (ctx, i) => ({ method: 'GET', path: i % 2 === 0 ? '/healthz' : `/${ctx.channel}/noarch/repodata.json` }),
  },
  'bad-urls': {
    what: 'bad percent-escapes, NULs, traversal and 8 KiB paths, with and without the /t/<key>/ prefix',
    builder: (ctx, i) => {
      const paths = [
        '/t/%ZZ/x', `/t/pfx-%E0%A4%A/${ctx.channel}/noarch/repodata.json`, '/%ZZ', `/${ctx.channel}/noarch/%C0%AF`,
        `/${ctx.channel}/%00/repodata.json`, '/api/v1/delete/%ZZ/noarch/x-1-0.conda', `/${ctx.channel}/..%2f..%2f/repodata.json`,
        `/${ctx.channel}/noarch/${'a'.repeat(8000)}.conda`, '/t//x', `/api/v1/reindex/${ctx.channel}/%E2%80`,
      ];
      return { method: i % 3 === 0 ? 'HEAD' : 'GET', path: paths[i % paths.length]! };
    },
  },
  'bad-headers': {
    what: 'unparsable Range, If-None-Match, Basic auth, cookies and oversized bearer tokens on reads',
    builder: (ctx, i) => {
      const headers: Array<Record<string, string>> = [
        { range: 'bytes=999999999999999999999-1' }, { range: `bytes=${'0-1,'.repeat(2000)}0-1` },
        { 'if-none-match': `"${'x'.repeat(8000)}"` }, { authorization: 'Basic !!!not-base64!!!' },
        { authorization: `Bearer pfx_${'A'.repeat(4000)}` }, { cookie: 'channeld_session=%E0%A4%A; a=%ZZ' },
        { 'if-modified-since': 'not a date' },
      ];
      return { method: 'GET', path: `/${ctx.channel}/noarch/repodata.json`, headers: headers[i % headers.length]! };
    },
  },
  'auth-flood': {
    what: 'well-formed unknown pfx_ keys (argon2 work until the failed-auth limiter answers)',
    builder: (ctx) => ({ method: 'DELETE', path: `/api/v1/delete/${ctx.channel}/noarch/none-1-0.conda`, headers: { authorization: `Bearer pfx_${randomBase62(52)}` } }),
  },
  'key-guessing': {
    what: 'wrong secrets for the admin key\'s real key id (argon2 for each, until its lane is full)',
    builder: (ctx) => ({ method: 'DELETE', path: `/api/v1/delete/${ctx.channel}/noarch/none-1-0.conda`, headers: { authorization: `Bearer ${ctx.key.slice(0, 16)}${randomBase62(40)}` } }),
  },
  'upload-bombs': {
    what: 'uploads of a 1.9 GiB zstd window, 96 MiB of zeros in info/ (.conda and .tar.bz2), index.json nested 100,000 deep',
    builder: (ctx, i) => {
      const bomb = ctx.bombs[i % ctx.bombs.length]!;
      return {
        method: 'POST', path: `/api/v1/upload/${ctx.channel}`, body: bomb.body,
        headers: { authorization: `Bearer ${ctx.key}`, 'content-type': 'application/octet-stream', 'x-file-name': bomb.filename },
      };
    },
  },
  'graphql-fragments': {
    what: 'doubled fragment spreads (22 levels), and 1,000 aliases of a paged field',
    builder: (_ctx, i) => graphql(i % 2 === 0 ? doubledFragments(22) : manyAliases(1000)),
  },
  'graphql-cost': {
    what: 'cost hidden in a variable default and in variable values; a 33k-entry `or` filter',
    builder: (_ctx, i) => [
      graphql(VARIABLE_DEFAULT),
      graphql('query($n: Int) { channels(limit: $n) { page { packages(limit: $n) { page { name } } } } }', { n: 100000 }),
      graphql(hugeOr(33000)),
    ][i % 3]!,
  },
  'graphql-similarity': {
    what: 'similarity searches: 64 aliases, `matches` of 100 KiB',
    builder: (_ctx, i) => graphql(i % 2 === 0 ? similaritySearches(64, 200) : similaritySearches(2, 100_000)),
  },
  'oversized-bodies': {
    what: 'GraphQL and session bodies over the limit (4 MiB), and a 64 KiB GET query string',
    builder: (_ctx, i) => [
      { method: 'POST', path: '/api/graphql', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ viewer { login } }#${'x'.repeat(4 << 20)}` }) },
      { method: 'GET', path: `/api/graphql?query=${encodeURIComponent(`{ viewer { login } }#${'x'.repeat(64 << 10)}`)}` },
      { method: 'POST', path: '/api/session', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'x'.repeat(4 << 20), password: 'y' }) },
    ][i % 3]!,
  },
};
