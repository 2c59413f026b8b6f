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
  logo: string | null;
  allowV3Uploads: boolean;
  relationBaseId: number | null;
  relationOverridesId: number | null;
  createdAt: number;
  updatedAt: number;
}

/** prefix.dev's ChannelMemberRole (MEMBER is a deprecated alias of VIEWER, stored as VIEWER). */
export type ChannelRole = 'OWNER' | 'CONTRIBUTOR' | 'VIEWER';

export interface ChannelMember {
  channelId: number;
  userId: number;
  login: string;
  role: ChannelRole;
  createdAt: number;
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
  /** CEP-38 install-script flags from info/paths.json (JSON), for channeldata.json. */
  postInstallJson?: string | null;
  /** A checked sigstore bundle is stored beside it (`<file>.v0.sigs`). */
  hasAttestation?: boolean;
  uploadedBy: number | null;
}

export interface PackageRow extends PackageFile {
  id: number;
  yankedReason: string | null;
  hidden: boolean;
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
  shardsRevision: number;
  shardIndexSha256: string | null;
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
      /** The user's roles by channel id (members table; channel ownership is on the channel). */
      roles: ReadonlyMap<number, ChannelRole>;
      /** The key used, when the request came with one. */
      key: { id: number; accessMode: AccessMode; channelId: number | null } | null;
    }
  | {
      /** A CI job holding a token minted by trusted publishing: no user behind it. */
      kind: 'publisher';
      /** One per publisher the CI token matched (usually one channel). */
      grants: readonly PublisherGrant[];
      /** The CI claims that earned the token, kept with everything it does. */
      claims: PublisherClaims;
    };

export type OidcProvider = 'github' | 'gitlab';

/**
 * A trusted publisher: a CI workflow allowed to mint short-lived tokens for
 * one channel. GitHub: owner/project = repository owner/name, workflow =
 * the workflow file name. GitLab: owner/project = namespace/project,
 * workflow = the CI config file path. environment '' = any.
 *
 * ownerId / projectId are the CI's immutable ids of that account and
 * project (GitHub repository_owner_id / repository_id, GitLab namespace_id /
 * project_id), as decimal strings: given when the publisher is added, or
 * pinned from the first token that matches it by name; null until then.
 */
export interface OidcPublisher {
  id: string;
  channelId: number;
  provider: OidcProvider;
  owner: string;
  project: string;
  workflow: string;
  environment: string;
  accessMode: AccessMode;
  ownerId: string | null;
  projectId: string | null;
  createdBy: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface PublisherGrant {
  publisherId: string;
  channelId: number;
  accessMode: AccessMode;
}

/** The claims of a CI identity token worth keeping: who ran what, where (repository, workflow, run, ref…). */
export type PublisherClaims = Readonly<Record<string, string>>;

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

export interface PackageRef {
  channelId: number;
  subdir: string;
  filename: string;
}

export type JobType = 'BATCH_DELETE_PACKAGES' | 'COPY_PACKAGES_FROM_URL' | 'REINDEX';
export type JobStatus = 'PENDING' | 'IN_PROGRESS' | 'COMPLETED' | 'COMPLETED_WITH_ERRORS' | 'FAILED';

export interface BackgroundJob {
  id: string;
  jobType: JobType;
  status: JobStatus;
  channelId: number | null;
  createdBy: number | null;
  payload: unknown;
  totalCount: number;
  processedCount: number;
  failedCount: number;
  errorMessage: string | null;
  results: unknown;
  createdAt: number;
  completedAt: number | null;
}

/** GraphQL's StringFilter; all given conditions must hold. */
export interface StringFilter {
  eq?: string | null;
  ne?: string | null;
  isIn?: string[] | null;
  isNotIn?: string[] | null;
  startsWith?: string | null;
  endsWith?: string | null;
  contains?: string | null;
}

/** A filter tree: the fields of F, plus and/or of sub-filters. */
export type FilterTree<F> = F & { and?: FilterTree<F>[] | null; or?: FilterTree<F>[] | null };

export type PackageFilter = FilterTree<{ name?: StringFilter | null }>;
export type ChannelFilter = FilterTree<{
  name?: StringFilter | null;
  owner?: StringFilter | null;
  namespace?: StringFilter | null;
  isPublic?: boolean | null;
  hasOwner?: boolean | null;
  hasMirror?: boolean | null;
}>;
export type UserFilter = FilterTree<{ login?: StringFilter | null; isAdmin?: boolean | null }>;

export type Direction = 'ASC' | 'DESC';
export type OrderBy<Field extends string> =
  | { byField: { field: Field; direction: Direction } }
  | { bySimilarity: { matches: string; direction: Direction } };

export interface PageRequest {
  limit: number;
  page: number;
}

export interface Page<T> {
  items: T[];
  totalCount: number;
}

/** What a principal may see in listings: everything (admin) or public + own + member channels. */
export type ReadScope =
  | { all: true }
  | { all: false; userId: number | null; onlyChannelId: number | null; admin?: boolean; grantedChannelIds?: readonly number[] };

export type AuditAction =
  | 'key.created' | 'key.revoked' | 'key.deleted'
  | 'package.uploaded' | 'package.deleted' | 'package.yanked' | 'package.unyanked'
  | 'channel.created' | 'channel.deleted' | 'channel.visibility' | 'channel.updated'
  | 'member.added' | 'member.removed'
  | 'publisher.added' | 'publisher.deleted' | 'publisher.ids-pinned' | 'publisher.token-minted';

export interface AuditEvent {
  id: number;
  at: number;
  actorUserId: number | null;
  actorLogin: string | null;
  actorKeyId: number | null;
  /** When a trusted-publishing token did it: its publishers and the CI claims behind it. */
  actorPublisher: { publisherIds: string[]; claims: PublisherClaims } | null;
  action: AuditAction;
  channel: string | null;
  target: string | null;
  details: unknown;
}
