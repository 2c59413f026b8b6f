// The real rattler solver (@conda-org/rattler) reading the channel through a
// small recording proxy, which stands in for the server's request log:
//
// - as served, rattler reads repodata_shards.msgpack.zst and the shards of
//   the names it needs, and never repodata.json;
// - with the shard index answered 404 (what a server without shards says),
//   it falls back to repodata.json(.zst) and must solve to the same packages.
//
// Specs as in test/e2e/rattler.test.ts: they install from the fixtures alone
// and need depends followed across noarch and linux-64.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Platform, SolvedPackage } from '@conda-org/rattler';
import { fixturePackages } from '../helpers/fixtures.js';
import { getShardIndex, uploadAndIndex } from '../helpers/index-files.js';
import { rattlerSolve } from '../helpers/rattler.js';
import { startServer, type TestServer } from '../helpers/server.js';

const CHANNEL = 'solve-sharded';
const PLATFORMS: Platform[] = ['linux-64', 'noarch'];
const SPECS = ['dependent', 'pip', 'other-package 0.2', 'package3'];

interface Logged { method: string; path: string; status: number; bytes: number }

interface Proxy {
  url: string;
  log: Logged[];
  close(): Promise<void>;
}

/** Forwards to `target`, logging each request; `withoutShards` answers the shard index 404. */
async function recordingProxy(target: string, opts: { withoutShards: boolean }): Promise<Proxy> {
  const upstream = new URL(target);
  const log: Logged[] = [];
  const proxy = http.createServer((req, res) => {
    const entry: Logged = { method: req.method ?? 'GET', path: req.url ?? '', status: 0, bytes: 0 };
    log.push(entry);
    if (opts.withoutShards && entry.path.endsWith('/repodata_shards.msgpack.zst')) {
      entry.status = 404;
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"NOT_FOUND","message":"no shards here"}');
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    // rattler's wasm build panics on gzip bodies (test/helpers/rattler.ts);
    // the helper already asks for identity, and so does the proxy.
    headers['accept-encoding'] = 'identity';
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
      entry.status = up.statusCode ?? 0;
      res.writeHead(entry.status, up.headers);
      up.on('data', (d: Buffer) => (entry.bytes += d.length));
      up.pipe(res);
    });
    out.on('error', (err) => res.destroy(err));
    req.pipe(out);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    log,
    close: () => new Promise((resolve) => {
      proxy.closeAllConnections();
      proxy.close(() => resolve());
    }),
  };
}

const solved = (s: SolvedPackage[]) =>
  s.map((p) => ({ name: p.packageName, version: p.version, build: p.build, subdir: p.subdir, filename: p.filename, sha256: p.sha256 }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
const bytesOf = (log: Logged[], pick: (l: Logged) => boolean) => log.filter(pick).reduce((n, l) => n + l.bytes, 0);
const isRepodataJson = (l: Logged) => /\/repodata\.json(\.zst|\.bz2)?$/.test(l.path);
const isShardFile = (l: Logged) => /\/shards\/[0-9a-f]{64}\.msgpack\.zst$/.test(l.path);
const isShardIndex = (l: Logged) => l.path.endsWith('/repodata_shards.msgpack.zst');

let server: TestServer;
let sharded: Proxy;
let plain: Proxy;

before(async () => {
  server = await startServer();
  await server.core.channels.create(CHANNEL, server.admin.id, { isPublic: true });
  await uploadAndIndex(server, CHANNEL, fixturePackages().filter((p) => (PLATFORMS as string[]).includes(p.folder)));
  sharded = await recordingProxy(server.url, { withoutShards: false });
  plain = await recordingProxy(server.url, { withoutShards: true });
});

after(async () => {
  await sharded?.close();
  await plain?.close();
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('rattler against a sharded channel', () => {
  let viaShards: SolvedPackage[];
  let viaRepodata: SolvedPackage[];

  it('reads the shard index and shards of each platform, never repodata.json', async (t) => {
    viaShards = await rattlerSolve(SPECS, [`${sharded.url}/${CHANNEL}`], PLATFORMS);
    const log = sharded.log;
    t.diagnostic(`sharded requests: ${log.map((l) => `${l.method} ${l.path} ${l.status}`).join('; ')}`);
    for (const subdir of PLATFORMS) {
      assert.ok(log.some((l) => l.method === 'GET' && l.status === 200 && l.path === `/${CHANNEL}/${subdir}/repodata_shards.msgpack.zst`), `${subdir} shard index`);
    }
    assert.ok(log.some((l) => l.status === 200 && isShardFile(l)), 'fetched shards');
    assert.deepEqual(log.filter(isRepodataJson).map((l) => `${l.method} ${l.path}`), []);
    // Only shards the indexes name, each at most once, all found.
    const named = new Set<string>();
    for (const subdir of PLATFORMS) {
      for (const hash of Object.values((await getShardIndex(server.url, CHANNEL, subdir))!.shards)) named.add(`/${CHANNEL}/${subdir}/shards/${hash.toString('hex')}.msgpack.zst`);
    }
    const shardPaths = log.filter(isShardFile).map((l) => l.path);
    assert.deepEqual(shardPaths.filter((p) => !named.has(p)), []);
    assert.equal(new Set(shardPaths).size, shardPaths.length, 'no shard fetched twice');
    assert.deepEqual(log.filter((l) => isShardFile(l) && l.status !== 200), []);
  });

  it('falls back to repodata.json when the shard index is 404', async (t) => {
    viaRepodata = await rattlerSolve(SPECS, [`${plain.url}/${CHANNEL}`], PLATFORMS);
    const log = plain.log;
    t.diagnostic(`fallback requests: ${log.map((l) => `${l.method} ${l.path} ${l.status}`).join('; ')}`);
    for (const subdir of PLATFORMS) {
      assert.ok(log.some((l) => isShardIndex(l) && l.status === 404 && l.path.includes(`/${subdir}/`)), `${subdir}: asked for shards first`);
      assert.ok(log.some((l) => l.method === 'GET' && l.status === 200 && isRepodataJson(l) && l.path.includes(`/${subdir}/`)), `${subdir}: read repodata`);
    }
    assert.deepEqual(log.filter(isShardFile).map((l) => l.path), []);
  });

  it('solves to the same packages either way', () => {
    assert.ok(viaShards && viaRepodata, 'both solves ran');
    assert.deepEqual(solved(viaShards), solved(viaRepodata));
    assert.deepEqual(solved(viaShards).map((p) => `${p.name} ${p.version} ${p.build} ${p.subdir}`), [
      'dependency 1.0 0 noarch',
      'dependent 1.0 0 noarch',
      'other-package 0.2 0 linux-64',
      'package3 0.1.0 abc linux-64',
      'pip 99.99.99 py399_0 noarch',
      'python 3.99.99 0 noarch',
    ]);
  });

  it('reports the bytes each way fetched', (t) => {
    // The issue's target (shards ≤ 1/20 of repodata.json for a typical spec)
    // is about large channels; these fixture subdirs are a few KB, so only
    // the figures are reported.
    const shardBytes = bytesOf(sharded.log, () => true);
    const repodataBytes = bytesOf(plain.log, () => true);
    t.diagnostic(`sharded: ${shardBytes} bytes in ${sharded.log.length} requests ` +
      `(index ${bytesOf(sharded.log, isShardIndex)}, shards ${bytesOf(sharded.log, isShardFile)})`);
    t.diagnostic(`repodata: ${repodataBytes} bytes in ${plain.log.length} requests (repodata ${bytesOf(plain.log, isRepodataJson)})`);
    t.diagnostic(`ratio sharded/repodata: ${(shardBytes / repodataBytes).toFixed(3)}`);
    assert.ok(shardBytes > 0 && repodataBytes > 0);
  });
});
