// Expensive credential checks (argon2, ~250 ms of a core) for one subject —
// one API key id, one login — that has failed too often lately run one at a
// time in that subject's lane, so guessing at a known key id costs the
// server one core at most, however many requests arrive. The valid
// credential still gets through: requests from addresses this subject was
// verified from before go first, then those from addresses without too many
// failures, then the rest; each kind waits in a bounded queue, and past the
// bound the caller is asked to retry (nothing queues without limit).
//
// Every lane feeds one pool of at most half the cores: argon2 takes a core
// and 64 MiB for ~250 ms on libuv's thread pool, which file reads share, so
// unbounded parallel checks would stall downloads and grow memory by 64 MiB
// each. The dummy checks that hide whether a key id exists run only when the
// pool is idle. p-queue gives the serial, prioritised queues.
import os from 'node:os';
import PQueue from 'p-queue';

/** Who is asking, best first: an address the subject was verified from, any other address, one over its failure limit. */
export type CallerTier = 'known' | 'clean' | 'failing';

/** How many checks may wait in one lane, by tier. */
export type LaneBounds = Record<CallerTier, number>;

const PRIORITY: Record<CallerTier, number> = { known: 2, clean: 1, failing: 0 };

export class CheckLanes {
  private readonly lanes = new Map<string, PQueue>();
  private readonly pool: PQueue;

  constructor(
    private readonly bounds: LaneBounds = { known: 8, clean: 32, failing: 4 },
    poolSize = Math.max(1, Math.floor(os.availableParallelism() / 2)),
  ) {
    this.pool = new PQueue({ concurrency: poolSize });
  }

  /**
   * Runs `check` in the subject's lane; 'busy' when the lane's queue for
   * the caller's tier is full.
   */
  async run<T>(subject: string, tier: CallerTier, check: () => Promise<T>): Promise<T | 'busy'> {
    let lane = this.lanes.get(subject);
    if (!lane) {
      lane = new PQueue({ concurrency: 1 });
      this.lanes.set(subject, lane);
      const created = lane;
      created.on('idle', () => {
        if (this.lanes.get(subject) === created) this.lanes.delete(subject);
      });
    }
    const priority = PRIORITY[tier];
    const bound = this.bounds[tier];
    if (lane.sizeBy({ priority }) >= bound) return 'busy';
    return (await lane.add(() => this.pool.add(check, { priority, throwOnTimeout: true }), { priority, throwOnTimeout: true })) as T;
  }

  /** Runs a check that only hides timing (a dummy verify) if the pool has room now; skips it otherwise. */
  async spare(check: () => Promise<unknown>): Promise<void> {
    if (this.pool.size > 0 || this.pool.pending >= this.pool.concurrency) return;
    await this.pool.add(check, { priority: -1 });
  }

  /** Lanes with work in them (for tests and metrics). */
  get active(): number {
    return this.lanes.size;
  }
}
