// channeldata.json rebuilds share one lane across channels. Deleting a
// channel must wait for that channel's rebuild only, never for other
// channels' rebuilds queued on the lane (a delete once waited a minute
// behind sixty of them), and a rebuild still queued for it must not run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { SubdirRef } from '../../src/types.js';
import { Indexer } from '../../src/indexer/indexer.js';
import { startServer, waitFor, type TestServer } from '../helpers/server.js';

describe('channeldata.json rebuilds and channel deletion', () => {
  let server: TestServer;
  const refs: SubdirRef[] = [];

  before(async () => {
    // The server's own indexer must not pick the touched subdirs up first
    // (its poll, every 500 ms by default): this test's indexer would then
    // wait for the server to publish and never queue a rebuild of its own.
    server = await startServer({ env: { CHANNELD_INDEX_POLL_MS: '3600000' } });
    for (const name of ['cd-slow', 'cd-queued', 'cd-other']) {
      const channel = await server.core.channels.create(name, server.admin.id, { isPublic: true });
      refs.push({ channelId: channel.id, channel: name, subdir: 'noarch' });
    }
  });
  after(() => server?.close());

  it('a delete waits for its own channel only, and drops a rebuild still queued for it', async () => {
    const [slow, queued, other] = refs as [SubdirRef, SubdirRef, SubdirRef];
    const started: number[] = [];
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    const indexer = new Indexer(server.core.repos, server.core.store, pino({ level: 'silent' }), {
      debounceMs: 0, shardDebounceMs: 0, pollMs: 60_000, owner: 'test:1:cd', channeldataDebounceMs: 0,
      newestFirst: (v) => [...v].sort().reverse(), supersededShardRetentionMs: server.core.config.supersededShardRetentionMs,
      buildChanneldata: async (channelId) => {
        started.push(channelId);
        if (channelId === slow.channelId) await slowGate;
        return '{}';
      },
    });
    try {
      // Each channel's full pass queues its channeldata.json: slow's runs
      // (and hangs), queued's and other's wait behind it on the lane.
      for (const ref of [slow, queued, other]) {
        await server.core.repos.indexState.touch(ref.channelId, ref.subdir);
        await indexer.indexNow(ref);
      }
      await waitFor(async () => started.includes(slow.channelId), 5000, 5);

      // Deleting another channel does not wait for slow's rebuild.
      const t0 = performance.now();
      await indexer.forgetChannel(queued.channelId);
      assert.ok(performance.now() - t0 < 1000, `forgetChannel waited ${Math.round(performance.now() - t0)} ms`);

      // Deleting slow's channel waits for its running rebuild.
      let forgotten = false;
      const forgetting = indexer.forgetChannel(slow.channelId).then(() => (forgotten = true));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(forgotten, false, 'forgetChannel returned while its rebuild was still running');
      releaseSlow();
      await forgetting;

      await indexer.drain();
      assert.deepEqual(started, [slow.channelId, other.channelId], 'the deleted channel\'s queued rebuild never ran');
    } finally {
      releaseSlow();
      await indexer.drain();
    }
  });
});
