// Upload intents on a database several replicas share: a starting process
// settles those left by dead processes on its host and leaves live ones
// alone; a running server keeps its own in-flight intents alive and sweeps
// up those of a replica that died on another host. Runs on whichever
// database the suite uses.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import path from 'node:path';
import type { PackageFile } from '../../src/types.js';
import { recover } from '../../src/core/recovery.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

const HOUR = 3_600_000;

function intentFile(channelId: number, filename: string): PackageFile {
  return {
    channelId, subdir: 'noarch', filename, format: 'conda', name: filename.split('-')[0]!, version: '1', build: '0',
    buildNumber: 0, sizeBytes: 10, sha256: 'a'.repeat(64), md5: 'b'.repeat(32), indexJson: '{}', aboutJson: null,
    runExportsJson: null, recordJson: '{"name":"x"}', uploadedBy: null,
  };
}

describe('upload intents beside other replicas', () => {
  const servers: TestServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  test('start-up settles only the intents of dead local processes', async () => {
    const server = await startServer();
    servers.push(server);
    const { core } = server;
    const channel = await core.channels.create('shared-intents', server.admin.id, { isPublic: true });
    // A pid that cannot be running: above Linux's pid_max (2^22).
    const dead = `${hostname()}:${2 ** 22 + 7}:dead`;
    const liveHere = `${hostname()}:${process.pid}:live`;
    const elsewhere = 'another-replica.internal:1234:live';
    assert.equal(await core.repos.packages.reserveUpload(intentFile(channel.id, 'dead-1-0.conda'), false, dead), 'reserved');
    assert.equal(await core.repos.packages.reserveUpload(intentFile(channel.id, 'live-1-0.conda'), false, liveHere), 'reserved');
    assert.equal(await core.repos.packages.reserveUpload(intentFile(channel.id, 'remote-1-0.conda'), false, elsewhere), 'reserved');

    await recover(core.repos, core.store, path.join(server.dataDir, 'tmp'), core.indexer['log'], HOUR);

    const left = (await core.repos.packages.listUploadIntents()).map((i) => i.file.filename).sort();
    assert.deepEqual(left, ['live-1-0.conda', 'remote-1-0.conda']);
    // The dead one's file never reached storage: dropped, not published.
    assert.equal(await core.repos.packages.get(channel.id, 'noarch', 'dead-1-0.conda'), null);
    assert.equal(await core.repos.packages.reserveUpload(intentFile(channel.id, 'remote-1-0.conda'), false, liveHere), 'in-progress');
  });

  test('a running server keeps its own intents alive and sweeps a silent replica\'s', async () => {
    const server = await startServer({ env: { CHANNELD_UPLOAD_INTENT_TIMEOUT_MS: '1200' } });
    servers.push(server);
    const { core } = server;
    const channel = await core.channels.create('swept-intents', server.admin.id, { isPublic: true });
    // Ours: as an upload in flight holds it. Theirs: a replica on another host that has gone quiet.
    assert.equal(await core.repos.packages.reserveUpload(intentFile(channel.id, 'mine-1-0.conda'), false, core.owner), 'reserved');
    assert.equal(await core.repos.packages.reserveUpload(intentFile(channel.id, 'theirs-1-0.conda'), false, 'gone.internal:99:x'), 'reserved');
    const names = async () => (await core.repos.packages.listUploadIntents()).map((i) => i.file.filename).sort();
    await waitFor(async () => !(await names()).includes('theirs-1-0.conda'), 10_000);
    // Three timeouts later ours is still there: the heartbeat kept it alive.
    await new Promise((r) => setTimeout(r, 3600));
    assert.deepEqual(await names(), ['mine-1-0.conda']);
    const aliveAt = (await core.repos.packages.listUploadIntents())[0]!.aliveAt;
    assert.ok(Date.now() - aliveAt < 1200, `heartbeat ${Date.now() - aliveAt} ms ago`);
    // Its file name is free again for anyone.
    assert.equal(await core.repos.packages.reserveUpload(intentFile(channel.id, 'theirs-1-0.conda'), false, core.owner), 'reserved');
    await core.repos.packages.abandonUpload(channel.id, 'noarch', 'theirs-1-0.conda');
    await core.repos.packages.abandonUpload(channel.id, 'noarch', 'mine-1-0.conda');
  });
});
