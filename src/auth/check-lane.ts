// Expensive credential checks (argon2, ~250 ms of a core) for one subject —
// one API key id, one login — that has failed too often lately run one at a
// time in that subject's lane, so guessing at a known key id costs the
// server one core at most, however many requests arrive. The valid
// credential still gets through: requests from addresses this subject was
// verified from before go first, then those from addresses without too many
// failures, then the rest; each kind waits in a bounded queue, and past the
// bound the caller is asked to retry (nothing queues without limit). p-queue
// gives the serial, prioritised queue.
import PQueue from 'p-queue';

/** Who is asking, best first: an address the subject was verified from, any other address, one over its failure limit. */
export type CallerTier = 'known' | 'clean' | 'failing';

/** How many checks may wait in one lane, by tier. */
export type LaneBounds = Record<CallerTier, number>;

const PRIORITY: Record<CallerTier, number> = { known: 2, clean: 1, failing: 0 };

export class CheckLanes {
  private readonly lanes = new Map<string, PQueue>();

  constructor(private readonly bounds: LaneBounds = { known: 8, clean: 32, failing: 4 }) {}

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
    return (await lane.add(check, { priority, throwOnTimeout: true })) as T;
  }

  /** Lanes with work in them (for tests and metrics). */
  get active(): number {
    return this.lanes.size;
  }
}
