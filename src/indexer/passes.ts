// The two passes over a subdir. 'shards' writes the changed names' shards
// and the shard index (kilobytes); 'full' writes repodata.json,
// run_exports.json and their .zst. Each holds its kind of lease, reads one
// snapshot, writes a new generation of files under _index/<revision>-…, then
// points the subdir at it: serving reads the pointer, so the variants of one
// generation always agree and a reader never sees a half-written file.
import type { FastifyBaseLogger } from 'fastify';
import type { IndexKind, Repositories } from '../db/repositories.js';
import type { PendingFileDeletion, SubdirRef, SubdirState } from '../types.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { Collector } from './collector.js';
import type { FullPassWritten } from './full-pass-in-worker.js';
import { writeFull, writeShardIndex, writeShards } from './index-writer.js';
import { PassLease, publishedRevision } from './pass-lease.js';
import { ShardIndexEntries } from './shards.js';

export interface PassOptions {
  /** Identifies this process in lease rows. */
  owner: string;
  leaseMs: number;
  /** Writes a full generation off the event loop (from a snapshot of its own), when the database allows it. */
  writeFull?: (ref: SubdirRef) => Promise<FullPassWritten>;
  /** Told after each full generation is published. */
  onFullPublished: (ref: SubdirRef) => void;
}

export class IndexPasses {
  /** Full rewrites done (tests and benchmarks read it). */
  rewrites = 0;
  shardPasses = 0;
  private readonly lease: PassLease;
  /** Per subdir: the live shards of the shard index this process published last (sha256 of that index). */
  private readonly liveShards = new Map<string, { sha256: string; live: ShardIndexEntries }>();

  constructor(
    private readonly repos: Repositories,
    private readonly store: ObjectStore,
    private readonly log: FastifyBaseLogger,
    private readonly collector: Collector,
    private readonly opts: PassOptions,
  ) {
    this.lease = new PassLease(repos.indexState, log, { owner: opts.owner, leaseMs: opts.leaseMs });
  }

  /** Runs one pass; resolves true if more work came in meanwhile. */
  run(ref: SubdirRef, kind: IndexKind): Promise<boolean> {
    return kind === 'shards' ? this.shardPass(ref) : this.fullPass(ref);
  }

  private async leased(ref: SubdirRef, kind: IndexKind, body: (state: SubdirState) => Promise<PendingFileDeletion[]>): Promise<boolean> {
    const deletions = await this.lease.hold(ref, kind, body);
    if (deletions === null) {
      return false; // someone else is writing it; the poll brings us back if it stays dirty
    }
    await this.collector.deletedPackages(deletions);
    const after = await this.repos.indexState.get(ref.channelId, ref.subdir);
    return after !== null && publishedRevision(after, kind) < after.revision;
  }

  private shardPass(ref: SubdirRef): Promise<boolean> {
    return this.leased(ref, 'shards', async (state) => {
      const started = process.hrtime.bigint();
      const snap = await this.repos.indexState.snapshot(ref);
      let revision: number;
      let changed;
      try {
        revision = snap.revision;
        changed = await writeShards(this.store, ref, snap);
      } finally {
        await snap.close();
      }
      const now = Date.now();
      // The live list is ours to update while the published index is the one
      // we wrote last; after any other process published, it is read again.
      const key = `${ref.channelId}/${ref.subdir}`;
      const cached = this.liveShards.get(key);
      const mine = cached !== undefined && cached.sha256 === state.shardIndexSha256;
      const listed = await this.repos.indexState.finishShards(ref, this.opts.owner, { revision, shards: changed, at: now }, { listLive: !mine });
      if (listed === null) {
        // Lost the lease (stalled past its expiry, taken over): the new holder records its own.
        this.log.warn({ channel: ref.channel, subdir: ref.subdir, revision }, 'shard pass dropped: its lease was taken over');
        return [];
      }
      // Kept encoded and sorted: a pass re-encodes only the names it changed.
      const live = mine ? cached.live : ShardIndexEntries.from(listed);
      if (mine) for (const s of changed) s.sha256 === null ? live.delete(s.name) : live.set(s.name, s.sha256);
      this.liveShards.delete(key);
      const sha256 = await writeShardIndex(this.store, ref, revision, live);
      const deletions = await this.repos.indexState.publishShardIndex(ref, this.opts.owner, { revision, sha256 });
      this.liveShards.set(key, { sha256, live });
      await this.collector.expiredShards(ref, now);
      await this.collector.oldGenerations(ref);
      this.shardPasses++;
      this.log.debug({ channel: ref.channel, subdir: ref.subdir, revision, shards: changed.length, names: live.size,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6 }, 'shards written');
      return deletions;
    });
  }

  private fullPass(ref: SubdirRef): Promise<boolean> {
    return this.leased(ref, 'full', async () => {
      const started = process.hrtime.bigint();
      const { revision, records, ...written } = this.opts.writeFull ? await this.opts.writeFull(ref) : await this.writeFullHere(ref);
      const deletions = await this.repos.indexState.finishIndex(ref, this.opts.owner, {
        revision, sha256: written.sha256, sizeBytes: written.sizeBytes, at: Date.now(),
      });
      await this.collector.oldGenerations(ref);
      this.rewrites++;
      this.opts.onFullPublished(ref);
      this.log.info({ channel: ref.channel, subdir: ref.subdir, revision, records, sizeBytes: written.sizeBytes,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6 }, 'index written');
      return deletions;
    });
  }

  private async writeFullHere(ref: SubdirRef): Promise<FullPassWritten> {
    let records = 0;
    const snap = await this.repos.indexState.snapshot(ref);
    try {
      const written = await writeFull(this.store, ref, snap, () => records++);
      return { revision: snap.revision, ...written, records };
    } finally {
      await snap.close();
    }
  }
}
