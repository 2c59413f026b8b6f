// Who holds an index lease or an upload intent, and whether that holder is
// gone. An owner is `<host>:<pid>:<random>:<node>:<process>`:
//   node     a random id kept in the data folder (`node-id`), the same for
//            every server that has run on that folder — one at a time, the
//            pid file sees to that;
//   process  a random id of this OS process (two cores in one process, as in
//            tests, share it; a restarted server never does).
// On this host a holder whose pid is gone is dead. A holder with our own pid
// that is not this process is dead too when it ran on our data folder: the
// server restarted in a fresh PID namespace (a container is PID 1 every
// time) and that pid is now ours. With another node id it may be a live
// replica in another container that happens to share our hostname and pid:
// its leases are left to lapse, never taken.
// Owners written before node/process ids (`<host>:<pid>:<random>`) keep the
// pid check alone.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

const PROCESS_ID = randomBytes(6).toString('hex');
const NODE_ID_RE = /^[0-9a-f]{16}$/;

/** This data folder's node id, created on first use. */
export function nodeIdOf(dataDir: string): string {
  const file = path.join(dataDir, 'node-id');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const id = fs.readFileSync(file, 'utf8').trim();
      if (NODE_ID_RE.test(id)) return id;
      fs.rmSync(file, { force: true }); // torn or edited by hand: a new node
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(file, `${randomBytes(8).toString('hex')}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // a CLI beside us wrote it first
    }
  }
  throw new Error(`cannot read or create ${file}`);
}

/** A new owner name for a core of this process running on `nodeId`'s data folder. */
export function newOwner(nodeId: string): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}:${nodeId}:${PROCESS_ID}`;
}

/**
 * Is `owner` a process of this host that is gone? `nodeId` is this data
 * folder's node id (null: only the pid check).
 */
export function isDeadLocalOwner(owner: string, host: string, nodeId: string | null = null): boolean {
  const [ownerHost, pidText, , ownerNode, ownerProcess] = owner.split(':');
  if (ownerHost !== host) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) {
    if (ownerProcess === undefined || ownerProcess === PROCESS_ID) return false;
    return nodeId !== null && ownerNode === nodeId;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
