// The storage port. Keys are '/'-separated paths built only from validated
// parts (see keys.ts). Every write is atomic: a reader sees the old object or
// the new one, never a partial one.
export interface ObjectStat {
  sizeBytes: number;
  mtimeMs: number;
  /** A strong validator for exactly these bytes (changes on every write). */
  etag: string;
}

export interface WriteResult {
  sha256: string;
  sizeBytes: number;
}

export type Chunks = Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

export interface ObjectStore {
  /** Moves a finished, fsync'd local file (from tempDir) into place. */
  putFile(key: string, localPath: string): Promise<void>;
  /** Writes the chunks to `key` atomically and reports what was written. */
  putStream(key: string, chunks: Chunks): Promise<WriteResult>;
  stat(key: string): Promise<ObjectStat | null>;
  delete(key: string): Promise<void>;
  /** Names of the objects directly under a folder key (not recursive). */
  list(folderKey: string): Promise<string[]>;
  /** Names of the folders directly under a folder key. */
  listFolders(folderKey: string): Promise<string[]>;
  /** Removes a folder key and everything under it. */
  deleteFolder(folderKey: string): Promise<void>;
  /** Local filesystem path of an object, for zero-copy serving. */
  localPath(key: string): string;
}
