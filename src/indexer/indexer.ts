// The background indexer: keeps every subdir's index files in line with the
// database. What the files contain is decided by pure modules (repodata.ts,
// shards.ts, run-exports.ts, channeldata.ts); index-writer.ts writes them.
// This facade wires the jobs around them: debouncer.ts schedules and
// coalesces, passes.ts runs a pass under its lease (pass-lease.ts),
// channeldata-lane.ts rebuilds channeldata.json, collector.ts removes what
// published generations no longer need.
//
// - Changes bump a subdir's revision and mark the changed package names in
//   the same transaction. notify() is the in-process fast path; a poll of
//   dirty subdirs picks up changes made by other processes (the CLI).
// - Two passes per subdir: 'shards' (run almost at once) and 'full'
//   (coalesced over a debounce). Changes during a pass only mark the subdir
//   for one more pass.
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
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { IndexKind, Repositories } from '../db/repositories.js';
import type { SubdirRef } from '../types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { ChanneldataLane } from './channeldata-lane.js';
import { Collector } from './collector.js';
import { KeyedDebouncer, drainTogether } from './debouncer.js';
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
  /** Superseded shard files are deleted once superseded this long (Config.supersededShardRetentionMs). */
  supersededShardRetentionMs: number;
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
  private readonly passes: IndexPasses;
  // Three lanes: passes of one kind run one at a time (on two cores parallel
  // rewrites would only compete with request handling), but a shard pass
  // (kilobytes) never waits behind a full rewrite, and neither waits behind
  // channeldata.json (seconds at conda-forge size). Each pass reads its own
  // snapshot connection and holds its own kind of lease.
  private readonly scheduler: KeyedDebouncer<Job>;
  private readonly channeldata: ChanneldataLane;
  private pollTimer: NodeJS.Timeout | null = null;
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
      shardPassesIdle: () => this.scheduler.laneIdle('shards'),
    });
    this.passes = new IndexPasses(repos, store, log, new Collector(repos, store, opts.supersededShardRetentionMs), {
      owner: opts.owner,
      leaseMs: opts.leaseMs ?? 30_000,
      ...(opts.writeFull ? { writeFull: opts.writeFull } : {}),
      onFullPublished: (ref) => this.channeldata.schedule(ref),
    });
    this.scheduler = new KeyedDebouncer<Job>({
      run: (job) => this.passes.run(job.ref, job.kind),
      laneOf: (job) => job.kind,
      againDelayMs: (job) => (job.kind === 'shards' ? opts.shardDebounceMs : opts.debounceMs),
      retryBaseMs: opts.retryBaseMs ?? RETRY_BASE_MS,
      retryMaxMs: opts.retryMaxMs ?? RETRY_MAX_MS,
      onFailure: ({ ref: { channel, subdir }, kind }, err, { failures, retryInMs }) => {
        this.failedPasses++;
        this.log.error({ err, channel, subdir, kind, failures, retryInMs }, 'index pass failed; retrying later');
      },
      onRecovery: ({ ref: { channel, subdir }, kind }, failures) => {
        this.log.info({ channel, subdir, kind, failures }, 'index pass succeeded again');
      },
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
        if (this.scheduler.isBackingOff(key)) return;
        if (!(await this.scheduler.runNow(key, { ref, kind }))) return;
      }
    }
  }

  /** Cancels pending work on a (deleted) channel and waits for running work. */
  async forgetChannel(channelId: number): Promise<void> {
    const prefix = `${channelId}/`;
    const running = this.scheduler.forget((key) => key.startsWith(prefix));
    this.channeldata.cancel(channelId);
    await running;
    await this.channeldata.forget(channelId);
  }

  /** Stops scheduling, flushes what is pending, and waits for every pass. */
  async drain(): Promise<void> {
    this.scheduler.stopRetrying();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    // Together: a full pass that finishes queues a channeldata.json rebuild.
    await drainTogether([this.scheduler, this.channeldata]);
    await this.channeldata.quiet();
    this.scheduler.close();
    this.channeldata.close();
  }

  private schedule(job: Job, delayMs: number): void {
    this.scheduler.schedule(jobKey(job.ref, job.kind), job, delayMs);
  }
}
