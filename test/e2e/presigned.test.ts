// CHANNELD_DOWNLOAD_REDIRECT=presigned: package downloads answer 302 to a
// short-lived presigned URL on the bucket (as prefix.dev does), after the
// same access check as a streamed download; indexes are still served here.
// Runs on its own s3rver whatever CHANNELD_TEST_STORAGE says.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { loadConfig } from '../../src/config.js';
import { s3Env, startS3Double, type S3Double } from '../helpers/backends.js';
import { rawUpload } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

const pkg = fixturePackages().find((p) => p.filename.endsWith('.conda') && p.folder === 'noarch')!;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let s3: S3Double;
let server: TestServer;

async function upload(channel: string): Promise<void> {
  const r = await rawUpload(server.url, channel, pkg, server.adminKey);
  assert.equal(r.status, 200, await r.text());
  await waitFor(async () => {
    const rd = await fetch(`${server.url}/${channel}/noarch/repodata.json`, { headers: { Authorization: `Bearer ${server.adminKey}` } });
    return rd.ok && (await rd.text()).includes(pkg.filename);
  });
}

before(async () => {
  s3 = await startS3Double();
  server = await startServer({
    env: { ...(await s3Env(s3, 'pkgs')), CHANNELD_DOWNLOAD_REDIRECT: 'presigned' },
  });
  await server.core.channels.create('open', server.admin.id, { isPublic: true });
  await server.core.channels.create('closed', server.admin.id, { isPublic: false });
  await upload('open');
  await upload('closed');
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  await s3?.close();
});

describe('CHANNELD_DOWNLOAD_REDIRECT=presigned', () => {
  it('answers a package download with 302 to a URL that fetches the exact bytes', async () => {
    const r = await fetch(`${server.url}/open/noarch/${pkg.filename}`, { redirect: 'manual' });
    assert.equal(r.status, 302);
    const location = r.headers.get('location')!;
    assert.ok(location.startsWith(`${s3.endpoint}/`), location);
    assert.match(location, /X-Amz-Signature=/);
    assert.match(location, /X-Amz-Expires=300(&|$)/);
    assert.equal(r.headers.get('cache-control'), 'private, no-store', 'a redirect to an expiring URL is not cached');
    const bytes = Buffer.from(await (await fetch(location)).arrayBuffer());
    assert.equal(sha256(bytes), pkg.sha256);
    // A client following redirects gets the package as before.
    const followed = await fetch(`${server.url}/open/noarch/${pkg.filename}`);
    assert.equal(followed.status, 200);
    assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), pkg.sha256);
  });

  it('checks access first: a private channel refuses anonymous callers without a Location', async () => {
    const anon = await fetch(`${server.url}/closed/noarch/${pkg.filename}`, { redirect: 'manual' });
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get('location'), null);
    assert.equal(((await anon.json()) as { error: string }).error, 'UNAUTHENTICATED');
    const owner = await fetch(`${server.url}/closed/noarch/${pkg.filename}`, { redirect: 'manual', headers: { Authorization: `Bearer ${server.adminKey}` } });
    assert.equal(owner.status, 302);
    const bytes = Buffer.from(await (await fetch(owner.headers.get('location')!)).arrayBuffer());
    assert.equal(sha256(bytes), pkg.sha256);
  });

  it('a package that is not committed is 404, not a redirect', async () => {
    const r = await fetch(`${server.url}/open/noarch/nothing-1.0-0.conda`, { redirect: 'manual' });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('location'), null);
  });

  it('still serves repodata, its variants and shards directly', async () => {
    for (const file of ['repodata.json', 'repodata.json.zst', 'repodata_shards.msgpack.zst', 'run_exports.json']) {
      const r = await fetch(`${server.url}/open/noarch/${file}`, { redirect: 'manual' });
      assert.equal(r.status, 200, file);
      assert.match(r.headers.get('etag') ?? '', /^"[0-9a-f]{64}/, file);
      await r.arrayBuffer();
    }
    const gz = await fetch(`${server.url}/open/noarch/repodata.json`, { redirect: 'manual', headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers.get('content-encoding'), 'gzip');
    assert.ok((await gz.text()).includes(pkg.filename));
    const state = (await server.core.repos.indexState.get((await server.core.channels.byName('open'))!.id, 'noarch'))!;
    assert.ok(state.shardsRevision > 0);
  });
});

describe('configuration', () => {
  it('refuses presigned downloads on the data folder at start-up', () => {
    assert.throws(() => loadConfig({ CHANNELD_DATA_DIR: '/tmp/x', CHANNELD_DOWNLOAD_REDIRECT: 'presigned' }), /CHANNELD_DOWNLOAD_REDIRECT=presigned needs object storage/);
    assert.throws(() => loadConfig({ CHANNELD_DOWNLOAD_REDIRECT: 'sometimes' }), /stream or presigned/);
    assert.throws(() => loadConfig({ CHANNELD_STORAGE_URL: 'gs://bucket' }), /s3:\/\/bucket\/prefix/);
    const c = loadConfig({ CHANNELD_STORAGE_URL: 's3://my-bucket/a/b/', CHANNELD_S3_ENDPOINT: 'http://127.0.0.1:9000', CHANNELD_S3_FORCE_PATH_STYLE: 'true' });
    assert.deepEqual({ ...c.storage, credentials: null }, {
      kind: 's3', bucket: 'my-bucket', prefix: 'a/b', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', forcePathStyle: true, credentials: null,
    });
  });
});
