// The storage port. Keys are '/'-separated paths built only from validated
// parts (see keys.ts). Every write is atomic: a reader sees the old object or
// the new one, never a partial one.
import type { Readable } from 'node:stream';

export interface ObjectStat {
  sizeBytes: number;
  mtimeMs: number;
  /** A strong validator: two different contents of a key never share it. */
  etag: string;
}

export interface WriteResult {
  sha256: string;
  sizeBytes: number;
}

/** Inclusive byte offsets, as in HTTP's Range. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectRead extends ObjectStat {
  /** The requested bytes (the whole object without a range). */
  stream: Readable;
}

export type Chunks = Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

export interface ObjectStore {
  /** Stores a finished, fsync'd local file (from tempDir) and removes it. */
  putFile(key: string, localPath: string): Promise<void>;
  /** Writes the chunks to `key` atomically and reports what was written. */
  putStream(key: string, chunks: Chunks): Promise<WriteResult>;
  stat(key: string): Promise<ObjectStat | null>;
  /**
   * Opens an object (or a byte range of it) for reading; stat fields describe
   * the whole object the bytes come from (sizeBytes is its full size).
   */
  read(key: string, range?: ByteRange): Promise<ObjectRead | null>;
  delete(key: string): Promise<void>;
  /** Names of the objects directly under a folder key (not recursive). */
  list(folderKey: string): Promise<string[]>;
  /** Names of the folders directly under a folder key. */
  listFolders(folderKey: string): Promise<string[]>;
  /** Removes a folder key and everything under it. */
  deleteFolder(folderKey: string): Promise<void>;
  /** A short-lived URL anyone can GET the object from (stores reachable by clients only). */
  presignGet?(key: string, ttlSeconds: number): Promise<string>;
  /** Local path of an object, for zero-copy serving (a local folder store only). */
  localFile?(key: string): string;
  /** Removes what a crashed writer left behind (start-up only). */
  cleanTemp?(): Promise<number>;
}
