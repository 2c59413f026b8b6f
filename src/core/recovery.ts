// Start-up recovery for a data folder whose previous server may have been
// killed at any point. Runs before the server accepts requests.
//   - temp files (tmp/ uploads, .tmp-* index writes) are removed;
//   - upload intents are finished when the file in place is the one the
//     intent describes (the crash hit between rename and commit), and dropped
//     otherwise (the crash hit before the rename);
//   - leases held by dead processes on this host are released;
//   - subdirs with queued file deletions are marked for a rewrite, which
//     unlinks those files once the index no longer lists them.
import fsp from 'node:fs/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Repositories } from '../db/repositories.js';
import { packageKey } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { hashStream } from './hash-file.js';

export async function recover(repos: Repositories, store: ObjectStore, tempDir: string, log: FastifyBaseLogger): Promise<void> {
  await fsp.rm(tempDir, { recursive: true, force: true });
  await fsp.mkdir(tempDir, { recursive: true });
  const tempRemoved = (await store.cleanTemp?.()) ?? 0;
  let finished = 0;
  let dropped = 0;
  for (const { channel, file } of await repos.packages.listUploadIntents()) {
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
