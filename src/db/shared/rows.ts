// Rows as both databases return them (snake_case columns; 0/1 for booleans,
// JSON as text, ms timestamps as numbers: the PostgreSQL pool parses BIGINT
// into numbers for this) and the domain objects they map to. One mapping for
// both adapters, so a column read differently by one of them cannot happen.
import type {
  AccessMode, ApiKey, AuditAction, AuditEvent, BackgroundJob, Channel, ChannelMember, ChannelRole, JobStatus, JobType, OidcProvider,
  OidcPublisher, PackageFile, PackageFormat, PackageRow, PublisherClaims, PublisherGrant, SubdirState, User,
} from '../../types.js';
import type { DirtySubdir } from '../repositories.js';

export interface UserRow { id: number; login: string; is_admin: number; created_at: number }

export const toUser = (r: UserRow): User => ({ id: r.id, login: r.login, isAdmin: r.is_admin === 1, createdAt: r.created_at });

export interface ChannelRow {
  id: number; name: string; owner_id: number; is_public: number; description: string | null; logo: string | null;
  allow_v3_uploads: number; relation_base_id: number | null; relation_overrides_id: number | null;
  created_at: number; updated_at: number;
}

export const toChannel = (r: ChannelRow): Channel => ({
  id: r.id, name: r.name, ownerId: r.owner_id, isPublic: r.is_public === 1, description: r.description,
  logo: r.logo, allowV3Uploads: r.allow_v3_uploads === 1, relationBaseId: r.relation_base_id,
  relationOverridesId: r.relation_overrides_id, createdAt: r.created_at, updatedAt: r.updated_at,
});

export interface MemberRow { channel_id: number; user_id: number; login: string; role: string; created_at: number }

export const toMember = (r: MemberRow): ChannelMember => ({
  channelId: r.channel_id, userId: r.user_id, login: r.login, role: r.role as ChannelRole, createdAt: r.created_at,
});

export interface ApiKeyRow {
  id: number; user_id: number; lookup_id: string; secret_hash: string; name: string; description: string | null;
  access_mode: string; channel_id: number | null; created_at: number; expires_at: number | null;
  last_used_at: number | null; revoked_at: number | null;
}

export const toKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id, userId: r.user_id, lookupId: r.lookup_id, secretHash: r.secret_hash, name: r.name,
  description: r.description, accessMode: r.access_mode as AccessMode, channelId: r.channel_id,
  createdAt: r.created_at, expiresAt: r.expires_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at,
});

export interface PackageDbRow {
  id: number; channel_id: number; subdir: string; filename: string; format: string; name: string; version: string;
  build: string; build_number: number; size_bytes: number; sha256: string; md5: string; index_json: string;
  about_json: string | null; run_exports_json: string | null; record_json: string; uploaded_by: number | null;
  created_at: number; updated_at: number; yanked_reason: string | null; hidden: number; post_install: string | null;
  has_attestation: number;
}

export const toPackageRow = (r: PackageDbRow): PackageRow => ({
  id: r.id, channelId: r.channel_id, subdir: r.subdir, filename: r.filename, format: r.format as PackageFormat,
  name: r.name, version: r.version, build: r.build, buildNumber: r.build_number, sizeBytes: r.size_bytes,
  sha256: r.sha256, md5: r.md5, indexJson: r.index_json, aboutJson: r.about_json, runExportsJson: r.run_exports_json,
  recordJson: r.record_json, uploadedBy: r.uploaded_by, createdAt: r.created_at, updatedAt: r.updated_at,
  yankedReason: r.yanked_reason, hidden: r.hidden === 1, postInstallJson: r.post_install, hasAttestation: r.has_attestation === 1,
});

export interface UploadIntentRow { record: string; channel: string; owner: string | null; alive_at: number }

export const toUploadIntent = (r: UploadIntentRow): { channel: string; file: PackageFile; owner: string | null; aliveAt: number } => ({
  channel: r.channel, file: JSON.parse(r.record) as PackageFile, owner: r.owner, aliveAt: r.alive_at,
});

export interface SubdirDbRow {
  channel_id: number; channel: string; subdir: string; revision: number; indexed_revision: number;
  repodata_sha256: string | null; repodata_size: number | null; indexed_at: number | null;
  shards_revision: number; shard_index_sha256: string | null;
}

export const toState = (r: SubdirDbRow): SubdirState => ({
  channelId: r.channel_id, channel: r.channel, subdir: r.subdir, revision: r.revision,
  indexedRevision: r.indexed_revision, repodataSha256: r.repodata_sha256, repodataSize: r.repodata_size,
  indexedAt: r.indexed_at, shardsRevision: r.shards_revision, shardIndexSha256: r.shard_index_sha256,
});

export const toDirtySubdir = (r: SubdirDbRow): DirtySubdir => ({
  channelId: r.channel_id, channel: r.channel, subdir: r.subdir,
  needsIndex: r.indexed_revision < r.revision, needsShards: r.shards_revision < r.revision,
});

export interface JobRow {
  id: string; job_type: string; status: string; channel_id: number | null; created_by: number | null; payload: string;
  total_count: number; processed_count: number; failed_count: number; error_message: string | null; results: string | null;
  created_at: number; completed_at: number | null;
}

export const toJob = (r: JobRow): BackgroundJob => ({
  id: r.id, jobType: r.job_type as JobType, status: r.status as JobStatus, channelId: r.channel_id, createdBy: r.created_by,
  payload: JSON.parse(r.payload), totalCount: r.total_count, processedCount: r.processed_count, failedCount: r.failed_count,
  errorMessage: r.error_message, results: r.results === null ? null : JSON.parse(r.results), createdAt: r.created_at,
  completedAt: r.completed_at,
});

export interface AuditRow {
  id: number; at: number; actor_user_id: number | null; actor_login: string | null; actor_key_id: number | null;
  actor_publisher: string | null; action: string; channel: string | null; target: string | null; details: string | null;
}

export const toAuditEvent = (r: AuditRow): AuditEvent => ({
  id: r.id, at: r.at, actorUserId: r.actor_user_id, actorLogin: r.actor_login, actorKeyId: r.actor_key_id,
  actorPublisher: r.actor_publisher === null ? null : JSON.parse(r.actor_publisher),
  action: r.action as AuditAction, channel: r.channel, target: r.target,
  details: r.details === null ? null : JSON.parse(r.details),
});

export interface PublisherRow {
  id: string; channel_id: number; provider: string; owner: string; project: string; workflow: string;
  environment: string; access_mode: string; owner_id: string | null; project_id: string | null; created_by: number | null;
  created_at: number; updated_at: number;
}

export const toPublisher = (r: PublisherRow): OidcPublisher => ({
  id: r.id, channelId: r.channel_id, provider: r.provider as OidcProvider, owner: r.owner, project: r.project,
  workflow: r.workflow, environment: r.environment, accessMode: r.access_mode as AccessMode, ownerId: r.owner_id,
  projectId: r.project_id, createdBy: r.created_by, createdAt: r.created_at, updatedAt: r.updated_at,
});

export interface TokenGrantRow { publisher_id: string; channel_id: number; access_mode: string; claims: string }

/** A token's rows, one per grant, all with the same claims; null when there are none (unknown or expired). */
export function toTokenGrants(found: readonly TokenGrantRow[]): { grants: PublisherGrant[]; claims: PublisherClaims } | null {
  if (found.length === 0) return null;
  return {
    grants: found.map((r) => ({ publisherId: r.publisher_id, channelId: r.channel_id, accessMode: r.access_mode as AccessMode })),
    claims: JSON.parse(found[0]!.claims) as PublisherClaims,
  };
}
