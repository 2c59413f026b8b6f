// Two things around authentication:
//
// Failed authentications are counted per client address: after N bad keys in
// a minute (CHANNELD_AUTH_FAILURES_PER_MINUTE=N) the address is refused with
// 429 + Retry-After before any key is checked — a valid key too, on REST and
// GraphQL alike — while requests without credentials go on as anonymous and
// successful requests never count.
//
// The audit log records who changed what (keys, uploads, yanks, deletes,
// members, visibility), with the key used; `channeld audit` prints it as JSON
// lines, newest first, while the server runs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CHALLENGE, Q, bearer, condaSafe, deleteFile, get, gql, gqlOutcome, upload } from '../helpers/access.js';
import { makePackages, type MadePackage } from '../helpers/make-packages.js';
import { runCli, startServer, tempDataDir, type TestServer } from '../helpers/server.js';

const LIMIT = 5;
const bogus = (i: number) => `pfx_${String(i).padStart(12, 'B')}${'Q'.repeat(40)}`;

let pkgDir: string;
let pkgs: MadePackage[];

before(async () => {
  pkgDir = tempDataDir('channeld-ratelimit-pkgs-');
  pkgs = await makePackages(pkgDir, ['audit-a', 'audit-b', 'audit-elsewhere'].map((name) => ({
    name, version: '1.0', build: '0', subdir: 'noarch', format: 'tar.bz2' as const,
  })));
});

after(() => {
  if (pkgDir) fs.rmSync(pkgDir, { recursive: true, force: true });
});

describe('failed authentications from one address', () => {
  let server: TestServer;
  let key: string;
  const priv = () => `${server.url}/closed/noarch/${pkgs[0]!.filename}`;
  const pub = () => `${server.url}/open/noarch/${pkgs[0]!.filename}`;

  before(async () => {
    server = await startServer({ env: { CHANNELD_AUTH_FAILURES_PER_MINUTE: String(LIMIT) } });
    const pat = await server.core.users.create('pat', false);
    key = (await server.core.users.createKey(pat, { name: 'main', expiresAt: null })).token;
    await server.core.channels.create('open', pat.id, { isPublic: true });
    await server.core.channels.create('closed', pat.id, { isPublic: false });
    for (const channel of ['open', 'closed']) assert.equal((await upload(server.url, channel, pkgs[0]!, key)).status, 200);
  });

  after(async () => {
    await server?.close();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it(`after ${LIMIT} bad keys the next request is refused with 429 even with a valid key; successes never count`, async () => {
    for (let i = 0; i < LIMIT - 1; i++) {
      const a = await upload(server.url, 'open', pkgs[1]!, bogus(i));
      assert.equal(a.status, 401, `bad key ${i + 1}`);
      assert.equal(a.headers.get('www-authenticate'), CHALLENGE);
    }
    // Successful requests in between neither count nor reset the count.
    for (let i = 0; i < 3 * LIMIT; i++) assert.equal((await get(priv(), bearer(key))).status, 200, `good request ${i + 1}`);
    assert.equal((await get(priv(), bearer(bogus(LIMIT)))).status, 401, `bad key ${LIMIT}`);

    const rest = await get(priv(), bearer(key));
    assert.equal(rest.status, 429, `a valid key right after ${LIMIT} failures: ${rest.status}`);
    assert.equal(rest.error, 'TOO_MANY_REQUESTS');
    const retryAfter = Number(rest.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${rest.headers.get('retry-after')}`);
  });

  it('the lockout covers uploads, conda token URLs and GraphQL (HTTP 429, not viewer: null)', async () => {
    // One more failure, so the address is locked out whatever the test above found.
    assert.ok([401, 429].includes((await get(priv(), bearer(bogus(LIMIT + 1)))).status));
    const up = await upload(server.url, 'open', pkgs[1]!, key);
    assert.equal(up.status, 429, 'upload');
    assert.ok(up.headers.get('retry-after'), 'upload Retry-After');
    assert.equal((await get(`${server.url}/t/${condaSafe(key)}/closed/noarch/repodata.json`)).status, 429, '/t/ download');
    const g = await fetch(`${server.url}/api/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: bearer(key) },
      body: JSON.stringify({ query: '{ viewer { login } }' }),
    });
    assert.equal(g.status, 429, `GraphQL: ${g.status} ${await g.text()}`);
    assert.ok(g.headers.get('retry-after'), 'GraphQL Retry-After');
  });

  it('requests without credentials still work as anonymous', async () => {
    assert.equal((await get(pub())).status, 200, 'public package');
    assert.equal((await get(`${server.url}/open/noarch/repodata.json`)).status, 200, 'public repodata');
    const anon = await gql(server, '{ channel(name: "open") { name } viewer { login } }');
    assert.deepEqual(anon, { status: 200, body: { data: { channel: { name: 'open' }, viewer: null } } });
    // Private channels still ask for a key, as to any anonymous caller.
    assert.equal((await get(priv())).status, 401, 'private package, anonymous');
  });
});

describe('the audit log', () => {
  let server: TestServer;
  let main: string;
  const t0 = Date.now();

  interface Line { at: string; actorLogin: string | null; actorKeyId: number | null; action: string; channel: string | null; target: string | null; details: unknown }
  async function audit(...args: string[]): Promise<Line[]> {
    const r = await runCli(['audit', '--data', server.dataDir, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  }
  const keyId = async (name: string) => {
    const pat = (await server.core.repos.users.byLogin('pat'))!;
    return (await server.core.users.listKeys(pat)).find((k) => k.name === name)!.id;
  };
  const must = async (query: string, variables: Record<string, unknown>, key: string) => {
    const res = await gql(server, query, variables, key);
    assert.equal(gqlOutcome(res), 'ok', JSON.stringify(res.body));
  };

  before(async () => {
    server = await startServer();
    const pat = await server.core.users.create('pat', false);
    await server.core.users.create('quinn', false);
    main = (await server.core.users.createKey(pat, { name: 'main', expiresAt: null })).token;
    await must(Q.createChannel, { name: 'ledger', isPublic: true }, main);
    await must(Q.createChannel, { name: 'elsewhere', isPublic: true }, main);
  });

  after(async () => {
    await server?.close();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('records each change with its actor, the key used and the time; `channeld audit` prints it newest first', async () => {
    const ci = await gql(server, Q.createKey, { name: 'ci', accessMode: 'READ_WRITE_DELETE' }, main);
    const ciKey = ci.body.data?.createApiKey.key as string;
    assert.match(ciKey ?? '', /^pfx_/, JSON.stringify(ci.body));
    const [a, b, other] = pkgs as [MadePackage, MadePackage, MadePackage];
    assert.equal((await upload(server.url, 'ledger', a, ciKey)).status, 200);
    assert.equal((await upload(server.url, 'ledger', b, ciKey)).status, 200);
    await must(Q.yank, { channel: 'ledger', subdir: 'noarch', filename: a.filename }, ciKey);
    assert.equal((await deleteFile(server.url, 'ledger', 'noarch', b.filename, ciKey)).status, 200);
    await must(Q.addMember, { user: 'quinn', channel: 'ledger', role: 'CONTRIBUTOR' }, main);
    await must(Q.deleteMember, { user: 'quinn', channel: 'ledger' }, main);
    await must(Q.updateChannel, { name: 'ledger', isPublic: false }, main);
    assert.equal((await upload(server.url, 'elsewhere', other, main)).status, 200);
    await must(Q.revokeKey, { name: 'ci' }, main);

    const mainId = await keyId('main');
    const ciId = await keyId('ci');
    // What happened, oldest first: [action, target, channel, key used].
    const story: Array<[string, string | null, string | null, number]> = [
      ['key.created', 'pat/ci', null, mainId],
      ['package.uploaded', `noarch/${a.filename}`, 'ledger', ciId],
      ['package.uploaded', `noarch/${b.filename}`, 'ledger', ciId],
      ['package.yanked', `noarch/${a.filename}`, 'ledger', ciId],
      ['package.deleted', `noarch/${b.filename}`, 'ledger', ciId],
      ['member.added', 'quinn', 'ledger', mainId],
      ['member.removed', 'quinn', 'ledger', mainId],
      ['channel.visibility', null, 'ledger', mainId],
      ['package.uploaded', `noarch/${other.filename}`, 'elsewhere', mainId],
      ['key.revoked', 'pat/ci', null, mainId],
    ];

    const lines = await audit(); // the server is still running
    const positions = story.map(([action, target, channel, keyUsed]) => {
      const at = lines.findIndex((l) => l.action === action && l.target === target && l.channel === channel);
      assert.ok(at >= 0, `no ${action} ${target ?? ''} in:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
      const line = lines[at]!;
      assert.equal(line.actorLogin, 'pat', `${action}: actor`);
      assert.equal(line.actorKeyId, keyUsed, `${action}: the key used`);
      const when = Date.parse(line.at);
      assert.ok(when >= t0 - 1000 && when <= Date.now() + 1000, `${action}: at ${line.at}`);
      return at;
    });
    assert.deepEqual(positions, [...positions].sort((x, y) => y - x), 'newest first');
    const visibility = lines.find((l) => l.action === 'channel.visibility')!;
    assert.deepEqual(visibility.details, { isPublic: false });

    const ledger = await audit('--channel', 'ledger');
    assert.ok(ledger.length >= 7, `--channel ledger printed ${ledger.length} lines`);
    assert.ok(ledger.every((l) => l.channel === 'ledger'), '--channel keeps only that channel');
    assert.deepEqual(
      ledger.filter((l) => l.action.startsWith('package.') || l.action.startsWith('member.')).map((l) => l.action).reverse(),
      ['package.uploaded', 'package.uploaded', 'package.yanked', 'package.deleted', 'member.added', 'member.removed'],
    );
  });
});
