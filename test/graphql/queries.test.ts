// Reading a channel through GraphQL the way prefix.dev's docs and pixi-pfx
// do (prefix-api.md §3.3), after every fixture package went in through
// rattler's multipart upload. What comes back is checked against what the
// files say as conda's own readers see them: expected-index.jsonl,
// MANIFEST.tsv, and info/about.json read by conda-package-streaming.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fixturePackages, type FixturePackage } from '../helpers/fixtures.js';
import { gql, gqlData, uploadAll, userWithKey } from '../helpers/graphql.js';
import { makePackages } from '../helpers/make-packages.js';
import { aboutJsonOf, expectedIndexJson } from '../helpers/package-info.js';
import { startServer, tempDataDir, type TestServer } from '../helpers/server.js';

const CHANNEL = 'fixtures';
const DESCRIPTION = 'Real packages from public repositories';
const fixtures = fixturePackages();
const indexOf = expectedIndexJson();
const names = [...new Set([...fixtures.map((f) => f.name), 'verpkg'])].sort();

// Where string order ("1.9" > "1.10") and conda order (1.10 > 1.9) disagree;
// 1.10 is uploaded first, so "most recently uploaded" disagrees too.
const LATEST: Record<string, string> = { dependency: '2.0', package: '0.2.0', verpkg: '1.10' };
function latestOf(name: string): string {
  if (LATEST[name]) return LATEST[name];
  const versions = new Set(fixtures.filter((f) => f.name === name).map((f) => f.version));
  assert.equal(versions.size, 1, `${name} has several versions; add it to LATEST`);
  return [...versions][0]!;
}

let server: TestServer;
let owner: { key: string };
let about: Map<string, Record<string, unknown> | null>;
let workDir: string;
let verpkgBytes = 0;

before(async () => {
  server = await startServer();
  owner = await userWithKey(server, 'olivia');
  await gqlData(server, `mutation { createChannel(name: "${CHANNEL}", description: "${DESCRIPTION}") { channel { name } } }`, undefined, owner.key);
  await uploadAll(server, CHANNEL, fixtures, owner.key);
  workDir = tempDataDir('channeld-verpkg-');
  const made = await makePackages(workDir, [
    { name: 'verpkg', version: '1.10', build: '0', subdir: 'noarch', format: 'conda' },
    { name: 'verpkg', version: '1.9', build: '0', subdir: 'noarch', format: 'conda' },
  ]);
  await uploadAll(server, CHANNEL, made, owner.key);
  verpkgBytes = made.reduce((a, m) => a + m.sizeBytes, 0);
  about = await aboutJsonOf(fixtures.map((f) => f.file));
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

const aboutOf = (f: FixturePackage) => about.get(f.file) ?? null;
const str = (v: unknown) => (typeof v === 'string' ? v : null);
/** What the docs' `description` should be for a package: its latest version's about.json. */
function descriptionOf(name: string): string | null {
  const f = fixtures.find((p) => p.name === name && p.version === latestOf(name));
  return f ? str(aboutOf(f)?.description) : null;
}

interface Variant {
  version: string; buildString: string; buildNumber: number; platform: string; filename: string; size: number; md5: string;
  sha256: string; yankedReason: string | null; rawIndex: Record<string, unknown>; rawAbout: Record<string, unknown> | null;
  license: string | null;
}

function assertVariantIsFixture(v: Variant): void {
  const f = fixtures.find((p) => p.filename === v.filename && p.folder === v.platform);
  assert.ok(f, `${v.platform}/${v.filename} is not a fixture`);
  const where = `${f.folder}/${f.filename}`;
  assert.deepEqual(
    { version: v.version, buildString: v.buildString, size: v.size, md5: v.md5, sha256: v.sha256, yankedReason: v.yankedReason },
    { version: f.version, buildString: f.build, size: f.sizeBytes, md5: f.md5, sha256: f.sha256, yankedReason: null }, where);
  const index = indexOf.get(f.file)!;
  assert.deepEqual(v.rawIndex, index, `${where} rawIndex`);
  assert.equal(v.buildNumber, index.build_number, `${where} buildNumber`);
  assert.deepEqual(v.rawAbout, aboutOf(f), `${where} rawAbout`);
  assert.equal(v.license, str(aboutOf(f)?.license) ?? str(index.license), `${where} license`);
}

describe('the prefix.dev docs queries', () => {
  it('lists a channel\'s packages with their latest version and description', async () => {
    const data = await gqlData(server, `{ channel(name: "${CHANNEL}") { name description
      packages(limit: 20) { pages page { name latestVersion { totalCount version } description } } } }`);
    const ch = data.channel;
    assert.equal(ch.name, CHANNEL);
    assert.equal(ch.description, DESCRIPTION);
    assert.equal(ch.packages.pages, Math.ceil(names.length / 20));
    assert.equal(ch.packages.page.length, 20);
    for (const p of ch.packages.page as Array<{ name: string; latestVersion: { totalCount: number | null; version: string }; description: string | null }>) {
      assert.ok(names.includes(p.name), p.name);
      assert.equal(p.latestVersion.version, latestOf(p.name), `${p.name} latestVersion`);
      assert.ok(p.latestVersion.totalCount === null || Number.isInteger(p.latestVersion.totalCount));
      assert.equal(p.description, descriptionOf(p.name), `${p.name} description`);
    }
  });

  it('reports sizes as the bytes of the files: channel size, package totalSize', async () => {
    const data = await gqlData(server, `{ channel(name: "${CHANNEL}") { size packages(limit: 100) { page { name totalSize } } } }`);
    const sizeOf = (name: string) => fixtures.filter((f) => f.name === name).reduce((a, f) => a + f.sizeBytes, 0);
    assert.equal(data.channel.size, fixtures.reduce((a, f) => a + f.sizeBytes, 0) + verpkgBytes);
    for (const p of data.channel.packages.page) assert.equal(p.totalSize, p.name === 'verpkg' ? verpkgBytes : sizeOf(p.name), p.name);
  });

  it('shows a package with its channel, owner, latest version and variants', async () => {
    const data = await gqlData(server, `{ package(channelName: "${CHANNEL}", name: "zlib") { name description
      channel { name owner { name } } latestVersion { version }
      variants(limit: 10) { totalCount page { version buildString buildNumber platform filename size md5 sha256 yankedReason rawIndex rawAbout license } } } }`);
    const p = data.package;
    assert.equal(p.name, 'zlib');
    assert.deepEqual(p.channel, { name: CHANNEL, owner: { name: 'olivia' } });
    assert.equal(p.latestVersion.version, '1.2.11');
    assert.equal(p.description, descriptionOf('zlib'));
    assert.match(p.description, /^zlib is designed to be a free/);
    const expected = fixtures.filter((f) => f.name === 'zlib').map((f) => `${f.folder}/${f.filename}`).sort();
    assert.equal(p.variants.totalCount, expected.length);
    assert.deepEqual(p.variants.page.map((v: Variant) => `${v.platform}/${v.filename}`).sort(), expected);
    for (const v of p.variants.page) assertVariantIsFixture(v);
  });

  it('reports every uploaded file exactly as its index.json, about.json and MANIFEST say', async () => {
    const data = await gqlData(server, `{ channel(name: "${CHANNEL}") { packages(limit: 100) { totalCount page { name
      variants(limit: 10) { totalCount page { version buildString buildNumber platform filename size md5 sha256 yankedReason rawIndex rawAbout license } } } } } }`);
    const seen: string[] = [];
    for (const p of data.channel.packages.page) {
      assert.equal(p.variants.totalCount, p.variants.page.length, p.name);
      for (const v of p.variants.page as Variant[]) {
        if (p.name === 'verpkg') continue;
        assertVariantIsFixture(v);
        seen.push(`${v.platform}/${v.filename}`);
      }
    }
    assert.deepEqual(seen.sort(), fixtures.map((f) => `${f.folder}/${f.filename}`).sort());
    assert.equal(data.channel.packages.totalCount, names.length);
  });
});

describe('latestVersion and versions', () => {
  it('follow conda version order, not string order nor upload order', async () => {
    const data = await gqlData(server, `{ package(channelName: "${CHANNEL}", name: "verpkg") {
      latestVersion { version platforms } platforms versions(limit: 10) { totalCount page { version platforms } } } }`);
    assert.deepEqual(data.package.latestVersion, { version: '1.10', platforms: ['noarch'] });
    assert.deepEqual(data.package.versions, { totalCount: 2, page: [{ version: '1.10', platforms: ['noarch'] }, { version: '1.9', platforms: ['noarch'] }] });
    assert.deepEqual(data.package.platforms, ['noarch']);
  });

  it('a package built for several platforms lists them all', async () => {
    const data = await gqlData(server, `{ package(channelName: "${CHANNEL}", name: "llvm-filecheck") { platforms latestVersion { version platforms } } }`);
    assert.deepEqual(data.package.platforms, ['linux-64', 'osx-arm64']);
    assert.deepEqual(data.package.latestVersion, { version: '21.1.8', platforms: ['linux-64', 'osx-arm64'] });
  });
});

describe('variant(channelName, packageName, platformName, fileName)', () => {
  const q = (pkg: string, platform: string, file: string) =>
    `{ variant(channelName: "${CHANNEL}", packageName: "${pkg}", platformName: "${platform}", fileName: "${file}") {
       version buildString buildNumber platform filename size md5 sha256 yankedReason rawIndex rawAbout license hidden } }`;

  it('finds one file', async () => {
    const data = await gqlData(server, q('zlib', 'win-64', 'zlib-1.2.11-h62dcd97_3.tar.bz2'));
    assertVariantIsFixture(data.variant);
    assert.equal(data.variant.hidden, false);
  });

  it('is null for the wrong package name, platform, file or channel', async () => {
    for (const [pkg, platform, file] of [
      ['mock', 'win-64', 'zlib-1.2.11-h62dcd97_3.tar.bz2'],
      ['zlib', 'linux-64', 'zlib-1.2.11-h62dcd97_3.tar.bz2'],
      ['zlib', 'win-64', 'zlib-9.9-0.conda'],
      ['zlib', 'win-64', 'not a package file'],
    ] as const) {
      assert.deepEqual(await gqlData(server, q(pkg, platform, file)), { variant: null }, `${pkg} ${platform} ${file}`);
    }
    const other = await gqlData(server, '{ variant(channelName: "nope", packageName: "zlib", platformName: "win-64", fileName: "zlib-1.2.11-h62dcd97_3.tar.bz2") { filename } }');
    assert.deepEqual(other, { variant: null });
  });
});

describe('package and variant urls from about.json', () => {
  const URLS = '{ url kind order }';
  const query = (name: string) => `{ package(channelName: "${CHANNEL}", name: "${name}") { urls ${URLS}
    latestVersion { urls ${URLS} } variants(limit: 10) { page { filename urls ${URLS} } } } }`;
  type Url = { url: string; kind: string; order: number };
  const pick = (urls: Url[], kinds: string[]) => urls.filter((u) => kinds.includes(u.kind)).map((u) => `${u.kind} ${u.url}`).sort();

  for (const [name, file] of [['test-app-package-icon', 'test-app-package-icon-0.1-0.tar.bz2'], ['zlib', 'zlib-1.2.11-h7b6447c_3.conda']] as const) {
    it(`${name}: home, dev_url and doc_url as HOME, DEV and DOC`, async () => {
      const a = aboutOf(fixtures.find((f) => f.filename === file)!)!;
      const expected = [`HOME ${a.home}`, `DEV ${a.dev_url}`, `DOC ${a.doc_url}`].sort();
      const data = await gqlData(server, query(name));
      const p = data.package;
      const allFromAbout = (urls: Url[]) => urls.every((u) => Object.values(a).includes(u.url));
      for (const [where, urls] of [['Package.urls', p.urls], ['PackageVersion.urls', p.latestVersion.urls],
        ...p.variants.page.map((v: { filename: string; urls: Url[] }) => [`${v.filename} urls`, v.urls])] as Array<[string, Url[]]>) {
        assert.deepEqual(pick(urls, ['HOME', 'DEV', 'DOC']), expected, where);
        assert.ok(allFromAbout(urls), `${where}: ${JSON.stringify(urls)} has a URL that is not in about.json`);
        for (const u of urls) assert.ok(Number.isInteger(u.order) && u.order >= 0, JSON.stringify(u));
      }
    });
  }

  it('a package without about.json has no urls', async () => {
    const nano = fixtures.find((f) => f.name === 'nano')!;
    assert.equal(aboutOf(nano), null);
    const data = await gqlData(server, query('nano'));
    assert.deepEqual(data.package.urls, []);
    assert.deepEqual(data.package.variants.page[0].urls, []);
  });
});

describe('search by similarity', () => {
  it('finds zlib first when searching "zlib", best matches first', async () => {
    const data = await gqlData(server, `{ packages(orderBy: {bySimilarity: {field: NAME, matches: "zlib"}}, limit: 5, page: 0) {
      totalCount page { name similarityScore channel { name } } } }`);
    const page = data.packages.page as Array<{ name: string; similarityScore: number; channel: { name: string } }>;
    assert.equal(page[0]?.name, 'zlib', JSON.stringify(page));
    assert.equal(page[0]?.channel.name, CHANNEL);
    for (let i = 1; i < page.length; i++) assert.ok(page[i - 1]!.similarityScore >= page[i]!.similarityScore, JSON.stringify(page));
    assert.ok(page.every((p) => p.similarityScore > 0 && p.similarityScore <= 1), JSON.stringify(page));
  });

  it('finds llvm-filecheck for "filecheck", and nothing unrelated for a name no package resembles', async () => {
    const first = await gqlData(server, '{ packages(orderBy: {bySimilarity: {field: NAME, matches: "filecheck"}}, limit: 1) { page { name } } }');
    assert.deepEqual(first.packages.page, [{ name: 'llvm-filecheck' }]);
    const none = await gqlData(server, '{ packages(orderBy: {bySimilarity: {field: NAME, matches: "qqqqqqqq"}}) { totalCount page { name } } }');
    assert.deepEqual(none.packages, { totalCount: 0, page: [] });
  });

  it('orders by field as well', async () => {
    const data = await gqlData(server, `{ channel(name: "${CHANNEL}") {
      asc: packages(orderBy: {byField: {field: NAME}}, limit: 500) { page { name } }
      desc: packages(orderBy: {byField: {field: NAME, direction: DESC}}, limit: 500) { page { name } }
      size: packages(orderBy: {byField: {field: TOTAL_SIZE, direction: DESC}}, limit: 1) { page { name totalSize } } } }`);
    const asc = data.channel.asc.page.map((p: { name: string }) => p.name);
    assert.deepEqual(asc, names);
    assert.deepEqual(data.channel.desc.page.map((p: { name: string }) => p.name), [...names].reverse());
    assert.equal(data.channel.size.page[0].name, 'andes');
  });

  it('refuses both byField and bySimilarity at once (@oneOf)', async () => {
    const res = await gql(server, '{ packages(orderBy: {byField: {field: NAME}, bySimilarity: {field: NAME, matches: "z"}}) { totalCount } }');
    assert.ok((res.body.errors ?? []).length > 0, JSON.stringify(res.body));
    assert.ok(!res.body.data?.packages);
  });
});

