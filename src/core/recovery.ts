// Start-up recovery for a data folder whose previous server may have been
// killed at any point. Runs before the server accepts requests.
//   - temp files (tmp/ uploads, .tmp-* index writes) are removed;
//   - upload intents left by dead processes (see settleAbandonedIntents) are
//     finished when the file in place is the one the intent describes (the
//     crash hit between rename and commit), and dropped otherwise (the crash
//     hit before the rename); live replicas' are left alone;
//   - leases held by dead processes on this host are released, including a
//     predecessor on this data folder that had our pid (process-owner.ts);
//   - subdirs with queued file deletions are marked for a rewrite, which
//     unlinks those files once the index no longer lists them.
import fsp from 'node:fs/promises';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { Repositories } from '../db/repositories.js';
import { packageKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { hashStream } from './hash-file.js';
import { isDeadLocalOwner } from './process-owner.js';

/** `nodeId`: this data folder's node id (process-owner.ts), so a predecessor that had our pid counts as dead. */
export async function recover(repos: Repositories, store: ObjectStore, tempDir: string, log: FastifyBaseLogger, intentTimeoutMs: number, nodeId: string | null = null): Promise<void> {
  await fsp.rm(tempDir, { recursive: true, force: true });
  await fsp.mkdir(tempDir, { recursive: true });
  const tempRemoved = (await store.cleanTemp?.()) ?? 0;
  const { finished, dropped } = await settleAbandonedIntents(repos, store, intentTimeoutMs, Date.now(), nodeId);
  const leases = await repos.indexState.releaseDeadLeases((owner, host) => isDeadLocalOwner(owner, host, nodeId));
  const marked = await repos.indexState.markSubdirsWithPendingDeletions();
  if (tempRemoved + finished + dropped + leases + marked > 0) {
    log.info({ tempRemoved, intentsFinished: finished, intentsDropped: dropped, leasesReleased: leases, subdirsMarked: marked }, 'recovered from an unclean stop');
  }
}

/**
 * Settles the upload intents nobody will finish: those of dead processes on
 * this host, and those whose owner (anywhere) has not said it is alive for
 * `timeoutMs` (a replica that died on another host). An intent is finished
 * when the stored file is the one it describes (the owner died between
 * "file in place" and "row committed"), and dropped otherwise. Live owners'
 * intents are left alone: their uploads are in flight. Start-up runs it, and
 * a running server sweeps with it now and then, so a dead replica's
 * half-done upload never blocks its file name for long.
 */
export async function settleAbandonedIntents(repos: Repositories, store: ObjectStore, timeoutMs: number, now = Date.now(), nodeId: string | null = null): Promise<{ finished: number; dropped: number }> {
  let finished = 0;
  let dropped = 0;
  const host = hostname();
  for (const { channel, file, owner, aliveAt } of await repos.packages.listUploadIntents()) {
    const abandoned = owner === null || isDeadLocalOwner(owner, host, nodeId) || aliveAt < now - timeoutMs;
    if (!abandoned) continue;
    const key = packageKey(channel, file.subdir, file.filename);
    const stored = await store.read(key);
    const inPlace = stored !== null && (await hashStream(stored.stream)).sha256 === file.sha256;
    try {
      if (inPlace) {
        await repos.packages.commitUpload(file.channelId, file.subdir, file.filename);
        finished++;
      } else {
        await repos.packages.abandonUpload(file.channelId, file.subdir, file.filename);
        dropped++;
      }
    } catch {
      // Another replica's sweep settled it first (its intent is gone).
    }
  }
  return { finished, dropped };
}
