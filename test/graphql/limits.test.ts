// What keeps one GraphQL request from costing the server a lot: nested
// lists are batched (the number of catalog statements does not grow with
// the page size), over-deep and over-expensive queries are refused before
// they run. Plus the transport details: GET for queries, GraphiQL only
// when asked for.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fixturePackages } from '../helpers/fixtures.js';
import { gql, gqlData, uploadAll, userWithKey, type GqlResponse } from '../helpers/graphql.js';
import { startServer, type TestServer } from '../helpers/server.js';

const CHANNEL = 'fixtures';
const fixtures = fixturePackages();

let server: TestServer;
let owner: { key: string };

before(async () => {
  server = await startServer();
  owner = await userWithKey(server, 'olivia');
  await gqlData(server, `mutation { createChannel(name: "${CHANNEL}") { channel { name } } }`, undefined, owner.key);
  await gqlData(server, 'mutation { createChannel(name: "other") { channel { name } } }', undefined, owner.key);
  await uploadAll(server, CHANNEL, fixtures, owner.key);
  await uploadAll(server, 'other', fixtures.filter((f) => f.folder === 'osx-64'), owner.key);
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

/** Catalog SQL statements one request runs (the request must succeed). */
async function statementsFor(query: string, key: string | null = null): Promise<{ statements: number; data: Record<string, unknown> }> {
  const before = server.core.catalog.statements;
  const data = await gqlData(server, query, undefined, key);
  return { statements: server.core.catalog.statements - before, data };
}

const noData = (res: GqlResponse<unknown>) => res.body.data === null || res.body.data === undefined;

describe('no N+1: statements do not grow with the page size', () => {
  const shapes: Array<[string, (n: number) => string]> = [
    ['the brief\'s channel listing', (n) => `{ channel(name: "${CHANNEL}") { packages(limit: ${n}) { page { name
      variants(limit: 5) { page { filename } } latestVersion { version } } } } }`],
    ['a package page with every per-package field', (n) => `{ channel(name: "${CHANNEL}") { packages(limit: ${n}) { totalCount page { name
      summary description lastCreatedDate totalSize platforms urls { url kind } latestVersionVerified
      latestVersion { version platforms urls { url } } versions(limit: 3) { totalCount page { version urls { kind } } }
      variants(limit: 5) { totalCount page { filename platform version rawIndex rawAbout urls { url } } } channel { name owner { name } } } } } }`],
    ['top-level packages across channels', (n) => `{ packages(limit: ${n}) { page { name channel { name }
      variants(limit: 5) { page { filename } } latestVersion { version } description } } }`],
    ['channels, each with packages and their variants', (n) => `{ channels(limit: ${n}) { page { name size
      packages(limit: ${n}) { page { name latestVersion { version } variants(limit: 5) { page { filename } } } } } } }`],
  ];

  for (const [what, query] of shapes) {
    it(what, async (t) => {
      await statementsFor(query(2)); // statements are prepared on first use; count warm requests
      const small = await statementsFor(query(2));
      const large = await statementsFor(query(20));
      assert.ok(JSON.stringify(large.data).length > JSON.stringify(small.data).length, 'the larger page must return more');
      t.diagnostic(`catalog statements: limit 2 → ${small.statements}, limit 20 → ${large.statements}`);
      assert.ok(small.statements > 0, 'the counter does not count');
      assert.equal(large.statements, small.statements,
        `limit 2 ran ${small.statements} catalog statements, limit 20 ran ${large.statements}`);
    });
  }

  it('the channels shape really had more than one channel with packages', async () => {
    const data = await gqlData(server, '{ channels(limit: 20) { page { name packages(limit: 20) { totalCount } } } }');
    assert.ok(data.channels.page.filter((c: { packages: { totalCount: number } }) => c.packages.totalCount > 0).length >= 2);
  });
});

describe('depth limit', () => {
  // channel → packages → page → channel → … : 16 levels deep.
  const deep = `{ channel(name: "${CHANNEL}") { packages { page { channel { packages { page { channel { packages { page {
    channel { packages { page { channel { packages { page { name } } } } } } } } } } } } } } } }`;

  it('refuses an over-deep query without running it', async () => {
    const before = server.core.catalog.statements;
    const res = await gql(server, deep);
    assert.ok(res.status === 200 || (res.status >= 400 && res.status < 500), `HTTP ${res.status}`);
    assert.ok(noData(res), `data came back: ${JSON.stringify(res.body.data)}`);
    assert.ok((res.body.errors ?? []).length > 0);
    assert.equal(server.core.catalog.statements, before, 'the query ran');
  });

  it('says that the depth is what is wrong', async () => {
    const res = await gql(server, deep);
    const messages = (res.body.errors ?? []).map((e) => e.message).join(' | ');
    assert.match(messages, /depth/i, `the client is not told why: ${JSON.stringify(res.body)}`);
  });

  it('answers a reasonably nested query (10 levels)', async () => {
    const data = await gqlData(server, `{ channel(name: "${CHANNEL}") { packages(limit: 1) { page { channel { packages(limit: 1) { page {
      channel { packages(limit: 1) { page { name } } } } } } } } } }`);
    assert.equal(data.channel.packages.page[0].channel.packages.page[0].channel.packages.page.length, 1);
  });
});

describe('cost limit', () => {
  const expensive = '{ packages(limit: 500) { page { name variants(limit: 500) { page { version filename buildString rawIndex } } } } }';

  for (const [what, query, variables] of [
    ['with literal limits', expensive, undefined],
    ['with limits in variables', 'query ($n: Int) { packages(limit: $n) { page { name variants(limit: $n) { page { version filename } } } } }', { n: 500 }],
    ['hidden in a fragment', 'query { packages(limit: 500) { ...P } } fragment P on PackagePageResult { page { variants(limit: 500) { page { version } } } }', undefined],
  ] as const) {
    it(`refuses an over-expensive query ${what} with BAD_USER_INPUT before it runs`, async () => {
      const before = server.core.catalog.statements;
      const res = await gql(server, query, variables);
      assert.equal(server.core.catalog.statements, before, 'the query ran');
      assert.ok(noData(res), JSON.stringify(res.body.data));
      assert.ok(res.status === 200 || res.status === 400, `HTTP ${res.status}`);
      const codes = (res.body.errors ?? []).map((e) => e.extensions?.code);
      assert.deepEqual(codes, ['BAD_USER_INPUT'], JSON.stringify(res.body));
      assert.match(res.body.errors![0]!.message, /expensive|cost/i);
    });
  }

  it('answers the same shape with small pages', async () => {
    const data = await gqlData(server, '{ packages(limit: 20) { page { name variants(limit: 5) { page { version filename } } } } }');
    assert.equal(data.packages.page.length, 20);
  });
});

describe('transport', () => {
  const get = (query: string, key?: string) =>
    fetch(`${server.url}/api/graphql?query=${encodeURIComponent(query)}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('GET /api/graphql?query={viewer{login}} answers', async () => {
    const withKey = await get('{viewer{login}}', owner.key);
    assert.equal(withKey.status, 200);
    assert.deepEqual(await withKey.json(), { data: { viewer: { login: 'olivia' } } });
    const anonymous = await get('{viewer{login}}');
    assert.equal(anonymous.status, 200);
    assert.deepEqual(await anonymous.json(), { data: { viewer: null } });
  });

  it('names what is wrong with an invalid query (clients show errors[].message)', async () => {
    const res = await gql(server, '{ viewer { login email } }');
    assert.ok(noData(res));
    assert.match((res.body.errors ?? []).map((e) => e.message).join(' | '), /email/, JSON.stringify(res.body));
  });

  it('GET refuses mutations, so a link cannot make a key', async () => {
    const r = await get('mutation { createApiKey(name: "by-link") { key } }', owner.key);
    const body = (await r.json()) as GqlResponse<unknown>['body'];
    assert.ok(r.status >= 400 || (body.errors ?? []).length > 0, JSON.stringify(body));
    assert.ok(!JSON.stringify(body).includes('pfx_'), JSON.stringify(body));
    const keys = await gqlData(server, '{ apiKeys { name } }', undefined, owner.key);
    assert.ok(!keys.apiKeys.some((k: { name: string }) => k.name === 'by-link'));
  });

  it('serves no GraphiQL unless CHANNELD_GRAPHIQL=true', async () => {
    const off = await fetch(`${server.url}/graphiql`);
    await off.arrayBuffer();
    assert.equal(off.status, 404);
    const withIde = await startServer({ env: { CHANNELD_GRAPHIQL: 'true' } });
    try {
      const on = await fetch(`${withIde.url}/graphiql`);
      assert.equal(on.status, 200);
      assert.match(await on.text(), /GraphiQL/);
    } finally {
      await withIde.close();
      fs.rmSync(withIde.dataDir, { recursive: true, force: true });
    }
  });
});
