// The lease around an index pass: one process at a time writes a subdir's
// index of one kind. The lease is a row in the database, so it holds across
// processes (a server and the CLI, replicas), and it lapses when its holder
// dies.
import type { FastifyBaseLogger } from 'fastify';
import type { IndexKind, IndexStateRepository } from '../db/repositories.js';
import type { PendingFileDeletion, SubdirRef, SubdirState } from '../types.js';

/** The revision this kind of pass last published for the subdir. */
export const publishedRevision = (state: SubdirState, kind: IndexKind): number =>
  kind === 'full' ? state.indexedRevision : state.shardsRevision;

export class PassLease {
  constructor(
    private readonly indexState: IndexStateRepository,
    private readonly log: FastifyBaseLogger,
    /** `owner` identifies this process in lease rows; a lease lasts `leaseMs` and is renewed every third of it. */
    private readonly opts: { owner: string; leaseMs: number },
  ) {}

  /**
   * Runs `body` under the subdir's lease when the pass has work, and resolves
   * to the package files it made safe to unlink; null when another process
   * holds the lease.
   */
  async hold(ref: SubdirRef, kind: IndexKind, body: (state: SubdirState) => Promise<PendingFileDeletion[]>): Promise<PendingFileDeletion[] | null> {
    const { owner, leaseMs } = this.opts;
    const lease = () => this.indexState.tryLease(ref, kind, owner, Date.now() + leaseMs);
    if (!(await lease())) return null;
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
    try {
      // Nothing to do when a pass (ours, or another process's) already covers
      // the latest revision: the poll and notify may both point here.
      const state = await this.indexState.get(ref.channelId, ref.subdir);
      const done = state === null || publishedRevision(state, kind) >= state.revision;
      return done ? [] : await body(state);
    } finally {
      clearInterval(renewal);
      await renewing; // a renewal landing after the release would hold the subdir until expiry
      await this.indexState.releaseLease(ref, kind, owner);
    }
  }
}
