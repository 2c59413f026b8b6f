// Domain types shared by core, transports and adapters. Times are epoch ms.
export type PackageFormat = 'conda' | 'tar.bz2';

export interface User {
  id: number;
  login: string;
  isAdmin: boolean;
  createdAt: number;
}

export interface Channel {
  id: number;
  name: string;
  ownerId: number;
  isPublic: boolean;
  description: string | null;
  createdAt: number;
  updatedAt: number;
}

/** prefix.dev's ChannelAccessMode: what a key may do on top of its user's rights. */
export type AccessMode = 'ALL' | 'READ' | 'READ_WRITE' | 'READ_WRITE_DELETE';
export const ACCESS_MODES: readonly AccessMode[] = ['ALL', 'READ', 'READ_WRITE', 'READ_WRITE_DELETE'];

export interface ApiKey {
  id: number;
  userId: number;
  lookupId: string;
  secretHash: string;
  name: string;
  description: string | null;
  accessMode: AccessMode;
  channelId: number | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** What an upload or a rescan has learned about one package file. */
export interface PackageFile {
  channelId: number;
  subdir: string;
  filename: string;
  format: PackageFormat;
  name: string;
  version: string;
  build: string;
  buildNumber: number;
  sizeBytes: number;
  sha256: string;
  md5: string;
  /** info/index.json as uploaded (JSON text). */
  indexJson: string;
  aboutJson: string | null;
  runExportsJson: string | null;
  /** The repodata record, canonical JSON, computed once at upload. */
  recordJson: string;
  uploadedBy: number | null;
}

export interface PackageRow extends PackageFile {
  id: number;
  createdAt: number;
  updatedAt: number;
}

export interface SubdirRef {
  channelId: number;
  channel: string;
  subdir: string;
}

export interface SubdirState extends SubdirRef {
  revision: number;
  indexedRevision: number;
  repodataSha256: string | null;
  repodataSize: number | null;
  indexedAt: number | null;
}

export interface PendingFileDeletion {
  id: number;
  channel: string;
  subdir: string;
  filename: string;
}

/** Who is asking. Transports turn requests into one of these; policy decides. */
export type Principal =
  | { kind: 'anonymous' }
  | {
      kind: 'user';
      user: User;
      /** The key used, when the request came with one. */
      key: { id: number; accessMode: AccessMode; channelId: number | null } | null;
    };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });
