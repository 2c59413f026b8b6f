// Worker thread of bench/lib/upload-series.ts: waits until repodata.json.zst lists a
// file. Each new .zst is downloaded and decompressed (193 MB at 465k
// records); done in the measuring thread, that work and the garbage it
// leaves paused the thread timing the next upload. Times are epoch
// milliseconds (performance.timeOrigin + now), comparable across threads.
import http from 'node:http';
import { parentPort } from 'node:worker_threads';
import { decompress } from 'zstd-napi';

export interface WatchRequest { url: string; etag: string; needle: string; pollMs: number; timeoutMs: number }
export type WatchReply = { seenAt: number; etag: string } | { error: string };

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const now = () => performance.timeOrigin + performance.now();

function get(url: string, etag: string): Promise<{ status: number; etag: string | undefined; body: Buffer; headersAt: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers: { 'if-none-match': etag }, agent }, (res) => {
      const headersAt = now();
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag, body: Buffer.concat(chunks), headersAt }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

parentPort!.on('message', (w: WatchRequest) => {
  void (async (): Promise<WatchReply> => {
    const started = now();
    let etag = w.etag;
    const needle = Buffer.from(w.needle);
    for (;;) {
      const r = await get(w.url, etag);
      if (r.status === 200) {
        etag = r.etag!;
        if (decompress(r.body).includes(needle)) return { seenAt: r.headersAt, etag };
      } else if (r.status !== 304 && r.status !== 404) {
        return { error: `GET repodata.json.zst: ${r.status}` };
      }
      if (now() - started > w.timeoutMs) return { error: `${w.needle} not in repodata.json.zst after ${w.timeoutMs} ms` };
      await new Promise((res) => setTimeout(res, w.pollMs));
    }
  })().catch((err: unknown) => ({ error: String(err) })).then((reply) => parentPort!.postMessage(reply));
});
