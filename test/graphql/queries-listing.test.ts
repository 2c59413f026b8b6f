// Listings through GraphQL: StringFilter on packages and channels, paging,
// users, channelManageAccess, and what a private channel shows to whom.
// A private channel must be indistinguishable from one that does not exist
// for anyone who is not its owner, a member or an admin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fixturePackages } from '../helpers/fixtures.js';
import { assertGqlError, gql, gqlData, uploadAll, userWithKey } from '../helpers/graphql.js';
import { makePackages } from '../helpers/make-packages.js';
import { startServer, tempDataDir, type TestServer } from '../helpers/server.js';

const fixtures = fixturePackages();
const names = [...new Set(fixtures.map((f) => f.name))].sort();
const PUBLIC_CHANNELS = ['alpha-one', 'alpha-two', 'fixtures'];

let server: TestServer;
let olivia: { key: string };
let pat: { key: string };
let outsider: { key: string };
let workDir: string;

before(async () => {
  server = await startServer();
  olivia = await userWithKey(server, 'olivia');
  pat = await userWithKey(server, 'pat');
  outsider = await userWithKey(server, 'outsider');
  for (const [name, key, isPublic] of [['fixtures', olivia.key, true], ['alpha-one', olivia.key, true], ['alpha-two', pat.key, true], ['secret', pat.key, false]] as const) {
    await gqlData(server, `mutation { createChannel(name: "${name}", isPublic: ${isPublic}) { channel { name isPublic } } }`, undefined, key);
  }
  await uploadAll(server, 'fixtures', fixtures, olivia.key);
  workDir = tempDataDir('channeld-listing-');
  const [alphapkg, secretpkg] = await makePackages(workDir, [
    { name: 'alphapkg', version: '1.0', build: '0', subdir: 'noarch', format: 'conda' },
    { name: 'secretpkg', version: '1.0', build: '0', subdir: 'noarch', format: 'conda' },
  ]);
  await uploadAll(server, 'alpha-one', [alphapkg!], olivia.key);
  await uploadAll(server, 'secret', [secretpkg!], pat.key);
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

const packageNames = async (filters: string) =>
  (await gqlData(server, `{ channel(name: "fixtures") { packages(filters: ${filters}, limit: 500) { totalCount page { name } } } }`)).channel.packages;
const channelNames = async (key: string | null, args = 'limit: 500') =>
  (await gqlData(server, `{ channels(${args}) { totalCount page { name } } }`, undefined, key)).channels;

describe('StringFilter on packages', () => {
  const cases: Array<[string, (n: string) => boolean]> = [
    ['{name: {eq: "zlib"}}', (n) => n === 'zlib'],
    ['{name: {ne: "zlib"}}', (n) => n !== 'zlib'],
    ['{name: {isIn: ["zlib", "mock", "no-such-package"]}}', (n) => ['zlib', 'mock'].includes(n)],
    ['{name: {isNotIn: ["zlib", "mock"]}}', (n) => !['zlib', 'mock'].includes(n)],
    ['{name: {isIn: []}}', () => false],
    ['{name: {isNotIn: []}}', () => true],
    ['{name: {startsWith: "dep"}}', (n) => n.startsWith('dep')],
    ['{name: {endsWith: "-package"}}', (n) => n.endsWith('-package')],
    ['{name: {contains: "track"}}', (n) => n.includes('track')],
    // `_` and `%` are LIKE wildcards: a filter must take them literally.
    ['{name: {contains: "_"}}', (n) => n.includes('_')],
    ['{name: {startsWith: "_"}}', (n) => n.startsWith('_')],
    ['{name: {contains: "%"}}', () => false],
    ['{name: {endsWith: "e_"}}', (n) => n.endsWith('e_')],
    ['{name: {startsWith: "d", ne: "dependency"}}', (n) => n.startsWith('d') && n !== 'dependency'],
    ['{and: [{name: {startsWith: "dep"}}, {name: {endsWith: "t"}}]}', (n) => n.startsWith('dep') && n.endsWith('t')],
    ['{or: [{name: {eq: "zlib"}}, {name: {startsWith: "mo"}}]}', (n) => n === 'zlib' || n.startsWith('mo')],
    ['{or: [{and: [{name: {contains: "-"}}, {name: {startsWith: "p"}}]}, {name: {eq: "c"}}]}', (n) => (n.includes('-') && n.startsWith('p')) || n === 'c'],
  ];
  for (const [filters, keep] of cases) {
    it(filters, async () => {
      const expected = names.filter(keep);
      const got = await packageNames(filters);
      assert.deepEqual(got.page.map((p: { name: string }) => p.name).sort(), expected);
      assert.equal(got.totalCount, expected.length);
    });
  }
});

describe('StringFilter on channels', () => {
  const cases: Array<[string, string | null, string[]]> = [
    ['{name: {startsWith: "alpha"}}', null, ['alpha-one', 'alpha-two']],
    ['{owner: {eq: "olivia"}}', null, ['alpha-one', 'fixtures']],
    ['{namespace: {eq: "pat"}}', null, ['alpha-two']],
    ['{namespace: {eq: "pat"}}', 'pat', ['alpha-two', 'secret']],
    ['{isPublic: false}', null, []],
    ['{isPublic: false}', 'pat', ['secret']],
    ['{name: {isIn: ["secret", "fixtures"]}}', 'outsider', ['fixtures']],
    ['{or: [{name: {eq: "fixtures"}}, {owner: {eq: "pat"}}]}', 'pat', ['alpha-two', 'fixtures', 'secret']],
    ['{and: [{owner: {eq: "pat"}}, {isPublic: true}]}', 'pat', ['alpha-two']],
    ['{name: {contains: "-"}, owner: {ne: "olivia"}}', null, ['alpha-two']],
  ];
  for (const [filters, who, expected] of cases) {
    it(`${filters} as ${who ?? 'anonymous'}`, async () => {
      const key = who === null ? null : { pat: pat.key, outsider: outsider.key }[who]!;
      const got = await channelNames(key, `filters: ${filters}, limit: 500`);
      assert.deepEqual(got.page.map((c: { name: string }) => c.name).sort(), expected);
      assert.equal(got.totalCount, expected.length);
    });
  }
});

describe('private channels', () => {
  it('channels lists them to no anonymous caller and no non-member, not even in totalCount', async () => {
    for (const key of [null, outsider.key, olivia.key]) {
      const got = await channelNames(key);
      assert.deepEqual(got.page.map((c: { name: string }) => c.name).sort(), PUBLIC_CHANNELS);
      assert.equal(got.totalCount, PUBLIC_CHANNELS.length);
    }
  });

  it('channels lists them to the owner and to admins', async () => {
    for (const key of [pat.key, server.adminKey]) {
      const got = await channelNames(key);
      assert.deepEqual(got.page.map((c: { name: string }) => c.name).sort(), [...PUBLIC_CHANNELS, 'secret'].sort());
    }
  });

  it('channel(name), package, variant and packages answer null/nothing to outsiders', async () => {
    const q = `{ channel(name: "secret") { name isPublic }
      package(channelName: "secret", name: "secretpkg") { name }
      variant(channelName: "secret", packageName: "secretpkg", platformName: "noarch", fileName: "secretpkg-1.0-0.conda") { filename }
      packages(filters: {name: {eq: "secretpkg"}}) { totalCount page { name } }
      channelManageAccess(channelName: "secret") }`;
    const hidden = { channel: null, package: null, variant: null, packages: { totalCount: 0, page: [] }, channelManageAccess: 'NONE' };
    assert.deepEqual(await gqlData(server, q), hidden, 'anonymous');
    assert.deepEqual(await gqlData(server, q, undefined, outsider.key), hidden, 'outsider');
    assert.deepEqual(await gqlData(server, q, undefined, pat.key), {
      channel: { name: 'secret', isPublic: false }, package: { name: 'secretpkg' }, variant: { filename: 'secretpkg-1.0-0.conda' },
      packages: { totalCount: 1, page: [{ name: 'secretpkg' }] }, channelManageAccess: 'CHANNEL_ROLE',
    });
  });

  it("a user's channels do not show their private channels to others", async () => {
    const q = '{ user(login: "pat") { login channels(limit: 50) { totalCount page { name } } } }';
    assert.deepEqual((await gqlData(server, q)).user.channels, { totalCount: 1, page: [{ name: 'alpha-two' }] });
    assert.deepEqual((await gqlData(server, q, undefined, outsider.key)).user.channels.page, [{ name: 'alpha-two' }]);
    assert.deepEqual((await gqlData(server, q, undefined, pat.key)).user.channels.page.map((c: { name: string }) => c.name).sort(), ['alpha-two', 'secret']);
  });
});

describe('paging', () => {
  const N = names.length;

  it('channel packages: every page, then pages past the end', async () => {
    const pages = Math.ceil(N / 7);
    const all: string[] = [];
    for (let k = 0; k < pages + 2; k++) {
      const got = (await gqlData(server, `{ channel(name: "fixtures") { packages(limit: 7, page: ${k}) { current pages totalCount page { name } } } }`)).channel.packages;
      assert.deepEqual({ current: got.current, pages: got.pages, totalCount: got.totalCount }, { current: k, pages, totalCount: N }, `page ${k}`);
      assert.equal(got.page.length, k < pages - 1 ? 7 : k === pages - 1 ? N - 7 * (pages - 1) : 0, `page ${k}`);
      all.push(...got.page.map((p: { name: string }) => p.name));
    }
    assert.deepEqual(all, names);
  });

  it('top-level packages, far past the end', async () => {
    const got = (await gqlData(server, '{ packages(limit: 10, page: 1000) { current pages totalCount page { name } } }')).packages;
    assert.deepEqual(got, { current: 1000, pages: Math.ceil((N + 1) / 10), totalCount: N + 1, page: [] });
  });

  it('each channel of a listing gets its own page of packages and its own totals', async () => {
    const q = (page: number) => `{ channels(limit: 10) { page { name packages(limit: 5, page: ${page}) { totalCount pages page { name } } } } }`;
    const expected: Record<string, number> = { fixtures: N, 'alpha-one': 1, 'alpha-two': 0 };
    for (const page of [0, 1, 50]) {
      for (const c of (await gqlData(server, q(page))).channels.page) {
        const total = expected[c.name]!;
        assert.equal(c.packages.totalCount, total, `${c.name} page ${page}`);
        assert.equal(c.packages.pages, Math.ceil(total / 5), `${c.name} page ${page}`);
        assert.equal(c.packages.page.length, Math.max(0, Math.min(5, total - 5 * page)), `${c.name} page ${page}`);
      }
    }
  });

  it('variants and versions', async () => {
    const zlib = (page: number) => `{ package(channelName: "fixtures", name: "zlib") { variants(limit: 3, page: ${page}) { current pages totalCount page { filename } } } }`;
    const sizes = [];
    for (const page of [0, 1, 2]) {
      const v = (await gqlData(server, zlib(page))).package.variants;
      assert.deepEqual({ current: v.current, pages: v.pages, totalCount: v.totalCount }, { current: page, pages: 2, totalCount: 4 });
      sizes.push(v.page.length);
    }
    assert.deepEqual(sizes, [3, 1, 0]);
    const versions = (page: number) => `{ package(channelName: "fixtures", name: "dependency") { versions(limit: 1, page: ${page}) { current pages totalCount page { version } } } }`;
    assert.deepEqual((await gqlData(server, versions(0))).package.versions, { current: 0, pages: 2, totalCount: 2, page: [{ version: '2.0' }] });
    assert.deepEqual((await gqlData(server, versions(1))).package.versions, { current: 1, pages: 2, totalCount: 2, page: [{ version: '1.0' }] });
    assert.deepEqual((await gqlData(server, versions(2))).package.versions, { current: 2, pages: 2, totalCount: 2, page: [] });
  });

  it('channels and users', async () => {
    const c = (await gqlData(server, '{ channels(limit: 2, page: 5) { current pages totalCount page { name } } }')).channels;
    assert.deepEqual(c, { current: 5, pages: 2, totalCount: 3, page: [] });
    const u = (await gqlData(server, '{ users(limit: 3, page: 1) { current pages totalCount page { login } } }', undefined, outsider.key)).users;
    assert.deepEqual(u, { current: 1, pages: 2, totalCount: 4, page: [{ login: 'pat' }] });
  });

  it('refuses a limit below 1 or above 500 and a negative page with BAD_USER_INPUT', async () => {
    for (const args of ['limit: 0', 'limit: -1', 'limit: 501', 'page: -1']) {
      assertGqlError(await gql(server, `{ packages(${args}) { totalCount } }`), 'BAD_USER_INPUT', args);
      assertGqlError(await gql(server, `{ channel(name: "fixtures") { packages(${args}) { totalCount } } }`), 'BAD_USER_INPUT', args);
    }
  });
});

describe('users', () => {
  it('users lists everyone to a signed-in user; filters and similarity order work', async () => {
    const all = (await gqlData(server, '{ users { totalCount page { login name } } }', undefined, outsider.key)).users;
    assert.deepEqual(all.page, ['admin', 'olivia', 'outsider', 'pat'].map((l) => ({ login: l, name: l })));
    assert.equal(all.totalCount, 4);
    const o = (await gqlData(server, '{ users(filters: {login: {startsWith: "o"}}) { totalCount page { login } } }', undefined, outsider.key)).users;
    assert.deepEqual(o, { totalCount: 2, page: [{ login: 'olivia' }, { login: 'outsider' }] });
    const sim = (await gqlData(server, '{ users(orderBy: {bySimilarity: {field: LOGIN, matches: "pat"}}) { page { login } } }', undefined, outsider.key)).users;
    assert.equal(sim.page[0].login, 'pat');
  });

  it('who the admins are is for admins: filtering or ordering by isAdmin is FORBIDDEN to others; anonymous callers list no one', async () => {
    const admins = (await gqlData(server, '{ users(filters: {isAdmin: true}) { page { login } } }', undefined, server.adminKey)).users;
    assert.deepEqual(admins.page, [{ login: 'admin' }]);
    const byFlag = (await gqlData(server, '{ users(orderBy: {byField: {field: IS_ADMIN, direction: DESC}}) { page { login } } }', undefined, server.adminKey)).users;
    assert.equal(byFlag.page[0].login, 'admin');
    const probes = [
      '{ users(filters: {isAdmin: true}) { page { login } } }',
      '{ users(filters: {isAdmin: false}) { totalCount } }',
      '{ users(filters: {or: [{login: {eq: "nobody"}}, {and: [{isAdmin: true}]}]}) { page { login } } }',
      '{ users(orderBy: {byField: {field: IS_ADMIN, direction: DESC}}) { page { login } } }',
    ];
    for (const key of [outsider.key, null]) {
      for (const q of probes) assertGqlError(await gql(server, q, undefined, key), 'FORBIDDEN', `${key ? 'signed in' : 'anonymous'}: ${q}`);
    }
    const anon = (await gqlData(server, '{ users { totalCount page { login } } }')).users;
    assert.deepEqual(anon, { totalCount: 0, page: [] });
  });

  it('user(login) finds one user or null', async () => {
    assert.deepEqual(await gqlData(server, '{ user(login: "olivia") { login name } }'), { user: { login: 'olivia', name: 'olivia' } });
    assert.deepEqual(await gqlData(server, '{ user(login: "nobody") { login } }'), { user: null });
  });
});

describe('channelManageAccess', () => {
  it('is ADMIN for an admin, CHANNEL_ROLE for the owner, NONE for everyone else', async () => {
    const q = '{ channelManageAccess(channelName: "fixtures") }';
    assert.deepEqual(await gqlData(server, q, undefined, server.adminKey), { channelManageAccess: 'ADMIN' });
    assert.deepEqual(await gqlData(server, q, undefined, olivia.key), { channelManageAccess: 'CHANNEL_ROLE' });
    assert.deepEqual(await gqlData(server, q, undefined, outsider.key), { channelManageAccess: 'NONE' });
    assert.deepEqual(await gqlData(server, q), { channelManageAccess: 'NONE' });
    assert.deepEqual(await gqlData(server, '{ channelManageAccess(channelName: "no-such-channel") }', undefined, olivia.key), { channelManageAccess: 'NONE' });
  });
});
