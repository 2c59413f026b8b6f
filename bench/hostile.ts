// What an attacker costs everyone else (issue 14). For each attack class of
// bench/lib/attacks.ts: a well-behaved client polls GET /healthz and GET
// <channel>/noarch/repodata.json back to back on one kept-alive connection,
// alone (the baseline) and then while an attacker process sends that class
// in a few loops (at nice 19: see spawnAttacker); phases alternate round by
// round so drift hits both. Figures
// per class: the client's latency p99 and the server's own event-loop delay
// p99 (perf_hooks histogram, from a probe preloaded into the server: bench/lib/
// loop-delay-probe.mjs), each as attack / baseline (target ≤ 2×), and the
// server's peak RSS during the attack (target < 300 MiB), beside its peak in
// the phases alone (RSS is not returned between phases, so the two together
// say what the attack added).
//
//   node --import tsx bench/hostile.ts [--quick]
//   BENCH_HOSTILE_CLASSES=graphql-fragments,… narrows the run to those classes.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturePackages } from '../test/helpers/fixtures.js';
import { waitFor } from '../test/helpers/server.js';
import {
  benchTempDir, ensureBuilt, log, MiB, parseBenchArgs, PeakRss, percentile, procMemory, printResultJson, printTable, round, runBench,
} from './lib/common.js';
import { ATTACKS } from './lib/attacks.js';
import { buildUploadBombs, type Bomb } from '../test/helpers/upload-bombs.js';
import { request, spawnBenchServer, uploadRaw } from './lib/http.js';

const args = parseBenchArgs();
const PHASE_MS = args.quick ? 2_000 : 5_000;
const ROUNDS = args.quick ? 1 : 2;
const ATTACK_LOOPS = 4;
const SLOW_SOCKETS = 200;
const CHANNEL = 'bench';
const here = path.dirname(fileURLToPath(import.meta.url));
const ALL_CLASSES = [...Object.keys(ATTACKS), 'slow-clients'];
// BENCH_HOSTILE_CLASSES=a,b narrows a run to those classes (for looking into one).
const CLASSES = process.env.BENCH_HOSTILE_CLASSES ? process.env.BENCH_HOSTILE_CLASSES.split(',') : ALL_CLASSES;
for (const cls of CLASSES) if (!ALL_CLASSES.includes(cls)) throw new Error(`no attack class ${cls} (classes: ${ALL_CLASSES.join(', ')})`);

interface LoopDelay {
  count: number; p50Ms: number; p99Ms: number; maxMs: number;
  memoryMiB: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
}

runBench('hostile', (args.quick ? 6 : 15) * 60_000, async () => {
  ensureBuilt();
  const root = benchTempDir('channeld-bench-hostile-');
  const loopFile = path.join(root, 'loop-delay.json');
  const dataDir = path.join(root, 'data');
  const serverEnv = {
    NODE_OPTIONS: `--import ${path.join(here, 'lib/loop-delay-probe.mjs')}`,
    CHANNELD_BENCH_LOOP_FILE: loopFile,
    CHANNELD_LOG_LEVEL: 'error',
  };
  let server = await spawnBenchServer(dataDir, serverEnv);
  const key = await waitFor(async () => /pfx_[A-Za-z0-9]{52}/.exec(server.output())?.[0], 10_000);
  const mk = await postJson(`${server.url}/api/graphql`, key, { query: `mutation { createChannel(name: "${CHANNEL}", isPublic: true) { channel { name } } }` });
  if (!mk.includes(CHANNEL)) throw new Error(`createChannel: ${mk}`);
  for (const p of fixturePackages().filter((f) => f.folder === 'noarch')) {
    const r = await uploadRaw(server.url, CHANNEL, key, p);
    if (r.status !== 200) throw new Error(`upload ${p.filename}: ${r.status} ${r.body}`);
  }
  await waitFor(async () => (await request(`${server.url}/${CHANNEL}/noarch/repodata.json`)).body.includes('"packages.conda"'), 30_000);

  const bombs = await buildUploadBombs(path.join(root, 'bombs'));
  log(`upload bombs: ${bombs.map((b) => `${b.filename} (${fs.statSync(b.file).size} B)`).join(', ')}`);

  const idleRssMiB = round((procMemory(server.child.pid!).rssKiB * 1024) / MiB, 0);
  log(`server idle RSS after the fixtures: ${idleRssMiB} MiB`);
  const readLoopDelay = async (): Promise<LoopDelay> => {
    fs.rmSync(loopFile, { force: true });
    process.kill(server.child.pid!, 'SIGUSR2');
    await waitFor(async () => fs.existsSync(loopFile), 5_000, 5);
    return JSON.parse(fs.readFileSync(loopFile, 'utf8')) as LoopDelay;
  };

  /** The well-behaved client for one phase: latencies of its answered requests (ms), and how many failed. */
  const client = async (ms: number): Promise<{ latencies: number[]; failed: number }> => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const latencies: number[] = [];
    let failed = 0;
    const end = Date.now() + ms;
    for (let i = 0; Date.now() < end; i++) {
      const url = i % 2 === 0 ? `${server.url}/healthz` : `${server.url}/${CHANNEL}/noarch/repodata.json`;
      const r = await request(url, { agent }).catch(() => null);
      if (r?.status === 200) latencies.push(r.ms);
      else {
        failed++;
        await new Promise((done) => setTimeout(done, 50));
      }
    }
    agent.destroy();
    return { latencies, failed };
  };

  // A class that ends the server is reported as such (the figures before
  // issue 14's fixes), and the next class gets a new server on the same data.
  const phase = async (cls: string | null) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) server = await spawnBenchServer(dataDir, serverEnv);
    await readLoopDelay(); // starts a fresh histogram
    const peak = new PeakRss(server.child.pid!);
    const attacker = cls === null ? null : spawnAttacker(cls, server.url, key, bombs);
    const { latencies, failed } = await client(PHASE_MS);
    const outcome = attacker ? await attacker : null;
    const peakKiB = peak.stop();
    const died = server.child.exitCode !== null || server.child.signalCode !== null;
    const loop = died ? null : await readLoopDelay();
    return { latencies, failed, died, loop, peakKiB, outcome };
  };

  const rows: Array<Array<string | number>> = [];
  const results: Record<string, unknown> = {};
  for (const cls of CLASSES) {
    const base = { latencies: [] as number[], loopP99: [] as number[], peakKiB: 0 };
    const attack = { latencies: [] as number[], loopP99: [] as number[], peakKiB: 0, statuses: {} as Record<string, number>, errors: 0, sent: 0, failed: 0, died: false };
    for (let r = 0; r < ROUNDS; r++) {
      const b = await phase(null);
      base.latencies.push(...b.latencies);
      base.peakKiB = Math.max(base.peakKiB, b.peakKiB);
      if (b.loop) base.loopP99.push(b.loop.p99Ms);
      const a = await phase(cls);
      if (a.loop) log(`${cls} round ${r + 1}: server memory after the attack (MiB) ${JSON.stringify(a.loop.memoryMiB)}`);
      attack.latencies.push(...a.latencies);
      if (a.loop) attack.loopP99.push(a.loop.p99Ms);
      attack.failed += a.failed;
      attack.died ||= a.died;
      attack.peakKiB = Math.max(attack.peakKiB, a.peakKiB);
      for (const [s, n] of Object.entries(a.outcome!.statuses)) attack.statuses[s] = (attack.statuses[s] ?? 0) + n;
      attack.errors += a.outcome!.errors;
      attack.sent += a.outcome!.sent;
    }
    const baseP99 = percentile(base.latencies, 99);
    const attackP99 = percentile(attack.latencies, 99);
    const attackMax = Math.max(...attack.latencies);
    const baseLoop = Math.max(...base.loopP99);
    const attackLoop = attack.loopP99.length > 0 ? Math.max(...attack.loopP99) : NaN;
    const peakMiB = round((attack.peakKiB * 1024) / MiB, 0);
    const basePeakMiB = round((base.peakKiB * 1024) / MiB, 0);
    const statuses = Object.entries(attack.statuses).map(([s, n]) => `${s}×${n}`).join(' ') + (attack.errors > 0 ? ` err×${attack.errors}` : '');
    const clientFailed = attack.died ? `server died; ${attack.failed} failed` : attack.failed > 0 ? `${attack.failed} failed` : '';
    log(`${cls}: client p99 ${round(baseP99, 2)} → ${round(attackP99, 2)} ms, loop p99 ${baseLoop} → ${attackLoop} ms, peak RSS ${peakMiB} MiB; attacker got ${statuses} (${attack.errors} errors)`);
    rows.push([cls, round(baseP99, 2), round(attackP99, 2), round(attackP99 / baseP99, 2), round(attackMax, 0), baseLoop, attackLoop, round(attackLoop / baseLoop, 2), basePeakMiB, peakMiB, statuses || '-', clientFailed || '-']);
    results[cls] = {
      clientP99Ms: { baseline: round(baseP99, 2), attack: round(attackP99, 2) }, clientMaxMsUnderAttack: round(attackMax, 1), loopDelayP99Ms: { baseline: baseLoop, attack: attackLoop },
      peakRssMiB: { baseline: basePeakMiB, attack: peakMiB }, serverDied: attack.died, clientFailures: attack.failed, attackerStatuses: attack.statuses, attackerErrors: attack.errors, attackerRequests: attack.sent,
    };
  }
  printTable(
    `Hostile load: a well-behaved client (GET /healthz + repodata.json, one connection) alone vs beside an attacker (${ATTACK_LOOPS} loops; slow-clients: ${SLOW_SOCKETS} sockets), ${ROUNDS} × ${PHASE_MS / 1000} s each`,
    ['attack class', 'client p99 ms alone', 'under attack', 'ratio', 'client max ms under attack', 'loop delay p99 ms alone', 'under attack', 'ratio', 'server peak RSS MiB alone', 'under attack', 'attacker got', 'well-behaved client'],
    rows,
  );
  process.stdout.write(`server RSS when idle, before the first attack: ${idleRssMiB} MiB\n`);
  printResultJson('hostile', args, { idleRssMiB, classes: results });
});

function postJson(url: string, key: string, body: object): Promise<string> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const r = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    });
    r.on('error', reject);
    r.end(data);
  });
}

function spawnAttacker(cls: string, baseUrl: string, key: string, bombs: Bomb[]): Promise<{ statuses: Record<string, number>; errors: number; sent: number }> {
  const loops = cls === 'slow-clients' ? SLOW_SOCKETS : ATTACK_LOOPS;
  // At the lowest CPU priority: a real attacker sends from its own machine,
  // so what it costs the client here should be the server's work on its
  // requests, not the attacker's own CPU on a shared 2-core box. It still
  // gets every cycle the server and the client leave idle.
  const argv = [process.execPath, '--import', 'tsx', path.join(here, 'lib/attacker.ts'), cls, baseUrl, CHANNEL, key, String(PHASE_MS), String(loops), JSON.stringify(bombs)];
  const child = spawn('nice', ['-n', '19', ...argv], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`attacker ${cls} exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!));
    });
  });
}
