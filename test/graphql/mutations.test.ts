// Channel and package management through GraphQL, as pixi-pfx and the
// prefix.dev web UI send it: channel CRUD, members, and batch
// yank/unyank/delete of variants, each checked where clients feel it — in
// repodata.json, on the download URL and on disk.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { fixturePackages } from '../helpers/fixtures.js';
import {
  assertGqlError, gql, gqlData, listedIn, repodata, uploadAll, uploadMultipart, userWithKey,
} from '../helpers/graphql.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';
import { keysUnder } from '../helpers/storage.js';

const byName = (f: string) => fixturePackages().find((p) => p.filename === f)!;
const dep1 = byName('dependency-1.0-0.conda');
const dep2 = byName('dependency-2.0-0.conda');
const dependent = byName('dependent-1.0-0.conda');
const flask = byName('flask-0.11.1-py_0.tar.bz2');

let server: TestServer;
let mia: { key: string };
let otto: { key: string };

before(async () => {
  server = await startServer();
  mia = await userWithKey(server, 'mia');
  otto = await userWithKey(server, 'otto');
  await userWithKey(server, 'vic');
  await userWithKey(server, 'cody');
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

const run = (query: string, key: string | null = mia.key) => gql(server, query, undefined, key);
const ok = (query: string, key: string | null = mia.key) => gqlData(server, query, undefined, key);
const entry = (p: { folder: string; filename: string }) => `{subdir: "${p.folder}", filename: "${p.filename}"}`;
async function download(channel: string, p: { folder: string; filename: string }): Promise<{ status: number; sha256: string }> {
  const r = await fetch(`${server.url}/${channel}/${p.folder}/${p.filename}`);
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, sha256: createHash('sha256').update(body).digest('hex') };
}
/** Waits (about a second at most) until repodata.json shows `check` true. */
const settles = (channel: string, subdir: string, check: (doc: Awaited<ReturnType<typeof repodata>>['json']) => boolean) =>
  waitFor(async () => check((await repodata(server, channel, subdir)).json), 1500);

describe('createChannel, updateChannel, deleteChannel', () => {
  it('creates a channel that serves an empty noarch/repodata.json at once', async () => {
    const data = await ok(`mutation { createChannel(name: "work", description: "Work in progress", isPublic: true) {
      channel { name description isPublic logo allowV3Uploads channelPath baseUrl owner { name } namespace { name } } } }`);
    assert.deepEqual(data.createChannel.channel, {
      name: 'work', description: 'Work in progress', isPublic: true, logo: null, allowV3Uploads: false,
      channelPath: '/work', baseUrl: `${server.url}/work`, owner: { name: 'mia' }, namespace: { name: 'mia' },
    });
    const { status, json } = await repodata(server, 'work', 'noarch');
    assert.equal(status, 200);
    assert.deepEqual(json, { info: { subdir: 'noarch' }, packages: {}, 'packages.conda': {}, removed: [], repodata_version: 1 });
  });

  it('refuses a name taken, an invalid name and an anonymous caller', async () => {
    assertGqlError(await run('mutation { createChannel(name: "work") { channel { name } } }', otto.key), 'BAD_USER_INPUT', 'taken');
    assertGqlError(await run('mutation { createChannel(name: "Not A Name!") { channel { name } } }'), 'BAD_USER_INPUT', 'invalid');
    assertGqlError(await run('mutation { createChannel(name: "anon-channel") { channel { name } } }', null), 'UNAUTHENTICATED');
  });

  it('updates settings; making the channel private hides it from everyone else', async () => {
    await ok('mutation { createChannel(name: "shy") { channel { name } } }');
    const data = await ok('mutation { updateChannel(name: "shy", description: "now private", isPublic: false, logo: "https://example.org/logo.png") { channel { name description isPublic logo } } }');
    assert.deepEqual(data.updateChannel.channel, { name: 'shy', description: 'now private', isPublic: false, logo: 'https://example.org/logo.png' });
    assert.deepEqual(await ok('{ channel(name: "shy") { name } }', null), { channel: null });
    assert.deepEqual(await ok('{ channel(name: "shy") { name } }', otto.key), { channel: null });
    assert.notEqual((await repodata(server, 'shy', 'noarch')).status, 200);
    assert.deepEqual(await ok('{ channel(name: "shy") { description } }'), { channel: { description: 'now private' } });
  });

  it('refuses updates by others (FORBIDDEN) and of unknown channels (NOT_FOUND)', async () => {
    assertGqlError(await run('mutation { updateChannel(name: "work", description: "mine now") { channel { name } } }', otto.key), 'FORBIDDEN');
    assertGqlError(await run('mutation { updateChannel(name: "no-such-channel", description: "x") { channel { name } } }'), 'NOT_FOUND');
    assert.deepEqual(await ok('{ channel(name: "work") { description } }'), { channel: { description: 'Work in progress' } });
  });

  it('deleteChannel removes its records, its files and its URLs', async () => {
    await ok('mutation { createChannel(name: "doomed") { channel { name } } }');
    await uploadAll(server, 'doomed', [dep1, flask], mia.key);
    await settles('doomed', 'noarch', (doc) => listedIn(doc, dep1.filename) && listedIn(doc, flask.filename));
    assertGqlError(await run('mutation { deleteChannel(name: "doomed") { channel { name } } }', otto.key), 'FORBIDDEN');
    const data = await ok('mutation { deleteChannel(name: "doomed") { channel { name } } }');
    assert.deepEqual(data, { deleteChannel: { channel: { name: 'doomed' } } });
    assert.deepEqual(await keysUnder(server.core.store, 'doomed', ['noarch', '_index', 'shards']), [], 'files left under doomed/');
    assert.equal((await repodata(server, 'doomed', 'noarch')).status, 404);
    assert.equal((await download('doomed', dep1)).status, 404);
    assert.deepEqual(await ok('{ channel(name: "doomed") { name } }'), { channel: null });
    assertGqlError(await run('mutation { deleteChannel(name: "doomed") { channel { name } } }'), 'NOT_FOUND');
  });

  it('a deleted channel name can be used again, and starts empty', async () => {
    await ok('mutation { createChannel(name: "doomed") { channel { name } } }');
    const data = await ok('{ channel(name: "doomed") { packages { totalCount } } }');
    assert.equal(data.channel.packages.totalCount, 0);
    const { json } = await repodata(server, 'doomed', 'noarch');
    assert.deepEqual(json?.['packages.conda'], {});
    assert.deepEqual(json?.packages, {});
  });
});

describe('channel members', () => {
  const members = async (channel: string, key = mia.key) =>
    (await ok(`{ channel(name: "${channel}") { channelMembers { username role isOwner channel { name } } } }`, key)).channel?.channelMembers;

  it('lists the owner alone, with isOwner true', async () => {
    await ok('mutation { createChannel(name: "club", isPublic: false) { channel { name } } }');
    assert.deepEqual(await members('club'), [{ username: 'mia', role: 'OWNER', isOwner: true, channel: { name: 'club' } }]);
  });

  it('adds members and returns their role; MEMBER is stored as VIEWER', async () => {
    const vic = await ok('mutation { addChannelMember(userName: "vic", channelName: "club", role: MEMBER) { username role isOwner channel { name } } }');
    assert.deepEqual(vic.addChannelMember, { username: 'vic', role: 'VIEWER', isOwner: false, channel: { name: 'club' } });
    const cody = await ok('mutation { addChannelMember(userName: "cody", channelName: "club", role: CONTRIBUTOR) { username role isOwner } }');
    assert.deepEqual(cody.addChannelMember, { username: 'cody', role: 'CONTRIBUTOR', isOwner: false });
    const list = await members('club');
    assert.deepEqual(list.map((m: { username: string; role: string; isOwner: boolean }) => `${m.username} ${m.role} ${m.isOwner}`).sort(),
      ['cody CONTRIBUTOR false', 'mia OWNER true', 'vic VIEWER false']);
  });

  it('members see the private channel; a contributor may upload, a viewer may not', async () => {
    const vicKey = (await server.core.users.createKey((await server.core.repos.users.byLogin('vic'))!, { name: 'k', expiresAt: null })).token;
    const codyKey = (await server.core.users.createKey((await server.core.repos.users.byLogin('cody'))!, { name: 'k', expiresAt: null })).token;
    assert.deepEqual(await ok('{ channel(name: "club") { name } }', vicKey), { channel: { name: 'club' } });
    assert.deepEqual(await ok('{ channel(name: "club") { name } }', otto.key), { channel: null });
    const asViewer = await uploadMultipart(server, 'club', dep1.file, dep1.filename, vicKey);
    assert.equal(asViewer.status, 403, await asViewer.text());
    const asContributor = await uploadMultipart(server, 'club', dep1.file, dep1.filename, codyKey);
    assert.equal(asContributor.status, 200, await asContributor.text());
  });

  it('refuses members of unknown users (NOT_FOUND) and changes by non-owners (FORBIDDEN)', async () => {
    assertGqlError(await run('mutation { addChannelMember(userName: "nobody", channelName: "club", role: VIEWER) { username } }'), 'NOT_FOUND');
    assertGqlError(await run('mutation { addChannelMember(userName: "otto", channelName: "work", role: OWNER) { username } }', otto.key), 'FORBIDDEN');
    assertGqlError(await run('mutation { deleteChannelMember(userName: "mia", channelName: "work") { username } }', otto.key), 'FORBIDDEN');
  });

  it('deleteChannelMember removes the member and returns it', async () => {
    const data = await ok('mutation { deleteChannelMember(userName: "vic", channelName: "club") { username role isOwner } }');
    assert.deepEqual(data.deleteChannelMember, { username: 'vic', role: 'VIEWER', isOwner: false });
    assert.deepEqual((await members('club')).map((m: { username: string }) => m.username).sort(), ['cody', 'mia']);
    assertGqlError(await run('mutation { deleteChannelMember(userName: "vic", channelName: "club") { username } }'), 'NOT_FOUND');
  });
});

describe('batch yank, unyank and delete of variants', () => {
  const yank = (entries: string, reason = 'broken build', extra = '') =>
    `mutation { batchYankPackageVariants(channelName: "work", entries: [${entries}], reason: "${reason}"${extra}) }`;
  const unyank = (entries: string) => `mutation { batchUnyankPackageVariants(channelName: "work", entries: [${entries}]) }`;
  const del = (entries: string) => `mutation { batchDeletePackageVariants(channelName: "work", entries: [${entries}]) }`;
  const variantOf = async (p: typeof dep1) => (await ok(`{ variant(channelName: "work", packageName: "${p.name}", platformName: "${p.folder}", fileName: "${p.filename}") { yankedReason hidden } }`)).variant;

  before(async () => {
    await uploadAll(server, 'work', [dep1, dep2, dependent, flask], mia.key);
    await settles('work', 'noarch', (doc) => [dep1, dep2, dependent, flask].every((p) => listedIn(doc, p.filename)));
  });

  it('a yanked file leaves repodata.json for "removed" but still downloads', async () => {
    assert.deepEqual(await ok(yank(entry(dependent))), { batchYankPackageVariants: true });
    await settles('work', 'noarch', (doc) => !listedIn(doc, dependent.filename) && !!doc?.removed.includes(dependent.filename));
    assert.deepEqual(await download('work', dependent), { status: 200, sha256: dependent.sha256 });
    assert.deepEqual(await variantOf(dependent), { yankedReason: 'broken build', hidden: false });
  });

  it('unyanking puts it back', async () => {
    assert.deepEqual(await ok(unyank(entry(dependent))), { batchUnyankPackageVariants: true });
    await settles('work', 'noarch', (doc) => listedIn(doc, dependent.filename) && !doc?.removed.includes(dependent.filename));
    assert.deepEqual(await variantOf(dependent), { yankedReason: null, hidden: false });
  });

  it('alsoHide hides the version from listings and latestVersion until unyanked', async () => {
    await ok(yank(entry(dep2), 'bad release', ', alsoHide: true'));
    const q = '{ package(channelName: "work", name: "dependency") { latestVersion { version } variants { page { filename } } all: variants(includeHidden: true) { page { filename yankedReason hidden } } } }';
    const hidden = (await ok(q)).package;
    assert.equal(hidden.latestVersion.version, '1.0');
    assert.deepEqual(hidden.variants.page, [{ filename: dep1.filename }]);
    assert.ok(hidden.all.page.some((v: { filename: string; yankedReason: string; hidden: boolean }) => v.filename === dep2.filename && v.yankedReason === 'bad release' && v.hidden));
    await ok(unyank(entry(dep2)));
    assert.equal((await ok(q)).package.latestVersion.version, '2.0');
  });

  it('a batch with one unknown entry changes nothing (NOT_FOUND)', async () => {
    const unknown = '{subdir: "noarch", filename: "no-such-1.0-0.conda"}';
    for (const m of [yank(`${entry(dep1)}, ${unknown}`), del(`${entry(dep1)}, ${unknown}`), unyank(`${entry(dep1)}, ${unknown}`)]) {
      assertGqlError(await run(m), 'NOT_FOUND', m);
    }
    assert.deepEqual(await variantOf(dep1), { yankedReason: null, hidden: false });
    const { json } = await repodata(server, 'work', 'noarch');
    assert.ok(listedIn(json, dep1.filename) && !json?.removed.includes(dep1.filename), JSON.stringify(json?.removed));
    assert.equal((await download('work', dep1)).status, 200);
  });

  it('only the owner may yank, unyank or delete (FORBIDDEN; UNAUTHENTICATED without a key)', async () => {
    for (const m of [yank(entry(flask)), unyank(entry(flask)), del(entry(flask))]) {
      assertGqlError(await run(m, otto.key), 'FORBIDDEN', m);
      assertGqlError(await run(m, null), 'UNAUTHENTICATED', m);
    }
    assert.deepEqual(await variantOf(flask), { yankedReason: null, hidden: false });
  });

  it('batchDeletePackageVariants removes files from repodata, then from their URLs', async () => {
    assert.deepEqual(await ok(del(`${entry(flask)}, ${entry(dependent)}`)), { batchDeletePackageVariants: true });
    await settles('work', 'noarch', (doc) => !listedIn(doc, flask.filename) && !listedIn(doc, dependent.filename));
    await waitFor(async () => (await download('work', flask)).status === 404 && (await download('work', dependent)).status === 404, 1500);
    assert.equal(await variantOf(flask), null);
    assertGqlError(await run(del(entry(flask))), 'NOT_FOUND');
  });

  it('refuses entries that are not package files or subdirs (BAD_USER_INPUT) and an unknown channel (NOT_FOUND)', async () => {
    assertGqlError(await run(yank('{subdir: "noarch", filename: "../../etc/passwd"}')), 'BAD_USER_INPUT');
    assertGqlError(await run(yank('{subdir: "../x", filename: "dependency-1.0-0.conda"}')), 'BAD_USER_INPUT');
    assertGqlError(await run(yank('')), 'BAD_USER_INPUT');
    assertGqlError(await run(yank(entry(dep1)).replace('"work"', '"no-such-channel"')), 'NOT_FOUND');
  });
});
