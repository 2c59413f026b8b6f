// Child process of bench/shards.ts: the upload → visible series, measured
// from a process of its own. In the bench's main process the client shared
// a heap of several hundred MB (the in-process indexing stage's leftovers)
// and its garbage collection paused the timing: its uploads took 23 ms
// (p50) where a small client process saw 12-14 ms against the same server.
//
// Input (stdin, JSON): SeriesInput. Output (stdout, one JSON line): SeriesOutput.
// For each package: upload it (raw body), then (a) poll the shard index
// every shardPollMs with If-None-Match, decoding each new one, until the
// name's shard hash changes; (b) from a worker thread
// (zst-watch-worker.ts), poll repodata.json.zst until a new one lists the
// file. Visible = headers of that answer, from the start of the upload. The
// next upload starts when both have seen the previous one.
import { decode } from '@msgpack/msgpack';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import { decompress } from 'zstd-napi';
import { uploadRaw, type UploadSource } from './http.js';
import type { WatchReply, WatchRequest } from './zst-watch-worker.js';

export interface SeriesInput {
  serverUrl: string;
  channel: string;
  subdir: string;
  token: string;
  packages: Array<UploadSource & { name: string }>;
  shardPollMs: number;
  repodataPollMs: number;
  timeoutMs: number;
  budgetS: number;
}
export interface SeriesOutput { uploadMs: number[]; shardVisibleMs: number[]; repodataVisibleMs: number[]; budgetReached: boolean }

const nowMs = () => performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const shardsOf = (body: Buffer) => (decode(decompress(body)) as { shards: Record<string, Uint8Array> }).shards;

function get(url: string, headers: Record<string, string>, agent: http.Agent): Promise<{ status: number; etag?: string; body: Buffer; headersMs: number }> {
  return new Promise((resolve, reject) => {
    const started = nowMs();
    const req = http.request(url, { headers, agent }, (res) => {
      const headersMs = nowMs() - started;
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag, body: Buffer.concat(chunks), headersMs }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

const input = JSON.parse(await readStdin()) as SeriesInput;
const base = `${input.serverUrl}/${input.channel}/${input.subdir}`;
const shardAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const zstAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const watcherSource = new URL('./zst-watch-worker.ts', import.meta.url).href;
// tsx is registered in the thread first: Node 20 does not carry it into workers.
const watcher = new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(watcherSource)}); })`, { eval: true });
const out: SeriesOutput = { uploadMs: [], shardVisibleMs: [], repodataVisibleMs: [], budgetReached: false };
try {
  let shardEtag = '"none"';
  let zstEtag = '"none"';
  const known = new Map<string, string>();
  const initial = await get(`${base}/repodata_shards.msgpack.zst`, {}, shardAgent);
  if (initial.status === 200) {
    shardEtag = initial.etag!;
    for (const [n, h] of Object.entries(shardsOf(initial.body))) known.set(n, hex(h));
  }
  const zst = await get(`${base}/repodata.json.zst`, {}, zstAgent);
  if (zst.status === 200) zstEtag = zst.etag!;
  const seriesStart = nowMs();
  for (const pkg of input.packages) {
    if (nowMs() - seriesStart > input.budgetS * 1000) {
      out.budgetReached = true;
      break;
    }
    const started = nowMs();
    const before = known.get(pkg.name);
    const up = await uploadRaw(input.serverUrl, input.channel, input.token, pkg);
    if (up.status !== 200) throw new Error(`upload of ${pkg.filename}: ${up.status} ${up.body}`);
    const shardSeen = (async () => {
      for (;;) {
        const pollStart = nowMs() - started;
        const r = await get(`${base}/repodata_shards.msgpack.zst`, { 'if-none-match': shardEtag }, shardAgent);
        if (r.status === 200) {
          shardEtag = r.etag!;
          for (const [n, h] of Object.entries(shardsOf(r.body))) known.set(n, hex(h));
          if (known.get(pkg.name) !== before) return pollStart + r.headersMs;
        } else if (r.status !== 304 && r.status !== 404) {
          throw new Error(`GET shard index: ${r.status}`);
        }
        if (nowMs() - started > input.timeoutMs) throw new Error(`${pkg.name}'s shard unchanged after ${input.timeoutMs} ms`);
        await sleep(input.shardPollMs);
      }
    })();
    const startedAt = performance.timeOrigin + started;
    const repodataSeen = new Promise<number>((resolve, reject) => {
      watcher.once('message', (reply: WatchReply) => {
        if ('error' in reply) return reject(new Error(reply.error));
        zstEtag = reply.etag;
        resolve(reply.seenAt - startedAt);
      });
      watcher.postMessage({
        url: `${base}/repodata.json.zst`, etag: zstEtag, needle: `"${pkg.filename}":`, pollMs: input.repodataPollMs, timeoutMs: input.timeoutMs,
      } satisfies WatchRequest);
    });
    const [shardMs, repodataMs] = await Promise.all([shardSeen, repodataSeen]);
    out.uploadMs.push(up.ms);
    out.shardVisibleMs.push(shardMs);
    out.repodataVisibleMs.push(repodataMs);
  }
} finally {
  shardAgent.destroy();
  zstAgent.destroy();
  await watcher.terminate();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
