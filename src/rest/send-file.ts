// Serves a stored object with a strong ETag. On a folder store @fastify/send
// does Range (including suffix ranges, `bytes=-65536` as rattler sends), HEAD,
// Last-Modified/If-Modified-Since and 206/416 straight from the file; other
// stores get the same answers from sendFromStore below, header for header.
// @fastify/send only knows weak ETags, so the ETag-based conditions
// (If-None-Match, If-Match, If-Range with an ETag) are decided here with
// strong comparison and the rest is passed on.
import send from '@fastify/send';
import parseRange from 'range-parser';
import fsp from 'node:fs/promises';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, Errors, type AppError } from '../errors.js';
import type { FileSource, ObjectStat, StoredFile } from '../core/serving.js';

function listMatches(header: string, etag: string, weak: boolean): boolean {
  if (header.trim() === '*') return true;
  const strip = (t: string) => (weak ? t.replace(/^W\//, '') : t);
  return header.split(',').map((t) => strip(t.trim())).includes(strip(etag));
}

type PassedOn = Record<string, string>;
interface SendResult {
  statusCode: number;
  headers: Record<string, string | number>;
  stream: NodeJS.ReadableStream | null;
}

export async function sendStoredFile(request: FastifyRequest, reply: FastifyReply, source: FileSource, file: StoredFile): Promise<FastifyReply> {
  const h = request.headers;
  const common = (r: FastifyReply) => {
    r.header('etag', file.etag).header('cache-control', file.cacheControl).header('content-type', file.contentType);
    if (file.vary) r.header('vary', file.vary);
    if (file.contentEncoding) r.header('content-encoding', file.contentEncoding);
    return r;
  };
  if (typeof h['if-match'] === 'string' && !listMatches(h['if-match'], file.etag, false)) {
    throw new Errors.PRECONDITION_FAILED('If-Match does not match the current version');
  }
  if (typeof h['if-none-match'] === 'string' && listMatches(h['if-none-match'], file.etag, true)) {
    common(reply).removeHeader('content-type');
    return reply.code(304).send();
  }
  const passOn: PassedOn = {};
  if (h['if-none-match'] === undefined && typeof h['if-modified-since'] === 'string') passOn['if-modified-since'] = h['if-modified-since'];
  if (h['if-match'] === undefined && typeof h['if-unmodified-since'] === 'string') passOn['if-unmodified-since'] = h['if-unmodified-since'];
  if (typeof h['cache-control'] === 'string') passOn['cache-control'] = h['cache-control'];
  if (typeof h.range === 'string') {
    const ifRange = typeof h['if-range'] === 'string' ? h['if-range'] : undefined;
    if (ifRange === undefined) passOn.range = h.range;
    else if (/^(W\/)?"/.test(ifRange)) {
      if (ifRange === file.etag) passOn.range = h.range; // strong match only (RFC 9110 §13.1.5)
    } else {
      passOn.range = h.range;
      passOn['if-range'] = ifRange; // an HTTP date: compared with Last-Modified
    }
  }
  let result: SendResult;
  let local: string | null = null;
  try {
    local = await source.localPath(file);
    result = local !== null
      ? await sendFromFile(local, request.method, passOn)
      : await sendFromStore(source, file.key, request.method, passOn);
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    return reply.code(err.error.statusCode).headers(err.headers).send(errorBody(err.error));
  }
  common(reply.code(result.statusCode).headers(result.headers));
  if (result.statusCode === 304) reply.removeHeader('content-type');
  const span = local !== null && result.stream !== null && request.method === 'GET' ? bodySpan(result) : null;
  if (span !== null && span.length >= BLOCKWISE_MIN_BYTES) {
    (result.stream as Readable).destroy();
    return sendBlockwise(reply, local!, span);
  }
  // An empty stream, not '': Fastify would replace Content-Length with 0 on HEAD.
  return reply.send(result.stream ?? Readable.from([]));
}

async function sendFromFile(path: string, method: string, passOn: PassedOn): Promise<SendResult> {
  const result = await send({ headers: passOn, method } as never, path, {
    etag: false, lastModified: true, acceptRanges: true, cacheControl: false, dotfiles: 'allow', index: false,
  });
  if (result.type === 'error') {
    const status = (result.metadata as { error?: { status?: number } }).error?.status ?? 500;
    if (status === 404) throw new Errors.NOT_FOUND('file not found');
    if (status === 416) {
      // Only Content-Range carries over: send's other headers describe its HTML error page.
      const contentRange = result.headers['Content-Range'];
      throw notSatisfiable(typeof contentRange === 'string' ? contentRange : null);
    }
    if (status === 412) throw unmodifiedSinceFailed();
    throw (result.metadata as { error?: Error }).error ?? new Error('send failed');
  }
  return { statusCode: result.statusCode, headers: result.headers as SendResult['headers'], stream: result.stream };
}

/** A catalogue error with headers of its answer (a 416's Content-Range). */
class Refusal extends Error {
  constructor(readonly error: AppError, readonly headers: Record<string, string> = {}) {
    super(error.message);
  }
}
const notSatisfiable = (contentRange: string | null) => new Refusal(new Errors.RANGE_NOT_SATISFIABLE(),
  contentRange ? { 'content-range': contentRange } : {});
const unmodifiedSinceFailed = () => new Refusal(new Errors.PRECONDITION_FAILED('the file changed since If-Unmodified-Since'));

// The same decisions @fastify/send makes (If-Unmodified-Since → 412,
// If-Modified-Since → 304 unless Cache-Control: no-cache, one byte range →
// 206, none satisfiable → 416, several → the whole object), for stores that
// are not files. HEAD and ranges look at the object's metadata first; a plain
// GET is one request. If the object is replaced between the two, try again:
// a range must come from the version whose size it was computed against.
async function sendFromStore(store: FileSource, key: string, method: string, passOn: PassedOn): Promise<SendResult> {
  for (let attempt = 0; ; attempt++) {
    const needsStat = method === 'HEAD' || passOn.range !== undefined;
    const opened = needsStat ? null : await store.read(key);
    const stat: ObjectStat | null = opened ?? (needsStat ? await store.stat(key) : null);
    if (stat === null) throw new Errors.NOT_FOUND('file not found');
    const lastModified = new Date(Math.floor(stat.mtimeMs / 1000) * 1000).toUTCString();
    const headers: SendResult['headers'] = { 'Accept-Ranges': 'bytes', 'Last-Modified': lastModified };
    const close = () => opened?.stream.destroy();
    const lm = Date.parse(lastModified);
    const ius = passOn['if-unmodified-since'] === undefined ? NaN : Date.parse(passOn['if-unmodified-since']);
    if (!Number.isNaN(ius) && lm > ius) {
      close();
      throw unmodifiedSinceFailed();
    }
    const ims = passOn['if-modified-since'];
    if (ims !== undefined && !(passOn['cache-control'] ?? '').includes('no-cache') && lm <= Date.parse(ims)) {
      close();
      return { statusCode: 304, headers, stream: null };
    }
    let range: { start: number; end: number } | null = null;
    if (passOn.range !== undefined && /^ *bytes=/.test(passOn.range) && rangeFresh(passOn['if-range'], lm)) {
      const ranges = parseRanges(stat.sizeBytes, passOn.range);
      if (ranges.length === 0) throw notSatisfiable(`bytes */${stat.sizeBytes}`);
      if (ranges.length === 1) range = ranges[0]!;
    }
    const length = range ? range.end - range.start + 1 : stat.sizeBytes;
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${stat.sizeBytes}`;
    headers['Content-Length'] = length;
    const statusCode = range ? 206 : 200;
    if (method === 'HEAD') return { statusCode, headers, stream: null };
    const body = opened ?? (await store.read(key, range ?? undefined));
    if (body === null) throw new Errors.NOT_FOUND('file not found');
    if (body.etag !== stat.etag && attempt < 2) {
      body.stream.destroy();
      continue;
    }
    return { statusCode, headers, stream: body.stream };
  }
}

function rangeFresh(ifRange: string | undefined, lastModified: number): boolean {
  if (ifRange === undefined) return true;
  const t = Date.parse(ifRange);
  return !Number.isNaN(t) && lastModified <= t;
}

/** @fastify/send's reading of a Range header: overlapping ranges merged; malformed = unsatisfiable. */
function parseRanges(size: number, header: string): Array<{ start: number; end: number }> {
  const ranges = parseRange(size, header, { combine: true });
  return typeof ranges === 'number' ? [] : ranges.map(({ start, end }) => ({ start, end }));
}

// ---------------------------------------------------------------------------
// Large bodies from a file, through a few reused buffers.
//
// A read stream allocates a fresh buffer for every block it reads, and V8
// counts those as external memory: sending one 32 MB repodata.json.zst made
// the server's main thread run a full mark-compact soon after (about 15 ms,
// freeing nothing of its 33 MB heap), which the next request paid for — at
// 465k records every second upload took 20-40 ms instead of 7-10 ms. Here
// a block is read into a buffer only after the socket has taken what that
// buffer held before (the write callback), two blocks in flight, and the
// buffers go back to a small pool for the next response.

/** Bodies from this size up are sent blockwise; smaller ones keep the read stream. */
export const BLOCKWISE_MIN_BYTES = 1 << 20;
const BLOCK_BYTES = 256 * 1024;
const POOLED_BLOCKS = 16;
const freeBlocks: Buffer[] = [];

interface Span { start: number; length: number }

/** The byte range a 200 or 206 answer from @fastify/send carries, from its own headers. */
function bodySpan(result: SendResult): Span | null {
  const length = Number(result.headers['Content-Length']);
  if (!Number.isSafeInteger(length) || length <= 0) return null;
  if (result.statusCode === 200) return { start: 0, length };
  if (result.statusCode !== 206) return null;
  const m = /^bytes (\d+)-(\d+)\/\d+$/.exec(String(result.headers['Content-Range'] ?? ''));
  if (!m || Number(m[2]) - Number(m[1]) + 1 !== length) return null;
  return { start: Number(m[1]), length };
}

async function sendBlockwise(reply: FastifyReply, file: string, span: Span): Promise<FastifyReply> {
  // Fastify's onResponse hooks (and its request log) still run on a hijacked reply.
  reply.hijack();
  const res = reply.raw;
  res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  let handle: fsp.FileHandle | null = null;
  try {
    handle = await fsp.open(file, 'r');
    await copyBlocks(handle, res, span);
    res.end();
  } catch (err) {
    // Headers are gone: all that is left is to cut the response short.
    if (!res.destroyed) reply.log.warn({ err }, 'file body cut short');
    res.destroy();
  } finally {
    await handle?.close();
  }
  return reply;
}

async function copyBlocks(handle: fsp.FileHandle, res: ServerResponse, span: Span): Promise<void> {
  const gone = new Promise<never>((_, reject) => {
    res.once('close', () => reject(new Error('the response closed before its body was written')));
  });
  gone.catch(() => {});
  const blocks = [freeBlocks.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES), freeBlocks.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES)];
  const writing: Array<Promise<void> | null> = [null, null];
  let pos = span.start;
  let left = span.length;
  for (let i = 0; left > 0; i++) {
    const k = i % 2;
    // This buffer is refilled only once the socket has taken its last block.
    if (writing[k]) await Promise.race([writing[k], gone]);
    const block = blocks[k]!;
    const { bytesRead } = await handle.read(block, 0, Math.min(BLOCK_BYTES, left), pos);
    if (bytesRead === 0) throw new Error('the file ended before its announced length');
    pos += bytesRead;
    left -= bytesRead;
    const w = new Promise<void>((resolve, reject) => {
      res.write(block.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve()));
    });
    w.catch(() => {});
    writing[k] = w;
  }
  await Promise.race([Promise.all(writing), gone]);
  // Only buffers whose writes completed go back: a cut response may still hold one.
  for (const b of blocks) if (freeBlocks.length < POOLED_BLOCKS) freeBlocks.push(b);
}
