// Reading a channel the way conda, mamba and rattler do: repodata.json with
// and without gzip and with revalidation (If-None-Match / If-Modified-Since),
// HEAD probes, and package downloads by suffix Range + If-Range (rattler
// reads a .conda's zip directory from its last 64 KiB first).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { rattlerUpload } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';
import { putByHand } from '../helpers/storage.js';
import { packageKey } from '../../src/storage/keys.js';

const CHANNEL = 'serve';
const byName = (f: string) => fixturePackages().find((p) => p.filename === f)!;
const big = byName('zlib-1.2.11-h7b6447c_3.conda'); // 105917 bytes, more than 64 KiB
const noarchConda = byName('dependency-2.0-0.conda');
const noarchTarBz2 = byName('flask-0.11.1-py_0.tar.bz2');
const neverUploaded = byName('dependency-1.0-0.conda');
const bigBytes = fs.readFileSync(big.file);

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

// node:http, not fetch: fetch adds its own Accept-Encoding and decodes
// bodies, which would hide exactly what these tests look at.
function request(urlPath: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Res> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: urlPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const repodataPath = (subdir: string) => `/${CHANNEL}/${subdir}/repodata.json`;
const packagePath = (p: { folder: string; filename: string }) => `/${CHANNEL}/${p.folder}/${p.filename}`;

function assertJsonError(res: Res, status: number): void {
  assert.equal(res.status, status);
  const body = JSON.parse(res.body.toString('utf8')) as { error?: string; message?: string };
  assert.match(body.error ?? '', /^[A-Z_]+$/);
  assert.ok((body.message ?? '').length > 0);
}

let server: TestServer;

before(async () => {
  server = await startServer();
  await server.core.channels.create(CHANNEL, server.admin.id, { isPublic: true });
  for (const pkg of [big, noarchConda, noarchTarBz2]) {
    const r = await rattlerUpload(server.url, CHANNEL, pkg, server.adminKey);
    assert.equal(r.status, 200, await r.text());
  }
  await waitFor(async () => {
    const [noarch, linux] = await Promise.all([request(repodataPath('noarch')), request(repodataPath('linux-64'))]);
    return noarch.body.includes(noarchTarBz2.filename) && noarch.body.includes(noarchConda.filename) && linux.body.includes(big.filename);
  });
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('repodata.json', () => {
  it('is gzip-encoded only when the client accepts it, with the same JSON either way', async () => {
    const plain = await request(repodataPath('noarch'));
    const gzip = await request(repodataPath('noarch'), { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(plain.status, 200);
    assert.equal(gzip.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.match(plain.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(gunzipSync(gzip.body).toString('utf8'), plain.body.toString('utf8'));
    const doc = JSON.parse(plain.body.toString('utf8')) as { 'packages.conda': Record<string, unknown> };
    assert.ok(doc['packages.conda'][noarchConda.filename]);
    for (const r of [plain, gzip]) assert.match(String(r.headers.vary), /accept-encoding/i);
  });

  it('has a strong ETag per encoding, Last-Modified and a max-age', async () => {
    const plain = await request(repodataPath('noarch'));
    const gzip = await request(repodataPath('noarch'), { 'Accept-Encoding': 'gzip' });
    for (const r of [plain, gzip]) {
      assert.match(r.headers.etag ?? '', /^"[^"]+"$/, 'strong, not W/');
      assert.ok(r.headers['last-modified']);
      assert.match(r.headers['cache-control'] ?? '', /max-age=\d+/);
    }
    // Different bytes, so a strong validator must differ (RFC 9110 §8.8.3).
    assert.notEqual(plain.headers.etag, gzip.headers.etag);
  });

  it('answers 304 to If-None-Match and to If-Modified-Since', async () => {
    const first = await request(repodataPath('noarch'), { 'Accept-Encoding': 'gzip' });
    const byEtag = await request(repodataPath('noarch'), { 'Accept-Encoding': 'gzip', 'If-None-Match': first.headers.etag! });
    assert.equal(byEtag.status, 304);
    assert.equal(byEtag.body.length, 0);
    assert.equal(byEtag.headers.etag, first.headers.etag);
    const byDate = await request(repodataPath('noarch'), { 'If-Modified-Since': first.headers['last-modified']! });
    assert.equal(byDate.status, 304);
    assert.equal(byDate.body.length, 0);
    const stale = await request(repodataPath('noarch'), { 'If-None-Match': '"not-the-current-one"' });
    assert.equal(stale.status, 200);
  });

  it('answers HEAD with the length and no body', async () => {
    const get = await request(repodataPath('noarch'));
    const head = await request(repodataPath('noarch'), {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), get.body.length);
    assert.equal(head.headers.etag, get.headers.etag);
    assert.equal(head.body.length, 0);
  });
});

describe('package files', () => {
  it('serves the bytes that were uploaded, with ETag = "<sha256>"', async () => {
    for (const pkg of [big, noarchConda, noarchTarBz2]) {
      const r = await request(packagePath(pkg));
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), pkg.sha256);
      assert.equal(r.headers.etag, `"${pkg.sha256}"`);
    }
  });

  it('answers HEAD with the length and no body', async () => {
    const head = await request(packagePath(big), {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), big.sizeBytes);
    assert.equal(head.body.length, 0);
  });

  it("serves rattler's suffix range: the last 64 KiB", async () => {
    const r = await request(packagePath(big), { Range: 'bytes=-65536' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes ${big.sizeBytes - 65536}-${big.sizeBytes - 1}/${big.sizeBytes}`);
    assert.ok(r.body.equals(bigBytes.subarray(big.sizeBytes - 65536)));
  });

  it('serves a leading range', async () => {
    const r = await request(packagePath(big), { Range: 'bytes=0-99' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 0-99/${big.sizeBytes}`);
    assert.ok(r.body.equals(bigBytes.subarray(0, 100)));
  });

  it('honours If-Range: the current ETag gets the range, a stale one the whole file', async () => {
    const current = await request(packagePath(big), { Range: 'bytes=-65536', 'If-Range': `"${big.sha256}"` });
    assert.equal(current.status, 206);
    assert.equal(current.body.length, 65536);
    const stale = await request(packagePath(big), { Range: 'bytes=-65536', 'If-Range': `"${'0'.repeat(64)}"` });
    assert.equal(stale.status, 200);
    assert.equal(sha256(stale.body), big.sha256);
  });

  it('answers 416 to a range past the end', async () => {
    const r = await request(packagePath(big), { Range: `bytes=${big.sizeBytes + 10}-${big.sizeBytes + 20}` });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], `bytes */${big.sizeBytes}`);
  });
});

describe('what is not there', () => {
  it('answers 404 JSON for an unknown package, subdir or channel', async () => {
    assertJsonError(await request(`/${CHANNEL}/noarch/nothing-1.0-0.conda`), 404);
    assertJsonError(await request(`/${CHANNEL}/linux-aarch64/repodata.json`), 404);
    assertJsonError(await request(`/${CHANNEL}/not_a_subdir/repodata.json`), 404);
    assertJsonError(await request(`/no-such-channel/noarch/repodata.json`), 404);
    assertJsonError(await request(`/no-such-channel/noarch/${noarchConda.filename}`), 404);
  });

  it('does not serve a package file that was put on disk without an upload', async () => {
    const key = packageKey(CHANNEL, 'noarch', neverUploaded.filename);
    await putByHand(server.core.store, key, neverUploaded.file);
    try {
      assertJsonError(await request(packagePath(neverUploaded)), 404);
      assert.equal((await request(packagePath(neverUploaded), {}, 'HEAD')).status, 404);
    } finally {
      await server.core.store.delete(key);
    }
  });

  it('does not serve /api/… as a channel', async () => {
    assertJsonError(await request('/api/x/y'), 404);
    assertJsonError(await request('/api/noarch/repodata.json'), 404);
  });

  it('does not serve a reserved name as a channel even when a row by that name exists', async () => {
    // A channel row named "api" (written before the name was reserved, or by
    // another tool): its files must still not be reachable under /api/.
    const api = await server.core.repos.channels.create({ name: 'api', ownerId: server.admin.id, isPublic: true, description: null });
    assert.ok(api);
    await server.core.indexer.indexNow({ channelId: api.id, channel: 'api', subdir: 'noarch' });
    assertJsonError(await request('/api/noarch/repodata.json'), 404);
  });
});
