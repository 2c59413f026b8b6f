// Sharded repodata at conda-forge scale (issue 5): what indexing a big
// subdir costs, how soon an upload is visible through the shard index
// (CEP-16) and through repodata.json.zst, how repodata.json is served next
// to nginx, and how many bytes a solve fetches with shards.
//
// Data: linux-64 subdirs of 100k and 465k records (--quick: 20k and 100k),
// 25 records per name (5 versions × 5 builds), so 465k records make 18.6k
// names, as on conda-forge. Rows go in through core.repos.packages.insertFound
// (batches of 5000), each shaped like one of the 61 real fixture packages
// (its index.json, size, about.json, run_exports.json; bench/lib/synthetic.ts)
// under unique names/versions. Depends form a small graph: 30 base names
// depend on nothing of the channel, 500 mid names on two base names, every
// other name on one mid and two base names (plus the fixture's own external
// depends), so a solve has dependency chains to follow.
//
// 1. In-process (this process runs the indexer). After the fill, a
//    preflight times the two per-name queries an index pass repeats (a
//    name's rows, for its shard; a name's newest about.json, for
//    channeldata.json) and projects them over every name: a size whose
//    first shard build would exceed the budget is reported and skipped, so
//    the run stays bounded. Then core.indexer.indexNow() once — every shard,
//    the shard index, repodata.json, run_exports.json and both .zst — timed,
//    with CPU (process.cpuUsage) and peak RSS of this process (VmHWM from
//    /proc/self/status after a reset through clear_refs). Then, 3 times (once
//    in --quick), one more record (a new version of an existing name) and
//    indexNow() again: the steady-state passes, split by the indexer's own
//    log lines ('shards written', 'index written'), and the channeldata.json
//    rebuild the indexer queues 1 s after each full pass. Repository and
//    storage calls are wrapped (timing only) to show where the time goes.
// 2. A separate `channeld serve` process on that folder. Real packages made
//    once by conda-package-handling, each a new version of an existing name,
//    uploaded one after another (100, or as many as fit in 10 min; --quick
//    10 in 20 s). For each, from the start of the upload: (a) the shard
//    index, polled every 5 ms with If-None-Match and decoded (zstd +
//    msgpack) until the name's shard hash changes; (b) repodata.json.zst,
//    polled every 20 ms with If-None-Match until a new ETag whose body lists
//    the file, from a worker thread (bench/lib/zst-watch-worker.ts: each new
//    .zst is decompressed, 193 MB at 465k records). Visible = headers of
//    that answer. The next upload starts when both have seen the previous
//    one. The client is a small process of its own (bench/lib/upload-series.ts):
//    in this one, whose heap holds stage 1's leftovers, its own garbage
//    collection paused the timing (uploads 23 ms p50 here, 12-14 ms there).
// 3. Bytes of a solve: from 10 root names, the shard index and then the
//    shards of every name reachable through depends, as a sharded client
//    fetches them; against repodata.json.zst and repodata.json.
// 4. GET repodata.json (the smaller subdir), channeld vs Debian's nginx
//    (worker_processes 1, sendfile on, gzip off) serving a copy of the same
//    file, autocannon, no Accept-Encoding; and channeld with
//    Accept-Encoding: gzip (lazy: the first request makes the .gz). Without
//    an nginx binary the channeld rows are measured and the ratio is not.
// Targets (printed as PASS/MISS, never asserted): shard path p50 < 50 ms and
// repodata.json + .zst rewrite < 3 s at 465k records; repodata.json req/s
// ≥ 0.7 × nginx; solve bytes ≤ 1/20 of repodata.json.zst.
//
//   node --import tsx bench/shards.ts [--quick] [--sizes=465000]
import { decode } from '@msgpack/msgpack';
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { compress as zstdCompress, decompress as zstdDecompress } from 'zstd-napi';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { PackageFile, SubdirRef } from '../src/types.js';
import { SHARD_ZSTD_LEVEL } from '../src/indexer/index-writer.js';
import { indexKey } from '../src/storage/keys.js';
import { makePackages, type MadePackage } from '../test/helpers/make-packages.js';
import { freePort } from '../test/helpers/server.js';
import {
  MB, PeakRss, benchTempDir, ensureBuilt, log, median, msSince, onCleanup, parseBenchArgs, percentile, printResultJson,
  printTable, procMemory, resetPeakRss, round, runBench,
} from './lib/common.js';
import { spawnBenchServer, stopServer, uploadRaw } from './lib/http.js';
import type { SeriesInput, SeriesOutput } from './lib/upload-series.js';
import { checkNames, loadTemplates, packageRow, versionOf, type Template } from './lib/synthetic.js';

const args = parseBenchArgs();
const SIZES = args.sizes ?? (args.quick ? [20_000, 100_000] : [100_000, 465_000]);
const TARGET_RECORDS = 465_000;
const PER_NAME = 25;
const BUILDS_PER_VERSION = 5;
const SUBDIR = 'linux-64';
const BATCH = 5000;
const STEADY_PASSES = args.quick ? 1 : 3;
const UPLOADS = args.quick ? 10 : 100;
const SHARD_POLL_MS = 5;
const REPODATA_POLL_MS = 20;
const VISIBLE_TIMEOUT_MS = 120_000;
const BASE_NAMES = 30;
const MID_NAMES = 500;
const ROOTS = 10;
// At ~2 answers of 193 MB per second, a window counts whole answers only and
// each connection's last one is cut off: in 5 s that was 4 of ~10 (the
// 0.66-0.99 × spread between runs), in 15 s it is 4 of ~30.
const LOAD_DURATION_S = args.quick ? 2 : 15;
const LOAD_ROUNDS = args.quick ? 1 : 3;
const LOAD_CONNECTIONS = 4;
// Bounds, so a slow path is reported instead of hanging the run.
const FIRST_INDEX_BUDGET_S = args.quick ? 90 : 300;
const SERIES_BUDGET_S = args.quick ? 20 : 600;
const CHANNELDATA_WAIT_S = args.quick ? 30 : 120;
/** The indexer writes channeldata.json this long after a full pass (its default). */
const CHANNELDATA_DEBOUNCE_MS = 1000;

const channelOf = (records: number) => `shards-${records / 1000}k`;
const namesIn = (records: number) => Math.ceil(records / PER_NAME);
const nameOf = (templates: Template[], k: number) => `${templates[k % templates.length]!.stem}-s${k}`;

/** The channel's own dependencies of name k (see the header). */
function depsOf(templates: Template[], k: number): string[] {
  if (k < BASE_NAMES) return [];
  const base = [nameOf(templates, (k * 7) % BASE_NAMES), nameOf(templates, (k * 13 + 5) % BASE_NAMES)];
  if (k < BASE_NAMES + MID_NAMES) return [...new Set(base)];
  return [nameOf(templates, BASE_NAMES + ((k * 31) % MID_NAMES)), ...new Set(base)];
}

function* fill(channelId: number, templates: Template[], records: number): Generator<PackageFile[]> {
  let batch: PackageFile[] = [];
  for (let i = 0; i < records; i++) {
    const k = Math.floor(i / PER_NAME);
    const j = i % PER_NAME;
    const t = templates[k % templates.length]!;
    const external = Array.isArray(t.index.depends) ? (t.index.depends as string[]) : [];
    batch.push(packageRow({
      channelId, subdir: SUBDIR, template: t, name: nameOf(templates, k), version: versionOf(t, Math.floor(j / BUILDS_PER_VERSION)),
      build: `${String(t.index.build)}_${j % BUILDS_PER_VERSION}`, depends: [...depsOf(templates, k), ...external],
    }));
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

// ---------------------------------------------------------------------------
// Stage timing: wrappers around repository and storage calls of the
// in-process core (they time, and change nothing).

// Per label: calls, and wall time during which at least one call was in
// flight (shard files are written several at a time, so summing each
// call's time would count the same milliseconds more than once).
type Stages = Map<string, { calls: number; ms: number }>;
const stages: Stages = new Map();
const inFlight = new Map<string, { active: number; since: number }>();
const channeldataWrites: Array<{ key: string; at: number }> = [];
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function stageStart(label: string): void {
  const f = inFlight.get(label) ?? { active: 0, since: 0 };
  if (f.active++ === 0) f.since = nowMs();
  inFlight.set(label, f);
}

function stageEnd(label: string): void {
  const f = inFlight.get(label)!;
  const s = stages.get(label) ?? { calls: 0, ms: 0 };
  s.calls++;
  if (--f.active === 0) s.ms += nowMs() - f.since;
  stages.set(label, s);
}

function wrap(obj: object, method: string, label: (args: unknown[]) => string, after?: (args: unknown[]) => void): void {
  const target = obj as Record<string, (...a: unknown[]) => unknown>;
  const orig = target[method]!.bind(obj);
  target[method] = (...a: unknown[]) => {
    const l = label(a);
    stageStart(l);
    let r: unknown;
    try {
      r = orig(...a);
    } catch (err) {
      stageEnd(l);
      throw err;
    }
    if (r instanceof Promise) {
      return r.finally(() => {
        stageEnd(l);
        after?.(a);
      });
    }
    stageEnd(l);
    return r;
  };
}

const putLabel = (key: string): string =>
  key.includes('/shards/') ? 'write shard files'
    : key.endsWith('repodata_shards.msgpack.zst') ? 'write shard index'
      : key.endsWith('-repodata.json') ? 'write repodata.json (SQL + serialise + write)'
        : key.endsWith('.zst') ? 'write .zst of repodata.json / run_exports.json'
          : key.endsWith('-run_exports.json') ? 'write run_exports.json (SQL + serialise + write)'
            : key.endsWith('channeldata.json') ? 'write channeldata.json' : 'write other';

function stagesSince(before: Stages): Array<[string, { calls: number; ms: number }]> {
  return [...stages]
    .map(([k, v]) => [k, { calls: v.calls - (before.get(k)?.calls ?? 0), ms: v.ms - (before.get(k)?.ms ?? 0) }] as [string, { calls: number; ms: number }])
    .filter(([, v]) => v.calls > 0)
    .sort((a, b) => b[1].ms - a[1].ms);
}
const cloneStages = (): Stages => new Map([...stages].map(([k, v]) => [k, { ...v }]));
const stageLine = (list: Array<[string, { calls: number; ms: number }]>, top = 6) =>
  list.slice(0, top).map(([k, v]) => `${k} ${round(v.ms)} ms${v.calls > 1 ? ` (${v.calls}×)` : ''}`).join('; ');

// ---------------------------------------------------------------------------
// HTTP helpers for binary bodies.

interface Fetched {
  status: number;
  etag: string | undefined;
  body: Buffer;
  headersMs: number;
  ms: number;
}

function get(url: string, headers: Record<string, string>, agent: http.Agent | false = false): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(url, { headers, agent }, (res) => {
      const headersMs = msSince(started);
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, etag: res.headers.etag, body: Buffer.concat(chunks), headersMs, ms: msSince(started),
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const decodeShardIndex = (body: Buffer) => decode(zstdDecompress(body)) as { info: Record<string, unknown>; shards: Record<string, Uint8Array> };

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
/** CPU time (user + system) a process has used, in ms. */
function procCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

// ---------------------------------------------------------------------------
// nginx, as a child process with a config of our own.

const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => fs.existsSync(p));

async function startNginx(root: string, file: string): Promise<{ url: string; version: string; stop: () => Promise<void> }> {
  if (!NGINX) throw new Error('nginx is not installed (apt-get install -y nginx-light)');
  const prefix = path.join(root, 'nginx');
  const www = path.join(prefix, 'www');
  fs.mkdirSync(www, { recursive: true });
  fs.copyFileSync(file, path.join(www, 'repodata.json'));
  // Workers run as nobody when the master is root: they must reach the file.
  for (const d of [root, prefix, www]) fs.chmodSync(d, 0o755);
  fs.chmodSync(path.join(www, 'repodata.json'), 0o644);
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, `
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  gzip off;
  types { application/json json; }
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location / { }
  }
}
`);
  const child: ChildProcess = spawn(NGINX, ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  onCleanup(stop);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
    const r = await get(`${url}/repodata.json`, {}).catch(() => null);
    if (r?.status === 200) break;
    if (r) throw new Error(`nginx answered ${r.status}: ${fs.readFileSync(path.join(prefix, 'error.log'), 'utf8')}`);
    if (Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`);
    await sleep(50);
  }
  const version = spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '');
  return { url, version, stop };
}

interface LoadResult {
  reqPerS: number;
  mbPerS: number;
  p50Ms: number;
  p99Ms: number;
}

async function load(url: string, headers: Record<string, string>, expectBytes: number, durationS = LOAD_DURATION_S): Promise<LoadResult> {
  // autocannon gives up on an answer after 10 s by default; one 193 MB answer
  // among four can take that long on a loaded machine (nginx's too).
  const r = await autocannon({ url, headers, connections: LOAD_CONNECTIONS, duration: durationS, timeout: 60 });
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
  // A short warm-up on a loaded machine may finish no 40 MB answer at all.
  if (r.requests.total === 0) {
    if (durationS < LOAD_DURATION_S) return { reqPerS: 0, mbPerS: 0, p50Ms: 0, p99Ms: 0 };
    throw new Error(`${url}: no answer finished in ${durationS} s`);
  }
  const perResponse = r.throughput.total / r.requests.total;
  // Each answer must be the whole file (headers add a few hundred bytes).
  if (perResponse < expectBytes || perResponse > expectBytes + 2000) throw new Error(`${url}: ${round(perResponse)} bytes per answer, expected ${expectBytes}`);
  return { reqPerS: r.requests.total / r.duration, mbPerS: r.throughput.total / r.duration / MB, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
}

// ---------------------------------------------------------------------------

interface IndexLog {
  msg: string;
  channel?: string;
  durationMs?: number;
}

interface Pass {
  ms: number;
  shardPassMs: number;
  fullPassMs: number;
  cpuMs: number;
  rssBeforeMiB: number;
  peakRssMiB: number;
  stages: Array<[string, { calls: number; ms: number }]>;
  /** channeldata.json: written this long after the debounce that follows the full pass (null: not within the wait). */
  channeldataMs: number | null;
  channeldataStages: Array<[string, { calls: number; ms: number }]>;
}

interface Preflight {
  nameRowsMs: number;
  projectedShardQueryS: number;
  aboutPerNameMs: number;
  projectedChanneldataAboutS: number;
}

interface SizeResult {
  records: number;
  names: number;
  channel: string;
  fillS: number;
  preflight: Preflight;
  first: Pass;
  steady: Pass[];
  repodataMB: number;
  repodataZstMB: number;
  runExportsMB: number;
  shardIndexKB: number;
  shardIndexMsgpackKB: number;
  shardIndexZstdMs: number;
  shardIndexZstd3Ms: number;
  shardIndexZstd3KB: number;
  meanShardKB: number;
  /** zstd of one shard's msgpack, mean over a sample, at the indexer's level (SHARD_ZSTD_LEVEL) and at 3. */
  shardZstdMs: number;
  shardZstd3Ms: number;
  uploadMs: number[];
  shardVisibleMs: number[];
  shardAfterAckMs: number[];
  repodataVisibleMs: number[];
  serverPeakRssMiB: number;
  serverCpuMsPerUpload: number;
  solve: { names: number; missing: number; indexBytes: number; shardBytes: number };
}

const medianOf = (passes: Pass[], f: (p: Pass) => number | null) => median(passes.map(f).filter((v): v is number => v !== null));

runBench('shards', args.quick ? 6 * 60_000 : 29 * 60_000, async () => {
  ensureBuilt();
  const root = benchTempDir('channeld-bench-shards-');
  const dataDir = path.join(root, 'data');
  const templates = await loadTemplates();
  const smallest = namesIn(SIZES[0]!);

  // The probes: new versions of names present in every subdir (the top layer).
  const probeSpecs = Array.from({ length: UPLOADS + 1 }, (_, i) => ({
    name: nameOf(templates, BASE_NAMES + MID_NAMES + ((i * 37) % (smallest - BASE_NAMES - MID_NAMES))),
    version: `9999.${i}`, build: '0', subdir: SUBDIR, format: 'conda' as const,
  }));
  const made = await makePackages(path.join(root, 'probes'), probeSpecs);
  const probes = made.slice(0, UPLOADS);
  const warmProbe = made[UPLOADS]!;
  log(`${made.length} probe packages made by conda-package-handling (${round(made[0]!.sizeBytes / 1000, 1)} kB each)`);

  // ---- 1. in-process: fill and index.
  const indexLog: IndexLog[] = [];
  const app = await buildApp(loadConfig({ CHANNELD_DATA_DIR: dataDir, CHANNELD_BOOTSTRAP_ADMIN: 'false', CHANNELD_INDEX_POLL_MS: '3600000' }), {
    background: false,
    logger: {
      level: 'debug',
      stream: {
        write(line: string) {
          const e = JSON.parse(line) as IndexLog;
          if (e.msg === 'shards written' || e.msg === 'index written' || e.msg === 'channeldata.json write failed') indexLog.push(e);
        },
      },
    },
  });
  await app.ready();
  const { core } = app;
  const owner = await core.users.create('bench', true);
  const { token } = await core.users.createKey(owner, { name: 'bench', expiresAt: null });
  await core.channels.create('warm-up', owner.id, { isPublic: true });

  const idx = core.repos.indexState;
  for (const m of ['finishShards', 'publishShardIndex', 'finishIndex', 'tryLease', 'releaseLease', 'get', 'collectableShards']) wrap(idx, m, () => `indexState.${m}`);
  const origSnapshot = idx.snapshot.bind(idx);
  idx.snapshot = async (ref: SubdirRef) => {
    stageStart('indexState.snapshot (open)');
    const snap = await origSnapshot(ref);
    stageEnd('indexState.snapshot (open)');
    wrap(snap, 'nameRows', () => 'snapshot.nameRows (rows of a slice of dirty names)');
    wrap(snap, 'dirtyNames', () => 'snapshot.dirtyNames');
    return snap;
  };
  for (const m of ['channeldataVersions', 'channeldataAbout']) wrap(core.repos.catalog, m, () => `catalog.${m}`);
  wrap(core.store, 'putStream', (a) => putLabel(String(a[0])), (a) => {
    if (String(a[0]).endsWith('channeldata.json')) channeldataWrites.push({ key: String(a[0]), at: nowMs() });
  });
  for (const m of ['stat', 'delete', 'list']) wrap(core.store, m, () => `store.${m}`);

  const hwmResettable = resetPeakRss(process.pid);
  const results: SizeResult[] = [];
  const skipped: Array<{ records: number; reason: string; fillS?: number; preflight?: Preflight }> = [];
  for (const records of SIZES) {
    if (skipped.length > 0) {
      skipped.push({ records, reason: `not tried: ${skipped[0]!.records / 1000}k records were already over the budget` });
      continue;
    }
    const name = channelOf(records);
    const created = nowMs();
    const channel = await core.channels.create(name, owner.id, { isPublic: true });
    // Creating the channel indexes its noarch and queues a channeldata.json
    // rebuild; let it run now, on an empty channel, not inside the first pass.
    while (!channeldataWrites.some((c) => c.key.startsWith(`${name}/`) && c.at > created) && nowMs() - created < CHANNELDATA_DEBOUNCE_MS + 5000) await sleep(20);
    const ref: SubdirRef = { channelId: channel.id, channel: name, subdir: SUBDIR };
    const fillStart = process.hrtime.bigint();
    let first = true;
    for (const batch of fill(channel.id, templates, records)) {
      if (first) checkNames(batch);
      first = false;
      const added = await core.repos.packages.insertFound(batch);
      if (added !== batch.length) throw new Error(`insertFound added ${added} of ${batch.length}`);
    }
    const fillS = msSince(fillStart) / 1000;
    const names = namesIn(records);
    log(`${name}: ${records} records (${names} names) inserted in ${round(fillS, 1)} s`);

    // Preflight: the per-name queries a pass repeats, timed on a few names.
    const sample = Array.from({ length: 5 }, (_, i) => nameOf(templates, Math.floor(((i + 0.5) * names) / 5)));
    const snap = await origSnapshot(ref);
    const rowTimes: number[] = [];
    try {
      for (const n of sample) {
        const t = nowMs();
        if ((await snap.nameRows([n])).get(n)?.length !== PER_NAME) throw new Error(`${n}: expected ${PER_NAME} rows`);
        rowTimes.push(nowMs() - t);
      }
    } finally {
      await snap.close();
    }
    const aboutKeys = Array.from({ length: 20 }, (_, i) => {
      const k = Math.floor(((i + 0.5) * names) / 20);
      return { name: nameOf(templates, k), version: versionOf(templates[k % templates.length]!, 4) };
    });
    const aboutStart = nowMs();
    await core.repos.catalog.channeldataAbout(channel.id, aboutKeys);
    const aboutPerNameMs = (nowMs() - aboutStart) / aboutKeys.length;
    const preflight: Preflight = {
      nameRowsMs: median(rowTimes), projectedShardQueryS: (median(rowTimes) * names) / 1000,
      aboutPerNameMs, projectedChanneldataAboutS: (aboutPerNameMs * names) / 1000,
    };
    log(`${name}: preflight: a name's rows ${round(preflight.nameRowsMs, 2)} ms → ${round(preflight.projectedShardQueryS, 1)} s over ${names} names; ` +
      `channeldata about.json lookup ${round(aboutPerNameMs, 2)} ms per name → ${round(preflight.projectedChanneldataAboutS, 1)} s per channeldata.json`);
    if (preflight.projectedShardQueryS > FIRST_INDEX_BUDGET_S) {
      const reason = `first shard build projected at ${round(preflight.projectedShardQueryS)} s of row queries alone (${round(preflight.nameRowsMs, 1)} ms per name × ${names} names), over the ${FIRST_INDEX_BUDGET_S} s budget`;
      log(`${name}: SKIPPED — ${reason}`);
      skipped.push({ records, reason, fillS, preflight });
      await core.repos.channels.delete(channel.id); // else the server would build it all before its first request
      continue;
    }

    const passOf = (from: number, msg: string) => indexLog.slice(from).filter((e) => e.msg === msg && e.channel === name).map((e) => e.durationMs!);
    const timedIndexNow = async (): Promise<Pass> => {
      const from = indexLog.length;
      const before = cloneStages();
      const rssBefore = procMemory(process.pid).rssKiB;
      resetPeakRss(process.pid);
      const cpu = process.cpuUsage();
      const t = process.hrtime.bigint();
      await core.indexer.indexNow(ref);
      const ms = msSince(t);
      const fullEnd = nowMs();
      const used = process.cpuUsage(cpu);
      const mem = procMemory(process.pid);
      const passStages = stagesSince(before);
      const shardPass = passOf(from, 'shards written');
      const fullPass = passOf(from, 'index written');
      if (shardPass.length !== 1 || fullPass.length !== 1) throw new Error(`expected one pass of each kind, got ${shardPass.length} + ${fullPass.length}`);
      // channeldata.json follows on the indexer's queue; wait for it so the next pass starts on an idle indexer.
      const cdBefore = cloneStages();
      let channeldataMs: number | null = null;
      const deadline = fullEnd + CHANNELDATA_DEBOUNCE_MS + CHANNELDATA_WAIT_S * 1000;
      while (nowMs() < deadline) {
        const w = channeldataWrites.find((c) => c.key.startsWith(`${name}/`) && c.at > fullEnd);
        if (w) {
          channeldataMs = w.at - fullEnd - CHANNELDATA_DEBOUNCE_MS;
          break;
        }
        if (indexLog.slice(from).some((e) => e.msg === 'channeldata.json write failed')) break;
        await sleep(20);
      }
      return {
        ms, shardPassMs: shardPass[0]!, fullPassMs: fullPass[0]!, cpuMs: (used.user + used.system) / 1000,
        rssBeforeMiB: rssBefore / 1024, peakRssMiB: (hwmResettable ? mem.hwmKiB : Math.max(rssBefore, mem.rssKiB)) / 1024,
        stages: passStages, channeldataMs, channeldataStages: stagesSince(cdBefore),
      };
    };
    log(`${name}: first indexNow…`);
    const firstIndex = await timedIndexNow();
    log(`${name}: first indexNow ${round(firstIndex.ms / 1000, 1)} s (shards ${round(firstIndex.shardPassMs / 1000, 1)} s, ` +
      `full ${round(firstIndex.fullPassMs / 1000, 2)} s), CPU ${round(firstIndex.cpuMs / 1000, 1)} s, peak RSS ${round(firstIndex.peakRssMiB)} MiB; ` +
      `channeldata.json ${firstIndex.channeldataMs === null ? `not written within ${CHANNELDATA_WAIT_S} s` : `${round(firstIndex.channeldataMs)} ms`}`);
    log(`  where: ${stageLine(firstIndex.stages)}`);

    const steady: Pass[] = [];
    for (let p = 0; p < STEADY_PASSES; p++) {
      const k = BASE_NAMES + MID_NAMES + 1 + p;
      const t = templates[k % templates.length]!;
      await core.repos.packages.insertFound([packageRow({
        channelId: channel.id, subdir: SUBDIR, template: t, name: nameOf(templates, k), version: versionOf(t, 100 + p), build: '0', depends: depsOf(templates, k),
      })]);
      steady.push(await timedIndexNow());
    }
    for (const s of steady) {
      log(`${name}: steady indexNow ${round(s.ms)} ms (shards ${round(s.shardPassMs)}, full ${round(s.fullPassMs)}), CPU ${round(s.cpuMs)} ms; ` +
        `channeldata.json ${s.channeldataMs === null ? 'not written in time' : `${round(s.channeldataMs)} ms`}`);
      log(`  where: ${stageLine(s.stages)}`);
    }

    const state = (await core.repos.indexState.get(channel.id, SUBDIR))!;
    // Sizes and samples come straight from the data folder (this bench runs on the folder store).
    const localFile = (key: string) => {
      if (!core.store.localFile) throw new Error('bench/shards.ts needs the data-folder store');
      return core.store.localFile(key);
    };
    const fileSize = (variant: string, rev: number) => fs.statSync(localFile(indexKey(name, SUBDIR, rev, variant))).size;
    const shardIndexZst = fs.readFileSync(localFile(indexKey(name, SUBDIR, state.shardsRevision, 'repodata_shards.msgpack.zst')));
    const shardIndexRaw = zstdDecompress(shardIndexZst);
    // What compressing the shard index costs each shard pass, at the indexer's level and at a fast one.
    const timeCompress = (level: number) => {
      const times: number[] = [];
      let out: Buffer = Buffer.alloc(0);
      for (let i = 0; i < 3; i++) {
        const t = process.hrtime.bigint();
        out = zstdCompress(shardIndexRaw, { compressionLevel: level });
        times.push(msSince(t));
      }
      return { ms: median(times), bytes: out.length };
    };
    const zl = timeCompress(SHARD_ZSTD_LEVEL);
    const z3 = timeCompress(3);
    const shardDir = localFile(`${name}/${SUBDIR}/shards`);
    const shardFiles = fs.readdirSync(shardDir).filter((f) => f.endsWith('.msgpack.zst')).slice(0, 2000);
    const shardBytes = shardFiles.reduce((a, f) => a + fs.statSync(path.join(shardDir, f)).size, 0);
    // What one shard's compression costs the first build (a sample, recompressed here).
    const shardSample = shardFiles.slice(0, 200).map((f) => zstdDecompress(fs.readFileSync(path.join(shardDir, f))));
    const perShard = (level: number) => {
      const t = process.hrtime.bigint();
      for (const raw of shardSample) zstdCompress(raw, { compressionLevel: level });
      return msSince(t) / shardSample.length;
    };
    const shardZstdMs = perShard(SHARD_ZSTD_LEVEL);
    const shardZstd3Ms = perShard(3);
    results.push({
      records, names, channel: name, fillS, preflight, first: firstIndex, steady,
      repodataMB: state.repodataSize! / MB,
      repodataZstMB: fileSize('repodata.json.zst', state.indexedRevision) / MB,
      runExportsMB: fileSize('run_exports.json', state.indexedRevision) / MB,
      shardIndexKB: shardIndexZst.length / 1000,
      shardIndexMsgpackKB: shardIndexRaw.length / 1000,
      shardIndexZstdMs: zl.ms,
      shardIndexZstd3Ms: z3.ms,
      shardIndexZstd3KB: z3.bytes / 1000,
      meanShardKB: shardBytes / shardFiles.length / 1000,
      shardZstdMs,
      shardZstd3Ms,
      uploadMs: [], shardVisibleMs: [], shardAfterAckMs: [], repodataVisibleMs: [], serverPeakRssMiB: NaN, serverCpuMsPerUpload: NaN,
      solve: { names: 0, missing: 0, indexBytes: 0, shardBytes: 0 },
    });
  }
  await app.close();

  let repodataServe: Record<string, unknown> | null = null;
  let cdRatio = NaN;
  if (results.length > 0) {
    // ---- 2. the server as its own process: upload → visible.
    const server = await spawnBenchServer(dataDir);
    const pid = server.child.pid!;

    // The client runs in a process of its own: see bench/lib/upload-series.ts.
    const measureUploads = async (channel: string, list: MadePackage[], into?: SizeResult): Promise<void> => {
      const input: SeriesInput = {
        serverUrl: server.url, channel, subdir: SUBDIR, token,
        packages: list.map((p) => ({ name: p.spec.name, filename: p.filename, file: p.file, sha256: p.sha256, sizeBytes: p.sizeBytes })),
        shardPollMs: SHARD_POLL_MS, repodataPollMs: REPODATA_POLL_MS, timeoutMs: VISIBLE_TIMEOUT_MS, budgetS: SERIES_BUDGET_S,
      };
      const peak = new PeakRss(pid);
      const cpuBefore = procCpuMs(pid);
      const child = spawn(process.execPath, ['--import', 'tsx', new URL('./lib/upload-series.ts', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout!.on('data', (d) => (stdout += String(d)));
      child.stdin!.end(JSON.stringify(input));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      const peakKiB = peak.stop();
      if (code !== 0) throw new Error(`upload series on ${channel} failed (exit ${code})`);
      const got = JSON.parse(stdout.trim().split('\n').at(-1)!) as SeriesOutput;
      if (got.budgetReached) log(`${channel}: series budget of ${SERIES_BUDGET_S} s reached after ${got.uploadMs.length} uploads`);
      if (into) {
        into.uploadMs.push(...got.uploadMs);
        into.shardVisibleMs.push(...got.shardVisibleMs);
        into.shardAfterAckMs.push(...got.shardVisibleMs.map((v, i) => v - got.uploadMs[i]!));
        into.repodataVisibleMs.push(...got.repodataVisibleMs);
        into.serverPeakRssMiB = peakKiB / 1024;
        into.serverCpuMsPerUpload = (procCpuMs(pid) - cpuBefore) / Math.max(1, got.uploadMs.length);
      }
    };

    // Warm-up: one upload through both paths, and every measured file read once.
    await measureUploads('warm-up', [warmProbe]);
    for (const r of results) {
      for (const f of ['repodata_shards.msgpack.zst', 'repodata.json.zst']) await get(`${server.url}/${r.channel}/${SUBDIR}/${f}`, {});
    }
    await sleep(CHANNELDATA_DEBOUNCE_MS + 500); // the warm-up's channeldata.json write is done
    for (const r of results) {
      log(`${r.channel}: ${UPLOADS} uploads…`);
      await measureUploads(r.channel, probes, r);
      log(`${r.channel}: shard visible p50 ${round(median(r.shardVisibleMs))} ms p99 ${round(percentile(r.shardVisibleMs, 99))} ms; ` +
        `repodata.json.zst p50 ${round(median(r.repodataVisibleMs))} ms p99 ${round(percentile(r.repodataVisibleMs, 99))} ms`);
      log(`${r.channel}: shard visible ms ${r.shardVisibleMs.map((v) => Math.round(v)).join(' ')}`);
      // Let the last channeldata.json rebuild finish before the next series or the load test.
      await sleep(CHANNELDATA_DEBOUNCE_MS + Math.min(30_000, (r.preflight.projectedChanneldataAboutS * 1000) + 500));
    }

    // ---- 3. bytes of a solve, per size.
    for (const r of results) {
      const base = `${server.url}/${r.channel}/${SUBDIR}`;
      const index = await get(`${base}/repodata_shards.msgpack.zst`, {});
      const shards = decodeShardIndex(index.body).shards;
      const top = r.names - BASE_NAMES - MID_NAMES;
      const queue = Array.from({ length: ROOTS }, (_, i) => nameOf(templates, BASE_NAMES + MID_NAMES + Math.floor((i * top) / ROOTS)));
      const seen = new Set(queue);
      let shardBytes = 0;
      let fetched = 0;
      let missing = 0;
      while (queue.length > 0) {
        const name = queue.shift()!;
        const hash = shards[name];
        if (!hash) {
          missing++; // an external dependency (python, libgcc-ng, …): not in this channel
          continue;
        }
        const s = await get(`${base}/shards/${hex(hash)}.msgpack.zst`, {});
        if (s.status !== 200) throw new Error(`shard of ${name}: ${s.status}`);
        shardBytes += s.body.length;
        fetched++;
        const shard = decode(zstdDecompress(s.body)) as Record<'packages' | 'packages.conda', Record<string, { depends?: string[] }>>;
        for (const rec of [...Object.values(shard.packages), ...Object.values(shard['packages.conda'])]) {
          for (const dep of rec.depends ?? []) {
            const depName = dep.split(/[\s=<>!~,]/)[0]!;
            if (!seen.has(depName)) {
              seen.add(depName);
              queue.push(depName);
            }
          }
        }
      }
      r.solve = { names: fetched, missing, indexBytes: index.body.length, shardBytes };
      log(`${r.channel}: a solve from ${ROOTS} roots fetches ${fetched} shards (${round(shardBytes / 1000, 1)} kB) + the index (${round(index.body.length / 1000, 1)} kB); ${missing} names are not in the channel`);
    }

    // ---- 4. repodata.json: channeld vs nginx, same file, same client.
    const small = results[0]!;
    const cdUrl = `${server.url}/${small.channel}/${SUBDIR}/repodata.json`;
    const plain = await get(cdUrl, {});
    if (plain.status !== 200) throw new Error(`repodata.json: ${plain.status}`);
    const repodataFile = path.join(root, 'repodata.json');
    fs.writeFileSync(repodataFile, plain.body);
    // Without nginx the channeld rows are still measured; the ratio is not.
    const nginx = NGINX ? await startNginx(root, repodataFile) : null;
    if (!nginx) log('nginx is not installed (apt-get install -y nginx-light): no nginx baseline this run');
    const plainBytes = plain.body.length;
    const firstGzip = await get(cdUrl, { 'accept-encoding': 'gzip' });
    if (firstGzip.status !== 200 || firstGzip.body.length === 0) throw new Error(`gzip repodata.json: ${firstGzip.status}`);
    const gzipBytes = firstGzip.body.length;
    log(`repodata.json ${round(plainBytes / MB, 1)} MB; first gzip request (makes the .gz) ${round(firstGzip.ms)} ms → ${round(gzipBytes / MB, 2)} MB`);
    const loadCases: Array<{ key: string; label: string; url: string; headers: Record<string, string>; bytes: number }> = [
      ...(nginx ? [{ key: 'nginx', label: `nginx ${nginx.version}, plain (baseline)`, url: `${nginx.url}/repodata.json`, headers: {}, bytes: plainBytes }] : []),
      { key: 'channeld', label: 'channeld, plain', url: cdUrl, headers: {}, bytes: plainBytes },
      { key: 'channeldGzip', label: 'channeld, Accept-Encoding: gzip', url: cdUrl, headers: { 'accept-encoding': 'gzip' }, bytes: gzipBytes },
    ];
    for (const c of loadCases) await load(c.url, c.headers, c.bytes, 1); // warm-up
    const loadRuns = new Map<string, LoadResult[]>(loadCases.map((c) => [c.key, []]));
    for (let n = 0; n < LOAD_ROUNDS; n++) {
      for (const c of loadCases) {
        const r = await load(c.url, c.headers, c.bytes);
        loadRuns.get(c.key)!.push(r);
        log(`round ${n + 1} ${c.label}: ${round(r.reqPerS, 1)} req/s, ${round(r.mbPerS)} MB/s`);
      }
    }
    await nginx?.stop();
    await stopServer(server);

    const agg = new Map([...loadRuns].map(([k, rs]) => [k, {
      reqPerS: median(rs.map((x) => x.reqPerS)), mbPerS: median(rs.map((x) => x.mbPerS)), p50Ms: median(rs.map((x) => x.p50Ms)), p99Ms: median(rs.map((x) => x.p99Ms)),
    }]));
    const ng = agg.get('nginx') ?? { reqPerS: NaN };
    cdRatio = agg.get('channeld')!.reqPerS / ng.reqPerS;
    printTable(`GET repodata.json (${small.records / 1000}k records, ${round(plainBytes / MB, 1)} MB; gzip ${round(gzipBytes / MB, 2)} MB, first gzip request ${round(firstGzip.ms)} ms), ` +
      `${LOAD_CONNECTIONS} connections, ${LOAD_ROUNDS} × ${LOAD_DURATION_S} s per row (median of rounds)`, [
      'server', 'req/s', 'MB/s sent', 'p50 ms', 'p99 ms', '÷ nginx req/s',
    ], loadCases.map((c) => {
      const a = agg.get(c.key)!;
      return [c.label, round(a.reqPerS, 1), round(a.mbPerS), a.p50Ms, a.p99Ms, c.key === 'nginx' ? '' : round(a.reqPerS / ng.reqPerS, 2)];
    }));
    repodataServe = {
      records: small.records, plainBytes, gzipBytes, firstGzipMs: round(firstGzip.ms), nginxVersion: nginx?.version ?? null,
      ...Object.fromEntries([...agg].map(([k, a]) => [k, { reqPerS: round(a.reqPerS, 1), mbPerS: round(a.mbPerS), p50Ms: a.p50Ms, p99Ms: a.p99Ms }])),
      ratioChanneldVsNginx: round(cdRatio, 2), ratioGzipVsNginx: round(agg.get('channeldGzip')!.reqPerS / ng.reqPerS, 2),
    };
  }

  // ---- output
  const fmtCd = (p: Pass) => (p.channeldataMs === null ? `>${CHANNELDATA_WAIT_S}000` : round(p.channeldataMs));
  printTable('preflight: per-name queries an index pass repeats, projected over every name of the subdir', [
    'records', 'names', 'fill s', "a name's rows ms", '× names s', 'about.json lookup ms/name', '× names s', 'indexed',
  ], [...results.map((r) => ({ records: r.records, names: r.names, fillS: r.fillS, p: r.preflight, status: 'yes' })),
    ...skipped.filter((s) => s.preflight).map((s) => ({ records: s.records, names: namesIn(s.records), fillS: s.fillS ?? NaN, p: s.preflight!, status: 'SKIPPED' }))]
    .map((r) => [r.records, r.names, Number.isNaN(r.fillS) ? '' : round(r.fillS, 1), round(r.p.nameRowsMs, 2), round(r.p.projectedShardQueryS, 1),
      round(r.p.aboutPerNameMs, 2), round(r.p.projectedChanneldataAboutS, 1), r.status]));
  for (const s of skipped) process.stdout.write(`SKIPPED ${s.records / 1000}k records: ${s.reason}\n`);
  if (results.length > 0) {
    printTable('first indexNow after the fill: every shard + shard index + repodata.json + run_exports.json + both .zst (in-process; CPU = process.cpuUsage; RSS = this process, VmHWM after a clear_refs reset)', [
      'records', 'names', 'indexNow s', 'shard pass s', 'full pass s', 'CPU s', 'RSS before MiB', 'peak RSS MiB', 'repodata.json MB', '.zst MB', 'run_exports MB', 'channeldata.json ms',
      `zstd-${SHARD_ZSTD_LEVEL} per shard ms (at 3)`,
    ], results.map((r) => [
      r.records, r.names, round(r.first.ms / 1000, 1), round(r.first.shardPassMs / 1000, 1), round(r.first.fullPassMs / 1000, 2), round(r.first.cpuMs / 1000, 1),
      round(r.first.rssBeforeMiB), round(r.first.peakRssMiB), round(r.repodataMB, 1), round(r.repodataZstMB, 2), round(r.runExportsMB, 2), fmtCd(r.first),
      `${round(r.shardZstdMs, 2)} (${round(r.shardZstd3Ms, 2)})`,
    ]));
    printTable(`one more record, then indexNow (median of ${STEADY_PASSES}); full pass = repodata.json + run_exports.json + both .zst as the indexer logs it; ` +
      `channeldata.json = its rebuild after the ${CHANNELDATA_DEBOUNCE_MS} ms debounce, on the indexer's queue`, [
      'records', 'indexNow ms', 'shard pass ms', 'full pass ms', 'CPU ms', 'peak RSS MiB', 'channeldata.json ms', 'shard index kB', 'its msgpack kB', `zstd-${SHARD_ZSTD_LEVEL} of it ms`, 'zstd-3 ms (kB)', 'mean shard kB',
    ], results.map((r) => [
      r.records, round(medianOf(r.steady, (p) => p.ms)), round(medianOf(r.steady, (p) => p.shardPassMs)), round(medianOf(r.steady, (p) => p.fullPassMs)),
      round(medianOf(r.steady, (p) => p.cpuMs)), round(Math.max(...r.steady.map((p) => p.peakRssMiB))),
      r.steady.some((p) => p.channeldataMs === null) ? `>${CHANNELDATA_WAIT_S}000` : round(medianOf(r.steady, (p) => p.channeldataMs)),
      round(r.shardIndexKB, 1), round(r.shardIndexMsgpackKB, 1), round(r.shardIndexZstdMs, 1), `${round(r.shardIndexZstd3Ms, 1)} (${round(r.shardIndexZstd3KB, 1)})`, round(r.meanShardKB, 2),
    ]));
    for (const r of results) {
      const last = r.steady[r.steady.length - 1]!;
      process.stdout.write(`where the time goes, ${r.records / 1000}k, first indexNow: ${stageLine(r.first.stages)}\n`);
      process.stdout.write(`where the time goes, ${r.records / 1000}k, one steady indexNow: ${stageLine(last.stages)}\n`);
      process.stdout.write(`where the time goes, ${r.records / 1000}k, its channeldata.json: ${stageLine(last.channeldataStages)}\n`);
    }
    printTable(`upload → visible, sequential uploads (target ${UPLOADS} each, ${SERIES_BUDGET_S} s budget per row), from the start of the upload; server = separate process, default debounces`, [
      'records', 'uploads', 'upload ms p50', 'shard index p50', 'p99', 'max', 'after ack p50', 'repodata.json.zst p50', 'p99', 'zst ÷ shard p50', 'server CPU ms/upload', 'server peak RSS MiB',
    ], results.map((r) => [
      r.records, r.shardVisibleMs.length, round(median(r.uploadMs), 1), round(median(r.shardVisibleMs), 1), round(percentile(r.shardVisibleMs, 99), 1), round(Math.max(...r.shardVisibleMs), 1),
      round(median(r.shardAfterAckMs), 1), round(median(r.repodataVisibleMs)), round(percentile(r.repodataVisibleMs, 99)),
      round(median(r.repodataVisibleMs) / median(r.shardVisibleMs), 1), round(r.serverCpuMsPerUpload), round(r.serverPeakRssMiB),
    ]));
    printTable(`bytes of a solve: the shard index + the shards of every name reachable from ${ROOTS} roots, vs the whole index`, [
      'records', 'shards fetched', 'index kB', 'shards kB', 'total kB', 'repodata.json.zst kB', 'repodata.json kB', '÷ .zst', '÷ .json',
    ], results.map((r) => {
      const total = r.solve.indexBytes + r.solve.shardBytes;
      return [
        r.records, r.solve.names, round(r.solve.indexBytes / 1000, 1), round(r.solve.shardBytes / 1000, 1), round(total / 1000, 1),
        round(r.repodataZstMB * 1000), round(r.repodataMB * 1000), `1/${round((r.repodataZstMB * MB) / total, 1)}`, `1/${round((r.repodataMB * MB) / total)}`,
      ];
    }));
  }

  // Targets: judged at 465k records; in --quick (or when 465k was skipped), at the largest size measured.
  const big = results[results.length - 1];
  const atTarget = big?.records === TARGET_RECORDS;
  const at = (ok: boolean) => (atTarget ? (ok ? 'PASS' : 'MISS') : `${ok ? 'pass' : 'miss'} at ${big!.records / 1000}k (not 465k)`);
  const notReached = 'MISS (465k not indexed: see SKIPPED)';
  const shardP50 = big ? median(big.shardVisibleMs) : NaN;
  const fullPass = big ? medianOf(big.steady, (p) => p.fullPassMs) : NaN;
  const solveRatio = big ? (big.solve.indexBytes + big.solve.shardBytes) / (big.repodataZstMB * MB) : NaN;
  const lines = [
    `shard path p50 < 50 ms at 465k: ${big ? `${round(shardP50, 1)} ms → ${at(shardP50 < 50)}` : notReached}`,
    `repodata.json + .zst rewrite < 3 s at 465k: ${big ? `full pass ${round(fullPass / 1000, 2)} s → ${at(fullPass < 3000)}` : notReached}`,
    `repodata.json req/s ≥ 0.7 × nginx: ${results.length === 0 ? 'MISS (not measured: nothing indexed)' : !NGINX ? 'not measured (nginx not installed)' : `${round(cdRatio, 2)} × → ${cdRatio >= 0.7 ? 'PASS' : 'MISS'}`}`,
    `solve bytes ≤ 1/20 of repodata.json.zst: ${big ? `1/${round(1 / solveRatio, 1)} → ${at(solveRatio <= 1 / 20)}` : notReached}`,
  ];
  process.stdout.write(`targets (printed, not asserted):\n${lines.map((l) => `  ${l}\n`).join('')}`);
  process.stdout.write(`notes: peak RSS = ${hwmResettable ? 'VmHWM of this process after writing 5 to /proc/self/clear_refs before each indexNow' : 'VmRSS before/after (VmHWM reset not permitted)'}; ` +
    `server peak RSS = VmHWM/VmRSS of the server process over its upload series; 'after ack' = shard visible minus the upload's own time; ` +
    `'where the time goes' = wall ms during which at least one call of that kind was in flight (number of calls), wrapped around repository and storage calls ` +
    `of this thread (on SQLite a full pass reads and writes in a worker thread: its calls are not in the table); ` +
    `zstd-${SHARD_ZSTD_LEVEL} / zstd-3 = compressing this subdir's shard index (or one shard, mean of 200) in this process, at the indexer's level (SHARD_ZSTD_LEVEL = ${SHARD_ZSTD_LEVEL}) and at 3.\n`);
  printResultJson('shards', args, {
    sizes: SIZES, perName: PER_NAME, shardZstdLevel: SHARD_ZSTD_LEVEL, uploads: UPLOADS, shardPollMs: SHARD_POLL_MS, repodataPollMs: REPODATA_POLL_MS,
    skipped,
    series: results.map((r) => {
      const pass = (p: Pass) => ({
        ms: round(p.ms), shardPassMs: round(p.shardPassMs), fullPassMs: round(p.fullPassMs), cpuMs: round(p.cpuMs), peakRssMiB: round(p.peakRssMiB),
        channeldataMs: p.channeldataMs === null ? null : round(p.channeldataMs),
        stages: Object.fromEntries(p.stages.slice(0, 8).map(([k, v]) => [k, { calls: v.calls, ms: round(v.ms) }])),
      });
      return {
        records: r.records, names: r.names, fillS: round(r.fillS, 1), preflight: {
          nameRowsMs: round(r.preflight.nameRowsMs, 3), projectedShardQueryS: round(r.preflight.projectedShardQueryS, 1),
          aboutPerNameMs: round(r.preflight.aboutPerNameMs, 3), projectedChanneldataAboutS: round(r.preflight.projectedChanneldataAboutS, 1),
        },
        firstIndex: { ...pass(r.first), rssBeforeMiB: round(r.first.rssBeforeMiB) },
        steady: r.steady.map(pass),
        repodataMB: round(r.repodataMB, 2), repodataZstMB: round(r.repodataZstMB, 2), runExportsMB: round(r.runExportsMB, 2),
        shardIndexKB: round(r.shardIndexKB, 1), shardIndexMsgpackKB: round(r.shardIndexMsgpackKB, 1), shardIndexZstdMs: round(r.shardIndexZstdMs, 1),
        shardIndexZstd3Ms: round(r.shardIndexZstd3Ms, 1), shardIndexZstd3KB: round(r.shardIndexZstd3KB, 1), meanShardKB: round(r.meanShardKB, 2),
        shardZstdMs: round(r.shardZstdMs, 2), shardZstd3Ms: round(r.shardZstd3Ms, 2),
        uploads: r.shardVisibleMs.length, uploadP50Ms: round(median(r.uploadMs), 1),
        shardVisible: { p50: round(median(r.shardVisibleMs), 1), p99: round(percentile(r.shardVisibleMs, 99), 1), max: round(Math.max(...r.shardVisibleMs), 1), afterAckP50: round(median(r.shardAfterAckMs), 1) },
        repodataVisible: { p50: round(median(r.repodataVisibleMs)), p99: round(percentile(r.repodataVisibleMs, 99)) },
        serverCpuMsPerUpload: round(r.serverCpuMsPerUpload), serverPeakRssMiB: round(r.serverPeakRssMiB),
        solve: { ...r.solve, ratioVsZst: round((r.solve.indexBytes + r.solve.shardBytes) / (r.repodataZstMB * MB), 4), ratioVsJson: round((r.solve.indexBytes + r.solve.shardBytes) / (r.repodataMB * MB), 5) },
      };
    }),
    repodataServe,
    targets: {
      atTargetSize: atTarget, shardP50Under50Ms: big ? shardP50 < 50 : false, fullPassUnder3s: big ? fullPass < 3000 : false,
      repodataVsNginxAtLeast07: cdRatio >= 0.7, solveBytesAtMostOneTwentieth: big ? solveRatio <= 1 / 20 : false,
    },
  });
});
