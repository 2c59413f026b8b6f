// Upload → visible latency: how long after a client starts an upload does
// GET <ch>/noarch/repodata.json list the new file, when the subdir already
// holds N records (full: 10k and 100k; --quick: 1k and 10k), against the same
// on an empty subdir (the baseline: debounce + a trivial rewrite).
//
// Setup, in-process (no real archives): each channel's noarch is filled
// through the repository API (core.repos.packages.insertFound, batches of
// 5000) with records shaped like the fixtures' real index.json
// (fixtures/expected-index.jsonl) under unique names/versions, recordJson
// made by buildRecord/canonicalJson like an upload would; then
// core.indexer.indexNow() indexes it; then the subdir's revision is bumped
// and indexNow() called again, 3 times, timed both whole and as the
// indexer's own 'index written' log line reports the repodata.json rewrite.
// Measurement: a separate `channeld serve` process on that data folder
// (default debounce); 20 real small packages made once by cph are uploaded
// one after another; after each, repodata.json is polled every 10 ms with
// If-None-Match until a 200 lists the file. The server's peak RSS over each
// series comes from /proc/<pid>/status.
//
//   node --import tsx bench/visible-latency.ts [--quick]
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parsePackageFilename } from '../src/conda/package-filename.js';
import type { PackageFile } from '../src/types.js';
import { canonicalJson } from '../src/conda/canonical-json.js';
import { buildRecord } from '../src/conda/repodata-record.js';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { fixturesDir } from '../test/helpers/paths.js';
import {
  MB, PeakRss, benchTempDir, ensureBuilt, log, median, msSince, parseBenchArgs, percentile, printResultJson,
  printTable, procMemory, round, runBench,
} from './lib/common.js';
import { request, spawnBenchServer, stopServer, uploadRaw } from './lib/http.js';
import { makePackages, type MadePackage } from './lib/make-big-package.js';

const args = parseBenchArgs();
const SIZES = args.quick ? [1_000, 10_000] : [10_000, 100_000];
const UPLOADS = 20;
const POLL_MS = 10;
const BATCH = 5000;
const REWRITES_TIMED = 3;
// Every fill is rewritten this many times more, timed (the first indexes the fill).
const VISIBLE_TIMEOUT_MS = 60_000;

interface Template {
  index: Record<string, unknown>;
  format: 'conda' | 'tar.bz2';
  sizeBytes: number;
}

function templates(): Template[] {
  const sizes = new Map<string, number>();
  const manifest = fs.readFileSync(path.join(fixturesDir, 'MANIFEST.tsv'), 'utf8').trim().split('\n');
  const header = manifest[0]!.split('\t');
  for (const line of manifest.slice(1)) {
    const row = line.split('\t');
    sizes.set(row[header.indexOf('path')]!, Number(row[header.indexOf('size')]));
  }
  return fs.readFileSync(path.join(fixturesDir, 'expected-index.jsonl'), 'utf8').trim().split('\n').map((line) => {
    const { path: rel, index } = JSON.parse(line) as { path: string; index: Record<string, unknown> };
    return { index, format: rel.endsWith('.conda') ? 'conda' : 'tar.bz2', sizeBytes: sizes.get(rel) ?? 100_000 };
  });
}

/**
 * `count` noarch records: record i takes the shape of fixture i mod 61, with
 * name `<fixture name>-r<k>` and version `<fixture version>.<j>` (8 versions
 * per name), so every file name is unique and the subdir has realistic
 * name/version fan-out.
 */
function syntheticRecords(channelId: number, count: number, tag: string): PackageFile[] {
  const shapes = templates();
  const out: PackageFile[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const t = shapes[i % shapes.length]!;
    const block = Math.floor(i / shapes.length);
    const name = `${String(t.index.name)}-${tag}${Math.floor(block / 8)}`;
    const version = `${String(t.index.version)}.${block % 8}`;
    let build = String(t.index.build);
    let filename = `${name}-${version}-${build}.${t.format}`;
    for (let n = 1; seen.has(filename); n++) {
      build = `${String(t.index.build)}_${n}`;
      filename = `${name}-${version}-${build}.${t.format}`;
    }
    seen.add(filename);
    if (i < shapes.length) parsePackageFilename(filename); // the shapes make valid names
    const index: Record<string, unknown> = { ...t.index, name, version, build, subdir: 'noarch' };
    const sha256 = createHash('sha256').update(filename).digest('hex');
    const md5 = createHash('md5').update(filename).digest('hex');
    out.push({
      channelId, subdir: 'noarch', filename, format: t.format, name, version, build,
      buildNumber: typeof index.build_number === 'number' ? index.build_number : 0,
      sizeBytes: t.sizeBytes, sha256, md5,
      indexJson: JSON.stringify(index), aboutJson: null, runExportsJson: null,
      recordJson: canonicalJson(buildRecord(index, { md5, sha256, size: t.sizeBytes })),
      uploadedBy: null,
    });
  }
  return out;
}

interface Series {
  channel: string;
  records: number;
  fillS: number;
  firstIndexS: number;
  rewriteMs: number;
  indexNowMs: number;
  repodataMB: number;
  uploadMs: number[];
  visibleMs: number[];
  visibleWithBodyMs: number[];
  peakRssMiB: number;
}

/** Uploads each package, then polls repodata.json until it lists it. */
async function measure(url: string, channel: string, token: string, probes: MadePackage[], pid: number): Promise<Pick<Series, 'uploadMs' | 'visibleMs' | 'visibleWithBodyMs' | 'peakRssMiB'>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const repodataUrl = `${url}/${channel}/noarch/repodata.json`;
  const first = await request(repodataUrl, { agent });
  let etag = String(first.headers.etag);
  const uploadMs: number[] = [];
  const visibleMs: number[] = [];
  const visibleWithBodyMs: number[] = [];
  const peak = new PeakRss(pid);
  try {
    for (const pkg of probes) {
      const started = process.hrtime.bigint();
      const up = await uploadRaw(url, channel, token, pkg);
      if (up.status !== 200) throw new Error(`upload of ${pkg.filename} to ${channel}: ${up.status} ${up.body}`);
      uploadMs.push(up.ms);
      const needle = `"${pkg.filename}":`;
      for (;;) {
        const pollStart = msSince(started);
        const r = await request(repodataUrl, { agent, headers: { 'if-none-match': etag } });
        if (r.status === 200) {
          etag = String(r.headers.etag);
          if (r.body.includes(needle)) {
            visibleMs.push(pollStart + r.headersMs);
            visibleWithBodyMs.push(msSince(started));
            break;
          }
        } else if (r.status !== 304) {
          throw new Error(`GET repodata.json: ${r.status}`);
        }
        if (msSince(started) > VISIBLE_TIMEOUT_MS) throw new Error(`${pkg.filename} not listed after ${VISIBLE_TIMEOUT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
  } finally {
    agent.destroy();
  }
  return { uploadMs, visibleMs, visibleWithBodyMs, peakRssMiB: peak.stop() / 1024 };
}

runBench('visible-latency', args.quick ? 6 * 60_000 : 15 * 60_000, async () => {
  ensureBuilt();
  const root = benchTempDir('channeld-bench-visible-');
  const dataDir = path.join(root, 'data');
  // One more than measured: the last one warms the server's upload path up.
  const made = await makePackages(path.join(root, 'probes'), Array.from({ length: UPLOADS + 1 }, (_, i) => ({
    name: `latency-probe-k${i}`, version: '1.0.0', build: '0', payloadBytes: 4096,
  })));
  const probes = made.slice(0, UPLOADS);
  const warmProbe = made[UPLOADS]!;

  // Phase 1, in-process, without the background poll (it would index
  // half-filled subdirs). The indexer logs each repodata.json rewrite with
  // its duration; that is the 'full rewrite' figure.
  const rewriteLog: Array<{ channel: string; durationMs: number }> = [];
  const app = await buildApp(loadConfig({ CHANNELD_DATA_DIR: dataDir, CHANNELD_BOOTSTRAP_ADMIN: 'false', CHANNELD_INDEX_POLL_MS: '3600000' }), {
    logger: {
      level: 'info',
      stream: {
        write(line: string) {
          const entry = JSON.parse(line) as { msg?: string; channel?: string; durationMs?: number };
          if (entry.msg === 'index written') rewriteLog.push({ channel: entry.channel!, durationMs: entry.durationMs! });
        },
      },
    },
  });
  await app.ready();
  const { core } = app;
  const admin = await core.users.create('bench', true);
  const { token } = await core.users.createKey(admin, { name: 'bench', expiresAt: null });
  await core.channels.create('warm-up', admin.id, { isPublic: true });
  const plan = [{ channel: 'empty', records: 0 }, ...SIZES.map((n) => ({ channel: `filled-${n}`, records: n }))];
  const series: Series[] = [];
  for (const { channel: name, records } of plan) {
    const channel = await core.channels.create(name, admin.id, { isPublic: true });
    const ref = { channelId: channel.id, channel: name, subdir: 'noarch' };
    const fillStart = process.hrtime.bigint();
    const all = syntheticRecords(channel.id, records, 'r');
    for (let i = 0; i < all.length; i += BATCH) {
      const added = await core.repos.packages.insertFound(all.slice(i, i + BATCH));
      if (added !== Math.min(BATCH, all.length - i)) throw new Error(`insertFound added ${added}`);
    }
    const fillS = msSince(fillStart) / 1000;
    const firstIndexStart = process.hrtime.bigint();
    await core.indexer.indexNow(ref);
    const firstIndexS = msSince(firstIndexStart) / 1000;
    const indexNowMs: number[] = [];
    const logged = rewriteLog.length;
    for (let k = 0; k < REWRITES_TIMED; k++) {
      // indexNow skips a subdir already indexed at its revision: bump it so each call rewrites.
      await core.repos.indexState.touch(channel.id, 'noarch');
      const t = process.hrtime.bigint();
      await core.indexer.indexNow(ref);
      indexNowMs.push(msSince(t));
    }
    const rewrites = rewriteLog.slice(logged).filter((r) => r.channel === name).map((r) => r.durationMs);
    if (rewrites.length !== REWRITES_TIMED) throw new Error(`expected ${REWRITES_TIMED} logged rewrites of ${name}, got ${rewrites.length}`);
    const state = await core.repos.indexState.get(channel.id, 'noarch');
    const repodataMB = (state?.repodataSize ?? NaN) / MB;
    log(`${name}: ${records} records inserted in ${round(fillS, 2)} s, first indexNow ${round(firstIndexS, 2)} s; rewrite ${rewrites.map((r) => round(r)).join(', ')} ms ` +
      `(indexNow ${indexNowMs.map((r) => round(r)).join(', ')} ms); repodata.json ${round(repodataMB, 2)} MB`);
    series.push({
      channel: name, records, fillS, firstIndexS, rewriteMs: median(rewrites), indexNowMs: median(indexNowMs), repodataMB,
      uploadMs: [], visibleMs: [], visibleWithBodyMs: [], peakRssMiB: NaN,
    });
  }
  await app.close();

  // Phase 2: the real server, as its own process.
  const server = await spawnBenchServer(dataDir);
  const pid = server.child.pid!;
  // Warm-up: one upload made visible, and each measured repodata.json read once.
  await measure(server.url, 'warm-up', token, [warmProbe], pid);
  for (const s of series) await request(`${server.url}/${s.channel}/noarch/repodata.json`);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const idleRssMiB = procMemory(pid).rssKiB / 1024;
  for (const s of series) {
    Object.assign(s, await measure(server.url, s.channel, token, probes, pid));
    log(`${s.channel}: visible ms ${s.visibleMs.map((v) => Math.round(v)).join(' ')}`);
    log(`${s.channel}: visible p50 ${round(median(s.visibleMs))} ms, max ${round(Math.max(...s.visibleMs))} ms, peak RSS ${round(s.peakRssMiB)} MiB`);
  }
  await stopServer(server);

  const base = median(series[0]!.visibleMs);
  const rows = series.map((s) => ({
    channel: s.channel,
    records: s.records,
    repodataMB: round(s.repodataMB, 2),
    fillS: round(s.fillS, 2),
    firstIndexS: round(s.firstIndexS, 2),
    rewriteMs: round(s.rewriteMs),
    indexNowMs: round(s.indexNowMs),
    uploadP50Ms: round(median(s.uploadMs)),
    visibleP50Ms: round(median(s.visibleMs)),
    visibleP95Ms: round(percentile(s.visibleMs, 95)),
    visibleMaxMs: round(Math.max(...s.visibleMs)),
    visibleWithBodyP50Ms: round(median(s.visibleWithBodyMs)),
    ratioP50: round(median(s.visibleMs) / base, 2),
    peakRssMiB: round(s.peakRssMiB),
  }));
  printTable(`upload → listed in repodata.json, ${UPLOADS} sequential uploads per row (poll ${POLL_MS} ms, If-None-Match); ratio = p50 / empty-subdir p50`, [
    'records in subdir', 'repodata MB', 'first index s', 'full rewrite ms', 'indexNow ms', 'upload ms p50', 'visible p50', 'p95', 'max', '+body p50', 'ratio', 'server peak RSS MiB',
  ], rows.map((r) => [
    r.records === 0 ? '0 (baseline)' : String(r.records), r.repodataMB, r.firstIndexS, r.rewriteMs, r.indexNowMs, r.uploadP50Ms, r.visibleP50Ms, r.visibleP95Ms,
    r.visibleMaxMs, r.visibleWithBodyP50Ms, r.ratioP50, r.peakRssMiB,
  ]));
  process.stdout.write(`server idle RSS ${round(idleRssMiB)} MiB; 'first index' = the first indexNow() after the fill; 'full rewrite' = median of ${REWRITES_TIMED} repodata.json rewrites as the indexer logs them ('index written' durationMs), ` +
    `'indexNow' = the same calls timed whole (every index pass); ` +
    `'visible' = until the headers of the first 200 that lists the file, '+body' = until that body is read and searched\n`);
  printResultJson('visible-latency', args, { uploads: UPLOADS, pollMs: POLL_MS, idleRssMiB: round(idleRssMiB), series: rows });
});
