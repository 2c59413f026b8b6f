// Serves a stored file with a strong ETag. @fastify/send does Range
// (including suffix ranges, `bytes=-65536` as rattler sends), HEAD,
// Last-Modified/If-Modified-Since and 206/416, but only knows weak ETags; the
// ETag-based conditions (If-None-Match, If-Match, If-Range with an ETag) are
// decided here with strong comparison and the rest is passed on.
import send from '@fastify/send';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../errors.js';

export interface StoredFile {
  path: string;
  etag: string;
  contentType: string;
  cacheControl: string;
  contentEncoding?: string;
  vary?: string;
}

function listMatches(header: string, etag: string, weak: boolean): boolean {
  if (header.trim() === '*') return true;
  const strip = (t: string) => (weak ? t.replace(/^W\//, '') : t);
  return header.split(',').map((t) => strip(t.trim())).includes(strip(etag));
}

export async function sendStoredFile(request: FastifyRequest, reply: FastifyReply, file: StoredFile): Promise<FastifyReply> {
  const h = request.headers;
  const common = (r: FastifyReply) => {
    r.header('etag', file.etag).header('cache-control', file.cacheControl).header('content-type', file.contentType);
    if (file.vary) r.header('vary', file.vary);
    if (file.contentEncoding) r.header('content-encoding', file.contentEncoding);
    return r;
  };
  if (typeof h['if-match'] === 'string' && !listMatches(h['if-match'], file.etag, false)) {
    return reply.code(412).send({ error: 'PRECONDITION_FAILED', message: 'If-Match does not match the current version' });
  }
  if (typeof h['if-none-match'] === 'string' && listMatches(h['if-none-match'], file.etag, true)) {
    common(reply).removeHeader('content-type');
    return reply.code(304).send();
  }
  const passOn: Record<string, string> = {};
  if (h['if-none-match'] === undefined && typeof h['if-modified-since'] === 'string') passOn['if-modified-since'] = h['if-modified-since'];
  if (h['if-match'] === undefined && typeof h['if-unmodified-since'] === 'string') passOn['if-unmodified-since'] = h['if-unmodified-since'];
  if (typeof h.range === 'string') {
    const ifRange = typeof h['if-range'] === 'string' ? h['if-range'] : undefined;
    if (ifRange === undefined) passOn.range = h.range;
    else if (/^(W\/)?"/.test(ifRange)) {
      if (ifRange === file.etag) passOn.range = h.range; // strong match only (RFC 9110 §13.1.5)
    } else {
      passOn.range = h.range;
      passOn['if-range'] = ifRange; // an HTTP date: @fastify/send compares it with Last-Modified
    }
  }
  const result = await send({ headers: passOn, method: request.method } as never, file.path, {
    etag: false, lastModified: true, acceptRanges: true, cacheControl: false, dotfiles: 'allow', index: false,
  });
  if (result.type === 'error') {
    const status = (result.metadata as { error?: { status?: number } }).error?.status ?? 500;
    if (status === 404) throw new Errors.NOT_FOUND('file not found');
    if (status === 416) {
      // Only Content-Range carries over: send's other headers describe its HTML error page.
      const contentRange = result.headers['Content-Range'];
      if (typeof contentRange === 'string') reply.header('content-range', contentRange);
      return reply.code(416).send({ error: 'RANGE_NOT_SATISFIABLE', message: 'the requested range is not satisfiable' });
    }
    if (status === 412) return reply.code(412).send({ error: 'PRECONDITION_FAILED', message: 'the file changed since If-Unmodified-Since' });
    throw (result.metadata as { error?: Error }).error ?? new Error('send failed');
  }
  common(reply.code(result.statusCode).headers(result.headers));
  if (result.statusCode === 304) reply.removeHeader('content-type');
  return reply.send(result.stream);
}
