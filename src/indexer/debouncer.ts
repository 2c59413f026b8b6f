// A keyed single-flight debouncer: work named by a key waits out a delay
// (requests meanwhile join it), runs at most once at a time, and runs once
// more when asked again while it ran. Work that fails backs off: it is
// retried no sooner than a delay that doubles per failure in a row, and a
// success resets it. Lanes order work across keys: one job at a time per
// lane, in the order launched. Nothing here knows what the work is.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

export interface DebouncerOptions<J> {
  /** Does the job; resolves true when it is still behind (more came in meanwhile), and it runs once more. */
  run: (job: J) => Promise<boolean>;
  laneOf: (job: J) => string;
  /** How long a job that must run again waits first, to coalesce what comes in meanwhile. */
  againDelayMs: (job: J) => number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Told once per failure, before the retry is scheduled. */
  onFailure?: (job: J, err: unknown, backOff: { failures: number; retryInMs: number }) => void;
  /** Told when a job that had been failing succeeds. */
  onRecovery?: (job: J, failures: number) => void;
}

/** What drainTogether needs of each part it drains. */
export interface Drainable {
  /** Something waits on a timer or runs. */
  busy(): boolean;
  /** Starts now whatever waits on a timer. */
  flush(): void;
  /** Resolves once what runs now has finished. */
  settled(): Promise<unknown>;
}

/**
 * Flushes and waits until no part is busy. Parts drain in one loop because
 * finishing work in one may give another more (a pass queues a rebuild).
 */
export async function drainTogether(parts: readonly Drainable[]): Promise<void> {
  while (parts.some((p) => p.busy())) {
    for (const p of parts) p.flush();
    await Promise.all(parts.map((p) => p.settled()));
  }
}

export class KeyedDebouncer<J> implements Drainable {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; job: J }>();
  private readonly running = new Map<string, Promise<boolean>>();
  private readonly again = new Map<string, J>();
  /** Jobs that failed last time: how often in a row, and when they may run again. */
  private readonly backingOff = new Map<string, { failures: number; retryAt: number }>();
  private readonly lanes = new Map<string, Promise<unknown>>();
  private closed = false;
  private draining = false;

  constructor(private readonly opts: DebouncerOptions<J>) {}

  /** Runs the job after `delayMs` (or once its back-off ends, if later), unless the key already waits or runs. */
  schedule(key: string, job: J, delayMs: number): void {
    if (this.closed) return;
    if (this.running.has(key)) {
      this.again.set(key, job);
      return;
    }
    if (this.timers.has(key)) return;
    const retryAt = this.backingOff.get(key)?.retryAt ?? 0;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      void this.launch(key, job);
    }, Math.max(delayMs, retryAt - Date.now()));
    this.timers.set(key, { timer, job });
  }

  /** Runs the job now, once the key's running job (if any) has finished; resolves false if it failed. */
  async runNow(key: string, job: J): Promise<boolean> {
    const pending = this.timers.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.timers.delete(key);
    }
    await this.running.get(key);
    return this.launch(key, job);
  }

  isBackingOff(key: string): boolean {
    return this.backingOff.has(key);
  }

  /** Drops what waits (and the back-off) for the matching keys; resolves once their running jobs finish. */
  forget(matches: (key: string) => boolean): Promise<unknown> {
    for (const [key, { timer }] of this.timers) {
      if (!matches(key)) continue;
      clearTimeout(timer);
      this.timers.delete(key);
    }
    for (const key of this.again.keys()) if (matches(key)) this.again.delete(key);
    for (const key of this.backingOff.keys()) if (matches(key)) this.backingOff.delete(key);
    return Promise.all([...this.running].filter(([key]) => matches(key)).map(([, p]) => p));
  }

  /** Resolves after a turn of the event loop with nothing running on the lane. */
  async laneIdle(lane: string): Promise<void> {
    for (;;) {
      const tail = this.lanes.get(lane);
      await tail;
      await yieldToEventLoop();
      if (tail === this.lanes.get(lane)) return;
    }
  }

  busy(): boolean {
    return this.timers.size > 0 || this.running.size > 0;
  }

  flush(): void {
    for (const [key, { timer, job }] of this.timers) {
      clearTimeout(timer);
      this.timers.delete(key);
      void this.launch(key, job);
    }
  }

  settled(): Promise<unknown> {
    return Promise.all([...this.running.values(), ...this.lanes.values()]);
  }

  /** From now on a failed job is not retried: one that keeps failing would keep a drain waiting. */
  stopRetrying(): void {
    this.draining = true;
  }

  /** Takes no more work. */
  close(): void {
    this.closed = true;
  }

  /** Stops retrying, runs what waits at once, waits for everything running, then takes no more work. */
  async drain(): Promise<void> {
    this.stopRetrying();
    await drainTogether([this]);
    this.close();
  }

  private launch(key: string, job: J): Promise<boolean> {
    const lane = this.opts.laneOf(job);
    const run = (this.lanes.get(lane) ?? Promise.resolve())
      .then(() => this.opts.run(job))
      .then(
        (stillBehind) => {
          const failed = this.backingOff.get(key);
          if (failed) {
            this.backingOff.delete(key);
            this.opts.onRecovery?.(job, failed.failures);
          }
          if (stillBehind) this.again.set(key, job);
          return true;
        },
        (err: unknown) => {
          const failures = (this.backingOff.get(key)?.failures ?? 0) + 1;
          const retryInMs = Math.min(this.opts.retryBaseMs * 2 ** (failures - 1), this.opts.retryMaxMs);
          this.backingOff.set(key, { failures, retryAt: Date.now() + retryInMs });
          this.opts.onFailure?.(job, err, { failures, retryInMs });
          // Retried no sooner than retryAt (schedule sees to it); not while
          // draining, or a job that keeps failing would keep the drain waiting.
          if (!this.draining) this.again.set(key, job);
          return false;
        },
      )
      .finally(() => {
        this.running.delete(key);
        const next = this.again.get(key);
        this.again.delete(key);
        if (next) this.schedule(key, next, this.opts.againDelayMs(next));
      });
    this.lanes.set(lane, run);
    this.running.set(key, run);
    return run;
  }
}
