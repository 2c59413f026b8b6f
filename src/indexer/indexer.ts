// The background indexer: keeps every subdir's index files in line with the
// database. The pure part (what repodata.json contains) is repodata.ts; this
// file only schedules, coalesces and writes.
//
// - Changes bump a subdir's revision in the database (in the same
//   transaction as the change). notify() is the in-process fast path; a poll
//   of dirty subdirs picks up changes made by other processes (the CLI).
// - Bursts coalesce: the first change arms a debounce timer; changes during
//   the timer or during a rewrite only mark the subdir for one more pass.
// - A rewrite holds a lease on the subdir row, reads one snapshot, writes a
//   new generation of files (repodata.json, repodata.json.gz) under
//   _index/<revision>-…, then points the subdir at it. Serving reads the
//   pointer, so the variants of one generation always agree and a reader
//   never sees a half-written file.
// - Package files whose rows were deleted are unlinked only after a
//   generation that no longer lists them is live.
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { FastifyBaseLogger } from 'fastify';
import type { Repositories } from '../db/repositories.js';
import type { SubdirRef } from '../core/types.js';
import type { ObjectStore } from '../storage/object-store.js';
import { attestationKey, indexFolderKey, indexKey, packageKey } from '../storage/keys.js';
import { repodataChunks } from './repodata.js';

export interface IndexerOptions {
  debounceMs: number;
  pollMs: number;
  /** Identifies this process in lease rows. */
  owner: string;
  leaseMs?: number;
}

export const REPODATA_VARIANTS = ['repodata.json', 'repodata.json.gz'] as const;

const refKey = (ref: SubdirRef) => `${ref.channelId}/${ref.subdir}`;

export class Indexer {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; ref: SubdirRef }>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Map<string, SubdirRef>();
  private pollTimer: NodeJS.Timeout | null = null;
  private closed = false;
  // Rewrites run one at a time: they share the snapshot connection, and on
  // two cores parallel rewrites would only compete with request handling.
  private chain: Promise<unknown> = Promise.resolve();
  rewrites = 0;

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
        for (const ref of await this.repos.indexState.dirty()) this.schedule(ref, 0);
      } catch (err) {
        this.log.error({ err }, 'indexer poll failed');
      }
    };
    void poll();
    this.pollTimer = setInterval(() => void poll(), this.opts.pollMs);
    this.pollTimer.unref();
  }

  notify(ref: SubdirRef): void {
    this.schedule(ref, this.opts.debounceMs);
  }

  /** Rewrites a subdir now and waits for it (CLI, channel creation, tests). */
  async indexNow(ref: SubdirRef): Promise<void> {
    const key = refKey(ref);
    const pending = this.timers.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.timers.delete(key);
    }
    await this.running.get(key);
    await this.launch(ref);
  }

  /** Cancels pending rewrites of a (deleted) channel and waits for running ones. */
  async forgetChannel(channelId: number): Promise<void> {
    for (const [key, { timer, ref }] of this.timers) {
      if (ref.channelId !== channelId) continue;
      clearTimeout(timer);
      this.timers.delete(key);
    }
    for (const key of this.again.keys()) if (key.startsWith(`${channelId}/`)) this.again.delete(key);
    await Promise.all([...this.running].filter(([key]) => key.startsWith(`${channelId}/`)).map(([, p]) => p));
  }

  /** Stops scheduling, flushes what is pending, and waits for every rewrite. */
  async drain(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    while (this.timers.size > 0 || this.running.size > 0) {
      for (const [key, { timer, ref }] of this.timers) {
        clearTimeout(timer);
        this.timers.delete(key);
        void this.launch(ref);
      }
      await Promise.all(this.running.values());
    }
    this.closed = true;
  }

  private schedule(ref: SubdirRef, delayMs: number): void {
    if (this.closed) return;
    const key = refKey(ref);
    if (this.running.has(key)) {
      this.again.set(key, ref);
      return;
    }
    if (this.timers.has(key)) return;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      void this.launch(ref);
    }, delayMs);
    this.timers.set(key, { timer, ref });
  }

  private launch(ref: SubdirRef): Promise<void> {
    const key = refKey(ref);
    const run = this.chain
      .then(() => this.rewrite(ref))
      .then(
        (stillDirty) => {
          if (stillDirty) this.again.set(key, ref);
        },
        (err: unknown) => this.log.error({ err, channel: ref.channel, subdir: ref.subdir }, 'index rewrite failed'),
      )
      .finally(() => {
        this.running.delete(key);
        const next = this.again.get(key);
        this.again.delete(key);
        if (next) this.schedule(next, this.opts.debounceMs);
      });
    this.chain = run;
    this.running.set(key, run);
    return run;
  }

  /** One rewrite. Returns true when the subdir changed meanwhile and needs another pass. */
  private async rewrite(ref: SubdirRef): Promise<boolean> {
    const leaseMs = this.opts.leaseMs ?? 120_000;
    if (!(await this.repos.indexState.tryLease(ref, this.opts.owner, Date.now() + leaseMs))) {
      // Someone else is writing it; the poll brings us back if it stays dirty.
      return false;
    }
    // Nothing to do when a rewrite (ours, or another process's) already
    // covers the latest revision: the poll and notify may both point here.
    const before = await this.repos.indexState.get(ref.channelId, ref.subdir);
    if (before === null || before.indexedRevision >= before.revision) {
      await this.repos.indexState.releaseLease(ref, this.opts.owner);
      return false;
    }
    const started = process.hrtime.bigint();
    let revision: number;
    let written: { sha256: string; sizeBytes: number };
    let records = 0;
    try {
      const snap = this.repos.indexState.snapshot(ref);
      try {
        revision = snap.revision;
        const counted = {
          tarBz2: countingIterable(snap.tarBz2, () => records++),
          conda: countingIterable(snap.conda, () => records++),
        };
        written = await this.store.putStream(
          indexKey(ref.channel, ref.subdir, revision, 'repodata.json'),
          repodataChunks(ref.subdir, counted, snap.removed),
        );
        // Second pass over the same snapshot, so both variants hold the same bytes.
        await this.store.putStream(
          indexKey(ref.channel, ref.subdir, revision, 'repodata.json.gz'),
          Readable.from(repodataChunks(ref.subdir, snap, snap.removed)).pipe(createGzip({ level: 6 })),
        );
      } finally {
        snap.close();
      }
    } catch (err) {
      await this.repos.indexState.releaseLease(ref, this.opts.owner);
      throw err;
    }
    const deletions = await this.repos.indexState.finishIndex(ref, this.opts.owner, {
      revision, sha256: written.sha256, sizeBytes: written.sizeBytes, at: Date.now(),
    });
    for (const d of deletions) {
      await this.store.delete(packageKey(d.channel, d.subdir, d.filename));
      await this.store.delete(attestationKey(d.channel, d.subdir, d.filename));
    }
    await this.repos.indexState.forgetDeletions(deletions.map((d) => d.id));
    await this.collectOldGenerations(ref, revision);
    this.rewrites++;
    const state = await this.repos.indexState.get(ref.channelId, ref.subdir);
    this.log.info(
      { channel: ref.channel, subdir: ref.subdir, revision, records, sizeBytes: written.sizeBytes,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6 },
      'index written',
    );
    return state !== null && state.revision > revision;
  }

  /** Keeps the live generation and the one before it (a reader may have just looked it up). */
  private async collectOldGenerations(ref: SubdirRef, live: number): Promise<void> {
    const folder = indexFolderKey(ref.channel, ref.subdir);
    const names = await this.store.list(folder);
    const generations = [...new Set(names.map((n) => Number.parseInt(n, 10)).filter((g) => Number.isInteger(g)))]
      .sort((a, b) => a - b);
    const older = generations.filter((g) => g < live);
    const keep = new Set([live, older.at(-1)]);
    for (const name of names) {
      const g = Number.parseInt(name, 10);
      if (Number.isInteger(g) && g < live && !keep.has(g)) await this.store.delete(`${folder}/${name}`);
    }
  }
}

function countingIterable<T>(source: Iterable<T>, onItem: () => void): Iterable<T> {
  return {
    *[Symbol.iterator]() {
      for (const item of source) {
        onItem();
        yield item;
      }
    },
  };
}
