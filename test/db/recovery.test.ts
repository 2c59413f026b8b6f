// Start-up recovery on a database several replicas share: a starting
// process settles upload intents left by dead processes on its host, and
// leaves alone those of live processes (its own host's or another's).
// Runs on whichever database the suite uses.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import path from 'node:path';
import type { PackageFile } from '../../src/core/types.js';
import { recover } from '../../src/core/recovery.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('start-up recovery beside live replicas', () => {
  let server: TestServer;
  after(() => server?.close());

  test('only intents of dead local processes are settled', async () => {
    server = await startServer();
    const { core } = server;
    const channel = await core.channels.create('shared-intents', server.admin.id, { isPublic: true });
    const file = (filename: string): PackageFile => ({
      channelId: channel.id, subdir: 'noarch', filename, format: 'conda', name: filename.split('-')[0]!, version: '1', build: '0',
      buildNumber: 0, sizeBytes: 10, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), indexJson: '{}', aboutJson: null,
      runExportsJson: null, recordJson: '{"name":"x"}', uploadedBy: null,
    });
    // A pid that cannot be running: above Linux's pid_max (2^22).
    const dead = `${hostname()}:${2 ** 22 + 7}:dead`;
    const liveHere = `${hostname()}:${process.pid}:live`;
    const elsewhere = 'another-replica.internal:1234:live';
    assert.equal(await core.repos.packages.reserveUpload(file('dead-1-0.conda'), false, dead), 'reserved');
    assert.equal(await core.repos.packages.reserveUpload(file('live-1-0.conda'), false, liveHere), 'reserved');
    assert.equal(await core.repos.packages.reserveUpload(file('remote-1-0.conda'), false, elsewhere), 'reserved');

    await recover(core.repos, core.store, path.join(server.dataDir, 'tmp'), core.indexer['log']);

    const left = (await core.repos.packages.listUploadIntents()).map((i) => i.file.filename).sort();
    assert.deepEqual(left, ['live-1-0.conda', 'remote-1-0.conda']);
    // The dead one's file never reached storage: dropped, not published.
    assert.equal(await core.repos.packages.get(channel.id, 'noarch', 'dead-1-0.conda'), null);
    assert.equal(await core.repos.packages.reserveUpload(file('remote-1-0.conda'), false, liveHere), 'in-progress');
  });
});
