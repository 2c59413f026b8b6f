// The README's operator session, run against a data folder while a server
// is serving it:
//
//   $ channeld serve --data /srv/channeld        # first start prints admin's key
//   $ channeld user create bob
//   $ KEY=$(channeld key create --user bob --name ci)
//   $ channeld channel create bobchan --owner bob
//   $ cp pkg.conda /srv/channeld/channels/bobchan/noarch/ && channeld reindex bobchan
//   $ channeld key revoke --user bob --name ci
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { rawUpload } from '../helpers/clients.js';
import { fixturePackages, type FixturePackage } from '../helpers/fixtures.js';
import { runCli, spawnServer, tempDataDir, waitFor, type ChildServer } from '../helpers/server.js';
import { putByHand, storeFor } from '../helpers/storage.js';
import { packageKey } from '../../src/storage/keys.js';

const KEY_LINE = /^pfx_[A-Za-z0-9]{52}\n$/;
const KEY_ANYWHERE = /pfx_[A-Za-z0-9]{52}/g;
const dirs: string[] = [];
const servers: ChildServer[] = [];

after(async () => {
  for (const s of servers) await s.stop('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function fixture(filename: string): FixturePackage {
  const pkg = fixturePackages().find((p) => p.filename === filename);
  assert.ok(pkg, filename);
  return pkg;
}

async function upload(url: string, channel: string, key: string, pkg: FixturePackage) {
  const res = await rawUpload(url, channel, pkg, key);
  return { status: res.status, body: (await res.json()) as { error?: string } };
}

async function listed(url: string, channel: string, subdir: string): Promise<Record<string, { sha256: string }>> {
  const res = await fetch(`${url}/${channel}/${subdir}/repodata.json`);
  if (res.status !== 200) return {};
  const rd = (await res.json()) as { packages: Record<string, { sha256: string }>; 'packages.conda': Record<string, { sha256: string }> };
  return { ...rd.packages, ...rd['packages.conda'] };
}

describe('first start', () => {
  test('prints the admin key once, the key works, and a second start prints no key', async () => {
    const dataDir = tempDataDir('channeld-cli-first-');
    dirs.push(dataDir);
    const first = await spawnServer(dataDir);
    servers.push(first);
    const printed = first.output().match(KEY_ANYWHERE) ?? [];
    assert.equal(printed.length, 1, first.output());
    const adminKey = printed[0]!;

    const made = await runCli(['channel', 'create', 'firstchan', '--owner', 'admin', '--data', dataDir]);
    assert.equal(made.code, 0, made.stderr);
    const pkg = fixture('other-package-0.2-0.conda');
    assert.equal((await upload(first.url, 'firstchan', adminKey, pkg)).status, 200);
    assert.equal(await first.stop(), 0);

    const second = await spawnServer(dataDir);
    servers.push(second);
    assert.doesNotMatch(second.output(), KEY_ANYWHERE);
    const again = await upload(second.url, 'firstchan', adminKey, fixture('other-package-0.2-0.tar.bz2'));
    assert.equal(again.status, 200, 'the printed key still works after a restart');
    assert.equal(await second.stop(), 0);
    assert.doesNotMatch(second.output(), KEY_ANYWHERE);
  });
});

describe('CLI commands while a server runs on the same data folder', () => {
  let dataDir: string;
  let server: ChildServer;
  let bobKey: string;
  const cli = (...args: string[]) => runCli([...args, '--data', dataDir]);

  before(async () => {
    dataDir = tempDataDir('channeld-cli-');
    dirs.push(dataDir);
    server = await spawnServer(dataDir);
    servers.push(server);
  });

  test('user create, then key create prints exactly one line: the key', async () => {
    const user = await cli('user', 'create', 'bob');
    assert.equal(user.code, 0, user.stderr);
    assert.match(user.stdout, /bob/);

    const key = await cli('key', 'create', '--user', 'bob', '--name', 'ci');
    assert.equal(key.code, 0, key.stderr);
    assert.match(key.stdout, KEY_LINE);
    bobKey = key.stdout.trim();
  });

  test('channel create: served at once by the running server', async () => {
    const made = await cli('channel', 'create', 'bobchan', '--owner', 'bob');
    assert.equal(made.code, 0, made.stderr);
    const res = await fetch(`${server.url}/bobchan/noarch/repodata.json`);
    assert.equal(res.status, 200);
    const rd = (await res.json()) as { info: { subdir: string }; packages: object; 'packages.conda': object };
    assert.equal(rd.info.subdir, 'noarch');
    assert.deepEqual(rd.packages, {});
    assert.deepEqual(rd['packages.conda'], {});
  });

  test('channel create refuses an unknown owner and short names, with a clear message', async () => {
    const noOwner = await cli('channel', 'create', 'xchannel', '--owner', 'nobody');
    assert.notEqual(noOwner.code, 0);
    assert.match(noOwner.stderr, /user 'nobody' not found/);
    assert.equal(noOwner.stdout, '');

    const short = await cli('channel', 'create', 'ab', '--owner', 'bob');
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, /at least 3 characters/);
    assert.equal((await fetch(`${server.url}/ab/noarch/repodata.json`)).status, 404);
  });

  test('a key made by the CLI uploads through the server; key revoke refuses it at once', async () => {
    const first = await upload(server.url, 'bobchan', bobKey, fixture('dependency-1.0-0.conda'));
    assert.equal(first.status, 200, JSON.stringify(first.body));

    const revoked = await cli('key', 'revoke', '--user', 'bob', '--name', 'ci');
    assert.equal(revoked.code, 0, revoked.stderr);
    // The server verified this key a moment ago; its cache must not outlive the revocation.
    const after = await upload(server.url, 'bobchan', bobKey, fixture('dependency-2.0-0.conda'));
    assert.equal(after.status, 401);
    assert.equal(after.body.error, 'UNAUTHENTICATED');

    const again = await cli('key', 'revoke', '--user', 'bob', '--name', 'ci');
    assert.notEqual(again.code, 0, 'revoking twice reports there is no active key');
    assert.match(again.stderr, /no active key named 'ci'/);
  });

  test('reindex CHANNEL SUBDIR and reindex CHANNEL pick up files copied by hand', async () => {
    const linux = fixture('zlib-1.2.11-h7b6447c_3.tar.bz2');
    const store = await storeFor(dataDir);
    await putByHand(store, packageKey('bobchan', 'linux-64', linux.filename), linux.file);
    const one = await cli('reindex', 'bobchan', 'linux-64');
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /bobchan\/linux-64: 1 added, 0 dropped/);
    const linuxListed = await waitFor(async () => (await listed(server.url, 'bobchan', 'linux-64'))[linux.filename], 2000);
    assert.equal(linuxListed.sha256, linux.sha256);

    const noarch = fixture('run_constrained-1.0-0.conda');
    await putByHand(store, packageKey('bobchan', 'noarch', noarch.filename), noarch.file);
    const all = await cli('reindex', 'bobchan');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /bobchan\/noarch: 1 added, 0 dropped/);
    assert.match(all.stdout, /bobchan\/linux-64: 0 added, 0 dropped/);
    const noarchListed = await waitFor(async () => (await listed(server.url, 'bobchan', 'noarch'))[noarch.filename], 2000);
    assert.equal(noarchListed.sha256, noarch.sha256);
    const served = await fetch(`${server.url}/bobchan/noarch/${noarch.filename}`);
    assert.equal(served.status, 200);
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), fs.readFileSync(noarch.file));
    // The package uploaded earlier through the server is still listed next to it.
    assert.ok((await listed(server.url, 'bobchan', 'noarch'))['dependency-1.0-0.conda']);
  });

  test('reindex of an unknown channel fails with a clear message', async () => {
    const r = await cli('reindex', 'nosuchchannel');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /channel 'nosuchchannel' not found/);
  });
});

describe('usage', () => {
  test('--help exits 0 with the usage; an unknown command exits 2', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /channeld serve/);
    assert.match(help.stdout, /channeld reindex CHANNEL \[SUBDIR\]/);

    const scratch = tempDataDir('channeld-cli-unknown-');
    dirs.push(scratch);
    const unknown = await runCli(['frobnicate', '--data', scratch]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command: frobnicate/);
  });

  test('a mistyped command leaves the data folder alone', async () => {
    // `channeld sevre` in some directory must not create ./data/channeld.db there.
    const parent = tempDataDir('channeld-cli-typo-');
    dirs.push(parent);
    const dataDir = path.join(parent, 'data');
    const typo = await runCli(['sevre'], { env: { CHANNELD_DATA_DIR: dataDir } });
    assert.equal(typo.code, 2);
    assert.equal(fs.existsSync(dataDir), false, 'an unknown command created the data folder and its database');
  });
});
