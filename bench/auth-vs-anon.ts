// What an API key costs per request once it has been verified, and what the
// first request of a new key costs (argon2id, ~250 ms per docs/perf-notes.md;
// uncached that would cap a core at ~4 requests/s).
//
// Load (autocannon, same connections and duration on both sides of a pair;
// all rows interleaved round by round so drift hits every row alike; each
// row is the median of its rounds). Two channels hold the same noarch
// fixtures, one public, one private.
//   repodata      GET /<ch>/noarch/repodata.json:
//                   public, anonymous                       (the baseline)
//                   public, Bearer <key>  — channeld does not look at
//                     credentials on public reads (file serving asks for a
//                     principal only for private channels), so this is ≈ free;
//                   private, Bearer <key> — verified on every request.
//   DELETE        /api/v1/delete/<public ch>/noarch/does-not-exist-1-0.conda:
//                   no key → 401, valid key → verified, then 404 (that side
//                   also runs a write transaction).
//   upload        POST /api/v1/upload/no-such-channel, X-File-Name, empty body:
//                   no key → 401, valid key → 404. Both sides do the same
//                   channel lookup and nothing more: the gap is the key alone.
//   unknown key   the DELETE with a well-formed unknown key: argon2 on every
//                 request until the failed-auth limiter answers 429.
// Latency (sequential, one kept-alive connection):
//   cold          first private GET with a key just minted by
//                 `channeld key create` while the server runs (cache miss);
//   warm          the next requests with that key (cache hit).
//
//   node --import tsx bench/auth-vs-anon.ts [--quick]
import autocannon from 'autocannon';
import http from 'node:http';
import path from 'node:path';
import { randomBase62 } from '../src/auth/api-keys.js';
import { fixturePackages } from '../test/helpers/fixtures.js';
import { runCli, startServer } from '../test/helpers/server.js';
import {
  benchTempDir, ensureBuilt, log, median, parseBenchArgs, printResultJson, printTable, round, runBench,
} from './lib/common.js';
import { request, spawnBenchServer, stopServer, uploadRaw } from './lib/http.js';

const args = parseBenchArgs();
const DURATION_S = args.quick ? 2 : 5;
const ROUNDS = args.quick ? 1 : 3;
const CONNECTIONS = 10;
const COLD_KEYS = args.quick ? 2 : 4;
const WARM_REQUESTS = 30;
const BAD_KEY_DURATION_S = args.quick ? 2 : 3;
const PUBLIC = 'bench';
const PRIVATE = 'bench-private';

interface LoadResult {
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  statuses: Record<string, number>;
  errors: number;
}

async function load(url: string, opts: { method?: 'GET' | 'DELETE' | 'POST'; headers?: Record<string, string>; durationS: number }): Promise<LoadResult> {
  const result = await autocannon({
    url, method: opts.method ?? 'GET', headers: opts.headers ?? {}, connections: CONNECTIONS, duration: opts.durationS,
    ...(opts.method === 'POST' ? { body: '' } : {}),
  });
  const statuses: Record<string, number> = {};
  const stats = (result as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats;
  for (const [code, { count }] of Object.entries(stats)) statuses[code] = count;
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  return { reqPerS: answered / result.duration, p50Ms: result.latency.p50, p99Ms: result.latency.p99, statuses, errors: result.errors };
}

function expectOnly(label: string, r: LoadResult, status: number): void {
  const other = Object.keys(r.statuses).filter((s) => Number(s) !== status);
  if (other.length > 0 || r.errors > 0 || !r.statuses[status]) {
    throw new Error(`${label}: expected only ${status}, got ${JSON.stringify(r.statuses)} and ${r.errors} errors`);
  }
}

function listedCount(body: string): number {
  const doc = JSON.parse(body) as { packages: object; 'packages.conda': object };
  return Object.keys(doc.packages).length + Object.keys(doc['packages.conda']).length;
}

runBench('auth-vs-anon', args.quick ? 4 * 60_000 : 8 * 60_000, async () => {
  ensureBuilt();
  const root = benchTempDir('channeld-bench-auth-');
  const dataDir = path.join(root, 'data');

  // Channels prepared in-process; then the server runs as its own process
  // so autocannon does not share its event loop.
  const setup = await startServer({ dataDir });
  const token = setup.adminKey;
  const noarch = fixturePackages().filter((p) => p.folder === 'noarch');
  for (const [name, isPublic] of [[PUBLIC, true], [PRIVATE, false]] as const) {
    const channel = await setup.core.channels.create(name, setup.admin.id, { isPublic });
    for (const p of noarch) {
      const r = await uploadRaw(setup.url, name, token, p);
      if (r.status !== 200) throw new Error(`fixture upload ${p.filename}: ${r.status} ${r.body}`);
    }
    await setup.core.indexer.indexNow({ channelId: channel.id, channel: name, subdir: 'noarch' });
  }
  await setup.close();
  const server = await spawnBenchServer(dataDir);

  const publicUrl = `${server.url}/${PUBLIC}/noarch/repodata.json`;
  const privateUrl = `${server.url}/${PRIVATE}/noarch/repodata.json`;
  const deleteUrl = `${server.url}/api/v1/delete/${PUBLIC}/noarch/does-not-exist-1-0.conda`;
  const uploadUrl = `${server.url}/api/v1/upload/no-such-channel`;
  const uploadHeaders = { 'x-file-name': 'does-not-exist-1-0.conda', 'content-type': 'application/octet-stream', 'content-length': '0' };
  const bearer = { authorization: `Bearer ${token}` };
  const unknownKey = { authorization: `Bearer pfx_${randomBase62(52)}` };

  const pub = await request(publicUrl);
  if (pub.status !== 200 || listedCount(pub.body) !== noarch.length) throw new Error(`public repodata: ${pub.status}`);
  const priv = await request(privateUrl, { headers: bearer });
  if (priv.status !== 200 || listedCount(priv.body) !== noarch.length) throw new Error(`private repodata: ${priv.status}`);
  // Facts reported below: what a bad key gets on a public read, and anonymous on a private one.
  const badKeyPublicRead = (await request(publicUrl, { headers: unknownKey })).status;
  const anonPrivateRead = (await request(privateUrl)).status;

  // Cold vs warm: keys minted while the server runs, so the server's first
  // sight of each is a cache miss.
  const cold: number[] = [];
  const warm: number[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let k = 0; k < COLD_KEYS; k++) {
    const minted = await runCli(['key', 'create', '--user', 'admin', '--name', `cold-${k}`, '--data', dataDir]);
    if (minted.code !== 0) throw new Error(`key create: ${minted.stderr}`);
    const headers = { authorization: `Bearer ${minted.stdout.trim()}` };
    await request(`${server.url}/healthz`, { agent }); // connection open, so only the request is timed
    const r = await request(privateUrl, { headers, agent });
    if (r.status !== 200) throw new Error(`cold key: expected 200, got ${r.status} ${r.body}`);
    cold.push(r.ms);
    const w: number[] = [];
    for (let i = 0; i < WARM_REQUESTS; i++) {
      const rw = await request(privateUrl, { headers, agent });
      if (rw.status !== 200) throw new Error(`warm key: expected 200, got ${rw.status}`);
      w.push(rw.ms);
    }
    warm.push(median(w));
  }
  const anonMs: number[] = [];
  for (let i = 0; i < WARM_REQUESTS; i++) anonMs.push((await request(publicUrl, { agent })).ms);
  const badKeyMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await request(deleteUrl, { method: 'DELETE', headers: unknownKey, agent });
    if (r.status !== 401) throw new Error(`unknown key: expected 401, got ${r.status}`);
    badKeyMs.push(r.ms);
  }
  agent.destroy();
  log(`cold ${cold.map((c) => round(c)).join(', ')} ms; warm medians ${warm.map((c) => round(c, 2)).join(', ')} ms`);

  const scenarios = [
    { name: 'getPublicAnon', label: 'GET repodata.json, public, anonymous', url: publicUrl, method: 'GET', headers: {}, status: 200 },
    { name: 'getPublicBearer', label: 'GET repodata.json, public, Bearer (not verified)', url: publicUrl, method: 'GET', headers: bearer, status: 200 },
    { name: 'getPrivateBearer', label: 'GET repodata.json, private, Bearer (verified)', url: privateUrl, method: 'GET', headers: bearer, status: 200 },
    { name: 'deleteNoKey', label: 'DELETE missing file, no key', url: deleteUrl, method: 'DELETE', headers: {}, status: 401 },
    { name: 'deleteKey', label: 'DELETE missing file, valid key', url: deleteUrl, method: 'DELETE', headers: bearer, status: 404 },
    { name: 'uploadNoKey', label: 'POST upload, missing channel, no key', url: uploadUrl, method: 'POST', headers: uploadHeaders, status: 401 },
    { name: 'uploadKey', label: 'POST upload, missing channel, valid key', url: uploadUrl, method: 'POST', headers: { ...uploadHeaders, ...bearer }, status: 404 },
  ] as const;
  type Name = (typeof scenarios)[number]['name'];

  // Warm-up: JIT, connections, and the key in the verified-key cache.
  for (const sc of scenarios) await load(sc.url, { method: sc.method, headers: sc.headers, durationS: 1 });

  const runs = new Map<Name, LoadResult[]>(scenarios.map((sc) => [sc.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const sc of scenarios) {
      const res = await load(sc.url, { method: sc.method, headers: sc.headers, durationS: DURATION_S });
      expectOnly(sc.name, res, sc.status);
      runs.get(sc.name)!.push(res);
      log(`round ${r + 1} ${sc.name}: ${round(res.reqPerS)} req/s, p50 ${res.p50Ms} ms`);
    }
  }
  // Runs last: its failures trip the per-address limiter (429 afterwards).
  const badKey = await load(deleteUrl, { method: 'DELETE', headers: unknownKey, durationS: BAD_KEY_DURATION_S });
  if (Object.keys(badKey.statuses).some((c) => c !== '401' && c !== '429')) throw new Error(`unknown key: ${JSON.stringify(badKey.statuses)}`);
  await stopServer(server);

  const s = new Map([...runs].map(([name, rs]) => [name, {
    reqPerS: round(median(rs.map((x) => x.reqPerS))), p50Ms: median(rs.map((x) => x.p50Ms)), p99Ms: median(rs.map((x) => x.p99Ms)),
    rounds: rs.map((x) => round(x.reqPerS)),
  }]));
  const get = (n: Name) => s.get(n)!;
  const ratio = (a: Name, b: Name) => round(get(a).reqPerS / get(b).reqPerS, 2);
  const baselineOf: Partial<Record<Name, Name>> = {
    getPublicBearer: 'getPublicAnon', getPrivateBearer: 'getPublicAnon', deleteKey: 'deleteNoKey', uploadKey: 'uploadNoKey',
  };
  printTable(`requests/s, ${CONNECTIONS} connections, ${ROUNDS} × ${DURATION_S} s per row (median of rounds); ratio = with key / its baseline row`, [
    'request', 'answer', 'req/s', 'p50 ms', 'p99 ms', 'ratio',
  ], [
    ...scenarios.map((sc) => {
      const base = baselineOf[sc.name];
      return [sc.label, String(sc.status), get(sc.name).reqPerS, get(sc.name).p50Ms, get(sc.name).p99Ms, base ? ratio(sc.name, base) : ''];
    }),
    [`DELETE missing file, unknown key (${BAD_KEY_DURATION_S} s, once)`, Object.entries(badKey.statuses).map(([c, n]) => `${n}×${c}`).join(' '),
      round(badKey.reqPerS), badKey.p50Ms, badKey.p99Ms, ''],
  ]);
  printTable('latency of one request (sequential, kept-alive connection)', ['case', 'median ms', 'min ms', 'max ms'], [
    [`private GET, new key, first request (cold, ${COLD_KEYS} keys)`, round(median(cold), 1), round(Math.min(...cold), 1), round(Math.max(...cold), 1)],
    [`private GET, same keys, next ${WARM_REQUESTS} requests (warm)`, round(median(warm), 2), round(Math.min(...warm), 2), round(Math.max(...warm), 2)],
    ['public GET, anonymous', round(median(anonMs), 2), round(Math.min(...anonMs), 2), round(Math.max(...anonMs), 2)],
    ['DELETE, unknown key (401: argon2 on a dummy hash)', round(median(badKeyMs), 1), round(Math.min(...badKeyMs), 1), round(Math.max(...badKeyMs), 1)],
  ]);
  process.stdout.write(`public GET with an unknown key → ${badKeyPublicRead}${badKeyPublicRead === 200 ? ' (credentials are not checked on public reads)' : ''}; ` +
    `anonymous GET of the private channel → ${anonPrivateRead}\n`);
  printResultJson('auth-vs-anon', args, {
    connections: CONNECTIONS, durationS: DURATION_S, rounds: ROUNDS,
    publicReadVerifiesKey: badKeyPublicRead !== 200,
    ...Object.fromEntries(s),
    deleteUnknownKey: { reqPerS: round(badKey.reqPerS), statuses: badKey.statuses },
    ratioPrivateBearerVsPublicAnon: ratio('getPrivateBearer', 'getPublicAnon'),
    ratioPublicBearerVsPublicAnon: ratio('getPublicBearer', 'getPublicAnon'),
    ratioDelete: ratio('deleteKey', 'deleteNoKey'),
    ratioUpload: ratio('uploadKey', 'uploadNoKey'),
    coldFirstRequestMs: round(median(cold), 1),
    warmRequestMs: round(median(warm), 2),
    anonRequestMs: round(median(anonMs), 2),
    unknownKeyRequestMs: round(median(badKeyMs), 1),
  });
});
