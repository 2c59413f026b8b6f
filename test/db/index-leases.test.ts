// A pass that lost its lease (it stalled past the expiry and another process
// took the subdir over) must record nothing: its shards may be older than
// the new holder's. Runs on whichever database the suite uses.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';

describe('index leases', () => {
  const servers: TestServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  test('shards recorded under a lease that was taken over are refused, and nothing of them is kept', async () => {
    const server = await startServer();
    servers.push(server);
    const { indexState } = server.core.repos;
    const channel = await server.core.channels.create('leases', server.admin.id, { isPublic: true });
    const ref = { channelId: channel.id, channel: 'leases', subdir: 'noarch' };
    await indexState.touch(channel.id, 'noarch');
    const stalled = 'stalled-host:1:aaaa';
    const taker = 'other-host:2:bbbb';
    const at = Date.now();

    assert.equal(await indexState.tryLease(ref, 'shards', stalled, at + 60_000), true);
    assert.deepEqual(await indexState.finishShards(ref, stalled, { revision: 1, shards: [{ name: 'kept', sha256: 'a'.repeat(64) }], at }, { listLive: true }),
      [['kept', 'a'.repeat(64)]]);
    // The holder stalls: its lease runs out and another process takes the subdir.
    assert.equal(await indexState.tryLease(ref, 'shards', stalled, at - 1), true);
    assert.equal(await indexState.tryLease(ref, 'shards', taker, at + 60_000), true);
    assert.equal(await indexState.finishShards(ref, stalled, { revision: 1, shards: [{ name: 'kept', sha256: 'b'.repeat(64) }, { name: 'late', sha256: 'c'.repeat(64) }], at }, { listLive: true }), null);
    // A pass without the lease at all is refused the same way.
    assert.equal(await indexState.finishShards(ref, 'never-held:3:cccc', { revision: 1, shards: [{ name: 'kept', sha256: null }], at }, { listLive: false }), null);
    assert.deepEqual(await indexState.finishShards(ref, taker, { revision: 1, shards: [], at }, { listLive: true }), [['kept', 'a'.repeat(64)]]);
    await indexState.releaseLease(ref, 'shards', taker);
  });
});

describe('indexNow while another process holds the lease', () => {
  const servers: TestServer[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  test('waits until the index is published (here: the holder never writes, its lease lapses, this process takes over)', async () => {
    const server = await startServer();
    servers.push(server);
    const { indexState } = server.core.repos;
    const channel = await server.core.channels.create('held', server.admin.id, { isPublic: true });
    const ref = { channelId: channel.id, channel: 'held', subdir: 'noarch' };
    // Another process (a server whose poll saw the change first) holds both leases for 1.5 s.
    const other = 'other-host:9:dddd';
    const until = Date.now() + 1500;
    assert.equal(await indexState.tryLease(ref, 'shards', other, until), true);
    assert.equal(await indexState.tryLease(ref, 'full', other, until), true);
    await indexState.touch(channel.id, 'noarch');
    const target = (await indexState.get(channel.id, 'noarch'))!.revision;
    await server.core.indexer.indexNow(ref);
    const s = (await indexState.get(channel.id, 'noarch'))!;
    assert.ok(Date.now() >= until, 'indexNow returned while the other process still held the subdir');
    assert.ok(s.indexedRevision >= target && s.shardsRevision >= target, `index not published: ${JSON.stringify(s)} for revision ${target}`);
  });
});
