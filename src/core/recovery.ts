// Start-up recovery for a data folder whose previous server may have been
// killed at any point. Runs before the server accepts requests.
//   - temp files (tmp/ uploads, .tmp-* index writes) are removed;
//   - upload intents left by dead processes on this host (or older than an
//     hour, from anywhere) are finished when the file in place is the one the
//     intent describes (the crash hit between rename and commit), and dropped
//     otherwise (the crash hit before the rename); live replicas' are left;
//   - leases held by dead processes on this host are released;
//   - subdirs with queued file deletions are marked for a rewrite, which
//     unlinks those files once the index no longer lists them.
import fsp from 'node:fs/promises';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { Repositories } from '../db/repositories.js';
import { packageKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { hashStream } from './hash-file.js';

/** An upload holds its intent from "file verified" to "row committed": seconds, or minutes for gigabytes to object storage. */
const STALE_INTENT_MS = 3_600_000;

export async function recover(repos: Repositories, store: ObjectStore, tempDir: string, log: FastifyBaseLogger): Promise<void> {
  await fsp.rm(tempDir, { recursive: true, force: true });
  await fsp.mkdir(tempDir, { recursive: true });
  const tempRemoved = (await store.cleanTemp?.()) ?? 0;
  let finished = 0;
  let dropped = 0;
  const host = hostname();
  for (const { channel, file, owner, createdAt } of await repos.packages.listUploadIntents()) {
    // Another live process's upload in flight (a replica sharing the
    // database) is its own to finish; one left by a dead process on this
    // host, or too old to be in flight anywhere, is ours to settle.
    const abandoned = owner === null || isDeadLocalOwner(owner, host) || createdAt < Date.now() - STALE_INTENT_MS;
    if (!abandoned) continue;
    const key = packageKey(channel, file.subdir, file.filename);
    const stored = await store.read(key);
    const inPlace = stored !== null && (await hashStream(stored.stream)).sha256 === file.sha256;
    if (inPlace) {
      await repos.packages.commitUpload(file.channelId, file.subdir, file.filename);
      finished++;
    } else {
      await repos.packages.abandonUpload(file.channelId, file.subdir, file.filename);
      dropped++;
    }
  }
  const leases = await repos.indexState.releaseDeadLeases(isDeadLocalOwner);
  const marked = await repos.indexState.markSubdirsWithPendingDeletions();
  if (tempRemoved + finished + dropped + leases + marked > 0) {
    log.info({ tempRemoved, intentsFinished: finished, intentsDropped: dropped, leasesReleased: leases, subdirsMarked: marked }, 'recovered from an unclean stop');
  }
}

/** Lease owners are `<host>:<pid>:<random>`; one whose process is gone on this host is dead. */
export function isDeadLocalOwner(owner: string, hostname: string): boolean {
  const [host, pidText] = owner.split(':');
  if (host !== hostname) return false;
  const pid = Number(pidText);
  if (pid === process.pid) return false;
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
