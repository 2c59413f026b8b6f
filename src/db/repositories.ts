// Repository interfaces: the only way core code reaches the database.
// Methods are async so a PostgreSQL adapter fits later; SQLite adapters do
// their work synchronously inside, one transaction per method.
import type {
  AccessMode, ApiKey, Channel, PackageFile, PackageRow, PendingFileDeletion, SubdirRef, SubdirState, User,
} from '../core/types.js';

export interface UserRepository {
  create(login: string, isAdmin: boolean): Promise<User>;
  byLogin(login: string): Promise<User | null>;
  byId(id: number): Promise<User | null>;
  count(): Promise<number>;
}

export interface NewChannel {
  name: string;
  ownerId: number;
  isPublic: boolean;
  description: string | null;
}

export interface ChannelRepository {
  /** Creates the channel and its always-present noarch subdir. Null if the name is taken. */
  create(channel: NewChannel): Promise<Channel | null>;
  byName(name: string): Promise<Channel | null>;
  byId(id: number): Promise<Channel | null>;
  list(): Promise<Channel[]>;
}

export interface NewApiKey {
  userId: number;
  lookupId: string;
  secretHash: string;
  name: string;
  description: string | null;
  accessMode: AccessMode;
  channelId: number | null;
  expiresAt: number | null;
}

export interface ApiKeyRepository {
  /** Null if the user already has a key with that name. */
  create(key: NewApiKey): Promise<ApiKey | null>;
  byLookupId(lookupId: string): Promise<ApiKey | null>;
  listForUser(userId: number): Promise<ApiKey[]>;
  /** Returns false when no such (unrevoked) key exists. */
  revoke(userId: number, name: string): Promise<boolean>;
  touch(id: number, at: number): Promise<void>;
}

export type ReserveResult = 'reserved' | 'exists' | 'in-progress';

export interface PackageRepository {
  get(channelId: number, subdir: string, filename: string): Promise<PackageRow | null>;
  /** Claims the filename for an upload: one winner, the rest learn why not. */
  reserveUpload(file: PackageFile, force: boolean): Promise<ReserveResult>;
  /** The file is in place: make the row live and mark the subdir for reindexing. */
  commitUpload(channelId: number, subdir: string, filename: string): Promise<void>;
  abandonUpload(channelId: number, subdir: string, filename: string): Promise<void>;
  /** Intents left by a crash (read at start-up). */
  listUploadIntents(): Promise<Array<{ channel: string; file: PackageFile }>>;
  /** Deletes the row; the file is queued for unlinking once the index no longer lists it. */
  delete(channelId: number, subdir: string, filename: string): Promise<boolean>;
  /** Adds rows for files found on storage (reindex). Existing rows are left alone. */
  insertFound(files: PackageFile[]): Promise<number>;
  /** Drops rows whose files vanished (reindex). */
  dropMissing(channelId: number, subdir: string, filenames: string[]): Promise<number>;
  filenames(channelId: number, subdir: string): Promise<string[]>;
  /** Filenames whose rows were deleted but whose files still wait to be unlinked. */
  pendingDeletionNames(channelId: number, subdir: string): Promise<string[]>;
  countInSubdir(channelId: number, subdir: string): Promise<number>;
}

export interface IndexSnapshot {
  revision: number;
  /** Records in filename order, per map of repodata.json. Valid only until close(). */
  tarBz2: Iterable<{ filename: string; recordJson: string }>;
  conda: Iterable<{ filename: string; recordJson: string }>;
  close(): void;
}

export interface IndexStateRepository {
  /** Makes sure the subdir row exists and bumps its revision. */
  touch(channelId: number, subdir: string): Promise<void>;
  get(channelId: number, subdir: string): Promise<SubdirState | null>;
  listForChannel(channelId: number): Promise<SubdirState[]>;
  /** Subdirs whose files lag behind the database. */
  dirty(): Promise<SubdirRef[]>;
  tryLease(ref: SubdirRef, owner: string, untilMs: number): Promise<boolean>;
  /** A consistent view of the subdir's records at one revision (a read snapshot). */
  snapshot(ref: SubdirRef): IndexSnapshot;
  /** Records what was written, releases the lease, and returns files now safe to unlink. */
  finishIndex(ref: SubdirRef, owner: string, written: { revision: number; sha256: string; sizeBytes: number; at: number }): Promise<PendingFileDeletion[]>;
  releaseLease(ref: SubdirRef, owner: string): Promise<void>;
  forgetDeletions(ids: number[]): Promise<void>;
  /** Releases leases whose owners are dead (start-up). Returns how many. */
  releaseDeadLeases(isDead: (owner: string, hostname: string) => boolean): Promise<number>;
  /** Bumps subdirs that still have files waiting to be unlinked (start-up). Returns how many. */
  markSubdirsWithPendingDeletions(): Promise<number>;
}

export interface Repositories {
  users: UserRepository;
  channels: ChannelRepository;
  apiKeys: ApiKeyRepository;
  packages: PackageRepository;
  indexState: IndexStateRepository;
  close(): void;
}
