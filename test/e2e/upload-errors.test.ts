// Uploads the server must refuse. Each case replays a request a real client
// (or a confused user, or an attacker) sends, and checks three things: the
// answer (status, error code, a message a human can act on), that nothing
// was kept (no row, no file anywhere, tmp/ empty, repodata unchanged), and
// that the server is still healthy afterwards.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fixturePackages, malformedFiles } from '../helpers/fixtures.js';
import { sigstoreBundle } from '../helpers/oidc.js';
import { startServer, tempDataDir, waitFor, type TestServer } from '../helpers/server.js';
import { testStorage } from '../helpers/backends.js';
import { attestationKey } from '../../src/storage/keys.js';
import { buffer } from 'node:stream/consumers';

const CHANNEL = 'errs';
const byName = (f: string) => fixturePackages().find((p) => p.filename === f)!;
const conda = byName('dependency-1.0-0.conda');
const condaBytes = fs.readFileSync(conda.file);
const tarBz2 = byName('flask-0.11.1-py_0.tar.bz2');
const largest = fixturePackages().reduce((a, b) => (b.sizeBytes > a.sizeBytes ? b : a));

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

// node:http rather than fetch: paths go out exactly as written (no `..`
// normalisation), and an answer that arrives before the body is fully sent
// (413, 401) is still read.
function send(base: string, method: string, urlPath: string, headers: Record<string, string>, body?: Buffer): Promise<Res> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request({ host: hostname, port, method, path: urlPath, headers }, (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(body);
  });
}

function raw(s: TestServer, filename: string | null, body: Buffer, opts: { key?: string | null; channel?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length), ...opts.headers };
  const key = opts.key === undefined ? s.adminKey : opts.key;
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  if (filename !== null) headers['X-File-Name'] = filename;
  return send(s.url, 'POST', `/api/v1/upload/${opts.channel ?? CHANNEL}`, headers, body);
}

// The body rattler_upload sends, serialised by the same FormData encoder fetch uses.
async function multipart(s: TestServer, filename: string, body: Buffer, opts: { fields?: Record<string, string>; channel?: string; key?: string | null } = {}): Promise<Res> {
  const form = new FormData();
  form.append('file', new Blob([body]), filename);
  for (const [name, value] of Object.entries(opts.fields ?? {})) form.append(name, value);
  const encoded = new Response(form);
  const bytes = Buffer.from(await encoded.arrayBuffer());
  const headers: Record<string, string> = { 'Content-Type': encoded.headers.get('content-type')!, 'Content-Length': String(bytes.length) };
  const key = opts.key === undefined ? s.adminKey : opts.key;
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  return send(s.url, 'POST', `/api/v1/upload/${opts.channel ?? CHANNEL}`, headers, bytes);
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .sort();
}

// The data folder sits a few levels down a sandbox, so a `../` that escaped
// it would still land somewhere this test looks.
class Sandbox {
  readonly root = tempDataDir('channeld-errors-');
  readonly dataDir = path.join(this.root, 'a', 'b', 'c', 'data');
  server!: TestServer;

  async start(env: Record<string, string> = {}): Promise<TestServer> {
    fs.mkdirSync(this.dataDir, { recursive: true });
    this.server = await startServer({ dataDir: this.dataDir, env });
    await this.server.core.channels.create(CHANNEL, this.server.admin.id, { isPublic: true });
    // Something already in the channel, so "unchanged" means more than "empty".
    assert.equal((await raw(this.server, tarBz2.filename, fs.readFileSync(tarBz2.file))).status, 200);
    await waitFor(async () => (await this.repodata('noarch')).includes(tarBz2.filename));
    return this.server;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  async repodata(subdir: string, channel = CHANNEL): Promise<string> {
    const r = await fetch(`${this.server.url}/${channel}/${subdir}/repodata.json`);
    return `${r.status} ${await r.text()}`;
  }

  /** Everything a refused upload could have left behind. */
  async snapshot(): Promise<unknown> {
    const { core } = this.server;
    // Generated index files (generations, shards, channeldata.json) are rewritten
    // in the background after earlier, successful uploads; they are not uploads.
    // Nor is the read cache's copy of them (remote storage: data/cache/).
    const files = filesUnder(this.root).filter((f) => !/[/\\](_index[/\\]|shards[/\\]|cache[/\\]|(\.tmp-[^/\\]*)?channeldata\.json$|channeld\.(db|pid))/.test(f));
    const rows: Record<string, string[]> = {};
    const repodata: Record<string, string> = {};
    // Through the store as well: on S3 storage the data folder holds no packages.
    const stored: Record<string, string[]> = {};
    for (const channel of await core.repos.channels.list()) {
      const subdirs = new Set([...fixturePackages().map((p) => p.folder), ...(await core.repos.indexState.listForChannel(channel.id)).map((s) => s.subdir)]);
      for (const subdir of subdirs) {
        rows[`${channel.name}/${subdir}`] = await core.repos.packages.filenames(channel.id, subdir);
        stored[`${channel.name}/${subdir}`] = await core.store.list(`${channel.name}/${subdir}`);
        repodata[`${channel.name}/${subdir}`] = await this.repodata(subdir, channel.name);
      }
    }
    return { files, rows, stored, repodata, intents: (await core.repos.packages.listUploadIntents()).length };
  }

  async assertNothingStored(before: unknown): Promise<void> {
    const tmp = path.join(this.dataDir, 'tmp');
    await waitFor(async () => filesUnder(tmp).length === 0, 5000).catch(() => {
      assert.deepEqual(filesUnder(tmp), [], 'tmp/ still holds an upload');
    });
    assert.deepEqual(await this.snapshot(), before);
    const health = await fetch(`${this.server.url}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok' });
  }

  /** Sends, checks the refusal, checks nothing was kept. */
  async refuses(request: () => Promise<Res>, status: number | '4xx', codes: string | string[]): Promise<Res> {
    const before = await this.snapshot();
    const res = await request();
    assertRefusal(res, status, codes);
    await this.assertNothingStored(before);
    return res;
  }
}

function assertRefusal(res: Res, status: number | '4xx', codes: string | string[]): void {
  const body = JSON.parse(res.text) as { error?: unknown; message?: unknown };
  if (status === '4xx') assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${res.text}`);
  else assert.equal(res.status, status, res.text);
  assert.ok((Array.isArray(codes) ? codes : [codes]).includes(body.error as string), `error code ${String(body.error)}: ${res.text}`);
  assert.equal(typeof body.message, 'string');
  assert.ok((body.message as string).length > 0);
  if (status === 401) assert.equal(res.headers['www-authenticate'], 'Bearer realm="channeld"');
}

describe('refused uploads', () => {
  const box = new Sandbox();
  let s: TestServer;
  before(async () => {
    s = await box.start();
  });
  after(() => box.stop());

  it('refuses every malformed fixture, raw and multipart', async () => {
    for (const m of malformedFiles()) {
      const bytes = fs.readFileSync(m.file);
      const codes = ['INVALID_FILENAME', 'INVALID_PACKAGE', 'METADATA_MISMATCH'];
      await box.refuses(() => raw(s, m.filename, bytes), 400, codes);
      await box.refuses(() => multipart(s, m.filename, bytes), 400, codes);
      // Under a valid name, so the content itself is judged (not just the name).
      const ext = m.filename.endsWith('.conda') ? '.conda' : '.tar.bz2';
      await box.refuses(() => raw(s, `renamed-1-0${ext}`, bytes), 400, ['INVALID_PACKAGE', 'METADATA_MISMATCH']);
    }
  });

  it('refuses data that does not hash to X-File-SHA256', async () => {
    const res = await box.refuses(() => raw(s, conda.filename, condaBytes, { headers: { 'X-File-SHA256': 'ab'.repeat(32) } }), 400, 'CHECKSUM_MISMATCH');
    assert.match(res.text, new RegExp(conda.sha256));
  });

  it('refuses an X-File-SHA256 that is not 64 hex digits', async () => {
    await box.refuses(() => raw(s, conda.filename, condaBytes, { headers: { 'X-File-SHA256': 'zz'.repeat(32) } }), 400, ['BAD_REQUEST', 'CHECKSUM_MISMATCH']);
    await box.refuses(() => raw(s, conda.filename, condaBytes, { headers: { 'X-File-SHA256': conda.sha256.slice(1) } }), 400, ['BAD_REQUEST', 'CHECKSUM_MISMATCH']);
  });

  it('keeps nothing when the client stops sending before Content-Length bytes', async () => {
    // The client half-closes after N of the N+100 bytes it announced. What
    // happens today: Node's HTTP parser reports the short body as a client
    // error, Fastify's default clientError handler answers 400 (with its own
    // body, {"error":"Bad Request","message":"Client Error","statusCode":400})
    // and closes; the upload handler sees the request abort and removes its
    // temp file. Nothing is stored and the server stays healthy.
    const before = await box.snapshot();
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(new URL(s.url).port), '127.0.0.1');
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (got += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
      socket.setTimeout(15_000, () => socket.destroy());
      socket.write(
        `POST /api/v1/upload/${CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${s.adminKey}\r\n` +
          `X-File-Name: ${conda.filename}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${condaBytes.length + 100}\r\n\r\n`,
      );
      socket.write(condaBytes);
      socket.end();
    });
    await box.assertNothingStored(before);
    assert.match(answer, /^HTTP\/1\.1 400 /, `answer: ${JSON.stringify(answer)}`);
    // The body should follow the error contract like every other refusal.
    const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
    assertRefusal({ status: 400, headers: {}, text: body }, 400, ['BAD_REQUEST', 'SIZE_MISMATCH']);
  });

  it('refuses an upload without X-File-Name', async () => {
    await box.refuses(() => raw(s, null, condaBytes), 400, 'BAD_REQUEST');
  });

  it('refuses an empty body', async () => {
    await box.refuses(() => raw(s, conda.filename, Buffer.alloc(0)), 400, ['INVALID_PACKAGE', 'BAD_REQUEST']);
  });

  it('refuses a file name that does not match info/index.json', async () => {
    const flask = fs.readFileSync(tarBz2.file);
    const res = await box.refuses(() => raw(s, 'flask-0.12.0-py_0.tar.bz2', flask), 400, 'METADATA_MISMATCH');
    assert.match(res.text, /0\.11\.1/);
    await box.refuses(() => multipart(s, 'flask-0.11.1-py_1.tar.bz2', flask), 400, 'METADATA_MISMATCH');
    // A renamed .conda no longer names its own info-<stem>.tar.zst member, so
    // conda's readers cannot open it at all: either code is a fair answer.
    await box.refuses(() => raw(s, 'dependency-1.1-0.conda', condaBytes), 400, ['METADATA_MISMATCH', 'INVALID_PACKAGE']);
  });

  it('refuses bad file names and writes nothing outside the data folder', async () => {
    for (const name of ['../x-1-0.conda', '..%2F..%2Fetc-1-0.conda', 'foo.conda', 'a/b-1-0.conda', 'Dependency-1.0-0.conda', 'foo-1-0.zip', '../../../../dependency-1.0-0.conda']) {
      await box.refuses(() => raw(s, name, condaBytes), 400, 'INVALID_FILENAME');
    }
    const outside = filesUnder(box.root).filter((f) => !f.startsWith(box.dataDir + path.sep));
    assert.deepEqual(outside, []);
    assert.equal(fs.existsSync(path.join(path.dirname(box.root), 'x-1-0.conda')), false);
  });

  it('multipart keeps only the last path component of a part filename (busboy), never escaping', async () => {
    await s.core.channels.create('lenient', s.admin.id, { isPublic: true });
    const res = await multipart(s, `../../../${conda.filename}`, condaBytes, { channel: 'lenient' });
    assert.equal(res.status, 200, res.text);
    assert.equal(JSON.parse(res.text).filename, conda.filename);
    assert.deepEqual(await s.core.store.list('lenient/noarch'), [conda.filename]);
    const storedLocally = filesUnder(box.root).filter((f) => f.endsWith(conda.filename));
    assert.deepEqual(storedLocally, testStorage === 'folder' ? [path.join(box.dataDir, 'channels', 'lenient', 'noarch', conda.filename)] : []);
    await waitFor(async () => (await box.repodata('noarch', 'lenient')).includes(conda.filename)); // settle before the next case
  });

  it('refuses channel names that try to leave the route', async () => {
    const headers = { Authorization: `Bearer ${s.adminKey}`, 'X-File-Name': conda.filename, 'Content-Type': 'application/octet-stream' };
    for (const p of ['..%2F..', '%2e%2e', '..%2F' + CHANNEL, `${CHANNEL}%2F..%2F..%2Fetc`, '..', '../../etc', `${CHANNEL}%00`, `${CHANNEL}/..`, '%2e%2e%2f%2e%2e%2fapi']) {
      await box.refuses(() => send(s.url, 'POST', `/api/v1/upload/${p}`, headers, condaBytes), '4xx', ['CHANNEL_NOT_FOUND', 'NOT_FOUND', 'BAD_REQUEST', 'INVALID_CHANNEL_NAME']);
    }
  });

  it('refuses a request without a key with 401 and a Bearer challenge', async () => {
    await box.refuses(() => raw(s, conda.filename, condaBytes, { key: null }), 401, 'UNAUTHENTICATED');
    await box.refuses(() => multipart(s, conda.filename, condaBytes, { key: null }), 401, 'UNAUTHENTICATED');
  });

  it('refuses malformed and unknown keys with 401', async () => {
    await box.refuses(() => raw(s, conda.filename, condaBytes, { key: 'not-a-key' }), 401, 'UNAUTHENTICATED');
    await box.refuses(() => raw(s, conda.filename, condaBytes, { headers: { Authorization: 'Digest abc' }, key: null }), 401, 'UNAUTHENTICATED');
    await box.refuses(() => raw(s, conda.filename, condaBytes, { key: `pfx_${'A1b2C3d4E5f6'.repeat(4)}${'x'.repeat(4)}` }), 401, 'UNAUTHENTICATED');
  });

  it('refuses a revoked key', async () => {
    const { token } = await s.core.users.createKey(s.admin, { name: 'to-revoke', expiresAt: null });
    const reindex = await send(s.url, 'POST', `/api/v1/reindex/${CHANNEL}/noarch`, { Authorization: `Bearer ${token}` });
    assert.equal(reindex.status, 202, 'the key works before it is revoked');
    await s.core.users.revokeKey(s.admin, 'to-revoke');
    await box.refuses(() => raw(s, conda.filename, condaBytes, { key: token }), 401, 'UNAUTHENTICATED');
  });

  it('refuses an expired key', async () => {
    const expiresAt = Date.now() + 3000;
    const { token } = await s.core.users.createKey(s.admin, { name: 'short-lived', expiresAt });
    const reindex = await send(s.url, 'POST', `/api/v1/reindex/${CHANNEL}/noarch`, { Authorization: `Bearer ${token}` });
    assert.equal(reindex.status, 202, 'the key works before it expires');
    await waitFor(async () => Date.now() > expiresAt + 50, 10_000, 100);
    await box.refuses(() => raw(s, conda.filename, condaBytes, { key: token }), 401, 'UNAUTHENTICATED');
  });

  it("refuses an upload to another user's channel with 403", async () => {
    const alice = await s.core.users.create('alice', false);
    const { token } = await s.core.users.createKey(alice, { name: 'alice-key', expiresAt: null });
    await box.refuses(() => raw(s, conda.filename, condaBytes, { key: token }), 403, 'FORBIDDEN');
  });

  it('refuses an upload to a channel that does not exist with 404', async () => {
    await box.refuses(() => raw(s, conda.filename, condaBytes, { channel: 'no-such-channel' }), 404, 'CHANNEL_NOT_FOUND');
  });

  it('stores a multipart attestation beside the package as <file>.v0.sigs (a JSON array)', async () => {
    await s.core.channels.create('signed', s.admin.id, { isPublic: true });
    const bundle = sigstoreBundle({ subject: [{ name: conda.filename, sha256: conda.sha256 }], targetChannel: `${s.url}/signed` });
    const res = await multipart(s, conda.filename, condaBytes, { fields: { attestation: JSON.stringify(bundle) }, channel: 'signed' });
    assert.equal(res.status, 200, res.text);
    const sigs = await s.core.store.read(attestationKey('signed', 'noarch', conda.filename));
    assert.deepEqual(JSON.parse((await buffer(sigs!.stream)).toString('utf8')), [bundle]);
    await waitFor(async () => (await box.repodata('noarch', 'signed')).includes(conda.filename)); // settle before the next case
  });

  it('refuses an attestation that is not JSON, keeping neither package nor signature', async () => {
    await box.refuses(() => multipart(s, conda.filename, condaBytes, { fields: { attestation: 'not json {' } }), 400, 'INVALID_ATTESTATION');
  });

  it('refuses an attestation about another package or for another channel, keeping neither', async () => {
    const about = (sha256: string, channel: string) =>
      JSON.stringify(sigstoreBundle({ subject: [{ name: conda.filename, sha256 }], targetChannel: `${s.url}/${channel}` }));
    await box.refuses(() => multipart(s, conda.filename, condaBytes, { fields: { attestation: about(tarBz2.sha256, CHANNEL) } }), 400, 'INVALID_ATTESTATION');
    await box.refuses(() => multipart(s, conda.filename, condaBytes, { fields: { attestation: about(conda.sha256, 'signed') } }), 400, 'INVALID_ATTESTATION');
  });
});

describe('size limits (CHANNELD_MAX_UPLOAD_BYTES=200000)', () => {
  const box = new Sandbox();
  let s: TestServer;
  before(async () => {
    s = await box.start({ CHANNELD_MAX_UPLOAD_BYTES: '200000' });
  });
  after(() => box.stop());

  it('answers 413 to a Content-Length over the limit without reading the body', async () => {
    // Only the headers go out; if the server waited for the 10 GB body, the
    // socket timeout below would end the test with no answer.
    const before = await box.snapshot();
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(new URL(s.url).port), '127.0.0.1');
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        got += d;
        if (/\r\n\r\n[\s\S]*\}$/.test(got)) socket.destroy();
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
      socket.setTimeout(15_000, () => socket.destroy());
      socket.write(
        `POST /api/v1/upload/${CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${s.adminKey}\r\n` +
          `X-File-Name: ${largest.filename}\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000000\r\n\r\n`,
      );
    });
    assert.match(answer, /^HTTP\/1\.1 413 /, `answer: ${JSON.stringify(answer)}`);
    assert.match(answer, /\r\nconnection: close\r\n/i);
    assertRefusal({ status: 413, headers: {}, text: answer.slice(answer.indexOf('\r\n\r\n') + 4) }, 413, 'PAYLOAD_TOO_LARGE');
    await box.assertNothingStored(before);
  });

  it('answers 413 to a multipart upload over the limit', async () => {
    await box.refuses(() => multipart(s, largest.filename, fs.readFileSync(largest.file)), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('answers 413 to a chunked raw body that grows over the limit', async () => {
    await box.refuses(() => send(s.url, 'POST', `/api/v1/upload/${CHANNEL}`, {
      Authorization: `Bearer ${s.adminKey}`, 'X-File-Name': largest.filename, 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked',
    }, fs.readFileSync(largest.file)), 413, 'PAYLOAD_TOO_LARGE');
  });
});
