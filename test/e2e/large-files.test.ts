// Large bodies (from 1 MiB) are sent from a file through a few reused
// buffers (rest/send-file.ts). What must hold: the bytes are exactly the
// file's for the whole file and for ranges that cross block boundaries,
// under backpressure and with several responses sharing the buffer pool at
// once; a client that goes away mid-body costs nothing to the next one.
// Packages made by conda-package-handling (cph) with an incompressible payload.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { upload } from '../helpers/access.js';
import { makePackages, type MadePackage } from '../helpers/make-packages.js';
import { startServer, tempDataDir, type TestServer } from '../helpers/server.js';

const CHANNEL = 'large';
let server: TestServer;
let made: MadePackage[];
let workDir: string;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** GET with node:http; `slow` pauses the reader after every chunk, so the server meets backpressure. */
function get(urlPath: string, headers: Record<string, string> = {}, slow = false): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        chunks.push(d);
        if (slow) {
          res.pause();
          setTimeout(() => res.resume(), 2);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const urlOf = (p: MadePackage) => `/${CHANNEL}/${p.subdir}/${p.filename}`;

before(async () => {
  workDir = tempDataDir('channeld-large-');
  // Sizes not a multiple of the 256 KiB block, above the 1 MiB threshold.
  made = await makePackages(path.join(workDir, 'pkgs'), [
    { name: 'bigone', version: '1.0', build: '0', subdir: 'noarch', format: 'conda', payloadBytes: 3_000_017, zstdLevel: 1 },
    { name: 'bigtwo', version: '1.0', build: '0', subdir: 'noarch', format: 'tar.bz2', payloadBytes: 2_100_003 },
  ]);
  for (const p of made) assert.ok(p.sizeBytes > 1 << 20, `${p.filename} is only ${p.sizeBytes} bytes`);
  server = await startServer();
  await server.core.channels.create(CHANNEL, server.admin.id, { isPublic: true });
  for (const p of made) assert.equal((await upload(server.url, CHANNEL, p, server.adminKey)).status, 200, p.filename);
});

after(async () => {
  await server?.close();
  for (const d of [server?.dataDir, workDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

describe('large files', () => {
  it('sends the whole file, byte for byte, with its length', async () => {
    for (const p of made) {
      const r = await get(urlOf(p));
      assert.equal(r.status, 200);
      assert.equal(Number(r.headers['content-length']), p.sizeBytes);
      assert.equal(r.headers.etag, `"${p.sha256}"`);
      assert.equal(sha256(r.body), p.sha256);
    }
  });

  it('sends ranges that cross block boundaries, and suffix ranges', async () => {
    const p = made[0]!;
    const bytes = fs.readFileSync(p.file);
    for (const [range, start, end] of [
      ['bytes=100000-1500000', 100000, 1500000],
      [`bytes=262143-${p.sizeBytes - 1}`, 262143, p.sizeBytes - 1],
      ['bytes=-1300000', p.sizeBytes - 1300000, p.sizeBytes - 1],
    ] as const) {
      const r = await get(urlOf(p), { range });
      assert.equal(r.status, 206, range);
      assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${p.sizeBytes}`);
      assert.ok(r.body.equals(bytes.subarray(start, end + 1)), `${range}: other bytes`);
    }
  });

  it('keeps every body intact when slow readers share the buffers at once', async () => {
    const answers = await Promise.all([0, 1, 0, 1, 0, 1].map((i, n) => get(urlOf(made[i]!), {}, n % 2 === 0).then((r) => ({ i, r }))));
    for (const { i, r } of answers) assert.equal(sha256(r.body), made[i]!.sha256, `${made[i]!.filename}: other bytes`);
  });

  it('a client that leaves mid-body does not disturb the next one', async () => {
    const { hostname, port } = new URL(server.url);
    for (let n = 0; n < 5; n++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ host: hostname, port, path: urlOf(made[0]!), agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
        req.end();
      });
    }
    const r = await get(urlOf(made[0]!));
    assert.equal(sha256(r.body), made[0]!.sha256);
    assert.equal((await get(`/${CHANNEL}/noarch/repodata.json`)).status, 200);
  });

  it('answers HEAD with the length and no body', async () => {
    const { hostname, port } = new URL(server.url);
    const r = await new Promise<{ status: number; length: number; body: number }>((resolve, reject) => {
      const req = http.request({ host: hostname, port, path: urlOf(made[0]!), method: 'HEAD', agent: false }, (res) => {
        let body = 0;
        res.on('data', (d: Buffer) => (body += d.length));
        res.on('end', () => resolve({ status: res.statusCode!, length: Number(res.headers['content-length']), body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(r, { status: 200, length: made[0]!.sizeBytes, body: 0 });
  });
});
