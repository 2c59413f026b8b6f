// Scale-out figures: upload ingest and GET repodata.json requests/s with 1,
// 2 and 3 `channeld serve` replicas on PostgreSQL + S3 (s3rver), against the
// single node on SQLite + its data folder (the baseline), all in one run.
//
// Per setup, on fresh state (a new database and bucket, or a new folder):
//   ingest    N real packages (made by cph, random payload) uploaded as raw
//             bodies, UPLOAD_CONCURRENCY in flight, round-robin over the
//             replicas: MB/s and uploads/s from the first request to the
//             last 200, then how long until every replica lists all of them;
//   repodata  autocannon on /<ch>/noarch/repodata.json, the same total
//             connections split over the replicas, one autocannon per
//             replica in parallel, requests/s summed.
// s3rver runs in a child process of its own (bench/lib/s3-double-main.ts),
// so it does not share the load generator's event loop.
//
// On a 2-core machine every replica, PostgreSQL, s3rver and the load
// generator share the same two cores: the figures show the cost of the
// scale-out backends, not a speed-up. The script says so in its output.
//
//   node --import tsx bench/replicas.ts [--quick]
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import autocannon from 'autocannon';
import pg from 'pg';
import { S3RVER_CREDENTIALS } from '../test/helpers/backends.js';
import { makePackages, type MadePackage, type PackageSpec } from '../test/helpers/make-packages.js';
import { runCli, type ChildServer } from '../test/helpers/server.js';
import {
  MB, benchTempDir, ensureBuilt, log, msSince, onCleanup, parseBenchArgs, printResultJson, printTable, round, runBench,
} from './lib/common.js';
import { request, spawnBenchServer, stopServer, uploadRaw } from './lib/http.js';

const args = parseBenchArgs();
const PACKAGES = args.quick ? 24 : 60;
const PAYLOAD_BYTES = 512 << 10;
const UPLOAD_CONCURRENCY = 6;
const CONNECTIONS = 12;
const DURATION_S = args.quick ? 2 : 5;
const CHANNEL = 'bench';
const adminUrl = process.env.CHANNELD_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

interface SetupResult {
  setup: string;
  replicas: number;
  ingestMBps: number;
  uploadsPerS: number;
  ingestS: number;
  /** Last 200 → every replica's repodata.json lists every package. */
  visibleAllMs: number;
  repodataReqPerS: number;
  repodataP99Ms: number;
}

async function startS3rverProcess(): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./lib/s3-double-main.ts', import.meta.url))], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  onCleanup(() => new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.stdin!.end();
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  }));
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before it was up`)));
  });
  return line.trim();
}

async function createDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  onCleanup(async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.href;
}

/** Starts `count` replicas on the env (the first one alone, so it bootstraps the admin), makes the channel. */
async function startFleet(label: string, count: number, env: Record<string, string>): Promise<{ servers: ChildServer[]; token: string }> {
  const dirs = Array.from({ length: count + 1 }, (_, i) => benchTempDir(`channeld-bench-${label}-${i}-`));
  const first = await spawnBenchServer(dirs[0]!, env);
  const token = /pfx_[A-Za-z0-9]{52}/.exec(first.output())?.[0];
  if (!token) throw new Error(`${label}: the first replica printed no admin key:\n${first.output()}`);
  // The CLI uses the same backends; on SQLite it must be the server's own folder.
  const cliDir = env.CHANNELD_DATABASE_URL ? dirs[count]! : dirs[0]!;
  const made = await runCli(['channel', 'create', CHANNEL, '--owner', 'admin', '--data', cliDir], { env });
  if (made.code !== 0) throw new Error(`${label}: channel create: ${made.stderr}`);
  const rest = await Promise.all(dirs.slice(1, count).map((d) => spawnBenchServer(d, env)));
  return { servers: [first, ...rest], token };
}

async function listedOn(server: ChildServer, subdir: string): Promise<number> {
  const r = await request(`${server.url}/${CHANNEL}/${subdir}/repodata.json`);
  if (r.status !== 200) return -1;
  const doc = JSON.parse(r.body) as { packages: object; 'packages.conda': object };
  return Object.keys(doc.packages).length + Object.keys(doc['packages.conda']).length;
}

async function measure(label: string, servers: ChildServer[], token: string, pkgs: MadePackage[]): Promise<SetupResult> {
  // One verified request per replica first: argon2 on a cold key cache is not what this measures.
  for (const s of servers) {
    const r = await request(`${s.url}/api/v1/delete/${CHANNEL}/noarch/absent-1-0.conda`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    if (r.status !== 404) throw new Error(`${label}: warm-up answered ${r.status}`);
  }
  const bytes = pkgs.reduce((a, p) => a + p.sizeBytes, 0);
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: UPLOAD_CONCURRENCY }, async () => {
    while (next < pkgs.length) {
      const i = next++;
      const p = pkgs[i]!;
      const r = await uploadRaw(servers[i % servers.length]!.url, CHANNEL, token, p);
      if (r.status !== 200) throw new Error(`${label}: upload ${p.filename} answered ${r.status}: ${r.body}`);
    }
  }));
  const ingestMs = msSince(started);
  const acked = process.hrtime.bigint();
  const want = { noarch: pkgs.filter((p) => p.subdir === 'noarch').length, 'linux-64': pkgs.filter((p) => p.subdir === 'linux-64').length };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const counts = await Promise.all(servers.flatMap((s) => [listedOn(s, 'noarch'), listedOn(s, 'linux-64')]));
    if (counts.every((n, i) => n === (i % 2 === 0 ? want.noarch : want['linux-64']))) break;
    if (Date.now() > deadline) throw new Error(`${label}: not every replica lists every package after 30 s: ${counts.join(',')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const visibleAllMs = msSince(acked);

  const per = Math.max(1, Math.floor(CONNECTIONS / servers.length));
  const loads = await Promise.all(servers.map((s) => autocannon({
    url: `${s.url}/${CHANNEL}/noarch/repodata.json`, connections: per, duration: DURATION_S,
  })));
  let answered = 0;
  let p99 = 0;
  let seconds = 0;
  for (const r of loads) {
    const stats = (r as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats;
    const codes = Object.keys(stats);
    if (r.errors > 0 || codes.some((c) => c !== '200')) throw new Error(`${label}: repodata load got ${JSON.stringify(stats)} and ${r.errors} errors`);
    answered += stats['200']!.count;
    p99 = Math.max(p99, r.latency.p99);
    seconds = Math.max(seconds, r.duration);
  }
  log(`${label}: ingest ${round(ingestMs)} ms, all visible +${round(visibleAllMs)} ms, repodata ${round(answered / seconds)} req/s`);
  return {
    setup: label,
    replicas: servers.length,
    ingestMBps: round(bytes / MB / (ingestMs / 1000)),
    uploadsPerS: round(pkgs.length / (ingestMs / 1000)),
    ingestS: round(ingestMs / 1000, 2),
    visibleAllMs: round(visibleAllMs),
    repodataReqPerS: round(answered / seconds),
    repodataP99Ms: p99,
  };
}

runBench('replicas', args.quick ? 3 * 60_000 : 5 * 60_000, async () => {
  ensureBuilt();
  const probe = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await probe.connect();
    await probe.end();
  } catch (err) {
    throw new Error(`PostgreSQL is unreachable at ${adminUrl} (${(err as Error).message}); this benchmark needs it`);
  }
  const root = benchTempDir('channeld-bench-replicas-');
  const specs: PackageSpec[] = Array.from({ length: PACKAGES }, (_, i) => ({
    name: `scale-${i}`, version: '1.0', build: `h${i}_0`, subdir: i % 2 ? 'linux-64' : 'noarch', format: 'conda',
    payloadBytes: PAYLOAD_BYTES, zstdLevel: 1,
  }));
  const made = Date.now();
  const pkgs = await makePackages(path.join(root, 'packages'), specs);
  log(`${pkgs.length} packages of ~${round(pkgs[0]!.sizeBytes / MB, 2)} MB made in ${round((Date.now() - made) / 1000)} s`);

  const endpoint = await startS3rverProcess();
  const s3 = new S3Client({
    endpoint, forcePathStyle: true, region: S3RVER_CREDENTIALS.AWS_REGION,
    credentials: { accessKeyId: S3RVER_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_CREDENTIALS.AWS_SECRET_ACCESS_KEY },
  });
  onCleanup(() => s3.destroy());

  const results: SetupResult[] = [];
  // Empty values select SQLite and the folder whatever CHANNELD_TEST_* says.
  const baselineFleet = await startFleet('sqlite', 1, { CHANNELD_DATABASE_URL: '', CHANNELD_STORAGE_URL: '' });
  results.push(await measure('SQLite + folder, 1 node (baseline)', baselineFleet.servers, baselineFleet.token, pkgs));
  for (const s of baselineFleet.servers) await stopServer(s);

  for (const count of [1, 2, 3]) {
    const tag = `b${count}-${process.pid}-${Date.now().toString(36)}`;
    await s3.send(new CreateBucketCommand({ Bucket: tag }));
    const env = {
      CHANNELD_DATABASE_URL: await createDatabase(`channeld_bench_${tag.replace(/-/g, '_')}`),
      CHANNELD_STORAGE_URL: `s3://${tag}/channels`,
      CHANNELD_S3_ENDPOINT: endpoint,
      CHANNELD_S3_FORCE_PATH_STYLE: 'true',
      ...S3RVER_CREDENTIALS,
    };
    const fleet = await startFleet(`pg${count}`, count, env);
    results.push(await measure(`PostgreSQL + S3 (s3rver), ${count} replica${count > 1 ? 's' : ''}`, fleet.servers, fleet.token, pkgs));
    for (const s of fleet.servers) await stopServer(s);
  }

  const base = results[0]!;
  const rows = results.map((r) => ({
    ...r,
    ingestVsBaseline: round(r.ingestMBps / base.ingestMBps, 2),
    repodataVsBaseline: round(r.repodataReqPerS / base.repodataReqPerS, 2),
  }));
  const cores = os.cpus().length;
  printTable(`${PACKAGES} uploads of ~${round(pkgs[0]!.sizeBytes / MB, 2)} MB (${UPLOAD_CONCURRENCY} in flight, round-robin) and GET repodata.json ` +
    `(${CONNECTIONS} connections split over the replicas, ${DURATION_S} s); ratio = setup / baseline`, [
    'setup', 'ingest MB/s', 'uploads/s', 'ingest ×', 'all visible ms', 'repodata req/s', 'repodata ×', 'p99 ms',
  ], rows.map((r) => [
    r.setup, r.ingestMBps, r.uploadsPerS, r.ingestVsBaseline, r.visibleAllMs, r.repodataReqPerS, r.repodataVsBaseline, r.repodataP99Ms,
  ]));
  process.stdout.write(
    `Read this as overhead, not speed-up: on this machine (${cores} cores) every replica, PostgreSQL, s3rver and the\n` +
    'load generator share the same cores, and s3rver (a single-process test double that writes each object as files)\n' +
    'stands in for S3. More replicas only add processes competing for the same CPU; a real deployment spreads them\n' +
    'over machines and a real object store.\n',
  );
  printResultJson('replicas', args, { packages: PACKAGES, packageBytes: pkgs[0]!.sizeBytes, connections: CONNECTIONS, durationS: DURATION_S, setups: rows });
});
