// The background indexer: keeps every subdir's index files in line with the
// database. What the files contain is decided by pure modules (repodata.ts,
// shards.ts, run-exports.ts, channeldata.ts); index-writer.ts writes them;
// this file only schedules, coalesces and publishes.
//
// - Changes bump a subdir's revision and mark the changed package names in
//   the same transaction. notify() is the in-process fast path; a poll of
//   dirty subdirs picks up changes made by other processes (the CLI).
// - Two passes per subdir: 'shards' (the changed names' shards and the shard
//   index: kilobytes, run almost at once) and 'full' (repodata.json,
//   run_exports.json and their .zst: coalesced over a debounce). Changes
//   during a pass only mark the subdir for one more pass.
// - A pass holds a lease on the subdir row, reads one snapshot, writes a new
//   generation of files under _index/<revision>-…, then points the subdir at
//   it. Serving reads the pointer, so the variants of one generation always
//   agree and a reader never sees a half-written file.
// - On SQLite the full pass's reading and writing, and channeldata.json, run
//   in worker threads (full-pass-worker.ts, channeldata-worker.ts) with read
//   connections of their own; leases and publishing stay here. On
//   PostgreSQL they run here: their queries wait on the network anyway.
// - A pass that fails is retried after a delay that doubles per failure
//   (logged once per step) and is reset by a success, so a subdir whose pass
//   keeps failing (a record or name stored before a rule was tightened, a
//   storage folder it cannot write) neither spins nor holds back start-up,
//   other subdirs, or indexNow's callers.
// - Package files whose rows were deleted are unlinked only once both kinds
//   of index no longer list them; superseded shards live a week more.
import { setTimeout as sleep, setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { IndexKind, Repositories } from '../db/repositories.js';
import type { PendingFileDeletion, SubdirRef, SubdirState } from '../core/types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { SHARD_INDEX_FILE, attestationKey, channeldataKey, indexFolderKey, packageKey, shardKey } from '../storage/keys.js';
import { channeldataFromCatalog } from './channeldata.js';
import type { FullPassWritten } from './full-pass-in-worker.js';
import { writeFull, writeShardIndex, writeShards } from './index-writer.js';
import { ShardIndexEntries } from './shards.js';

export interface IndexerOptions {
  debounceMs: number;
  shardDebounceMs: number;
  pollMs: number;
  /** Identifies this process in lease rows. */
  owner: string;
  /** A pass's lease lasts this long and is renewed every third of it while the pass runs. */
  leaseMs?: number;
  /** channeldata.json is rebuilt at most this often per channel. */
  channeldataDebounceMs?: number;
  /** Orders version strings newest first (conda order). */
  newestFirst: (versions: string[]) => string[];
  /** Builds a channel's channeldata.json off the event loop, when the database allows it. */
  buildChanneldata?: (channelId: number) => Promise<string>;
  /** Writes a full generation off the event loop (from a snapshot of its own), when the database allows it. */
  writeFull?: (ref: SubdirRef) => Promise<FullPassWritten>;
  /** Superseded shard files are deleted once superseded this long (Config.supersededShardRetentionMs). */
  supersededShardRetentionMs: number;
  /** A failed pass is retried after this long, doubling per failure up to `retryMaxMs`. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

type Kind = IndexKind;
interface Job { ref: SubdirRef; kind: Kind }

/** Variants of a generation and the pointer that keeps them alive. */
const SHARD_VARIANTS = new Set([SHARD_INDEX_FILE]);

const SHARD_COLLECTION_INTERVAL_MS = 10 * 60_000;

/** Names per channeldata.json query: a few milliseconds of work at a time. */
const CHANNELDATA_NAMES_PER_READ = 32;

/** How often indexNow looks again while another process holds the subdir's lease. */
const INDEX_NOW_RETRY_MS = 50;

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 5 * 60_000;

const jobKey = (ref: SubdirRef, kind: Kind) => `${ref.channelId}/${ref.subdir}/${kind}`;

export class Indexer {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; job: Job }>();
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly again = new Map<string, Job>();
  private readonly channeldataTimers = new Map<number, { timer: NodeJS.Timeout; channel: string }>();
  /** Per subdir: the live shards of the shard index this process published last (sha256 of that index). */
  private readonly liveShards = new Map<string, { sha256: string; live: ShardIndexEntries }>();
  /** When each subdir's superseded shards were last looked for (per process; a week's grace makes this lazy). */
  private readonly shardsCollectedAt = new Map<string, number>();
  /** Channels whose channeldata.json rebuild waits on its lane (a second request joins the waiting one). */
  private readonly channeldataQueued = new Set<number>();
  /** The rebuild running on the lane now. */
  private channeldataNow: { channelId: number; done: Promise<void> } | null = null;
  /** Wall time of each channel's last channeldata.json rebuild. */
  private readonly channeldataCostMs = new Map<number, number>();
  /** Passes that failed last time: how often in a row, and when they may run again. */
  private readonly backingOff = new Map<string, { failures: number; retryAt: number }>();
  private pollTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private draining = false;
  // Three lanes: passes of one kind run one at a time (on two cores parallel
  // rewrites would only compete with request handling), but a shard pass
  // (kilobytes) never waits behind a full rewrite, and neither waits behind
  // channeldata.json (seconds at conda-forge size). Each pass reads its own
  // snapshot connection and holds its own kind of lease.
  private readonly lanes: Record<Kind | 'channeldata', Promise<unknown>> = {
    shards: Promise.resolve(), full: Promise.resolve(), channeldata: Promise.resolve(),
  };
  /** Full rewrites done (tests and benchmarks read it). */
  rewrites = 0;
  shardPasses = 0;
  /** Passes that failed (tests read it). */
  failedPasses = 0;

  constructor(
    private readonly repos: Repositories,
    private readonly store: ObjectStore,
    private readonly log: FastifyBaseLogger,
    private readonly opts: IndexerOptions,
  ) {}

  /** Starts the poll for changes made elsewhere, and catches up on what is dirty now. */
  start(): void {
    const poll = async () => {
      try {
        for (const d of await this.repos.indexState.dirty()) {
          if (d.needsShards) this.schedule({ ref: d, kind: 'shards' }, 0);
          if (d.needsIndex) this.schedule({ ref: d, kind: 'full' }, 0);
        }
      } catch (err) {
        this.log.error({ err }, 'indexer poll failed');
      }
    };
    void poll();
    this.pollTimer = setInterval(() => void poll(), this.opts.pollMs);
    this.pollTimer.unref();
  }

  notify(ref: SubdirRef): void {
    this.schedule({ ref, kind: 'shards' }, this.opts.shardDebounceMs);
    this.schedule({ ref, kind: 'full' }, this.opts.debounceMs);
  }

  /** Brings a subdir fully up to date now and waits for it (CLI, channel creation, start-up). */
  async indexNow(ref: SubdirRef): Promise<void> {
    const target = (await this.repos.indexState.get(ref.channelId, ref.subdir))?.revision ?? 0;
    const behind = async () => {
      const s = await this.repos.indexState.get(ref.channelId, ref.subdir);
      if (s === null) return [];
      return (['shards', 'full'] as const).filter((kind) => (kind === 'full' ? s.indexedRevision : s.shardsRevision) < target);
    };
    // A pass finds the subdir leased by another process (a server's poll
    // noticed the change first) and returns at once: then the index is that
    // process's to publish, and this waits for it — a CLI command that
    // created a channel must not exit before the channel is served. Should
    // the holder die, its lease lapses and the next try here takes over.
    const deadline = Date.now() + 2 * (this.opts.leaseMs ?? 30_000) + 5_000;
    let first = true;
    for (let kinds: Kind[] = ['shards', 'full']; kinds.length > 0; kinds = await behind()) {
      if (!first) {
        if (Date.now() > deadline) {
          this.log.warn({ channel: ref.channel, subdir: ref.subdir, target }, 'index not published in time by the process holding its lease');
          return;
        }
        await sleep(INDEX_NOW_RETRY_MS);
      }
      first = false;
      for (const kind of kinds) {
        const key = jobKey(ref, kind);
        // A failing pass is not retried here: its back-off brings it back,
        // and the caller (start-up, a new channel, a CLI) goes on meanwhile.
        if (this.backingOff.has(key)) return;
        const pending = this.timers.get(key);
        if (pending) {
          clearTimeout(pending.timer);
          this.timers.delete(key);
        }
        await this.running.get(key);
        if (!(await this.launch({ ref, kind }))) return;
      }
    }
  }

  /** Cancels pending work on a (deleted) channel and waits for running work. */
  async forgetChannel(channelId: number): Promise<void> {
    const prefix = `${channelId}/`;
    for (const [key, { timer }] of this.timers) {
      if (!key.startsWith(prefix)) continue;
      clearTimeout(timer);
      this.timers.delete(key);
    }
    for (const key of this.again.keys()) if (key.startsWith(prefix)) this.again.delete(key);
    for (const key of this.backingOff.keys()) if (key.startsWith(prefix)) this.backingOff.delete(key);
    const cd = this.channeldataTimers.get(channelId);
    if (cd) clearTimeout(cd.timer);
    this.channeldataTimers.delete(channelId);
    await Promise.all([...this.running].filter(([key]) => key.startsWith(prefix)).map(([, p]) => p));
    // A channeldata.json rebuild must not land after the channel's files are
    // gone: a queued one is dropped, a running one awaited (only this
    // channel's: other channels' rebuilds queued on the lane are not waited for).
    this.channeldataQueued.delete(channelId);
    if (this.channeldataNow?.channelId === channelId) await this.channeldataNow.done;
  }

  /** Stops scheduling, flushes what is pending, and waits for every pass. */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    while (this.timers.size > 0 || this.running.size > 0 || this.channeldataTimers.size > 0) {
      for (const [key, { timer, job }] of this.timers) {
        clearTimeout(timer);
        this.timers.delete(key);
        void this.launch(job);
      }
      for (const [channelId, { timer, channel }] of this.channeldataTimers) {
        clearTimeout(timer);
        this.channeldataTimers.delete(channelId);
        this.queueChanneldata(channelId, channel);
      }
      await Promise.all([...this.running.values(), ...Object.values(this.lanes)]);
    }
    // A channeldata.json write whose timer fired during the last wait lives
    // only on its lane: wait until the lane stops growing.
    for (let tail = this.lanes.channeldata; ; tail = this.lanes.channeldata) {
      await tail;
      if (tail === this.lanes.channeldata) break;
    }
    this.closed = true;
  }

  private schedule(job: Job, delayMs: number): void {
    if (this.closed) return;
    const key = jobKey(job.ref, job.kind);
    if (this.running.has(key)) {
      this.again.set(key, job);
      return;
    }
    if (this.timers.has(key)) return;
    const retryAt = this.backingOff.get(key)?.retryAt ?? 0;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      void this.launch(job);
    }, Math.max(delayMs, retryAt - Date.now()));
    this.timers.set(key, { timer, job });
  }

  /** Runs the pass on its lane; resolves false if it failed (and is backing off). */
  private launch(job: Job): Promise<boolean> {
    const key = jobKey(job.ref, job.kind);
    const { channel, subdir } = job.ref;
    const run = this.lanes[job.kind]
      .then(() => (job.kind === 'shards' ? this.shardPass(job.ref) : this.fullPass(job.ref)))
      .then(
        (stillDirty) => {
          const failed = this.backingOff.get(key);
          if (failed) {
            this.backingOff.delete(key);
            this.log.info({ channel, subdir, kind: job.kind, failures: failed.failures }, 'index pass succeeded again');
          }
          if (stillDirty) this.again.set(key, job);
          return true;
        },
        (err: unknown) => {
          const failures = (this.backingOff.get(key)?.failures ?? 0) + 1;
          const retryInMs = Math.min((this.opts.retryBaseMs ?? RETRY_BASE_MS) * 2 ** (failures - 1), this.opts.retryMaxMs ?? RETRY_MAX_MS);
          this.backingOff.set(key, { failures, retryAt: Date.now() + retryInMs });
          this.failedPasses++;
          this.log.error({ err, channel, subdir, kind: job.kind, failures, retryInMs }, 'index pass failed; retrying later');
          // Retried no sooner than retryAt; not while draining, or a pass
          // that keeps failing would keep shutdown waiting.
          if (!this.draining) this.again.set(key, job);
          return false;
        },
      )
      .finally(() => {
        this.running.delete(key);
        const next = this.again.get(key);
        this.again.delete(key);
        if (next) this.schedule(next, job.kind === 'shards' ? this.opts.shardDebounceMs : this.opts.debounceMs);
      });
    this.lanes[job.kind] = run;
    this.running.set(key, run);
    return run;
  }

  /** Runs `body` under the subdir's lease when the pass has work; returns true if more work came in meanwhile. */
  private async leased(ref: SubdirRef, kind: Kind, body: (state: SubdirState) => Promise<PendingFileDeletion[]>): Promise<boolean> {
    const leaseMs = this.opts.leaseMs ?? 30_000;
    const lease = () => this.repos.indexState.tryLease(ref, kind, this.opts.owner, Date.now() + leaseMs);
    if (!(await lease())) {
      return false; // someone else is writing it; the poll brings us back if it stays dirty
    }
    // Renewed while the pass runs, so a long pass keeps it and a dead
    // process's lapses soon. A pass that lost it anyway (stalled past the
    // expiry, taken over) publishes nothing: finishing checks the owner.
    let renewing: Promise<void> = Promise.resolve();
    const renewal = setInterval(() => {
      renewing = lease().then(
        (held) => { if (!held) this.log.warn({ channel: ref.channel, subdir: ref.subdir, kind }, 'index lease lost to another process'); },
        (err: unknown) => this.log.error({ err }, 'index lease renewal failed'),
      );
    }, Math.max(250, Math.floor(leaseMs / 3)));
    renewal.unref();
    let deletions: PendingFileDeletion[] = [];
    try {
      // Nothing to do when a pass (ours, or another process's) already covers
      // the latest revision: the poll and notify may both point here.
      const state = await this.repos.indexState.get(ref.channelId, ref.subdir);
      const done = state === null || (kind === 'full' ? state.indexedRevision : state.shardsRevision) >= state.revision;
      if (!done) deletions = await body(state);
    } finally {
      clearInterval(renewal);
      await renewing; // a renewal landing after the release would hold the subdir until expiry
      await this.repos.indexState.releaseLease(ref, kind, this.opts.owner);
    }
    for (const d of deletions) {
      await this.store.delete(packageKey(d.channel, d.subdir, d.filename));
      await this.store.delete(attestationKey(d.channel, d.subdir, d.filename));
    }
    await this.repos.indexState.forgetDeletions(deletions.map((d) => d.id));
    const after = await this.repos.indexState.get(ref.channelId, ref.subdir);
    return after !== null && (kind === 'full' ? after.indexedRevision : after.shardsRevision) < after.revision;
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
      const key = jobKey(ref, 'shards');
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
      // Superseded shards live supersededShardRetentionMs; looking for expired ones scans the
      // subdir's shard files (15 ms at 18.6k names), so it is done at most
      // every ten minutes, not on every upload's path.
      if (now - (this.shardsCollectedAt.get(key) ?? 0) >= SHARD_COLLECTION_INTERVAL_MS) {
        this.shardsCollectedAt.set(key, now);
        for (const old of await this.repos.indexState.collectableShards(ref, now - this.opts.supersededShardRetentionMs)) {
          await this.store.delete(shardKey(ref.channel, ref.subdir, old));
          await this.repos.indexState.forgetShardFile(ref, old);
        }
      }
      await this.collectOldGenerations(ref);
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
      await this.collectOldGenerations(ref);
      this.rewrites++;
      this.scheduleChanneldata(ref);
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

  /** Resolves after a turn of the event loop with no shard pass running. */
  private async shardPassesIdle(): Promise<void> {
    for (;;) {
      const shards = this.lanes.shards;
      await shards;
      await yieldToEventLoop();
      if (shards === this.lanes.shards) return;
    }
  }

  private scheduleChanneldata(ref: SubdirRef): void {
    if (this.closed || this.channeldataTimers.has(ref.channelId)) return;
    // At conda-forge size a rebuild costs seconds of CPU: space rebuilds by
    // a few times what the last one took, so they never take over a core.
    const delay = Math.max(this.opts.channeldataDebounceMs ?? 1000, 4 * (this.channeldataCostMs.get(ref.channelId) ?? 0));
    const timer = setTimeout(() => {
      this.channeldataTimers.delete(ref.channelId);
      this.queueChanneldata(ref.channelId, ref.channel);
    }, delay);
    this.channeldataTimers.set(ref.channelId, { timer, channel: ref.channel });
  }

  private queueChanneldata(channelId: number, channel: string): void {
    if (this.channeldataQueued.has(channelId)) return; // the waiting rebuild reads the latest rows when it runs
    this.channeldataQueued.add(channelId);
    this.lanes.channeldata = this.lanes.channeldata.then(async () => {
      if (!this.channeldataQueued.delete(channelId)) return; // the channel was deleted meanwhile
      const done = this.writeChanneldata(channelId, channel);
      this.channeldataNow = { channelId, done };
      try {
        await done;
      } finally {
        this.channeldataNow = null;
      }
    });
  }

  private async writeChanneldata(channelId: number, channel: string): Promise<void> {
    const started = performance.now();
    try {
      // Built elsewhere when the database allows (a worker thread on its own
      // SQLite connection: seconds of SQL and JSON at 465k records, none of
      // it on the event loop). Otherwise here, a slice of names at a time,
      // and as the least urgent work: before each slice a running shard pass
      // finishes first, so an upload's shard pass is not stretched by slices
      // interleaved with its awaits. (Not full passes: seconds each, back to
      // back under steady uploads, they would starve it.)
      const json = this.opts.buildChanneldata
        ? await this.opts.buildChanneldata(channelId)
        : await channeldataFromCatalog(this.repos.catalog, channelId, this.opts.newestFirst, {
          namesPerRead: CHANNELDATA_NAMES_PER_READ, beforeRead: () => this.shardPassesIdle(),
        });
      await this.store.putStream(channeldataKey(channel), [json]);
    } catch (err) {
      this.log.error({ err, channel }, 'channeldata.json write failed');
    } finally {
      this.channeldataCostMs.set(channelId, performance.now() - started);
    }
  }

  /** Per variant, keeps the live generation and the one before it (a reader may have just looked it up). */
  private async collectOldGenerations(ref: SubdirRef): Promise<void> {
    const state = await this.repos.indexState.get(ref.channelId, ref.subdir);
    if (!state) return;
    const folder = indexFolderKey(ref.channel, ref.subdir);
    const byVariant = new Map<string, number[]>();
    for (const name of await this.store.list(folder)) {
      const m = /^(\d+)-(.+)$/.exec(name);
      if (!m) continue;
      const base = m[2]!.replace(/\.gz$/, '');
      byVariant.set(base, [...(byVariant.get(base) ?? []), Number(m[1])]);
    }
    for (const [variant, gens] of byVariant) {
      const live = SHARD_VARIANTS.has(variant) ? state.shardsRevision : state.indexedRevision;
      const older = gens.filter((g) => g < live).sort((a, b) => a - b);
      const keep = new Set([live, older.at(-1)]);
      for (const g of new Set(gens)) {
        if (g >= live || keep.has(g)) continue;
        await this.store.delete(`${folder}/${g}-${variant}`);
        await this.store.delete(`${folder}/${g}-${variant}.gz`);
      }
    }
  }
}
