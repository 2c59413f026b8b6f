// API keys through GraphQL, as pixi-pfx (`pixi pfx api-key …`) and the
// prefix.dev docs drive them: createApiKey hands the key out once, apiKeys
// never shows it again, revokeApiKey/deleteApiKey take effect on REST and
// GraphQL at once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fixturePackages } from '../helpers/fixtures.js';
import { assertGqlError, gql, gqlData, uploadMultipart, userWithKey } from '../helpers/graphql.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

const DAY = 86_400_000;
const KEY_RE = /^pfx_[0-9A-Za-z]{52}$/;
// Each upload below is of a different file, so none is refused as already there.
const noarch = fixturePackages().filter((p) => p.folder === 'noarch');
let next = 0;
const freshPackage = () => noarch[next++]!;

// pixi-pfx's selections (src/queries/api_keys.rs).
const KEY_FIELDS = 'key name description createdAt expiresAt lastUsedAt revokedAt accessMode channel { name }';
const CREATE = `mutation ($name: String!, $description: String, $expiresAt: DateTime, $accessMode: ChannelAccessMode, $channelName: String) {
  createApiKey(name: $name, description: $description, expiresAt: $expiresAt, accessMode: $accessMode, channelName: $channelName) { ${KEY_FIELDS} }
}`;
const LIST = `{ apiKeys { ${KEY_FIELDS} } }`;

interface KeyResult {
  key: string | null; name: string; description: string | null; createdAt: string; expiresAt: string | null;
  lastUsedAt: string | null; revokedAt: string | null; accessMode: string; channel: { name: string } | null;
}

let server: TestServer;
let carol: { key: string };

before(async () => {
  server = await startServer();
  carol = await userWithKey(server, 'carol');
  const user = (await server.core.repos.users.byLogin('carol'))!;
  await server.core.channels.create('releases', user.id, { isPublic: true });
  await server.core.channels.create('nightlies', user.id, { isPublic: true });
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

const create = (vars: Record<string, unknown>, key: string | null = carol.key) => gql<{ createApiKey: KeyResult }>(server, CREATE, vars, key);
const list = async (key = carol.key) => (await gqlData<{ apiKeys: KeyResult[] }>(server, LIST, undefined, key)).apiKeys;
const upload = (key: string, channel = 'releases', file = freshPackage()) => uploadMultipart(server, channel, file.file, file.filename, key);
const viewer = async (key: string) => (await gqlData<{ viewer: { login: string } | null }>(server, '{ viewer { login } }', undefined, key)).viewer;

describe('createApiKey', () => {
  it('returns a new key once, valid for 30 days by default', async () => {
    const before = Date.now();
    const res = await create({ name: 'ci', description: 'for CI' });
    assert.equal(res.status, 200);
    const k = res.body.data!.createApiKey;
    assert.match(k.key ?? '', KEY_RE);
    assert.equal(k.name, 'ci');
    assert.equal(k.description, 'for CI');
    assert.equal(k.accessMode, 'ALL');
    assert.equal(k.channel, null);
    assert.equal(k.revokedAt, null);
    assert.equal(k.lastUsedAt, null);
    const expires = Date.parse(k.expiresAt!);
    assert.ok(expires >= before + 30 * DAY - 60_000 && expires <= Date.now() + 30 * DAY + 60_000, `expiresAt ${k.expiresAt}`);
    assert.ok(Math.abs(Date.parse(k.createdAt) - before) < 60_000, `createdAt ${k.createdAt}`);
    assert.deepEqual(await viewer(k.key!), { login: 'carol' });
  });

  it('keeps the expiry asked for (the docs mutation, with a date still to come)', async () => {
    const data = await gqlData(server, 'mutation makeApiKey { createApiKey(name: "new_key", expiresAt: "2030-10-03T00:00:00Z") { key expiresAt } }', undefined, carol.key);
    assert.match(data.createApiKey.key, KEY_RE);
    assert.equal(Date.parse(data.createApiKey.expiresAt), Date.parse('2030-10-03T00:00:00Z'));
  });

  it('refuses an expiry in the past with BAD_USER_INPUT', async () => {
    assertGqlError(await create({ name: 'old', expiresAt: '2020-01-01T00:00:00Z' }), 'BAD_USER_INPUT');
    assert.ok(!(await list()).some((k) => k.name === 'old'));
  });

  it('refuses a malformed expiresAt, saying it is the DateTime that is wrong', async () => {
    for (const res of [
      await create({ name: 'soon', expiresAt: 'tomorrow' }),
      await gql(server, 'mutation { createApiKey(name: "soon", expiresAt: "tomorrow") { key } }', undefined, carol.key),
    ]) {
      assert.ok(!res.body.data?.createApiKey, JSON.stringify(res.body));
      assert.match((res.body.errors ?? []).map((e) => e.message).join(' | '), /DateTime|RFC ?3339|tomorrow/, JSON.stringify(res.body));
    }
    assert.ok(!(await list()).some((k) => k.name === 'soon'));
  });

  it('refuses a second key of the same name for the same user with BAD_USER_INPUT', async () => {
    const res = await create({ name: 'ci' });
    assertGqlError(res, 'BAD_USER_INPUT');
    assert.equal(res.body.data, null);
    assert.equal((await list()).filter((k) => k.name === 'ci').length, 1);
  });

  it('lets another user use the same name', async () => {
    const dave = await userWithKey(server, 'dave');
    const res = await create({ name: 'ci' }, dave.key);
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    assert.match(res.body.data!.createApiKey.key ?? '', KEY_RE);
  });

  it('stores accessMode and channelName (pixi-pfx sends READ_WRITE for "releases")', async () => {
    const res = await create({ name: 'release-bot', accessMode: 'READ_WRITE', channelName: 'releases' });
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    const k = res.body.data!.createApiKey;
    assert.equal(k.accessMode, 'READ_WRITE');
    assert.deepEqual(k.channel, { name: 'releases' });
    const listed = (await list()).find((x) => x.name === 'release-bot')!;
    assert.equal(listed.accessMode, 'READ_WRITE');
    assert.deepEqual(listed.channel, { name: 'releases' });
  });

  it('refuses a channel that does not exist with NOT_FOUND', async () => {
    assertGqlError(await create({ name: 'nowhere', channelName: 'no-such-channel' }), 'NOT_FOUND');
  });

  it('refuses anonymous callers with UNAUTHENTICATED and HTTP 200', async () => {
    const res = await create({ name: 'anon' }, null);
    assertGqlError(res, 'UNAUTHENTICATED');
    assert.equal(res.body.data, null);
  });

  it('does not let a read-only key mint a key with more rights', async () => {
    const readOnly = (await create({ name: 'reader', accessMode: 'READ' })).body.data!.createApiKey.key!;
    const res = await create({ name: 'escalated', accessMode: 'ALL' }, readOnly);
    assertGqlError(res, 'FORBIDDEN', 'a READ key creating an ALL key:');
  });
});

describe('using a key made by createApiKey', () => {
  it('uploads a fixture package over REST', async () => {
    const key = (await create({ name: 'uploader' })).body.data!.createApiKey.key!;
    const r = await upload(key);
    assert.equal(r.status, 200, await r.text());
  });

  it('a READ_WRITE key scoped to one channel uploads there and nowhere else', async () => {
    const key = (await create({ name: 'scoped', accessMode: 'READ_WRITE', channelName: 'releases' })).body.data!.createApiKey.key!;
    const file = freshPackage();
    const here = await upload(key, 'releases', file);
    assert.equal(here.status, 200, await here.text());
    const there = await upload(key, 'nightlies', file);
    assert.equal(there.status, 403, await there.text());
  });

  it('a READ key cannot upload', async () => {
    const key = (await create({ name: 'read-only', accessMode: 'READ' })).body.data!.createApiKey.key!;
    const r = await upload(key);
    assert.equal(r.status, 403, await r.text());
  });
});

describe('apiKeys', () => {
  it('lists every key of the caller, never with the key itself', async () => {
    const keys = await list();
    assert.ok(keys.length >= 5, JSON.stringify(keys));
    for (const k of keys) assert.equal(k.key, null, `apiKeys showed the key of ${k.name}`);
    assert.ok(keys.some((k) => k.name === 'uploader'));
    // `ci` was used once (viewer), `new_key` never.
    const ci = await waitFor(async () => (await list()).find((k) => k.name === 'ci' && k.lastUsedAt !== null), 2000, 100);
    assert.ok(Math.abs(Date.parse(ci.lastUsedAt!) - Date.now()) < 120_000, ci.lastUsedAt!);
    assert.equal(keys.find((k) => k.name === 'new_key')?.lastUsedAt, null);
  });

  it('does not show the key even when asked with that very key', async () => {
    const fresh = (await create({ name: 'self' })).body.data!.createApiKey.key!;
    const keys = await list(fresh);
    assert.equal(keys.find((k) => k.name === 'self')?.key, null);
  });

  it('shows only the caller own keys, and none to anonymous callers', async () => {
    const names = (await list(server.adminKey)).map((k) => k.name);
    assert.ok(!names.includes('uploader'), names.join(','));
    assert.deepEqual(await gqlData(server, '{ apiKeys { name } }'), { apiKeys: [] });
  });
});

describe('revokeApiKey and deleteApiKey', () => {
  it('a revoked key gets 401 on REST and viewer null on GraphQL, and shows revokedAt', async () => {
    const key = (await create({ name: 'to-revoke' })).body.data!.createApiKey.key!;
    assert.deepEqual(await viewer(key), { login: 'carol' });
    const res = await gqlData(server, 'mutation { revokeApiKey(name: "to-revoke") }', undefined, carol.key);
    assert.deepEqual(res, { revokeApiKey: true });
    const r = await upload(key);
    assert.equal(r.status, 401, await r.text());
    assert.equal(await viewer(key), null);
    const listed = (await list()).find((k) => k.name === 'to-revoke')!;
    assert.ok(listed.revokedAt && Math.abs(Date.parse(listed.revokedAt) - Date.now()) < 60_000, JSON.stringify(listed));
  });

  it('a key stops working once it expires', async () => {
    const user = (await server.core.repos.users.byLogin('carol'))!;
    const { token } = await server.core.users.createKey(user, { name: 'short-lived', expiresAt: Date.now() + 1000 });
    assert.deepEqual(await viewer(token), { login: 'carol' });
    await waitFor(async () => (await viewer(token)) === null, 5000, 100);
    const r = await upload(token);
    assert.equal(r.status, 401, await r.text());
  });

  it('revoking an unknown or already revoked key is NOT_FOUND', async () => {
    assertGqlError(await gql(server, 'mutation { revokeApiKey(name: "to-revoke") }', undefined, carol.key), 'NOT_FOUND');
    assertGqlError(await gql(server, 'mutation { revokeApiKey(name: "never-made") }', undefined, carol.key), 'NOT_FOUND');
  });

  it('deleteApiKey removes the key from apiKeys and stops it working', async () => {
    const key = (await create({ name: 'to-delete' })).body.data!.createApiKey.key!;
    assert.deepEqual(await gqlData(server, 'mutation delApiKey { deleteApiKey(name: "to-delete") }', undefined, carol.key), { deleteApiKey: true });
    assert.ok(!(await list()).some((k) => k.name === 'to-delete'));
    assert.equal(await viewer(key), null);
    const r = await upload(key);
    assert.equal(r.status, 401, await r.text());
    assertGqlError(await gql(server, 'mutation { deleteApiKey(name: "to-delete") }', undefined, carol.key), 'NOT_FOUND');
  });

  it("cannot touch another user's key", async () => {
    assertGqlError(await gql(server, 'mutation { revokeApiKey(name: "uploader") }', undefined, server.adminKey), 'NOT_FOUND');
    assert.ok((await list()).some((k) => k.name === 'uploader' && k.revokedAt === null));
  });

  it('refuses anonymous callers with UNAUTHENTICATED and HTTP 200', async () => {
    for (const m of ['mutation { revokeApiKey(name: "uploader") }', 'mutation { deleteApiKey(name: "uploader") }']) {
      const res = await gql(server, m);
      assertGqlError(res, 'UNAUTHENTICATED', m);
    }
    assert.ok((await list()).some((k) => k.name === 'uploader' && k.revokedAt === null));
  });
});
