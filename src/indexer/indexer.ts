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
import type { SubdirRef } from '../core/types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { ChanneldataLane } from './channeldata-lane.js';
import { Collector } from './collector.js';
import type { FullPassWritten } from './full-pass-in-worker.js';
import { publishedRevision } from './pass-lease.js';
import { IndexPasses } from './passes.js';

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
  /** A failed pass is retried after this long, doubling per failure up to `retryMaxMs`. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

type Kind = IndexKind;
interface Job { ref: SubdirRef; kind: Kind }

/** How often indexNow looks again while another process holds the subdir's lease. */
const INDEX_NOW_RETRY_MS = 50;

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 5 * 60_000;

const jobKey = (ref: SubdirRef, kind: Kind) => `${ref.channelId}/${ref.subdir}/${kind}`;

export class Indexer {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; job: Job }>();
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly again = new Map<string, Job>();
  private readonly passes: IndexPasses;
  private readonly channeldata: ChanneldataLane;
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
  private readonly lanes: Record<Kind, Promise<unknown>> = { shards: Promise.resolve(), full: Promise.resolve() };
  /** Passes that failed (tests read it). */
  failedPasses = 0;

  constructor(
    private readonly repos: Repositories,
    store: ObjectStore,
    private readonly log: FastifyBaseLogger,
    private readonly opts: IndexerOptions,
  ) {
    this.channeldata = new ChanneldataLane(repos, store, log, {
      debounceMs: opts.channeldataDebounceMs ?? 1000,
      newestFirst: opts.newestFirst,
      ...(opts.buildChanneldata ? { build: opts.buildChanneldata } : {}),
      shardPassesIdle: () => this.shardPassesIdle(),
    });
    this.passes = new IndexPasses(repos, store, log, new Collector(repos, store), {
      owner: opts.owner,
      leaseMs: opts.leaseMs ?? 30_000,
      ...(opts.writeFull ? { writeFull: opts.writeFull } : {}),
      onFullPublished: (ref) => this.channeldata.schedule(ref),
    });
  }

  /** Full rewrites done (tests and benchmarks read it). */
  get rewrites(): number {
    return this.passes.rewrites;
  }

  get shardPasses(): number {
    return this.passes.shardPasses;
  }

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
      return (['shards', 'full'] as const).filter((kind) => publishedRevision(s, kind) < target);
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
    this.channeldata.cancel(channelId);
    await Promise.all([...this.running].filter(([key]) => key.startsWith(prefix)).map(([, p]) => p));
    await this.channeldata.forget(channelId);
  }

  /** Stops scheduling, flushes what is pending, and waits for every pass. */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    // Together: a full pass that finishes queues a channeldata.json rebuild.
    while (this.timers.size > 0 || this.running.size > 0 || this.channeldata.busy()) {
      for (const [key, { timer, job }] of this.timers) {
        clearTimeout(timer);
        this.timers.delete(key);
        void this.launch(job);
      }
      this.channeldata.flush();
      await Promise.all([...this.running.values(), ...Object.values(this.lanes), this.channeldata.settled()]);
    }
    await this.channeldata.quiet();
    this.closed = true;
    this.channeldata.close();
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
      .then(() => this.passes.run(job.ref, job.kind))
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

  /** Resolves after a turn of the event loop with no shard pass running. */
  private async shardPassesIdle(): Promise<void> {
    for (;;) {
      const shards = this.lanes.shards;
      await shards;
      await yieldToEventLoop();
      if (shards === this.lanes.shards) return;
    }
  }
}
