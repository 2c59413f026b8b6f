// ObjectStore on a local folder. Writes go to a temp file in the target
// folder, are fsync'd, renamed over the target, and the folder is fsync'd so
// the rename itself survives a crash. Temp names start with '.' so they can
// never be mistaken for a package or an index; cleanTemp() sweeps leftovers.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ByteRange, Chunks, ObjectRead, ObjectStat, ObjectStore, WriteResult } from './object-store.js';

const TEMP_PREFIX = '.tmp-';

export class FsObjectStore implements ObjectStore {
  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
  }

  localFile(key: string): string {
    const full = path.resolve(this.root, key);
    if (full !== this.root && !full.startsWith(this.root + path.sep)) {
      throw new Error(`storage key escapes the data folder: ${JSON.stringify(key)}`);
    }
    return full;
  }

  async putFile(key: string, localPath: string): Promise<void> {
    const target = this.localFile(key);
    await fsp.mkdir(path.dirname(target), { recursive: true });
    await fsp.rename(localPath, target);
    await fsyncDir(path.dirname(target));
  }

  async putStream(key: string, chunks: Chunks): Promise<WriteResult> {
    const target = this.localFile(key);
    const dir = path.dirname(target);
    await fsp.mkdir(dir, { recursive: true });
    const temp = path.join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}-${path.basename(target)}`);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const handle = await fsp.open(temp, 'wx');
    try {
      // Batch small chunks: one write syscall per ~1 MiB, not per record.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (pendingBytes === 0) return;
        const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        await handle.write(buf);
      };
      for await (const chunk of chunks) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        hash.update(buf);
        sizeBytes += buf.length;
        pending.push(buf);
        pendingBytes += buf.length;
        if (pendingBytes >= 1 << 20) await flush();
      }
      await flush();
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => {});
      await fsp.rm(temp, { force: true });
      throw err;
    }
    await handle.close();
    try {
      await fsp.rename(temp, target);
    } catch (err) {
      await fsp.rm(temp, { force: true });
      throw err;
    }
    await fsyncDir(dir);
    return { sha256: hash.digest('hex'), sizeBytes };
  }

  async stat(key: string): Promise<ObjectStat | null> {
    try {
      const st = await fsp.stat(this.localFile(key), { bigint: false });
      if (!st.isFile()) return null;
      return { sizeBytes: st.size, mtimeMs: st.mtimeMs, etag: fileEtag(st) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<ObjectRead | null> {
    let handle;
    try {
      handle = await fsp.open(this.localFile(key), 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') return null;
      throw err;
    }
    // Stat and bytes through one descriptor: they belong to the same version
    // even when a writer renames a new one into place meanwhile.
    const st = await handle.stat().catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
    if (!st.isFile()) {
      await handle.close();
      return null;
    }
    const stream = handle.createReadStream({ highWaterMark: 1 << 20, ...(range ? { start: range.start, end: range.end } : {}) });
    return { stream, sizeBytes: st.size, mtimeMs: st.mtimeMs, etag: fileEtag(st) };
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.localFile(key), { force: true });
  }

  async list(folderKey: string): Promise<string[]> {
    try {
      const entries = await fsp.readdir(this.localFile(folderKey), { withFileTypes: true });
      return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async listFolders(folderKey: string): Promise<string[]> {
    try {
      const entries = await fsp.readdir(this.localFile(folderKey), { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.') && !e.name.startsWith('_')).map((e) => e.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async deleteFolder(folderKey: string): Promise<void> {
    await fsp.rm(this.localFile(folderKey), { recursive: true, force: true });
  }

  /** Removes temp files a crash left behind (start-up only: a live writer may own them). */
  async cleanTemp(): Promise<number> {
    let removed = 0;
    const walk = async (dir: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.name.startsWith(TEMP_PREFIX)) {
          await fsp.rm(full, { force: true });
          removed++;
        }
      }
    };
    await walk(this.root);
    return removed;
  }
}

/**
 * A strong validator from inode, size and mtime: every atomic write makes a
 * new inode, so two different contents never share it (nginx uses mtime+size).
 */
export function fileEtag(st: { ino: number; size: number; mtimeMs: number }): string {
  return `"${st.ino.toString(36)}-${st.size.toString(36)}-${Math.round(st.mtimeMs * 1000).toString(36)}"`;
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
