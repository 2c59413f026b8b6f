// Upload ingest: how fast a running server takes in a big real package, and
// whether its memory stays flat as packages grow.
//
// For each size, on the same disk and in the same run:
//   baseline   `sha256sum FILE && cp FILE DEST` (what ingest must do at least:
//              read, hash, write), and the same plus `sync DEST`, because the
//              server fsyncs what it received before accepting it;
//   raw        POST /api/v1/upload/<ch>, the file streamed from disk as the
//              body (X-File-Name, X-File-SHA256 computed beforehand, untimed);
//   multipart  the same file as a multipart `file` part (?force=true);
//   hash only  Node sha256+md5 over the file, what the server hashes per byte.
// The steps run in 2 interleaved rounds (--quick: 1); each keeps its fastest.
// The server is a child process (`channeld serve`); its peak RSS during each
// upload comes from /proc/<pid>/status (VmHWM after a reset, plus VmRSS
// sampled every 10 ms) and is printed against its idle RSS.
//
//   node --import tsx bench/upload-ingest.ts [--quick]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fixturePackages } from '../test/helpers/fixtures.js';
import { startServer } from '../test/helpers/server.js';
import {
  MB, PeakRss, benchTempDir, ensureBuilt, log, msSince, parseBenchArgs, printResultJson, printTable, procMemory,
  round, runBench,
} from './lib/common.js';
import { spawnBenchServer, stopServer, uploadMultipart, uploadRaw, type UploadTiming } from './lib/http.js';
import { makeBigPackage } from './lib/make-big-package.js';

const args = parseBenchArgs();
const SIZES_MIB = args.quick ? [50, 200] : [100, 500, 1024];
const ROUNDS = args.quick ? 1 : 2;
const CHANNEL = 'bench';

function timeShell(script: string, ...params: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('bash', ['-c', script, 'bench', ...params], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(msSince(started)) : reject(new Error(`${script} failed: ${stderr}`))));
  });
}

/** Flushes dirty pages of the filesystem, so no step pays for an earlier one's writeback. */
const syncFs = (file: string) => timeShell('sync -f "$1"', file);

async function nodeHashMs(file: string): Promise<number> {
  const started = process.hrtime.bigint();
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
  }
  sha.digest();
  md5.digest();
  return msSince(started);
}

function checkUpload(kind: string, t: UploadTiming, sha256: string): void {
  if (t.status !== 200) throw new Error(`${kind} upload answered ${t.status}: ${t.body}`);
  const body = JSON.parse(t.body) as { sha256?: string };
  if (body.sha256 !== sha256) throw new Error(`${kind} upload stored sha256 ${body.sha256}, expected ${sha256}`);
}

interface SizeResult {
  payloadMiB: number;
  packageBytes: number;
  makeS: number;
  baselineMBps: number;
  baselineSyncMBps: number;
  rawMBps: number;
  rawTailMs: number;
  multipartMBps: number;
  hashOnlyMBps: number;
  rawVsBaseline: number;
  rawVsBaselineSync: number;
  multipartVsBaseline: number;
  idleRssMiB: number;
  rawPeakRssMiB: number;
  multipartPeakRssMiB: number;
  rounds: number;
}

runBench('upload-ingest', args.quick ? 8 * 60_000 : 25 * 60_000, async () => {
  ensureBuilt();
  const root = benchTempDir('channeld-bench-ingest-');
  const packagesDir = path.join(root, 'packages');
  const dataDir = path.join(root, 'data');
  const baselineDir = path.join(root, 'baseline');
  await fsp.mkdir(baselineDir, { recursive: true });

  // The data folder is prepared in-process (admin key, channel), then served
  // by a separate `channeld serve` process whose memory we can watch.
  const setup = await startServer({ dataDir });
  await setup.core.channels.create(CHANNEL, setup.admin.id, { isPublic: true });
  const token = setup.adminKey;
  await setup.close();
  const server = await spawnBenchServer(dataDir);
  const pid = server.child.pid!;

  // Warm-up: both upload paths once with small real packages, so lazily
  // loaded code and first-use buffers are in the idle figure, not the peaks.
  const [w1, w2] = fixturePackages().filter((p) => p.folder === 'noarch' && p.filename.endsWith('.conda'));
  checkUpload('warm-up raw', await uploadRaw(server.url, CHANNEL, token, w1!), w1!.sha256);
  checkUpload('warm-up multipart', await uploadMultipart(server.url, CHANNEL, token, w2!), w2!.sha256);
  await new Promise((r) => setTimeout(r, 1000));
  const idleRssMiB = procMemory(pid).rssKiB / 1024;
  log(`server pid ${pid}, idle RSS ${round(idleRssMiB)} MiB`);

  const results: SizeResult[] = [];
  for (const sizeMiB of SIZES_MIB) {
    const makeStart = process.hrtime.bigint();
    const pkg = await makeBigPackage(packagesDir, `bench-big-${sizeMiB}m`, sizeMiB);
    const makeS = msSince(makeStart) / 1000;
    const mb = pkg.sizeBytes / MB;
    log(`${pkg.filename}: ${round(mb)} MB, made by cph in ${round(makeS)} s`);

    // Rounds interleave every step, so a burst of load elsewhere on the
    // machine hits one round of each rather than one step; each step keeps
    // its fastest round, its largest peak RSS.
    const dest = path.join(baselineDir, pkg.filename);
    const t = { baseline: [] as number[], baselineSync: [] as number[], raw: [] as number[], rawTail: [] as number[], multipart: [] as number[], hash: [] as number[] };
    let rawPeakRssMiB = 0;
    let multipartPeakRssMiB = 0;
    for (let r = 0; r < ROUNDS; r++) {
      await syncFs(pkg.file);
      t.baseline.push(await timeShell('sha256sum "$1" >/dev/null && cp "$1" "$2"', pkg.file, dest));
      await fsp.rm(dest);
      await syncFs(pkg.file);
      t.baselineSync.push(await timeShell('sha256sum "$1" >/dev/null && cp "$1" "$2" && sync "$2"', pkg.file, dest));
      await fsp.rm(dest);

      await syncFs(pkg.file);
      let peak = new PeakRss(pid);
      const raw = await uploadRaw(server.url, CHANNEL, token, pkg, r > 0);
      rawPeakRssMiB = Math.max(rawPeakRssMiB, peak.stop() / 1024);
      checkUpload('raw', raw, pkg.sha256);
      t.raw.push(raw.ms);
      t.rawTail.push(raw.ms - raw.sentMs);

      await syncFs(pkg.file);
      peak = new PeakRss(pid);
      const multipart = await uploadMultipart(server.url, CHANNEL, token, pkg, true);
      multipartPeakRssMiB = Math.max(multipartPeakRssMiB, peak.stop() / 1024);
      checkUpload('multipart', multipart, pkg.sha256);
      t.multipart.push(multipart.ms);

      t.hash.push(await nodeHashMs(pkg.file));
      log(`round ${r + 1}: baseline ${round(t.baseline.at(-1)!)} ms, +sync ${round(t.baselineSync.at(-1)!)} ms, ` +
        `raw ${round(raw.ms)} ms (tail ${round(raw.ms - raw.sentMs)} ms), multipart ${round(multipart.ms)} ms, hash ${round(t.hash.at(-1)!)} ms`);
    }
    await fsp.rm(pkg.file);
    const best = (xs: number[]) => Math.min(...xs);
    const baselineMs = best(t.baseline);
    const baselineSyncMs = best(t.baselineSync);
    const rawMs = best(t.raw);
    const multipartMs = best(t.multipart);
    const hashMs = best(t.hash);
    log(`peak RSS raw ${round(rawPeakRssMiB)} MiB, multipart ${round(multipartPeakRssMiB)} MiB`);

    results.push({
      payloadMiB: sizeMiB,
      packageBytes: pkg.sizeBytes,
      makeS: round(makeS, 2),
      baselineMBps: round(mb / (baselineMs / 1000)),
      baselineSyncMBps: round(mb / (baselineSyncMs / 1000)),
      rawMBps: round(mb / (rawMs / 1000)),
      rawTailMs: round(Math.min(...t.rawTail)),
      multipartMBps: round(mb / (multipartMs / 1000)),
      hashOnlyMBps: round(mb / (hashMs / 1000)),
      rawVsBaseline: round(baselineMs / rawMs, 2),
      rawVsBaselineSync: round(baselineSyncMs / rawMs, 2),
      multipartVsBaseline: round(baselineMs / multipartMs, 2),
      rounds: ROUNDS,
      idleRssMiB: round(idleRssMiB),
      rawPeakRssMiB: round(rawPeakRssMiB),
      multipartPeakRssMiB: round(multipartPeakRssMiB),
    });
  }
  await stopServer(server);

  printTable(`upload ingest throughput, best of ${ROUNDS} interleaved round(s) (MB = 10^6 bytes; ratio = upload speed / baseline speed)`, [
    'package', 'MB', 'baseline MB/s', 'base+sync MB/s', 'raw MB/s', 'raw/base', 'raw/base+sync', 'multipart MB/s', 'mp/base', 'hash-only MB/s', 'raw tail ms',
  ], results.map((r) => [
    `${r.payloadMiB} MiB payload`, round(r.packageBytes / MB), r.baselineMBps, r.baselineSyncMBps, r.rawMBps, r.rawVsBaseline,
    r.rawVsBaselineSync, r.multipartMBps, r.multipartVsBaseline, r.hashOnlyMBps, r.rawTailMs,
  ]));
  printTable(`server peak RSS during the uploads, largest of ${ROUNDS} round(s) (idle RSS ${round(idleRssMiB)} MiB after warm-up)`, [
    'package', 'raw peak RSS MiB', 'Δ idle', 'multipart peak RSS MiB', 'Δ idle',
  ], results.map((r) => [
    `${r.payloadMiB} MiB payload`, r.rawPeakRssMiB, round(r.rawPeakRssMiB - idleRssMiB), r.multipartPeakRssMiB, round(r.multipartPeakRssMiB - idleRssMiB),
  ]));
  printResultJson('upload-ingest', args, { idleRssMiB: round(idleRssMiB), sizes: results });
});
