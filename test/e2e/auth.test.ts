// API keys as clients present them, and what the server keeps of them:
//
//   rattler-build / pixi:  Authorization: Bearer pfx_…
//   conda / .netrc:        Authorization: Basic base64(user:pfx_…)
//   anaconda-client style: Authorization: Token pfx_…   (accepted like Bearer)
//   conda channel URLs:    GET /t/pfx-…/<channel>/<subdir>/repodata.json
//
// A key must never be readable from the database file or the logs, and a
// revoked or expired key must stop working on the very next request, even
// right after it was verified and cached.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { metadataFiles, onPostgres, queryRows } from '../helpers/backends.js';
import { basic, bearer, rawUpload } from '../helpers/clients.js';
import { fixturePackages, type FixturePackage } from '../helpers/fixtures.js';
import { runCli, spawnServer, startServer, tempDataDir, type ChildServer, type TestServer } from '../helpers/server.js';

const UPLOADABLE = [
  'dependency-1.0-0.conda', 'dependency-2.0-0.conda', 'dependent-1.0-0.conda', 'python-3.99.99-0.conda',
  'run_constrained-1.0-0.conda', 'track_feature-1.0-0.conda', 'feature-1.0-track_feature1_0.conda',
  'sample_noarch_python-1.0-py_0.conda', 'test-package-1.0.0-0.tar.bz2', 'flask-0.11.1-py_0.tar.bz2',
  'perfana-0.0.6-py_0.tar.bz2', 'my-webserver-0.1.0-pyh4616a5c_0.conda',
];

/** Hands out a package not uploaded yet, so each upload is a fresh 200. */
function packageSource(): () => FixturePackage {
  const all = fixturePackages();
  const queue = UPLOADABLE.map((f) => all.find((p) => p.filename === f)!);
  return () => {
    const next = queue.shift();
    assert.ok(next, 'ran out of fixture packages');
    return next;
  };
}

async function upload(url: string, channel: string, authorization: string, pkg: FixturePackage) {
  const res = await rawUpload(url, channel, pkg, null, { authorization });
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: (await res.json()) as { error?: string } };
}

/** Every spelling of a key that must stay out of storage and logs. */
const secretsOf = (key: string) => [key, key.slice(4), key.slice(16), `pfx-${key.slice(4)}`];

describe('keys at rest', () => {
  let server: TestServer;
  after(async () => {
    await server.close();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  test('the database holds argon2id hashes, never a token or its secret', async () => {
    server = await startServer();
    const { core } = server;
    const erin = await core.users.create('erin', false);
    await core.channels.create('erinchan', erin.id, { isPublic: true });
    const keys = [server.adminKey];
    for (const name of ['laptop', 'ci', 'expiring']) {
      const expiresAt = name === 'expiring' ? Date.now() + 86_400_000 : null;
      keys.push((await core.users.createKey(erin, { name, expiresAt })).token);
    }
    const viaCli = await runCli(['key', 'create', '--user', 'erin', '--name', 'cli', '--data', server.dataDir]);
    assert.equal(viaCli.code, 0, viaCli.stderr);
    keys.push(viaCli.stdout.trim());
    // Use them, so whatever is written on use (last_used_at) is on disk too.
    const next = packageSource();
    for (const key of keys) assert.equal((await upload(server.url, 'erinchan', bearer(key), next())).status, 200);

    const rows = await queryRows(server.dataDir, 'SELECT * FROM api_keys');
    assert.equal(rows.length, keys.length);
    for (const row of rows) {
      assert.match(String(row.secret_hash), /^\$argon2id\$/);
      const text = JSON.stringify(row);
      for (const key of keys) for (const s of secretsOf(key)) assert.ok(!text.includes(s), `api_keys row ${row.name} holds a key`);
    }
    // Everything the database holds: SQLite's files byte for byte; on
    // PostgreSQL (files out of reach) every table's rows as text.
    const raw = onPostgres
      ? Buffer.from(JSON.stringify(await queryRows(server.dataDir,
        `SELECT table_name, query_to_xml(format('SELECT * FROM %I', table_name), true, false, '') AS content
         FROM information_schema.tables WHERE table_schema = 'public'`)))
      : Buffer.concat(metadataFiles(server.dataDir).map((f) => fs.readFileSync(f)));
    assert.ok(raw.includes('argon2id'), 'the dump holds the key hashes');
    for (const key of keys) {
      for (const s of secretsOf(key)) assert.equal(raw.includes(s), false, 'a key is readable in the database files');
    }
  });
});

describe('keys in logs', () => {
  let dataDir: string;
  let server: ChildServer | null = null;
  after(async () => {
    await server?.stop('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('trace logging shows requests but never a key, its secret, or an Authorization header', async () => {
    dataDir = tempDataDir('channeld-auth-logs-');
    const cli = async (...args: string[]) => {
      const r = await runCli([...args, '--data', dataDir]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    await cli('user', 'create', 'carol');
    const key = await cli('key', 'create', '--user', 'carol', '--name', 'main');
    const doomed = await cli('key', 'create', '--user', 'carol', '--name', 'doomed');
    await cli('channel', 'create', 'carolchan', '--owner', 'carol');
    await cli('channel', 'create', 'carolsecret', '--owner', 'carol', '--private');
    const bogus = `pfx_${'Q'.repeat(52)}`;

    server = await spawnServer(dataDir, { CHANNELD_LOG_LEVEL: 'trace' });
    const { url } = server;
    const next = packageSource();
    assert.equal((await upload(url, 'carolchan', bearer(key), next())).status, 200);
    assert.equal((await upload(url, 'carolchan', basic('carol', key), next())).status, 200);
    assert.equal((await upload(url, 'carolchan', `Token ${key}`, next())).status, 200);
    assert.equal((await upload(url, 'carolchan', bearer(bogus), next())).status, 401);
    assert.equal((await upload(url, 'carolchan', bearer(doomed), next())).status, 200);
    await cli('key', 'revoke', '--user', 'carol', '--name', 'doomed');
    assert.equal((await upload(url, 'carolchan', basic('carol', doomed), next())).status, 401);

    const privateRead = await fetch(`${url}/carolsecret/noarch/repodata.json`, { headers: { authorization: bearer(key) } });
    assert.equal(privateRead.status, 200);
    await privateRead.arrayBuffer();
    // conda's token-in-URL form (whatever the server answers, the log line must not show the key).
    for (const t of [key, `pfx-${key.slice(4)}`]) {
      const res = await fetch(`${url}/t/${t}/carolchan/noarch/repodata.json`);
      await res.arrayBuffer();
    }

    assert.equal(await server.stop('SIGTERM'), 0);
    const logs = server.output();
    assert.match(logs, /\/api\/v1\/upload\/carolchan/, 'trace logging recorded the uploads');
    // Logged either with the /t/ prefix redacted or with the prefix taken off; never with the key.
    assert.match(logs, /(\/t\/\[redacted\])?\/carolchan\/noarch\/repodata\.json/, 'the /t/ requests were logged');
    for (const k of [key, doomed, bogus]) {
      for (const s of secretsOf(k)) assert.equal(logs.includes(s), false, `a key appears in the logs:\n${logs.slice(0, 2000)}`);
      assert.equal(logs.includes(basic('carol', k).slice(6)), false, 'a Basic credential appears in the logs');
    }
    assert.doesNotMatch(logs, /"authorization"/i);
  });
});

describe('verified-key cache and header forms', () => {
  let server: TestServer;
  let next: () => FixturePackage;
  before(async () => {
    server = await startServer();
    const dan = await server.core.users.create('dan', false);
    await server.core.channels.create('danchan', dan.id, { isPublic: true });
    next = packageSource();
  });
  after(async () => {
    await server.close();
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  });
  const danKey = async (name: string, expiresAt: number | null = null) => {
    const dan = (await server.core.repos.users.byLogin('dan'))!;
    return (await server.core.users.createKey(dan, { name, expiresAt })).token;
  };

  test('a key revoked from another process fails on the next request, right after being used', async () => {
    const key = await danKey('ci');
    assert.equal((await upload(server.url, 'danchan', bearer(key), next())).status, 200);
    // The CLI is another process: the server's cache gets no notice, only the database changes.
    const revoked = await runCli(['key', 'revoke', '--user', 'dan', '--name', 'ci', '--data', server.dataDir]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const refused = await upload(server.url, 'danchan', bearer(key), next());
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, 'UNAUTHENTICATED');
    assert.equal(refused.challenge, 'Bearer realm="channeld"');
  });

  test('a key revoked in-process fails on the next request', async () => {
    const key = await danKey('laptop');
    assert.equal((await upload(server.url, 'danchan', bearer(key), next())).status, 200);
    const dan = (await server.core.repos.users.byLogin('dan'))!;
    await server.core.users.revokeKey(dan, 'laptop');
    assert.equal((await upload(server.url, 'danchan', basic('dan', key), next())).status, 401);
  });

  test('an expired key fails although it was verified moments before', async () => {
    const expiresAt = Date.now() + 2000;
    const key = await danKey('short-lived', expiresAt);
    assert.equal((await upload(server.url, 'danchan', bearer(key), next())).status, 200);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 50));
    const refused = await upload(server.url, 'danchan', bearer(key), next());
    assert.equal(refused.status, 401);
    assert.equal(refused.challenge, 'Bearer realm="channeld"');
  });

  test('Basic auth with the key as password, and "Token <key>", upload like Bearer', async () => {
    const key = await danKey('netrc');
    const viaBasic = await upload(server.url, 'danchan', basic('anyone', key), next());
    assert.equal(viaBasic.status, 200, JSON.stringify(viaBasic.body));
    // credentialsFrom() treats the Token scheme as a synonym of Bearer.
    const viaToken = await upload(server.url, 'danchan', `Token ${key}`, next());
    assert.equal(viaToken.status, 200, JSON.stringify(viaToken.body));
  });

  test('malformed credentials are refused, not treated as anonymous', async () => {
    const key = await danKey('malformed');
    for (const authorization of [
      `Basic ${Buffer.from(key).toString('base64')}`, // no "user:" part
      `Digest ${key}`,
      `Bearer ${key} extra`,
      `Bearer ${key.slice(0, -1)}`,
    ]) {
      const res = await upload(server.url, 'danchan', authorization, fixturePackages().find((p) => p.filename === 'empty-0.1.0-h4616a5c_0.conda')!);
      assert.equal(res.status, 401, authorization.split(' ')[0]);
      assert.equal(res.challenge, 'Bearer realm="channeld"');
    }
  });
});
