// GraphQL listing cost (issue 3): the package page of a big channel, as the
// prefix.dev web UI asks for it,
//   { channel(name) { packages(limit: N) { page { name latestVersion { version }
//       variants(limit: 10) { page { filename size sha256 platform } } } } } }
// on a channel of 10k package names (--quick: 2k) × 4 variants each (two
// versions × linux-64/osx-64).
//
// Setup: a `channeld serve` process (the one under load) starts on an empty
// data folder; then an in-process app on the same folder inserts the rows
// straight through core.repos.packages.insertFound (batches of 5000), each
// shaped like one of the 61 real fixture packages (its info/index.json,
// size, about.json and run_exports.json; bench/lib/synthetic.ts) under a
// unique name/version, so summary and urls resolve.
// Statements: the in-process app answers N sequential requests per page
// size over HTTP (the cases taken in turn); core.catalog.statements is read before and after, and the
// catalog repository's methods are wrapped (timing only) to show where the
// SQL time goes. The count must not grow with the page size.
// Load: autocannon against the separate server process, same connections
// and duration for every row, rows interleaved round by round (median of
// rounds). Baselines in the same run: GET /healthz, and the same query with
// limit 10.
//
//   node --import tsx bench/graphql.ts [--quick]
import autocannon from 'autocannon';
import http from 'node:http';
import path from 'node:path';
import type { PackageFile } from '../src/types.js';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import {
  benchTempDir, ensureBuilt, log, median, msSince, parseBenchArgs, printResultJson, printTable, round, runBench,
} from './lib/common.js';
import { spawnBenchServer, stopServer } from './lib/http.js';
import { checkNames, loadTemplates, packageRow, versionOf } from './lib/synthetic.js';

const args = parseBenchArgs();
const NAMES = args.quick ? 2_000 : 10_000;
const SUBDIRS = ['linux-64', 'osx-64'];
const VERSIONS = 2;
const VARIANTS_PER_NAME = SUBDIRS.length * VERSIONS;
const LIMITS = [10, 50, 100];
const DURATION_S = args.quick ? 2 : 5;
const ROUNDS = args.quick ? 1 : 3;
const CONNECTIONS = 4;
const SEQUENTIAL = args.quick ? 10 : 30;
const BATCH = 5000;
const CHANNEL = 'bench-gql';

const listing = (limit: number, extra = '') =>
  `{ channel(name: "${CHANNEL}") { packages(limit: ${limit}) { page { name ${extra}latestVersion { version } ` +
  'variants(limit: 10) { page { filename size sha256 platform } } } } } }';

interface QueryCase {
  key: string;
  label: string;
  limit: number;
  query: string;
}

const CASES: QueryCase[] = [
  ...LIMITS.map((limit) => ({ key: `limit${limit}`, label: `packages(limit: ${limit})`, limit, query: listing(limit) })),
  { key: 'limit100About', label: 'packages(limit: 100) + summary, urls', limit: 100, query: listing(100, 'summary urls { url kind } ') },
];

interface Listing {
  data?: { channel: { packages: { page: Array<{ name: string; summary?: string | null; urls?: unknown[]; latestVersion: { version: string }; variants: { page: Array<{ filename: string; size: number; sha256: string; platform: string }> } }> } } };
  errors?: unknown[];
}

function* rows(channelId: number, templates: Awaited<ReturnType<typeof loadTemplates>>): Generator<PackageFile[]> {
  let batch: PackageFile[] = [];
  for (let k = 0; k < NAMES; k++) {
    const t = templates[k % templates.length]!;
    const name = `${t.stem}-g${k}`;
    for (let v = 0; v < VERSIONS; v++) {
      for (const subdir of SUBDIRS) {
        batch.push(packageRow({ channelId, subdir, template: t, name, version: versionOf(t, v), build: String(t.index.build) }));
        if (batch.length === BATCH) {
          yield batch;
          batch = [];
        }
      }
    }
  }
  if (batch.length > 0) yield batch;
}

/** Checks one answer against what was inserted; returns the number of packages listed. */
function checkListing(body: string, c: QueryCase, templatesByStem: Map<string, Awaited<ReturnType<typeof loadTemplates>>[number]>): number {
  const doc = JSON.parse(body) as Listing;
  if (doc.errors) throw new Error(`${c.label}: errors ${JSON.stringify(doc.errors).slice(0, 500)}`);
  const page = doc.data?.channel.packages.page ?? [];
  if (page.length !== c.limit) throw new Error(`${c.label}: ${page.length} packages, expected ${c.limit}`);
  for (const p of page) {
    const t = templatesByStem.get(p.name.replace(/-g\d+$/, ''))!;
    if (p.latestVersion.version !== versionOf(t, VERSIONS - 1)) throw new Error(`${p.name}: latest ${p.latestVersion.version}`);
    if (p.variants.page.length !== VARIANTS_PER_NAME) throw new Error(`${p.name}: ${p.variants.page.length} variants`);
    for (const v of p.variants.page) {
      if (!/^[0-9a-f]{64}$/.test(v.sha256) || !SUBDIRS.includes(v.platform) || !(v.size > 0)) throw new Error(`bad variant ${JSON.stringify(v)}`);
    }
  }
  if (c.key === 'limit100About' && !page.some((p) => p.summary && (p.urls?.length ?? 0) > 0)) {
    throw new Error('no package of the page has a summary and urls: about.json did not resolve');
  }
  return page.length;
}

/** One GraphQL POST, whole answer read. */
function postQuery(url: string, query: string): Promise<{ status: number; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify({ query });
    const started = process.hrtime.bigint();
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: msSince(started) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

interface LoadResult {
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

async function load(url: string, opts: { method: 'GET' | 'POST'; body?: string }): Promise<LoadResult> {
  const r = await autocannon({
    url, method: opts.method, connections: CONNECTIONS, duration: DURATION_S,
    ...(opts.body ? { body: opts.body, headers: { 'content-type': 'application/json' } } : {}),
  });
  return { reqPerS: r.requests.total / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

runBench('graphql', args.quick ? 3 * 60_000 : 10 * 60_000, async () => {
  ensureBuilt();
  const root = benchTempDir('channeld-bench-graphql-');
  const dataDir = path.join(root, 'data');
  const templates = await loadTemplates();
  const templatesByStem = new Map(templates.map((t) => [t.stem, t]));

  // The measured server runs as its own process. It starts first, on the
  // empty folder, with its poll for outside changes set to an hour: the rows
  // below arrive from this process (as from the CLI), and GraphQL does not
  // read the index, so the server must not spend the run building repodata
  // and shards for them. (Started after the fill, it would build them all
  // before answering its first request.)
  const child = await spawnBenchServer(dataDir, { CHANNELD_INDEX_POLL_MS: '3600000' });

  // In-process app on the same folder (no background work): fills the
  // channel, then answers the sequential requests whose statements are counted.
  const app = await buildApp(loadConfig({ CHANNELD_DATA_DIR: dataDir, CHANNELD_BOOTSTRAP_ADMIN: 'false', CHANNELD_INDEX_POLL_MS: '3600000' }), { logger: false, background: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const server = { url: `http://127.0.0.1:${address.port}`, core: app.core };
  let fillS: number;
  const seq = new Map<string, { statements: number; sqlMs: number; requestMs: number; responseKB: number; byMethod: Record<string, { calls: number; ms: number }> }>();
  try {
    const owner = await server.core.users.create('bench', true);
    const channel = await server.core.channels.create(CHANNEL, owner.id, { isPublic: true });
    const fillStart = process.hrtime.bigint();
    let first = true;
    for (const batch of rows(channel.id, templates)) {
      if (first) checkNames(batch);
      first = false;
      const added = await server.core.repos.packages.insertFound(batch);
      if (added !== batch.length) throw new Error(`insertFound added ${added} of ${batch.length}`);
    }
    fillS = msSince(fillStart) / 1000;
    log(`${NAMES} names × ${VARIANTS_PER_NAME} variants inserted in ${round(fillS, 1)} s`);

    // Timing wrappers on the catalog repository instance: each method runs
    // its statement synchronously before its first await, so the time to
    // the returned promise is the SQL (and row mapping) time.
    const repo = server.core.repos.catalog as unknown as Record<string, (...a: unknown[]) => unknown>;
    const byMethod: Record<string, { calls: number; ms: number }> = {};
    for (const m of ['channelsPage', 'packagesPages', 'packageRows', 'versionRows', 'newestVariantOfVersions', 'variantsPages']) {
      const orig = repo[m]!.bind(repo);
      repo[m] = (...a: unknown[]) => {
        const t = process.hrtime.bigint();
        try {
          return orig(...a);
        } finally {
          const e = (byMethod[m] ??= { calls: 0, ms: 0 });
          e.calls++;
          e.ms += msSince(t);
        }
      };
    }
    const post = (query: string) => postQuery(`${server.url}/api/graphql`, query);
    for (const c of CASES) {
      for (let i = 0; i < 3; i++) checkListing((await post(c.query)).body, c, templatesByStem); // warm-up
    }
    // Round-robin over the cases, so load from outside hits each alike.
    const acc = new Map(CASES.map((c) => [c.key, { statements: 0, ms: [] as number[], sql: [] as number[], bytes: 0, byMethod: {} as Record<string, { calls: number; ms: number }> }]));
    for (let i = 0; i < SEQUENTIAL; i++) {
      for (const c of CASES) {
        const a = acc.get(c.key)!;
        for (const k of Object.keys(byMethod)) delete byMethod[k];
        const before = server.core.catalog.statements;
        const r = await post(c.query);
        if (r.status !== 200) throw new Error(`${c.label}: HTTP ${r.status}`);
        a.statements += server.core.catalog.statements - before;
        a.ms.push(r.ms);
        a.sql.push(Object.values(byMethod).reduce((x, e) => x + e.ms, 0));
        a.bytes = r.body.length;
        for (const [m, e] of Object.entries(byMethod)) {
          const t = (a.byMethod[m] ??= { calls: 0, ms: 0 });
          t.calls += e.calls;
          t.ms += e.ms;
        }
      }
    }
    for (const c of CASES) {
      const a = acc.get(c.key)!;
      const perReq = Object.fromEntries(Object.entries(a.byMethod).map(([m, e]) => [m, { calls: round(e.calls / SEQUENTIAL, 2), ms: round(e.ms / SEQUENTIAL, 2) }]));
      const s = { statements: a.statements / SEQUENTIAL, sqlMs: median(a.sql), requestMs: median(a.ms), responseKB: a.bytes / 1000, byMethod: perReq };
      seq.set(c.key, s);
      log(`${c.label}: ${s.statements} statements/request, SQL ${round(s.sqlMs, 1)} ms, request ${round(s.requestMs, 1)} ms; ${JSON.stringify(perReq)}`);
    }
  } finally {
    await app.close();
  }

  // Load on the separate server process.
  const gqlUrl = `${child.url}/api/graphql`;
  const scenarios = [
    { key: 'healthz', label: 'GET /healthz (baseline)', url: `${child.url}/healthz`, method: 'GET' as const, body: undefined },
    ...CASES.map((c) => ({ key: c.key, label: c.label, url: gqlUrl, method: 'POST' as const, body: JSON.stringify({ query: c.query }) })),
  ];
  for (const c of CASES) {
    checkListing((await postQuery(gqlUrl, c.query)).body, c, templatesByStem);
  }
  for (const sc of scenarios) await autocannon({ url: sc.url, method: sc.method, connections: CONNECTIONS, duration: 1, ...(sc.body ? { body: sc.body, headers: { 'content-type': 'application/json' } } : {}) });
  const runs = new Map<string, LoadResult[]>(scenarios.map((s) => [s.key, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const sc of scenarios) {
      const res = await load(sc.url, { method: sc.method, ...(sc.body ? { body: sc.body } : {}) });
      if (res.non2xx > 0 || res.errors > 0) throw new Error(`${sc.label}: ${res.non2xx} non-2xx answers, ${res.errors} errors`);
      runs.get(sc.key)!.push(res);
      log(`round ${r + 1} ${sc.label}: ${round(res.reqPerS)} req/s, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms`);
    }
  }
  await stopServer(child);

  const agg = new Map([...runs].map(([k, rs]) => [k, {
    reqPerS: round(median(rs.map((x) => x.reqPerS))), p50Ms: median(rs.map((x) => x.p50Ms)), p99Ms: median(rs.map((x) => x.p99Ms)),
    rounds: rs.map((x) => round(x.reqPerS)),
  }]));
  const get = (k: string) => agg.get(k)!;
  const healthz = get('healthz').reqPerS;
  const limit10 = get('limit10').reqPerS;
  printTable(`GraphQL package listing, ${NAMES} names × ${VARIANTS_PER_NAME} variants; ${CONNECTIONS} connections, ${ROUNDS} × ${DURATION_S} s per row (median of rounds)`, [
    'request', 'req/s', 'p50 ms', 'p99 ms', '÷ healthz', '÷ limit 10',
  ], scenarios.map((sc) => [
    sc.label, get(sc.key).reqPerS, get(sc.key).p50Ms, get(sc.key).p99Ms,
    sc.key === 'healthz' ? '' : `1/${Math.round(healthz / get(sc.key).reqPerS)}`,
    sc.key === 'healthz' || sc.key === 'limit10' ? '' : round(get(sc.key).reqPerS / limit10, 2),
  ]));
  printTable(`per request, ${SEQUENTIAL} sequential requests per row (in-process server; catalog SQL timed around each repository call)`, [
    'query', 'SQL statements', 'SQL ms (median)', 'request ms (median)', 'response KB',
  ], CASES.map((c) => {
    const s = seq.get(c.key)!;
    return [c.label, round(s.statements, 2), round(s.sqlMs, 1), round(s.requestMs, 1), round(s.responseKB, 1)];
  }));
  const counts = LIMITS.map((l) => seq.get(`limit${l}`)!.statements);
  const flat = counts.every((n) => n === counts[0]);
  process.stdout.write(`SQL statements per request, limit ${LIMITS.join(' / ')}: ${counts.join(' / ')} — ${flat ? 'constant in the page size' : 'GROWS with the page size'}\n`);
  const top = Object.entries(seq.get('limit100')!.byMethod).sort((a, b) => b[1].ms - a[1].ms);
  process.stdout.write(`SQL time per limit-100 request by repository call (mean): ${top.map(([m, e]) => `${m} ${e.ms} ms (${e.calls}×)`).join(', ')}\n`);
  printResultJson('graphql', args, {
    names: NAMES, variantsPerName: VARIANTS_PER_NAME, connections: CONNECTIONS, durationS: DURATION_S, rounds: ROUNDS, fillS: round(fillS, 1),
    load: Object.fromEntries(agg),
    ratioVsHealthz: Object.fromEntries(CASES.map((c) => [c.key, Number((get(c.key).reqPerS / healthz).toPrecision(3))])),
    ratioVsLimit10: Object.fromEntries(CASES.map((c) => [c.key, round(get(c.key).reqPerS / limit10, 2)])),
    perRequest: Object.fromEntries([...seq].map(([k, s]) => [k, {
      statements: s.statements, sqlMs: round(s.sqlMs, 2), requestMs: round(s.requestMs, 2), responseKB: round(s.responseKB, 1), byMethod: s.byMethod,
    }])),
    statementsConstant: flat,
  });
});
