// Slow clients, over real sockets: a request whose headers or body trickle
// in (one byte every few hundred ms, as slowloris does) is cut with a 408
// instead of holding a connection forever, while an upload that keeps a
// reasonable rate is never cut however long it takes. The deadlines are made
// small through the same CHANNELD_* settings an operator would use.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixturePackages } from '../helpers/fixtures.js';
import { gql } from '../helpers/graphql.js';
import { startHostileServer, storedPackageFiles, type HostileServer } from './harness.js';
import { trickle } from './raw-http.js';

const HEADERS_TIMEOUT_MS = 1000;
const BODY_TIMEOUT_MS = 1000;
const WINDOW_MS = 500;
const MIN_BYTES_PER_WINDOW = 8 * 1024;

describe('slow clients', () => {
  let s: HostileServer;
  const pkg = fixturePackages().find((p) => p.filename === 'zlib-1.2.11-h7b6447c_3.tar.bz2')!;

  before(async () => {
    s = await startHostileServer({
      CHANNELD_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      CHANNELD_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
      CHANNELD_UPLOAD_RATE_WINDOW_MS: String(WINDOW_MS),
      CHANNELD_UPLOAD_MIN_BYTES_PER_WINDOW: String(MIN_BYTES_PER_WINDOW),
    });
    const made = await gql(s, 'mutation { createChannel(name: "slow", isPublic: true) { channel { name } } }', undefined, s.adminKey);
    assert.equal(made.body.errors, undefined, JSON.stringify(made.body));
  });
  after(async () => {
    await s?.stop();
  });

  const tempFiles = () => {
    const dir = path.join(s.dataDir, 'tmp');
    return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  };

  function assertCut(r: Awaited<ReturnType<typeof trickle>>, what: string, withinMs: number) {
    assert.ok(r.elapsedMs < withinMs, `${what}: held open ${r.elapsedMs} ms (sent ${r.sentBytes} bytes)`);
    if (r.response !== null) {
      assert.equal(r.response.status, 408, `${what}: ${r.response.status} ${r.response.body}`);
      assert.equal(JSON.parse(r.response.body).error, 'REQUEST_TIMEOUT', what);
    }
  }

  it('headers that trickle in are cut after the headers deadline', async () => {
    const heads = [
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200),
      'POST /api/graphql HTTP/1.1\r\nHost: x\r\n' + 'X-A: b\r\n'.repeat(50),
      'GET /slow/noarch/repodata.json HTTP/1.1\r\n',
      'G',
    ];
    for (const head of heads) {
      const r = await trickle(s.url, Buffer.from(head), { chunkBytes: 1, everyMs: 100, giveUpMs: 8000 });
      assertCut(r, `headers ${JSON.stringify(head.slice(0, 30))}`, HEADERS_TIMEOUT_MS + 2500);
      assert.notEqual(r.response, null, 'a 408 answer');
      await s.assertHealthy();
    }
  });

  it('a non-upload body that trickles in is cut after the body deadline', async () => {
    const gqlBody = JSON.stringify({ query: '{ channels { name } }' }).padEnd(2000, ' ');
    const bodies: Array<[string, string, string]> = [
      ['/api/graphql', 'application/json', gqlBody],
      ['/api/session', 'application/json', JSON.stringify({ login: 'admin', password: 'x'.repeat(500) })],
      ['/api/oidc/mint_token', 'application/json', JSON.stringify({ token: 'x'.repeat(1000) })],
      ['/api/v1/reindex/slow/noarch', 'application/json', '{}'.padEnd(500, ' ')],
      ['/no/such/route', 'text/plain', 'x'.repeat(500)],
    ];
    for (const [route, type, body] of bodies) {
      const head = `POST ${route} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
      // The headers arrive at once; the body one byte every 100 ms.
      const payload = Buffer.concat([Buffer.from(head), Buffer.from(body)]);
      const r = await trickle(s.url, payload, { chunkBytes: 1, everyMs: 100, giveUpMs: 8000 });
      if (r.response?.status !== 408) {
        // Some routes answer before reading the body (404, 401): still not held open.
        assert.ok(r.response === null || r.response.status < 500, `${route}: ${r.response?.status} ${r.response?.body}`);
      }
      assertCut(r, `POST ${route}`, BODY_TIMEOUT_MS + 2500);
      await s.assertHealthy();
    }
  });

  it('an upload below the minimum rate is cut, and nothing of it remains', async () => {
    const body = fs.readFileSync(pkg.file);
    for (const [what, head] of [
      ['octet-stream', `POST /api/v1/upload/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.adminKey}\r\nContent-Type: application/octet-stream\r\nX-File-Name: ${pkg.filename}\r\nContent-Length: ${body.length}\r\n\r\n`],
      ['multipart', `POST /api/v1/upload/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.adminKey}\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: ${body.length + 200}\r\n\r\n--XX\r\nContent-Disposition: form-data; name="file"; filename="${pkg.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`],
    ] as const) {
      const payload = Buffer.concat([Buffer.from(head), body]);
      // 1 KiB every 250 ms: 2 KiB a window, a quarter of the minimum.
      const r = await trickle(s.url, payload, { chunkBytes: 1024, everyMs: 250, giveUpMs: 10_000 });
      assertCut(r, `slow ${what} upload`, 3 * WINDOW_MS + 2500);
      assert.ok(r.sentBytes < payload.length, `${what}: the whole upload was let through`);
      await s.assertHealthy();
    }
    assert.deepEqual(storedPackageFiles(s.dataDir, 'slow'), []);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(tempFiles(), [], 'temp files of cut uploads are removed');
  });

  it('an upload above the minimum rate may take longer than any body deadline', async () => {
    const body = fs.readFileSync(pkg.file);
    const head = `POST /api/v1/upload/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.adminKey}\r\nContent-Type: application/octet-stream\r\nX-File-Name: ${pkg.filename}\r\nX-File-SHA256: ${pkg.sha256}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    // 8 KiB every 200 ms: 20 KiB a window, over twice the minimum; ~3 s in all.
    const r = await trickle(s.url, Buffer.concat([Buffer.from(head), body]), { chunkBytes: 8 * 1024, everyMs: 200, giveUpMs: 20_000 });
    assert.equal(r.response?.status, 200, `${r.response?.status} ${r.response?.body}`);
    assert.ok(r.elapsedMs > BODY_TIMEOUT_MS * 2, `the upload took only ${r.elapsedMs} ms; the test proves nothing`);
    const served = await fetch(`${s.url}/slow/${pkg.folder}/${pkg.filename}`);
    assert.equal(served.status, 200);
    assert.equal(Buffer.from(await served.arrayBuffer()).length, body.length);
    await s.assertHealthy();
  });
});
