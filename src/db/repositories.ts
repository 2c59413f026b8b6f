// Repository interfaces: the only way core code reaches the database.
// Methods are async so a PostgreSQL adapter fits later; SQLite adapters do
// their work synchronously inside, one transaction per method.
import type {
  AuditEvent, BackgroundJob, ChannelFilter, Direction, OrderBy, Page, PackageFilter, PackageRow as PackageRowT, PageRequest, ReadScope, UserFilter,
} from '../types.js';
import type {
  AccessMode, ApiKey, Channel, ChannelMember, ChannelRole, OidcProvider, OidcPublisher, PackageFile, PackageRef, PackageRow, PendingFileDeletion,
  PublisherClaims, PublisherGrant, SubdirRef, SubdirState, User,
} from '../types.js';

export interface UserRepository {
  /** null when the login is taken. */
  create(login: string, isAdmin: boolean): Promise<User | null>;
  setPasswordHash(userId: number, hash: string | null): Promise<void>;
  passwordHash(userId: number): Promise<string | null>;
  byLogin(login: string): Promise<User | null>;
  byId(id: number): Promise<User | null>;
  count(): Promise<number>;
}

export interface NewChannel {
  name: string;
  ownerId: number;
  isPublic: boolean;
  description: string | null;
  logo?: string | null;
  allowV3Uploads?: boolean;
  relationBaseId?: number | null;
  relationOverridesId?: number | null;
}

/** Fields left undefined are not changed. */
export interface ChannelUpdate {
  description?: string | null;
  isPublic?: boolean;
  logo?: string | null;
  allowV3Uploads?: boolean;
  relationBaseId?: number | null;
  relationOverridesId?: number | null;
}

export interface ChannelRepository {
  /** Creates the channel and its always-present noarch subdir. Null if the name is taken. */
  create(channel: NewChannel): Promise<Channel | null>;
  byName(name: string): Promise<Channel | null>;
  byId(id: number): Promise<Channel | null>;
  list(): Promise<Channel[]>;
  update(id: number, update: ChannelUpdate): Promise<Channel | null>;
  /** Deletes the channel and (by cascade) its packages, subdirs and members. */
  delete(id: number): Promise<boolean>;
  members(channelId: number): Promise<ChannelMember[]>;
  membersOf(channelIds: number[]): Promise<ChannelMember[]>;
  setMember(channelId: number, userId: number, role: ChannelRole): Promise<void>;
  removeMember(channelId: number, userId: number): Promise<boolean>;
  sizeBytes(channelId: number): Promise<number>;
  /** A user's member roles by channel id. */
  rolesOfUser(userId: number): Promise<Map<number, ChannelRole>>;
}

export type NewApiKey = Omit<ApiKey, 'id' | 'createdAt' | 'lastUsedAt' | 'revokedAt'>;

export interface ApiKeyRepository {
  /** Null if the user already has a key with that name. */
  create(key: NewApiKey): Promise<ApiKey | null>;
  byLookupId(lookupId: string): Promise<ApiKey | null>;
  listForUser(userId: number): Promise<ApiKey[]>;
  /** Returns false when no such (unrevoked) key exists. */
  revoke(userId: number, name: string): Promise<boolean>;
  touch(id: number, at: number): Promise<void>;
  /** Returns the deleted key's lookup id, or null. */
  delete(userId: number, name: string): Promise<string | null>;
}

export type ReserveResult = 'reserved' | 'exists' | 'in-progress';

export interface PackageRepository {
  get(channelId: number, subdir: string, filename: string): Promise<PackageRow | null>;
  /** Claims the filename for an upload: one winner, the rest learn why not. */
  /** `owner` names this process (as in leases): start-up recovery leaves live processes' intents alone. */
  reserveUpload(file: PackageFile, force: boolean, owner: string): Promise<ReserveResult>;
  /** The file is in place: make the row live and mark the subdir for reindexing. */
  commitUpload(channelId: number, subdir: string, filename: string): Promise<void>;
  abandonUpload(channelId: number, subdir: string, filename: string): Promise<void>;
  /** Intents left by a crash (read at start-up). */
  listUploadIntents(): Promise<Array<{ channel: string; file: PackageFile; owner: string | null; aliveAt: number }>>;
  /** Marks every intent of this owner alive (a heartbeat while its uploads are in flight). */
  touchUploadIntents(owner: string, at: number): Promise<void>;
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
  /** Yanks (reason) or unyanks (null) every ref in one transaction; returns the first missing ref (and changes nothing) or null. */
  setYanked(refs: PackageRef[], reason: string | null, hidden: boolean): Promise<PackageRef | null>;
  /** Deletes every ref in one transaction (files unlinked after reindex); returns the first missing ref or null. */
  deleteMany(refs: PackageRef[]): Promise<PackageRef | null>;
  /** Up to `limit` stored records with an id above `afterId`, in id order (for checking every record). */
  recordsAfter(afterId: number, limit: number): Promise<StoredRecord[]>;
}

/** A stored record as `channeld check` and start-up see it. */
export interface StoredRecord {
  id: number;
  channelId: number;
  channel: string;
  subdir: string;
  filename: string;
  recordJson: string;
  yankedReason: string | null;
}

/** A package's index entry as serialised at upload. */
export interface SnapshotRecord {
  filename: string;
  recordJson: string;
  /** info/run_exports.json as the package holds it, or null. */
  runExportsJson: string | null;
}

export interface NameRow extends SnapshotRecord {
  yanked: boolean;
}

/**
 * A consistent read view of one subdir at one revision (a read transaction
 * of its own, apart from the connection that serves requests). Async so a
 * PostgreSQL adapter can stream it through a cursor; SQLite fills batches
 * from a read-only connection.
 */
export interface IndexSnapshot {
  revision: number;
  /** Yanked filenames: listed in repodata's "removed", absent from its maps. */
  removed(): Promise<string[]>;
  /** Live (unyanked) records of one format in filename order (byte order), in batches. */
  records(format: 'tar.bz2' | 'conda'): AsyncIterable<SnapshotRecord[]>;
  /** Package names whose shard is stale at this revision, sorted. */
  dirtyNames(): Promise<string[]>;
  /** Every file (live and yanked) of each wanted name, each list in filename order; names without files are absent. */
  nameRows(names: string[]): Promise<Map<string, NameRow[]>>;
  close(): Promise<void>;
}

export type IndexKind = 'shards' | 'full';

export interface DirtySubdir extends SubdirRef {
  needsIndex: boolean;
  needsShards: boolean;
}

/** A rebuilt shard: the sha256 (hex) of its .msgpack.zst, or null when the name has no files left. */
export interface ShardRow {
  name: string;
  sha256: string | null;
}

export interface IndexStateRepository {
  /** Makes sure the subdir row exists and bumps its revision. */
  touch(channelId: number, subdir: string): Promise<void>;
  get(channelId: number, subdir: string): Promise<SubdirState | null>;
  listForChannel(channelId: number): Promise<SubdirState[]>;
  /** Subdirs whose files lag behind the database. */
  dirty(): Promise<DirtySubdir[]>;
  /** Each kind of pass has its own lease, so a shard pass never waits for a full rewrite. */
  tryLease(ref: SubdirRef, kind: IndexKind, owner: string, untilMs: number): Promise<boolean>;
  /** A consistent view of the subdir's records at one revision (a read snapshot). */
  snapshot(ref: SubdirRef): Promise<IndexSnapshot>;
  /** Points the subdir at a written repodata generation, releases the full lease, returns files now safe to unlink. */
  finishIndex(ref: SubdirRef, owner: string, written: { revision: number; sha256: string; sizeBytes: number; at: number }): Promise<PendingFileDeletion[]>;
  /**
   * Records rebuilt shards (older ones become superseded) while `owner` holds
   * the shards lease; null, and nothing recorded, when it no longer does (a
   * newer pass may have recorded newer shards). With listLive, returns every
   * live (name, sha256) by name; without, [] (the indexer keeps the list
   * itself while no other process publishes a shard index).
   */
  finishShards(ref: SubdirRef, owner: string, written: { revision: number; shards: ShardRow[]; at: number }, opts: { listLive: boolean }): Promise<Array<[string, string]> | null>;
  /** Points the subdir at a written shard index (only while holding the shards lease); returns files now safe to unlink. */
  publishShardIndex(ref: SubdirRef, owner: string, written: { revision: number; sha256: string }): Promise<PendingFileDeletion[]>;
  /** Shard files superseded before `supersededBefore` (epoch ms): how long they are kept is the caller's policy. */
  collectableShards(ref: SubdirRef, supersededBefore: number): Promise<string[]>;
  forgetShardFile(ref: SubdirRef, sha256: string): Promise<void>;
  releaseLease(ref: SubdirRef, kind: IndexKind, owner: string): Promise<void>;
  forgetDeletions(ids: number[]): Promise<void>;
  /** Releases leases whose owners are dead (start-up). Returns how many. */
  releaseDeadLeases(isDead: (owner: string, hostname: string) => boolean): Promise<number>;
  /** Bumps subdirs that still have files waiting to be unlinked (start-up). Returns how many. */
  markSubdirsWithPendingDeletions(): Promise<number>;
}

export type ChannelOrderField = 'NAME' | 'BILLING_OWNER' | 'NAMESPACE' | 'SIZE' | 'CREATED_AT' | 'PACKAGE_COUNT';
export type PackageOrderField = 'NAME' | 'LAST_CREATED_DATE' | 'TOTAL_SIZE';
export type VariantOrderField = 'BUILD_STRING' | 'CREATED_AT' | 'SIZE';

export interface PackageKey {
  channelId: number;
  name: string;
}

/** The key of a package in the maps catalog methods return (variantsPages), and in callers' own lookups of them. */
export const packageKeyString = (k: PackageKey): string => `${k.channelId}\0${k.name}`;

export interface MemberOf {
  userId: number;
  roles: ChannelRole[] | null;
}

export interface ChannelListRow {
  channel: Channel;
  ownerLogin: string;
  sizeBytes: number;
  packageCount: number;
}

export interface PackageListRow extends PackageKey {
  totalSizeBytes: number;
  lastCreatedAt: number;
  variantCount: number;
  similarity: number | null;
}

export interface VersionRow extends PackageKey {
  version: string;
  subdirs: string[];
  lastCreatedAt: number;
  visibleCount: number;
  /** Visible variants with an attestation. */
  attestedVisibleCount: number;
  variantCount: number;
}

export interface VariantOptions {
  version?: string | null;
  platform?: string | null;
  buildString?: string | null;
  createdAtFrom?: number | null;
  createdAtTo?: number | null;
  includeHidden?: boolean | null;
}

/** One (name, version) of a channel, aggregated over its builds: channeldata.json's input. */
export interface ChanneldataVersion {
  name: string;
  version: string;
  subdirs: string[];
  /** Newest index.json timestamp of the builds (ms or s, as found). */
  timestamp: number;
  /** Install-script flags (CEP-38's names) OR'ed over the builds. */
  flags: Partial<Record<string, boolean>>;
  /** run_exports of one build of this version (JSON), when any has some. */
  runExportsJson: string | null;
}

/** about.json and index.json of the newest build of a name's newest version. */
export interface ChanneldataAbout {
  aboutJson: string | null;
  indexJson: string;
}

/** Read-side queries for listings; every method is one statement whatever the number of keys. */
export interface CatalogRepository {
  statements: number;
  channelsPage(scope: ReadScope, filter: ChannelFilter | null, order: OrderBy<ChannelOrderField> | null, page: PageRequest, memberOf?: MemberOf): Promise<Page<ChannelListRow>>;
  /** Package pages per channel (perChannel) or one page across channels ('all' key). */
  packagesPages(channelIds: number[] | 'all-in-scope', scope: ReadScope, filter: PackageFilter | null, order: OrderBy<PackageOrderField> | null, page: PageRequest, perChannel: boolean): Promise<Map<number | 'all', Page<PackageListRow>>>;
  packageRows(keys: PackageKey[]): Promise<PackageListRow[]>;
  versionRows(keys: PackageKey[]): Promise<VersionRow[]>;
  newestVariantOfVersions(keys: Array<PackageKey & { version: string }>): Promise<PackageRowT[]>;
  /** Keyed by packageKeyString. */
  variantsPages(keys: PackageKey[], opts: VariantOptions, order: { field: VariantOrderField; direction: Direction } | null, page: PageRequest): Promise<Map<string, Page<PackageRowT>>>;
  /** Every package name of a channel (live or yanked), sorted: channeldata.json is built a slice of names at a time. */
  channeldataNames(channelId: number): Promise<string[]>;
  /** channeldata.json's input: every live (name, version) of the given names, aggregated over builds. */
  channeldataVersions(channelId: number, names: string[]): Promise<ChanneldataVersion[]>;
  /** about/index of the newest build of each wanted (name, version), by name. */
  channeldataAbout(channelId: number, wanted: Array<{ name: string; version: string }>): Promise<Map<string, ChanneldataAbout>>;
  usersPage(filter: UserFilter | null, order: OrderBy<'LOGIN' | 'IS_ADMIN'> | null, page: PageRequest): Promise<Page<User>>;
}

export interface JobRepository {
  create(job: Omit<BackgroundJob, 'createdAt' | 'completedAt'>): Promise<BackgroundJob>;
  get(id: string): Promise<BackgroundJob | null>;
  update(id: string, patch: Partial<Pick<BackgroundJob, 'status' | 'processedCount' | 'failedCount' | 'errorMessage' | 'results' | 'completedAt' | 'totalCount'>>): Promise<void>;
}

export interface SessionRepository {
  create(tokenHash: string, userId: number, expiresAt: number): Promise<void>;
  /** The live session's user id, or null. */
  userOf(tokenHash: string, now: number): Promise<number | null>;
  delete(tokenHash: string): Promise<void>;
  deleteForUser(userId: number): Promise<void>;
}

export interface AuditRepository {
  record(event: Omit<AuditEvent, 'id'>): Promise<void>;
  /** Newest first. */
  list(opts: { limit: number; channel?: string | null; action?: string | null }): Promise<AuditEvent[]>;
}

export type NewOidcPublisher = Omit<OidcPublisher, 'createdAt' | 'updatedAt'>;

export interface NewPublisherToken {
  tokenHash: string;
  grants: PublisherGrant[];
  claims: PublisherClaims;
  expiresAt: number;
  /** The CI token's issuer and jti, refused if seen before; kept until jtiExpiresAt. */
  issuer: string;
  jti: string;
  jtiExpiresAt: number;
}

export interface OidcRepository {
  /** Null when the channel already has a publisher with exactly these fields. */
  addPublisher(publisher: NewOidcPublisher): Promise<OidcPublisher | null>;
  publishers(channelId: number): Promise<OidcPublisher[]>;
  /** Every publisher of that provider and owner (GitHub repository owner, GitLab namespace). */
  publishersOfOwner(provider: OidcProvider, owner: string): Promise<OidcPublisher[]>;
  /** Deletes it and every token minted through it; returns it, or null if the channel has no such publisher. */
  deletePublisher(channelId: number, id: string): Promise<OidcPublisher | null>;
  /**
   * Records a token's ids on a publisher, in one conditional UPDATE: each id
   * column is set only where it is still NULL, and only when every column
   * already set holds the token's value, so two racing first tokens cannot
   * pin different ids. Returns the publisher as it is afterwards (pinned by
   * this token or by an earlier one) and whether this call changed it, or
   * null when it was deleted.
   */
  pinPublisherIds(id: string, ids: { ownerId: string; projectId: string }, now: number): Promise<{ publisher: OidcPublisher; changed: boolean } | null>;
  /**
   * In one transaction: records the jti (a replay changes nothing and
   * answers 'replayed'), stores the token with its grants, and forgets
   * expired tokens and jtis. 'publisher-gone' when a granting publisher was
   * deleted meanwhile.
   */
  mintToken(token: NewPublisherToken, now: number): Promise<'minted' | 'replayed' | 'publisher-gone'>;
  /** The live grants of a token (none once expired or its publishers are deleted). */
  tokenGrants(tokenHash: string, now: number): Promise<{ grants: PublisherGrant[]; claims: PublisherClaims } | null>;
}

export interface Repositories {
  users: UserRepository;
  channels: ChannelRepository;
  apiKeys: ApiKeyRepository;
  packages: PackageRepository;
  indexState: IndexStateRepository;
  catalog: CatalogRepository;
  jobs: JobRepository;
  audit: AuditRepository;
  sessions: SessionRepository;
  oidc: OidcRepository;
  close(): Promise<void>;
}
