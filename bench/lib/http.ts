// The HTTP side of the benchmarks: uploads the way clients send them (a raw
// body streamed from disk, or multipart like rattler's upload), and a
// spawned server that is always stopped.
import fs from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { spawnServer, type ChildServer } from '../../test/helpers/server.js';
import { msSince, onCleanup } from './common.js';

export interface UploadSource {
  filename: string;
  sizeBytes: number;
  sha256: string;
  /** A file streamed from disk, or bytes already in memory. */
  file?: string;
  bytes?: Buffer;
}

export interface UploadTiming {
  status: number;
  body: string;
  /** Request start → response fully read. */
  ms: number;
  /** Request start → last body byte handed to the socket. */
  sentMs: number;
}

const bodyChunks = (src: UploadSource): AsyncIterable<Buffer> | Buffer[] =>
  src.bytes ? [src.bytes] : (fs.createReadStream(src.file!, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>);

function send(url: string, headers: Record<string, string | number>, body: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<UploadTiming> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let sentMs = NaN;
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: msSince(started), sentMs }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('finish', () => (sentMs = msSince(started)));
    const stream = Readable.from(body);
    stream.on('error', (err) => req.destroy(err));
    stream.pipe(req);
  });
}

/** POST /api/v1/upload/<channel> with the package as the raw body (X-File-Name, X-File-SHA256). */
export function uploadRaw(baseUrl: string, channel: string, token: string, src: UploadSource, force = false): Promise<UploadTiming> {
  return send(`${baseUrl}/api/v1/upload/${channel}${force ? '?force=true' : ''}`, {
    authorization: `Bearer ${token}`,
    'content-type': 'application/octet-stream',
    'content-length': src.sizeBytes,
    'x-file-name': src.filename,
    'x-file-sha256': src.sha256,
  }, bodyChunks(src));
}

/** The same upload as multipart/form-data with one `file` part, as rattler-build / pixi send it. */
export function uploadMultipart(baseUrl: string, channel: string, token: string, src: UploadSource, force = false): Promise<UploadTiming> {
  const boundary = `----channeld-bench-${Date.now().toString(36)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${src.filename}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* body(): AsyncGenerator<Buffer> {
    yield head;
    yield* bodyChunks(src);
    yield tail;
  }
  return send(`${baseUrl}/api/v1/upload/${channel}${force ? '?force=true' : ''}`, {
    authorization: `Bearer ${token}`,
    'content-type': `multipart/form-data; boundary=${boundary}`,
    'content-length': head.length + src.sizeBytes + tail.length,
  }, body());
}

/** One request, whole body read; for latency probes. */
export function request(url: string, opts: { method?: string; headers?: Record<string, string>; agent?: http.Agent } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; headersMs: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: opts.agent ?? false }, (res) => {
      const headersMs = msSince(started);
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), headersMs, ms: msSince(started) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** spawnServer(), stopped (SIGTERM, then SIGKILL after 20 s) when the script ends. */
export async function spawnBenchServer(dataDir: string, env: Record<string, string> = {}): Promise<ChildServer> {
  const server = await spawnServer(dataDir, { CHANNELD_LOG_LEVEL: 'warn', ...env });
  onCleanup(() => stopServer(server));
  return server;
}

export async function stopServer(server: ChildServer): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const killer = setTimeout(() => server.child.kill('SIGKILL'), 20_000);
  await server.stop('SIGTERM');
  clearTimeout(killer);
}
