// Faults are named truthfully (issue 14 §4), against a real server process:
//   - a client's malformed multipart body is a 400 with a code, whatever the
//     parser tripped on;
//   - storage that cannot take an upload is the server's fault: a full disk
//     (a real tmpfs, filled) answers 507 INSUFFICIENT_STORAGE, a read-only
//     upload folder (a real read-only bind mount) or an unreachable bucket
//     503 STORAGE_UNAVAILABLE, each logged at error level, never as a client that went away;
//   - an error that escapes everything is logged through the server's logger
//     (keys redacted), and an uncaught exception ends the process non-zero.
// Each refusal keeps nothing: no temp file, no row, no intent, the index as
// it was, the file not served; the server healthy afterwards.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { queryRows, storageEnv, testStorage } from '../helpers/backends.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { makePackages, type MadePackage } from '../helpers/make-packages.js';
import { freePort, tempDataDir, waitFor } from '../helpers/server.js';
import { escapedError, startHostileServer, storedPackageFiles, type HostileServer } from './harness.js';
import { assertRefused, rawRequest } from './raw-http.js';

const CHANNEL = 'faults';
const conda = fixturePackages().find((p) => p.filename === 'dependency-1.0-0.conda')!;
const condaBytes = fs.readFileSync(conda.file);
const seed = fixturePackages().find((p) => p.filename === 'flask-0.11.1-py_0.tar.bz2')!;

interface Answer {
  status: number;
  text: string;
}

// node:http, not fetch: an answer that arrives while the body is still going
// out (the server stopped reading at a failed write) is still read.
function post(url: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request({ host: hostname, port, method: 'POST', path: `/api/v1/upload/${CHANNEL}`, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(body);
  });
}

function rawUpload(s: HostileServer, filename: string, bytes: Buffer): Promise<Answer> {
  return post(s.url, { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/octet-stream', 'x-file-name': filename }, bytes);
}

async function multipartUpload(s: HostileServer, filename: string, bytes: Buffer): Promise<Answer> {
  const form = new FormData();
  form.append('file', new Blob([bytes]), filename);
  const encoded = new Response(form);
  const body = Buffer.from(await encoded.arrayBuffer());
  return post(s.url, { authorization: `Bearer ${s.adminKey}`, 'content-type': encoded.headers.get('content-type')! }, body);
}

async function graphql(s: HostileServer, query: string): Promise<void> {
  const r = await fetch(`${s.url}/api/graphql`, {
    method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ query }),
  });
  const body = (await r.json()) as { errors?: unknown };
  assert.equal(body.errors, undefined, JSON.stringify(body));
}

/** A channel with one package in it, indexed: "unchanged" then means more than "empty". */
async function seedChannel(s: HostileServer): Promise<void> {
  await graphql(s, `mutation { createChannel(name: "${CHANNEL}", isPublic: true) { channel { name } } }`);
  const r = await rawUpload(s, seed.filename, fs.readFileSync(seed.file));
  assert.equal(r.status, 200, r.text);
  await waitFor(async () => (await repodata(s, 'noarch')).includes(seed.filename), 10_000);
}

async function repodata(s: HostileServer, subdir: string): Promise<string> {
  const r = await fetch(`${s.url}/${CHANNEL}/${subdir}/repodata.json`);
  return `${r.status} ${await r.text()}`;
}

function tmpFiles(s: HostileServer): string[] {
  const tmp = path.join(s.dataDir, 'tmp');
  return fs.existsSync(tmp) ? fs.readdirSync(tmp) : [];
}

/** Everything a refused upload could leave behind. */
async function snapshot(s: HostileServer): Promise<unknown> {
  return {
    rows: await queryRows(s.dataDir, 'SELECT subdir, filename FROM packages ORDER BY subdir, filename'),
    intents: await queryRows(s.dataDir, 'SELECT subdir, filename FROM upload_intents'),
    stored: storedPackageFiles(s.dataDir, CHANNEL).sort(),
    noarch: await repodata(s, 'noarch'),
    linux64: await repodata(s, 'linux-64'),
  };
}

async function assertNothingKept(s: HostileServer, before: unknown, filenames: string[]): Promise<void> {
  await waitFor(async () => tmpFiles(s).length === 0, 5000).catch(() => assert.deepEqual(tmpFiles(s), [], 'tmp/ still holds an upload'));
  assert.deepEqual(await snapshot(s), before);
  for (const f of filenames) {
    const r = await fetch(`${s.url}/${CHANNEL}/noarch/${f}`);
    await r.arrayBuffer();
    assert.equal(r.status, 404, `${f} is served`);
  }
  await s.assertHealthy();
}

/** Log lines (pino JSON) the server wrote since `from` (an offset into its output). */
function logLines(s: HostileServer, from: number): Array<Record<string, unknown>> {
  return s.server.output().slice(from).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function assertLoggedStorageFault(s: HostileServer, from: number, code: string, errno: string, filename: string): Promise<void> {
  // The child's log reaches us through a pipe, possibly after its answer.
  const fault = await waitFor(async () => logLines(s, from).find((l) => l.code === code), 5000)
    .catch(() => assert.fail(`no log line with code ${code}:\n${s.server.output().slice(from)}`));
  const lines = logLines(s, from);
  assert.equal(fault.level, 50, 'a storage fault is logged at error level');
  assert.equal((fault.cause as { code?: string }).code, errno);
  assert.equal(fault.channel, CHANNEL);
  assert.equal(fault.filename, filename);
  // Not the client's doing, and not told as such.
  const misnamed = lines.filter((l) => /went away|ended early/.test(String(l.msg)) || /ended early/.test(String(l.message)));
  assert.deepEqual(misnamed, [], 'the storage fault was logged as a client that went away');
}

function assertAnswer(r: Answer, status: number, code: string): void {
  assert.equal(r.status, status, r.text);
  const body = JSON.parse(r.text) as { error?: string; message?: string };
  assert.equal(body.error, code, r.text);
  assert.ok(typeof body.message === 'string' && body.message.length > 0, r.text);
}

/** Runs a command as root; the reason it cannot, for a skip message. */
function rootCommand(cmd: string, args: string[]): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mount)';
  try {
    execFileSync(cmd, args, { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `${cmd} ${args.join(' ')} failed: ${((err as { stderr?: Buffer }).stderr ?? '').toString().trim() || (err as Error).message}`;
  }
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
}

describe('multipart mistakes are 400 with a code, nothing kept', () => {
  let s: HostileServer;
  before(async () => {
    s = await startHostileServer();
    await seedChannel(s);
  });
  after(() => s.stop());

  const B = 'channeld-faults-boundary';
  const fileHeaders = `Content-Disposition: form-data; name="file"; filename="${conda.filename}"\r\nContent-Type: application/octet-stream`;
  const part = (headers: string, data: Buffer | string) => Buffer.concat([Buffer.from(`--${B}\r\n${headers}\r\n\r\n`), Buffer.from(data), Buffer.from('\r\n')]);
  const close = Buffer.from(`--${B}--\r\n`);
  const cases: Array<{ what: string; contentType: string; body: Buffer; code: string; message: RegExp }> = [
    { what: 'no boundary in Content-Type', contentType: 'multipart/form-data', body: Buffer.concat([part(fileHeaders, condaBytes), close]), code: 'INVALID_MULTIPART', message: /boundary/ },
    { what: 'an empty boundary', contentType: 'multipart/form-data; boundary=""', body: Buffer.concat([part(fileHeaders, condaBytes), close]), code: 'INVALID_MULTIPART', message: /boundary/ },
    { what: 'a boundary longer than the parser can search for', contentType: `multipart/form-data; boundary=${'b'.repeat(300)}`, body: Buffer.from('x'), code: 'INVALID_MULTIPART', message: /boundary/ },
    { what: 'no closing delimiter after the file', contentType: `multipart/form-data; boundary=${B}`, body: part(fileHeaders, condaBytes), code: 'INVALID_MULTIPART', message: /could not be parsed/ },
    { what: 'the body ending inside the file part', contentType: `multipart/form-data; boundary=${B}`, body: Buffer.concat([Buffer.from(`--${B}\r\n${fileHeaders}\r\n\r\n`), condaBytes]), code: 'INVALID_MULTIPART', message: /could not be parsed/ },
    { what: 'garbage instead of parts', contentType: `multipart/form-data; boundary=${B}`, body: Buffer.from('this is not multipart\r\n\r\n\u0000\u0001\u0002'), code: 'INVALID_MULTIPART', message: /could not be parsed/ },
    { what: 'garbage after the part headers, never closed', contentType: `multipart/form-data; boundary=${B}`, body: Buffer.concat([Buffer.from(`--${B}\r\n\u0000\u0001garbage`), condaBytes]), code: 'INVALID_MULTIPART', message: /could not be parsed/ },
    { what: 'two file parts', contentType: `multipart/form-data; boundary=${B}`, body: Buffer.concat([part(fileHeaders, condaBytes), part(fileHeaders, condaBytes), close]), code: 'BAD_REQUEST', message: /one 'file' part/ },
    { what: "a 'file' part with no filename", contentType: `multipart/form-data; boundary=${B}`, body: Buffer.concat([part('Content-Disposition: form-data; name="file"', condaBytes), close]), code: 'BAD_REQUEST', message: /no filename/ },
    { what: "an octet-stream 'file' part with no filename", contentType: `multipart/form-data; boundary=${B}`, body: Buffer.concat([part('Content-Disposition: form-data; name="file"\r\nContent-Type: application/octet-stream', condaBytes), close]), code: 'BAD_REQUEST', message: /no filename/ },
    { what: 'part headers that are not headers', contentType: `multipart/form-data; boundary=${B}`, body: Buffer.concat([part('this is : not\r\na header', condaBytes), close]), code: 'BAD_REQUEST', message: /no 'file' part/ },
    { what: 'more parts than an upload has', contentType: `multipart/form-data; boundary=${B}`, body: Buffer.concat([...Array.from({ length: 8 }, (_, i) => part(`Content-Disposition: form-data; name="f${i}"`, 'x')), part(fileHeaders, condaBytes), close]), code: 'BAD_REQUEST', message: /at most/ },
  ];

  for (const c of cases) {
    it(`${c.what}: 400 ${c.code}`, async () => {
      const before = await snapshot(s);
      const host = new URL(s.url).host;
      const r = await rawRequest(s.url, [
        `POST /api/v1/upload/${CHANNEL} HTTP/1.1`, `Host: ${host}`, `Authorization: Bearer ${s.adminKey}`,
        `Content-Type: ${c.contentType}`, `Content-Length: ${c.body.length}`, 'Connection: close',
      ], c.body);
      assertRefused(r, c.what, 400);
      const body = JSON.parse(r.body) as { error: string; message: string };
      assert.equal(body.error, c.code, `${c.what}: ${r.body}`);
      assert.match(body.message, c.message);
      await assertNothingKept(s, before, [conda.filename]);
    });
  }

  it('still takes a well-formed multipart upload afterwards', async () => {
    const r = await multipartUpload(s, conda.filename, condaBytes);
    assert.equal(r.status, 200, r.text);
    await s.assertHealthy();
  });
});

// The data folder on a tmpfs of its own, nearly filled: the upload's temp
// file (data/tmp, on the same filesystem as the folder store, and where S3
// uploads are staged too) runs into ENOSPC partway through the body.
describe('a full disk during an upload is 507 INSUFFICIENT_STORAGE', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a tmpfs' }, () => {
  let s: HostileServer;
  let big: MadePackage;
  let tmpfsRoot: string;
  let mountFailed: string | null = null;
  let filler: string;
  before(async () => {
    tmpfsRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-enospc-'));
    filler = path.join(tmpfsRoot, 'filler');
    mountFailed = rootCommand('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', tmpfsRoot]);
    if (mountFailed) return;
    big = (await makePackages(fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-enospc-pkg-')), [
      { name: 'bigpkg', version: '1.0', build: '0', subdir: 'noarch', format: 'conda', payloadBytes: 3 << 20 },
    ]))[0]!;
    s = await startHostileServer({}, { dataDir: path.join(tmpfsRoot, 'data') });
    await seedChannel(s);
  });
  after(async () => {
    try {
      await s?.stop();
    } finally {
      if (!mountFailed) unmount(tmpfsRoot);
      fs.rmSync(tmpfsRoot, { recursive: true, force: true });
      if (big) fs.rmSync(path.dirname(big.file), { recursive: true, force: true });
    }
  });
  const skipUnmounted = (t: { skip(message: string): void }): boolean => {
    if (mountFailed) t.skip(`cannot mount a tmpfs: ${mountFailed}`);
    return mountFailed !== null;
  };

  /** Leaves `bytes` free on the tmpfs. */
  function fillLeaving(bytes: number): void {
    fs.rmSync(filler, { force: true });
    const st = fs.statfsSync(tmpfsRoot);
    const free = st.bavail * st.bsize;
    assert.ok(free > bytes + (1 << 20), `the tmpfs has only ${free} bytes free`);
    const fd = fs.openSync(filler, 'w');
    try {
      const chunk = Buffer.alloc(1 << 20, 0x5a);
      let left = free - bytes;
      while (left > 0) left -= fs.writeSync(fd, chunk, 0, Math.min(chunk.length, left));
    } finally {
      fs.closeSync(fd);
    }
  }

  for (const via of ['raw', 'multipart'] as const) {
    it(`${via}: 507 with a clear body, logged at error level, nothing kept`, async (t) => {
      if (skipUnmounted(t)) return;
      const bytes = fs.readFileSync(big.file);
      fillLeaving(1 << 20); // a third of the package
      try {
        const before = await snapshot(s);
        const from = s.server.output().length;
        const r = via === 'raw' ? await rawUpload(s, big.filename, bytes) : await multipartUpload(s, big.filename, bytes);
        assertAnswer(r, 507, 'INSUFFICIENT_STORAGE');
        assert.match(JSON.parse(r.text).message, /out of storage space/);
        await assertNothingKept(s, before, [big.filename]);
        await assertLoggedStorageFault(s, from, 'INSUFFICIENT_STORAGE', 'ENOSPC', big.filename);
      } finally {
        fs.rmSync(filler, { force: true });
      }
    });
  }

  it('takes the same upload once there is room again', async (t) => {
    if (skipUnmounted(t)) return;
    const r = await rawUpload(s, big.filename, fs.readFileSync(big.file));
    assert.equal(r.status, 200, r.text);
    await waitFor(async () => (await repodata(s, 'noarch')).includes(big.filename), 10_000);
    const got = await fetch(`${s.url}/${CHANNEL}/noarch/${big.filename}`);
    assert.equal(got.status, 200);
    assert.equal(Buffer.from(await got.arrayBuffer()).length, big.sizeBytes);
    await s.assertHealthy();
  });
});

// The upload folder (data/tmp) bind-mounted read-only over itself: root's
// writes fail with EROFS there (file permissions would not stop root).
describe('an upload folder that cannot be written is 503 STORAGE_UNAVAILABLE', () => {
  let s: HostileServer;
  let tmp: string;
  let skip: string | null = null;
  before(async () => {
    s = await startHostileServer();
    await seedChannel(s);
    tmp = path.join(s.dataDir, 'tmp');
    fs.mkdirSync(tmp, { recursive: true });
    skip = rootCommand('mount', ['--bind', tmp, tmp]) ?? rootCommand('mount', ['-o', 'remount,bind,ro', tmp]);
  });
  after(async () => {
    try {
      if (fs.readFileSync('/proc/self/mounts', 'utf8').includes(` ${tmp} `)) unmount(tmp);
    } finally {
      await s.stop();
    }
  });

  it('raw and multipart: 503 with a clear body, logged at error level, nothing kept', async (t) => {
    if (skip) return t.skip(`cannot make a read-only bind mount: ${skip}`);
    for (const via of ['raw', 'multipart'] as const) {
      const before = await snapshot(s);
      const from = s.server.output().length;
      const r = via === 'raw' ? await rawUpload(s, conda.filename, condaBytes) : await multipartUpload(s, conda.filename, condaBytes);
      assertAnswer(r, 503, 'STORAGE_UNAVAILABLE');
      assert.match(JSON.parse(r.text).message, /EROFS/);
      await assertNothingKept(s, before, [conda.filename]);
      await assertLoggedStorageFault(s, from, 'STORAGE_UNAVAILABLE', 'EROFS', conda.filename);
    }
    unmount(tmp);
    const r = await rawUpload(s, conda.filename, condaBytes);
    assert.equal(r.status, 200, r.text);
    await s.assertHealthy();
  });
});

// The bucket gone away mid-service (S3 storage only): the server reaches
// s3rver through a TCP proxy of the test's, which is then closed, so moving
// the package into the bucket fails with ECONNREFUSED after the SDK's retries.
describe('a bucket that cannot be reached is 503 STORAGE_UNAVAILABLE', { skip: testStorage === 's3' ? false : 'S3 storage only (CHANNELD_TEST_STORAGE=s3)' }, () => {
  let s: HostileServer;
  let proxy: net.Server;
  let port: number;
  let upstream: URL;
  const sockets = new Set<net.Socket>();
  const listen = () => new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  before(async () => {
    const dataDir = tempDataDir('channeld-hostile-');
    upstream = new URL((await storageEnv(dataDir)).CHANNELD_S3_ENDPOINT!);
    proxy = net.createServer((client) => {
      const server = net.connect(Number(upstream.port), upstream.hostname);
      for (const socket of [client, server]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(server).pipe(client);
    });
    port = await freePort();
    await listen();
    s = await startHostileServer({ CHANNELD_S3_ENDPOINT: `http://127.0.0.1:${port}` }, { dataDir });
    await seedChannel(s);
  });
  after(async () => {
    await s?.stop();
    proxy.close();
    for (const socket of sockets) socket.destroy();
  });

  it('503 with a clear body, logged at error level, nothing kept; uploads work once it is back', async () => {
    const before = await snapshot(s);
    await new Promise<void>((resolve) => {
      proxy.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    const from = s.server.output().length;
    const r = await rawUpload(s, conda.filename, condaBytes);
    assertAnswer(r, 503, 'STORAGE_UNAVAILABLE');
    assert.match(JSON.parse(r.text).message, /ECONNREFUSED/);
    await assertLoggedStorageFault(s, from, 'STORAGE_UNAVAILABLE', 'ECONNREFUSED', conda.filename);
    await listen();
    await assertNothingKept(s, before, [conda.filename]);
    const again = await rawUpload(s, conda.filename, condaBytes);
    assert.equal(again.status, 200, again.text);
    await waitFor(async () => (await repodata(s, 'noarch')).includes(conda.filename), 10_000);
    await s.assertHealthy();
  });
});

// An error no request handler caught, raised in the real server process: a
// preload (node --import) raises it on SIGUSR2, so the product carries no
// route or switch for it. The key in its message shows the logger's redaction.
describe('errors that escape everything are logged through the logger', () => {
  const KEY = `pfx_${'Ab1'.repeat(17)}x`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-escape-'));
  const preload = path.join(dir, 'escape.mjs');
  fs.writeFileSync(preload, `
process.on('SIGUSR2', () => {
  if (process.env.CHANNELD_TEST_ESCAPE === 'throw') setImmediate(() => { throw new Error('escaped with ${KEY}'); });
  else void Promise.reject(new Error('rejected with ${KEY}'));
});
`);
  const env = (kind: string) => ({
    CHANNELD_TEST_ESCAPE: kind,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(preload).href}`.trim(),
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('an unhandled rejection: one error-level line, keys redacted, the server keeps serving', async () => {
    const s = await startHostileServer(env('reject'));
    try {
      await s.assertHealthy();
      s.server.child.kill('SIGUSR2');
      const line = await waitFor(async () => logLines(s, 0).find((l) => String(l.msg).startsWith('unhandledRejection')), 5000);
      assert.equal(line.level, 50);
      assert.match(JSON.stringify(line.err), /rejected with pfx_\[redacted\]/);
      assert.ok(!s.server.output().includes(KEY), 'the key reached the log');
      // Alive and answering, and the harness sees what escaped.
      const r = await fetch(`${s.url}/healthz`);
      assert.equal(r.status, 200);
      assert.equal(escapedError(s.server.output()), 'unhandledRejection');
      await assert.rejects(s.assertHealthy(), /an error escaped request handling/);
    } finally {
      await s.stop();
    }
  });

  it('an uncaught exception: a fatal line, keys redacted, then exit 1 (and the pid file gone)', async () => {
    const s = await startHostileServer(env('throw'));
    try {
      await s.assertHealthy();
      const exited = new Promise<number | null>((resolve) => s.server.child.once('exit', (code) => resolve(code)));
      s.server.child.kill('SIGUSR2');
      const code = await Promise.race([exited, new Promise<'alive'>((r) => setTimeout(() => r('alive'), 10_000))]);
      assert.equal(code, 1, `the process did not exit 1 after an uncaught exception:\n${s.server.output().slice(-2000)}`);
      const line = logLines(s, 0).find((l) => l.level === 60);
      assert.ok(line, `no fatal line:\n${s.server.output().slice(-2000)}`);
      assert.match(String(line.msg), /^uncaughtException/);
      assert.match(JSON.stringify(line.err), /escaped with pfx_\[redacted\]/);
      assert.ok(!s.server.output().includes(KEY), 'the key reached the log');
      // The harness sees it, by the fatal level or by the event's name.
      assert.match(escapedError(s.server.output()) ?? '', /^("level":60|uncaughtException)$/);
      assert.equal(escapedError(JSON.stringify({ level: 60, msg: 'something else' })), '"level":60');
      assert.equal(escapedError(JSON.stringify({ level: 50, msg: String(line.msg) })), 'uncaughtException');
      assert.equal(fs.existsSync(path.join(s.dataDir, 'channeld.pid')), false);
    } finally {
      await s.stop();
    }
  });
});
