// Reading a channel's index files the way a client does, with decoders of
// the tests' own: fzstd (pure JS; the server compresses with zstd-napi) and
// test/helpers/msgpack.ts (the server encodes with @msgpack/msgpack).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { decompress } from 'fzstd';
import { rattlerUpload } from './clients.js';
import type { FixturePackage } from './fixtures.js';
import { decodeMsgpack, type DecodeOptions } from './msgpack.js';
import { waitFor, type TestServer } from './server.js';

export interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request over node:http: fetch would add its own Accept-Encoding and
 * decode bodies, hiding exactly what these tests look at.
 */
export function request(base: string, urlPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Res> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: urlPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      // A body cut short of its Content-Length ends here, not in 'end'.
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export const unzstd = (b: Uint8Array): Buffer => Buffer.from(decompress(new Uint8Array(b)));

export const readZstMsgpack = (b: Uint8Array, opts?: DecodeOptions): unknown => decodeMsgpack(unzstd(b), opts);

export type Json = Record<string, unknown>;

export interface ShardIndex {
  info: Record<string, unknown>;
  shards: Record<string, Buffer>;
}

export interface Shard {
  packages: Record<string, Json>;
  'packages.conda': Record<string, Json>;
  removed?: string[];
}

export interface Repodata {
  info: Json;
  packages: Record<string, Json>;
  'packages.conda': Record<string, Json>;
  removed: string[];
  repodata_version: number;
}

/** A shard record as repodata.json carries it: md5/sha256 back to hex, without the CEP-21 run_exports. */
export function asRepodataRecord(record: Json): Json {
  const out: Json = { ...record };
  delete out.run_exports;
  for (const k of ['md5', 'sha256']) {
    if (Buffer.isBuffer(out[k])) out[k] = (out[k] as Buffer).toString('hex');
  }
  return out;
}

export const channelPath = (channel: string, subdir: string, file: string) => `/${channel}/${subdir}/${file}`;

export async function getRepodata(base: string, channel: string, subdir: string): Promise<Repodata> {
  const r = await request(base, channelPath(channel, subdir, 'repodata.json'));
  assert.equal(r.status, 200, `${channel}/${subdir}/repodata.json: ${r.status}`);
  return JSON.parse(r.body.toString('utf8')) as Repodata;
}

export async function getShardIndex(base: string, channel: string, subdir: string): Promise<ShardIndex | null> {
  const r = await request(base, channelPath(channel, subdir, 'repodata_shards.msgpack.zst'));
  if (r.status === 404) return null;
  assert.equal(r.status, 200, `${channel}/${subdir}/repodata_shards.msgpack.zst: ${r.status}`);
  return readZstMsgpack(r.body) as ShardIndex;
}

/** The shard `hash` names, fetched the way rattler and conda resolve it: shards_base_url relative to the index URL. */
export async function getShard(base: string, channel: string, subdir: string, index: ShardIndex, hash: Buffer): Promise<{ res: Res; shard: Shard }> {
  const indexUrl = new URL(channelPath(channel, subdir, 'repodata_shards.msgpack.zst'), base);
  const url = new URL(`${hash.toString('hex')}.msgpack.zst`, new URL(String(index.info.shards_base_url), indexUrl));
  const res = await request(base, url.pathname);
  assert.equal(res.status, 200, `${url.pathname}: ${res.status}`);
  return { res, shard: readZstMsgpack(res.body) as Shard };
}

export async function uploadFile(server: TestServer, channel: string, pkg: { file: string; filename: string }): Promise<void> {
  const r = await rattlerUpload(server.url, channel, pkg, server.adminKey);
  assert.equal(r.status, 200, `${pkg.filename}: ${await r.text()}`);
}

/** Uploads the packages, then waits until every subdir's repodata.json and shard index list them all. */
export async function uploadAndIndex(server: TestServer, channel: string, packages: FixturePackage[], timeoutMs = 15_000): Promise<void> {
  for (const pkg of packages) await uploadFile(server, channel, pkg);
  for (const subdir of new Set(packages.map((p) => p.folder))) {
    const files = packages.filter((p) => p.folder === subdir).map((p) => p.filename).sort();
    const names = [...new Set(packages.filter((p) => p.folder === subdir).map((p) => p.name))].sort();
    await waitFor(async () => {
      const doc = await getRepodata(server.url, channel, subdir).catch(() => null);
      const index = await getShardIndex(server.url, channel, subdir);
      if (!doc || !index) return false;
      const listed = [...Object.keys(doc.packages), ...Object.keys(doc['packages.conda'])].sort();
      return JSON.stringify(listed) === JSON.stringify(files) && JSON.stringify(Object.keys(index.shards).sort()) === JSON.stringify(names);
    }, timeoutMs);
  }
}
