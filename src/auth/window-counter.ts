// Counts what a name (a client address, a key id) did in a fixed window that
// opens at its first event: the event that reaches `max` blocks the name
// until that window ends. The failed-authentication limits
// (auth/authenticate.ts) and the limit on refused GraphQL documents
// (graphql/index.ts) are both made of these.
//
// Memory stays bounded however many names an attacker sprays: names still
// under the limit are dropped least recently counted first past
// `maxCounting`, and blocked names are kept apart, so a flood of one-off
// names cannot push out the ones that earned a block; past `maxBlocked` the
// earliest block goes first.

export interface WindowCounterOptions {
  max: number;
  windowMs: number;
  /** Names under the limit kept at once (default 5,000). */
  maxCounting?: number;
  /** Blocked names kept at once (default 100,000). */
  maxBlocked?: number;
  /** The clock, in ms (default Date.now). */
  now?: () => number;
}

interface Window {
  count: number;
  endsAtMs: number;
}

export class WindowCounter {
  /** Least recently counted first: a Map keeps insertion order, and a count re-inserts. */
  private readonly counting = new Map<string, Window>();
  /** name → when its block ends, earliest block first. */
  private readonly blocked = new Map<string, number>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly maxCounting: number;
  private readonly maxBlocked: number;
  private readonly now: () => number;

  constructor(opts: WindowCounterOptions) {
    this.max = opts.max;
    this.windowMs = opts.windowMs;
    this.maxCounting = opts.maxCounting ?? 5_000;
    this.maxBlocked = opts.maxBlocked ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  /** Whole seconds until `name` may try again (at least 1), or null when it is not blocked. */
  blockedFor(name: string): number | null {
    const until = this.blocked.get(name);
    if (until === undefined) return null;
    const leftMs = until - this.now();
    if (leftMs > 0) return Math.ceil(leftMs / 1000);
    this.blocked.delete(name);
    return null;
  }

  /** Counts one event for `name`; one past the limit while blocked changes nothing. */
  count(name: string): void {
    const now = this.now();
    const until = this.blocked.get(name);
    if (until !== undefined) {
      if (until > now) return;
      this.blocked.delete(name);
    }
    let window = this.counting.get(name);
    this.counting.delete(name);
    if (window === undefined || window.endsAtMs <= now) window = { count: 0, endsAtMs: now + this.windowMs };
    window.count++;
    if (window.count >= this.max) {
      dropOldestPast(this.blocked, this.maxBlocked - 1);
      this.blocked.set(name, window.endsAtMs);
      return;
    }
    dropOldestPast(this.counting, this.maxCounting - 1);
    this.counting.set(name, window);
  }

  /** Names held now (counting and blocked), for the memory bound's tests. */
  get trackedNames(): number {
    return this.counting.size + this.blocked.size;
  }
}

function dropOldestPast(map: Map<string, unknown>, keep: number): void {
  for (const name of map.keys()) {
    if (map.size <= keep) return;
    map.delete(name);
  }
}
