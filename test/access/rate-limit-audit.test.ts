// Two things around authentication:
//
// Failed authentications are counted per client address and per key id: after
// N bad keys in a minute (CHANNELD_AUTH_FAILURES_PER_MINUTE=N) the address gets
// 429 + Retry-After for anything it cannot prove, on REST and GraphQL alike,
// while a valid key (or password) from it still works, requests without
// credentials go on as anonymous and successful requests never count. A key
// id that many addresses guess at is checked one request at a time, and its
// owner still gets in.
//
// The audit log records who changed what (keys, uploads, yanks, deletes,
// members, visibility), with the key used; `channeld audit` prints it as JSON
// lines, newest first, while the server runs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CHALLENGE, Q, bearer, condaSafe, deleteFile, get, gql, gqlOutcome, upload } from '../helpers/access.js';
import { tokenUrl } from '../helpers/clients.js';
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

  it(`after ${LIMIT} bad keys the address gets 429 for what it cannot prove; successes never count`, async () => {
    for (let i = 0; i < LIMIT - 1; i++) {
      const a = await upload(server.url, 'open', pkgs[1]!, bogus(i));
      assert.equal(a.status, 401, `bad key ${i + 1}`);
      assert.equal(a.headers.get('www-authenticate'), CHALLENGE);
    }
    // Successful requests in between neither count nor reset the count.
    for (let i = 0; i < 3 * LIMIT; i++) assert.equal((await get(priv(), bearer(key))).status, 200, `good request ${i + 1}`);
    assert.equal((await get(priv(), bearer(bogus(LIMIT)))).status, 401, `bad key ${LIMIT}`);

    // Over the limit: an unknown key id, a token that is no key, a publisher
    // token that is not ours and a malformed header are all 429.
    for (const [what, auth] of [
      ['unknown key id', bearer(bogus(LIMIT + 1))], ['not a key', bearer('hunter2')],
      ['publisher token', bearer(`pfx_oidc_${'A'.repeat(43)}`)], ['malformed', 'Bearer'],
      ['a known key id with a wrong secret', bearer(`${key.slice(0, 16)}${'Z'.repeat(40)}`)],
    ] as const) {
      const r = await get(priv(), auth);
      assert.equal(r.status, 429, `${what}: ${r.status}`);
      assert.equal(r.error, 'TOO_MANY_REQUESTS');
      const retryAfter = Number(r.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `${what}: Retry-After ${r.headers.get('retry-after')}`);
    }
  });

  it('a valid key from that address still works: downloads, uploads, conda token URLs, GraphQL', async () => {
    // One more failure, so the address is over its limit whatever the test above found.
    assert.equal((await get(priv(), bearer(bogus(LIMIT + 2)))).status, 429);
    assert.equal((await get(priv(), bearer(key))).status, 200, 'a key verified before (cached)');
    const pat = (await server.core.repos.users.byLogin('pat'))!;
    const fresh = (await server.core.users.createKey(pat, { name: 'fresh', expiresAt: null })).token;
    assert.equal((await get(priv(), bearer(fresh))).status, 200, 'a key never seen before (argon2-checked)');
    const up = await upload(server.url, 'open', pkgs[1]!, key);
    assert.equal(up.status, 200, `upload: ${up.status} ${up.message}`);
    assert.equal((await get(`${tokenUrl(server.url, condaSafe(key), 'closed')}/noarch/repodata.json`)).status, 200, '/t/ download');
    const g = await gql(server, '{ viewer { login } }', {}, key);
    assert.deepEqual(g.body, { data: { viewer: { login: 'pat' } } });
    // …while a bad key on GraphQL is an HTTP 429, not viewer: null.
    const bad = await fetch(`${server.url}/api/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: bearer(bogus(LIMIT + 3)) },
      body: JSON.stringify({ query: '{ viewer { login } }' }),
    });
    assert.equal(bad.status, 429, `GraphQL: ${bad.status} ${await bad.text()}`);
    assert.ok(bad.headers.get('retry-after'), 'GraphQL Retry-After');
    // A revoked key is refused as before (429 here: it proves nothing).
    await server.core.users.revokeKey(pat, 'fresh');
    assert.equal((await get(priv(), bearer(fresh))).status, 429, 'revoked key');
  });

  it('sign-in: a correct password from that address works, a wrong one is 429', async () => {
    const pat = (await server.core.repos.users.byLogin('pat'))!;
    await server.core.users.setPassword(pat, 'correct horse');
    const signIn = (login: string, password: string) => fetch(`${server.url}/api/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login, password }),
    });
    assert.equal((await signIn('pat', 'battery staple')).status, 429, 'wrong password');
    assert.equal((await signIn('nobody', 'battery staple')).status, 429, 'unknown login');
    const ok = await signIn('pat', 'correct horse');
    assert.equal(ok.status, 200, await ok.text());
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

describe('failed authentications against one key id, from many addresses', () => {
  let server: TestServer;
  let key: string;
  const priv = () => `${server.url}/closed/noarch/${pkgs[0]!.filename}`;
  // Behind a trusted proxy each request names its client address.
  const from = (address: string, authorization: string) => get(priv(), authorization, { 'x-forwarded-for': address });
  const guess = (i: number) => bearer(`${key.slice(0, 16)}${String(i).padStart(40, 'G')}`);

  before(async () => {
    server = await startServer({
      // No verified-key cache: every request with the owner's key is argon2-checked,
      // so it goes through the key id's lane like the guesses do.
      env: { CHANNELD_AUTH_FAILURES_PER_MINUTE: String(LIMIT), CHANNELD_TRUST_PROXY: 'true', CHANNELD_KEY_CACHE_TTL_MS: '0' },
    });
    const pat = await server.core.users.create('pat', false);
    key = (await server.core.users.createKey(pat, { name: 'main', expiresAt: null })).token;
    await server.core.channels.create('closed', pat.id, { isPublic: false });
    assert.equal((await upload(server.url, 'closed', pkgs[0]!, key)).status, 200);
  });

  after(async () => {
    await server?.close();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  it('wrong secrets for a real key id from fresh addresses are 401, then 429; its owner still gets in', async () => {
    for (let i = 0; i < LIMIT; i++) assert.equal((await from(`198.51.100.${i + 1}`, guess(i))).status, 401, `guess ${i + 1}`);
    const next = await from('198.51.100.99', guess(LIMIT));
    assert.equal(next.status, 429, `a guess from yet another address, past the key id's limit: ${next.status}`);
    assert.match(next.message, /this key or login/);
    const owner = await from('203.0.113.7', bearer(key));
    assert.equal(owner.status, 200, `the owner, from a clean address: ${owner.status} ${owner.message}`);
    const again = await from('198.51.100.1', bearer(key));
    assert.equal(again.status, 200, `the owner, from an address that guessed once: ${again.status} ${again.message}`);
  });

  it('a burst of guesses at one key id waits in one bounded lane: the surplus is 429 Retry-After 1 at once, the owner is served', async () => {
    const N = 60;
    const burst = Array.from({ length: N }, (_, i) => from(`10.9.0.${i + 1}`, guess(200 + i)));
    // The owner's CI, from the address its key was verified from before (first test).
    const owner = from('203.0.113.7', bearer(key));
    const answers = await Promise.all(burst);
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.every((s) => s === 401 || s === 429), `only 401/429: ${statuses.join(',')}`);
    const busy = answers.filter((a) => a.status === 429 && /at once/.test(a.message));
    // One check runs and 32 wait (the owner goes ahead of them); the rest are turned
    // away at once. A few checks may finish while the burst is still arriving.
    const checked = N - busy.length;
    assert.ok(checked <= 32 + 4, `${checked} of ${N} guesses were argon2-checked; the lane holds 1 + 32`);
    for (const b of busy) assert.equal(b.headers.get('retry-after'), '1', 'a busy lane asks for a retry in 1 s');
    assert.equal((await owner).status, 200, 'the owner, sent after the burst filled the lane');
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
