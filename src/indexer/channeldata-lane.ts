// channeldata.json rebuilds: one lane for every channel, each channel's
// rebuild debounced after its full passes and spaced by what the last one
// cost. A failed rebuild is logged and left for the next full pass.
import type { FastifyBaseLogger } from 'fastify';
import type { Repositories } from '../db/repositories.js';
import type { SubdirRef } from '../types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { channeldataKey } from '../storage/keys.js';
import { channeldataFromCatalog } from './channeldata.js';
import type { Drainable } from './debouncer.js';

/** Names per channeldata.json query: a few milliseconds of work at a time. */
const CHANNELDATA_NAMES_PER_READ = 32;

export interface ChanneldataLaneOptions {
  /** A channel's channeldata.json is rebuilt at most this often. */
  debounceMs: number;
  /** Orders version strings newest first (conda order). */
  newestFirst: (versions: string[]) => string[];
  /** Builds a channel's channeldata.json off the event loop, when the database allows it. */
  build?: (channelId: number) => Promise<string>;
  /** Resolves when no shard pass runs (built here, a rebuild yields to them before each slice). */
  shardPassesIdle: () => Promise<void>;
}

export class ChanneldataLane implements Drainable {
  private readonly timers = new Map<number, { timer: NodeJS.Timeout; channel: string }>();
  /** Channels whose rebuild waits on the lane (a second request joins the waiting one). */
  private readonly queued = new Set<number>();
  /** The rebuild running on the lane now. */
  private now: { channelId: number; done: Promise<void> } | null = null;
  /** Wall time of each channel's last rebuild. */
  private readonly costMs = new Map<number, number>();
  private lane: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly repos: Repositories,
    private readonly store: ObjectStore,
    private readonly log: FastifyBaseLogger,
    private readonly opts: ChanneldataLaneOptions,
  ) {}

  schedule(ref: SubdirRef): void {
    if (this.closed || this.timers.has(ref.channelId)) return;
    // At conda-forge size a rebuild costs seconds of CPU: space rebuilds by
    // a few times what the last one took, so they never take over a core.
    const delay = Math.max(this.opts.debounceMs, 4 * (this.costMs.get(ref.channelId) ?? 0));
    const timer = setTimeout(() => {
      this.timers.delete(ref.channelId);
      this.queue(ref.channelId, ref.channel);
    }, delay);
    this.timers.set(ref.channelId, { timer, channel: ref.channel });
  }

  /** Drops the channel's rebuild that waits on its timer. */
  cancel(channelId: number): void {
    const pending = this.timers.get(channelId);
    if (pending) clearTimeout(pending.timer);
    this.timers.delete(channelId);
  }

  /**
   * A rebuild must not land after the channel's files are gone: a queued one
   * is dropped, a running one awaited (only this channel's: other channels'
   * rebuilds queued on the lane are not waited for).
   */
  async forget(channelId: number): Promise<void> {
    this.queued.delete(channelId);
    if (this.now?.channelId === channelId) await this.now.done;
  }

  busy(): boolean {
    return this.timers.size > 0;
  }

  flush(): void {
    for (const [channelId, { timer, channel }] of this.timers) {
      clearTimeout(timer);
      this.timers.delete(channelId);
      this.queue(channelId, channel);
    }
  }

  settled(): Promise<unknown> {
    return this.lane;
  }

  /** Resolves once the lane stops growing: a rebuild whose timer fired during a drain's last wait lives only there. */
  async quiet(): Promise<void> {
    for (let tail = this.lane; ; tail = this.lane) {
      await tail;
      if (tail === this.lane) break;
    }
  }

  close(): void {
    this.closed = true;
  }

  private queue(channelId: number, channel: string): void {
    if (this.queued.has(channelId)) return; // the waiting rebuild reads the latest rows when it runs
    this.queued.add(channelId);
    this.lane = this.lane.then(async () => {
      if (!this.queued.delete(channelId)) return; // the channel was deleted meanwhile
      const done = this.write(channelId, channel);
      this.now = { channelId, done };
      try {
        await done;
      } finally {
        this.now = null;
      }
    });
  }

  private async write(channelId: number, channel: string): Promise<void> {
    const started = performance.now();
    try {
      // Built elsewhere when the database allows (a worker thread on its own
      // SQLite connection: seconds of SQL and JSON at 465k records, none of
      // it on the event loop). Otherwise here, a slice of names at a time,
      // and as the least urgent work: before each slice a running shard pass
      // finishes first, so an upload's shard pass is not stretched by slices
      // interleaved with its awaits. (Not full passes: seconds each, back to
      // back under steady uploads, they would starve it.)
      const json = this.opts.build
        ? await this.opts.build(channelId)
        : await channeldataFromCatalog(this.repos.catalog, channelId, this.opts.newestFirst, {
          namesPerRead: CHANNELDATA_NAMES_PER_READ, beforeRead: this.opts.shardPassesIdle,
        });
      await this.store.putStream(channeldataKey(channel), [json]);
    } catch (err) {
      this.log.error({ err, channel }, 'channeldata.json write failed');
    } finally {
      this.costMs.set(channelId, performance.now() - started);
    }
  }
}
