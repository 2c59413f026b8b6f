// Requests as raw bytes over a socket: fetch and undici normalise or refuse
// the malformed URLs and headers an attacker sends, so the hostile suite
// writes them itself and reads back the status line and body.
import assert from 'node:assert/strict';
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `head` (request line + headers, CRLF-joined by the caller or given as lines) and `body`, reads one response. */
export function rawRequest(url: string, head: string | string[], body: Buffer | string = '', timeoutMs = 10_000): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const text = Array.isArray(head) ? `${head.join('\r\n')}\r\n\r\n` : head;
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseResponse(Buffer.concat(chunks));
      if (parsed) resolve(parsed);
      else reject(new Error(`no HTTP response (got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 200))})`));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d) => {
      chunks.push(d);
      const parsed = parseResponse(Buffer.concat(chunks));
      if (parsed && parsed.complete) finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', () => finish());
    socket.write(text);
    if (body.length > 0) socket.write(body);
  });
}

function parseResponse(buf: Buffer): (RawResponse & { complete: boolean }) | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let rest = buf.subarray(end + 4);
  let complete = false;
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    complete = rest.length >= n;
    rest = rest.subarray(0, n);
  } else if (headers['transfer-encoding'] === 'chunked') {
    const decoded: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', at);
      if (eol < 0) break;
      const size = parseInt(rest.subarray(at, eol).toString('latin1'), 16);
      if (size === 0) { complete = true; break; }
      if (rest.length < eol + 2 + size) break;
      decoded.push(rest.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    rest = Buffer.concat(decoded);
  }
  return { status: Number(m[1]), headers, body: rest.toString('utf8'), complete };
}

/** A GET with the given raw target and extra header lines. */
export function rawGet(url: string, target: string, extra: string[] = []): Promise<RawResponse> {
  const { host } = new URL(url);
  return rawRequest(url, [`GET ${target} HTTP/1.1`, `Host: ${host}`, 'Connection: close', ...extra]);
}

/** A 4xx in our error format: `{"error": CODE, "message": …}`. */
export function assertRefused(r: RawResponse, what: string, status?: number): void {
  const label = `${what}: ${r.status} ${r.body.slice(0, 300)}`;
  if (status !== undefined) assert.equal(r.status, status, label);
  assert.ok(r.status >= 400 && r.status < 500, label);
  let body: { error?: unknown; message?: unknown };
  try {
    body = JSON.parse(r.body) as typeof body;
  } catch {
    assert.fail(`${label}: the body is not JSON`);
  }
  assert.match(String(body.error), /^[A-Z][A-Z_]+$/, label);
  assert.equal(typeof body.message, 'string', label);
}

export interface TrickleResult {
  /** The answer, if one arrived before the server closed the connection. */
  response: RawResponse | null;
  /** Milliseconds from connecting until the server answered or closed. */
  elapsedMs: number;
  /** Bytes of `payload` written before the server stopped us. */
  sentBytes: number;
}

/**
 * Writes `payload` in `chunkBytes` pieces, one every `everyMs`, as a slow or
 * hostile client does; stops when the server answers or closes, or after
 * `giveUpMs` (then `response` is null: the server held the connection open).
 */
export function trickle(url: string, payload: Buffer, opts: { chunkBytes: number; everyMs: number; giveUpMs: number }): Promise<TrickleResult> {
  const { hostname, port } = new URL(url);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let sent = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(writer);
      clearTimeout(giveUp);
      socket.destroy();
      const parsed = parseResponse(Buffer.concat(chunks));
      resolve({ response: parsed, elapsedMs: Date.now() - started, sentBytes: sent });
    };
    const writer = setInterval(() => {
      if (sent >= payload.length || !socket.writable) return;
      const piece = payload.subarray(sent, sent + opts.chunkBytes);
      sent += piece.length;
      socket.write(piece);
    }, opts.everyMs);
    const giveUp = setTimeout(finish, opts.giveUpMs);
    socket.on('data', (d) => {
      chunks.push(d);
      if (parseResponse(Buffer.concat(chunks))?.complete) finish();
    });
    socket.on('close', finish);
    socket.on('error', finish);
  });
}
