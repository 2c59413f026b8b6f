// One validated configuration object, read once from env and CLI flags.
// This is the only module that reads process.env.
import path from 'node:path';
import type { OidcProvider } from './types.js';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** PostgreSQL connection URL; null = the SQLite file in dataDir. */
  databaseUrl: string | null;
  /** Largest package accepted by upload, in bytes (413 above it). */
  maxUploadBytes: number;
  logLevel: string;
  /** How long the indexer waits after a change before rewriting, to coalesce bursts. */
  indexDebounceMs: number;
  /** How long the indexer waits before rebuilding changed shards and the shard index. */
  shardDebounceMs: number;
  /** How often the indexer looks for changes made by other processes (CLI, replicas). */
  indexPollMs: number;
  /**
   * How long an index pass's lease on a subdir lasts without renewal. A pass
   * renews it as it goes; a process that dies holding one (a replica killed
   * mid-pass) leaves the subdir to others after at most this long.
   */
  indexLeaseMs: number;
  /** A failed index pass is retried after this long, doubling per failure in a row up to indexRetryMaxMs. */
  indexRetryBaseMs: number;
  indexRetryMaxMs: number;
  /**
   * An upload's claim on its file name (its intent) is kept alive by its
   * process; one not kept alive this long is settled by another process
   * (a replica that died mid-upload on another host).
   */
  uploadIntentTimeoutMs: number;
  /**
   * How long a superseded shard file stays downloadable: a client may still
   * hold the shard index that names it (README: a week).
   */
  supersededShardRetentionMs: number;
  /** With remote storage: bytes of immutable index files (generations, shards) kept on local disk for serving; 0 = none. */
  readCacheMaxBytes: number;
  /** How long a verified API key is remembered (argon2 skipped; revocation still checked). */
  keyCacheTtlMs: number;
  /** Cache-Control max-age for repodata.json. */
  repodataMaxAgeSeconds: number;
  /** Create user `admin` with a fresh key on first start when there are no users. */
  bootstrapAdmin: boolean;
  /** How long a request line and its headers may take to arrive (408 after). */
  headersTimeoutMs: number;
  /** How long a request body other than an upload (GraphQL, sign-in, token minting) may take to arrive (408 after). */
  bodyTimeoutMs: number;
  /**
   * Uploads have no fixed deadline, only a minimum rate: at least this many
   * bytes in every window of uploadRateWindowMs, or the upload is cut (408).
   */
  uploadMinBytesPerWindow: number;
  uploadRateWindowMs: number;
  /** Failed authentications allowed per client address per minute before 429. */
  authFailuresPerMinute: number;
  /** GraphQL requests refused (400, 413) per client address per minute before its GraphQL is 429. */
  graphqlRefusalsPerMinute: number;
  /** Trust X-Forwarded-* from a reverse proxy (client address for rate limits, https for URLs). */
  trustProxy: boolean;
  /** Serve the GraphiQL IDE at /graphiql. */
  graphiql: boolean;
  /** The URL clients reach this server at (https://conda.example.com), when known. */
  publicUrl: string | null;
  /** CI identity-token issuers trusted for trusted publishing, at most one per provider. */
  oidcIssuers: readonly OidcIssuer[];
  /** The `aud` a CI token must carry; null = the host name of publicUrl, else of the request. */
  oidcAudience: string | null;
  /** After fetching an issuer's keys, how long an unknown `kid` waits before they are fetched again. */
  oidcJwksCooldownMs: number;
  /** Where packages and indexes live: the data folder, or an S3-compatible bucket. */
  storage: StorageConfig;
  /** Package downloads: streamed through channeld, or a 302 to a presigned storage URL. */
  downloadRedirect: 'stream' | 'presigned';
}

export type StorageConfig =
  | { kind: 'folder' }
  | {
      kind: 's3';
      bucket: string;
      /** Key prefix inside the bucket, without slashes at either end ('' = the bucket root). */
      prefix: string;
      endpoint: string | null;
      region: string | null;
      forcePathStyle: boolean;
      /** From AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN; null = the SDK's default chain (profiles, roles). */
      credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | null;
    };

export interface OidcIssuer {
  /** Exactly the `iss` its tokens carry. */
  url: string;
  provider: OidcProvider;
}

export interface ConfigOverrides {
  host?: string | undefined;
  port?: number | string | undefined;
  dataDir?: string | undefined;
}

const GiB = 1024 ** 3;

function intFrom(value: string | number | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${name} must be an integer >= ${min} (got ${JSON.stringify(value)})`);
  }
  return n;
}

function boolFrom(value: string | undefined, name: string, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new Error(`${name} must be true or false (got ${JSON.stringify(value)})`);
}

const WELL_KNOWN_ISSUERS: ReadonlyArray<[RegExp, OidcProvider]> = [
  // GitHub Actions; enterprises with a unique issuer get .../<enterprise>.
  [/^https:\/\/token\.actions\.githubusercontent\.com(\/[A-Za-z0-9_.-]+)?$/, 'github'],
  [/^https:\/\/gitlab\.com$/, 'gitlab'],
];
const DEFAULT_ISSUERS = 'https://token.actions.githubusercontent.com,https://gitlab.com';

/**
 * CHANNELD_OIDC_TRUSTED_ISSUERS: comma-separated issuer URLs, each as
 * `github=URL` or `gitlab=URL` unless it is GitHub's or gitlab.com's own;
 * `none` turns trusted publishing off. https only, except loopback issuers
 * (tests, local development).
 */
function issuersFrom(value: string | undefined): OidcIssuer[] {
  const text = value === undefined || value.trim() === '' ? DEFAULT_ISSUERS : value.trim();
  if (text === 'none') return [];
  const name = 'CHANNELD_OIDC_TRUSTED_ISSUERS';
  const issuers: OidcIssuer[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    const m = /^(github|gitlab)=(.+)$/.exec(entry);
    const url = m ? m[2]! : entry;
    const provider = (m?.[1] as OidcProvider | undefined) ?? WELL_KNOWN_ISSUERS.find(([re]) => re.test(url))?.[1];
    if (!provider) throw new Error(`${name}: say which CI ${JSON.stringify(url)} belongs to (github=URL or gitlab=URL)`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`${name}: ${JSON.stringify(url)} is not a URL`);
    }
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
      throw new Error(`${name}: ${JSON.stringify(url)} must be https (plain http only for loopback issuers)`);
    }
    if (url.endsWith('/') || parsed.search || parsed.hash) throw new Error(`${name}: write ${JSON.stringify(url)} exactly as its tokens' iss (no trailing /, query or fragment)`);
    // Publishers name a repository, not an instance: with two issuers of one
    // kind, acme/widgets on one could publish as acme/widgets of the other.
    if (issuers.some((i) => i.provider === provider)) throw new Error(`${name}: at most one ${provider} issuer`);
    issuers.push({ url, provider });
  }
  return issuers;
}

/** CHANNELD_DATABASE_URL: empty = SQLite in the data folder; postgres:// or postgresql:// = PostgreSQL. */
function databaseUrlFrom(value: string | undefined): string | null {
  const text = value?.trim() ?? '';
  if (text === '') return null;
  if (!/^postgres(ql)?:\/\//.test(text)) {
    throw new Error('CHANNELD_DATABASE_URL must be a postgres:// or postgresql:// URL (or empty for SQLite in the data folder)');
  }
  return text;
}

function publicUrlFrom(value: string | undefined): string | null {
  if (value === undefined || value.trim() === '') return null;
  let parsed: URL;
  try {
    parsed = new URL(value.trim());
  } catch {
    throw new Error(`CHANNELD_PUBLIC_URL must be a URL (got ${JSON.stringify(value)})`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('CHANNELD_PUBLIC_URL must be http(s)');
  return parsed.href.replace(/\/+$/, '');
}

/**
 * CHANNELD_STORAGE_URL: unset = the data folder; s3://bucket/prefix = S3
 * (or MinIO, R2, Ceph through CHANNELD_S3_ENDPOINT). Credentials: the
 * standard AWS_* variables when set, else the SDK's default chain (profiles,
 * instance roles); they are read here so that loadConfig(env) is the whole story.
 */
function storageFrom(env: NodeJS.ProcessEnv): StorageConfig {
  const url = env.CHANNELD_STORAGE_URL?.trim();
  if (!url) return { kind: 'folder' };
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`CHANNELD_STORAGE_URL must be s3://bucket/prefix (got ${JSON.stringify(url)})`);
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error(`CHANNELD_STORAGE_URL: ${JSON.stringify(bucket)} is not a valid bucket name`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((p) => p === '.' || p === '..') || prefix.includes('//')) {
    throw new Error(`CHANNELD_STORAGE_URL: the prefix ${JSON.stringify(prefix)} has empty, '.' or '..' parts`);
  }
  let endpoint: string | null = null;
  if (env.CHANNELD_S3_ENDPOINT?.trim()) {
    try {
      endpoint = new URL(env.CHANNELD_S3_ENDPOINT.trim()).href.replace(/\/+$/, '');
    } catch {
      throw new Error(`CHANNELD_S3_ENDPOINT must be a URL (got ${JSON.stringify(env.CHANNELD_S3_ENDPOINT)})`);
    }
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  const sessionToken = env.AWS_SESSION_TOKEN?.trim();
  return {
    kind: 's3', bucket, prefix, endpoint,
    // S3-compatible servers rarely care about the region, but the SDK needs one to sign.
    region: env.CHANNELD_S3_REGION?.trim() || env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || (endpoint ? 'us-east-1' : null),
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } : null,
    forcePathStyle: boolFrom(env.CHANNELD_S3_FORCE_PATH_STYLE, 'CHANNELD_S3_FORCE_PATH_STYLE', false),
  };
}

function downloadRedirectFrom(value: string | undefined, storage: StorageConfig): Config['downloadRedirect'] {
  const mode = value?.trim() || 'stream';
  if (mode !== 'stream' && mode !== 'presigned') throw new Error(`CHANNELD_DOWNLOAD_REDIRECT must be stream or presigned (got ${JSON.stringify(value)})`);
  if (mode === 'presigned' && storage.kind === 'folder') {
    throw new Error('CHANNELD_DOWNLOAD_REDIRECT=presigned needs object storage (CHANNELD_STORAGE_URL=s3://…): a data folder has no URLs to presign');
  }
  return mode;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const storage = storageFrom(env);
  const port = intFrom(overrides.port ?? env.CHANNELD_PORT, 'port (CHANNELD_PORT)', 8080, 0);
  if (port > 65535) throw new Error('port must be <= 65535');
  return Object.freeze({
    host: overrides.host ?? env.CHANNELD_HOST ?? '127.0.0.1',
    port,
    dataDir: path.resolve(overrides.dataDir ?? env.CHANNELD_DATA_DIR ?? './data'),
    databaseUrl: databaseUrlFrom(env.CHANNELD_DATABASE_URL),
    maxUploadBytes: intFrom(env.CHANNELD_MAX_UPLOAD_BYTES, 'CHANNELD_MAX_UPLOAD_BYTES', 2 * GiB, 1),
    logLevel: env.CHANNELD_LOG_LEVEL ?? 'info',
    indexDebounceMs: intFrom(env.CHANNELD_INDEX_DEBOUNCE_MS, 'CHANNELD_INDEX_DEBOUNCE_MS', 100),
    // 0: a shard pass starts on the next turn; uploads during it coalesce into the one after.
    shardDebounceMs: intFrom(env.CHANNELD_SHARD_DEBOUNCE_MS, 'CHANNELD_SHARD_DEBOUNCE_MS', 0),
    indexPollMs: intFrom(env.CHANNELD_INDEX_POLL_MS, 'CHANNELD_INDEX_POLL_MS', 500, 10),
    indexLeaseMs: intFrom(env.CHANNELD_INDEX_LEASE_MS, 'CHANNELD_INDEX_LEASE_MS', 30_000, 1000),
    indexRetryBaseMs: intFrom(env.CHANNELD_INDEX_RETRY_BASE_MS, 'CHANNELD_INDEX_RETRY_BASE_MS', 1000, 10),
    indexRetryMaxMs: intFrom(env.CHANNELD_INDEX_RETRY_MAX_MS, 'CHANNELD_INDEX_RETRY_MAX_MS', 5 * 60_000, 10),
    // Not an env setting: the README promises clients a week.
    supersededShardRetentionMs: 7 * 86_400_000,
    readCacheMaxBytes: intFrom(env.CHANNELD_READ_CACHE_MAX_BYTES, 'CHANNELD_READ_CACHE_MAX_BYTES', 1 * GiB, 0),
    uploadIntentTimeoutMs: intFrom(env.CHANNELD_UPLOAD_INTENT_TIMEOUT_MS, 'CHANNELD_UPLOAD_INTENT_TIMEOUT_MS', 180_000, 1000),
    keyCacheTtlMs: intFrom(env.CHANNELD_KEY_CACHE_TTL_MS, 'CHANNELD_KEY_CACHE_TTL_MS', 5 * 60_000),
    repodataMaxAgeSeconds: intFrom(env.CHANNELD_REPODATA_MAX_AGE, 'CHANNELD_REPODATA_MAX_AGE', 60),
    bootstrapAdmin: boolFrom(env.CHANNELD_BOOTSTRAP_ADMIN, 'CHANNELD_BOOTSTRAP_ADMIN', true),
    headersTimeoutMs: intFrom(env.CHANNELD_HEADERS_TIMEOUT_MS, 'CHANNELD_HEADERS_TIMEOUT_MS', 30_000, 100),
    bodyTimeoutMs: intFrom(env.CHANNELD_BODY_TIMEOUT_MS, 'CHANNELD_BODY_TIMEOUT_MS', 30_000, 100),
    // 64 KiB a minute (~1 KiB/s): far below any real link, far above a trickle.
    uploadMinBytesPerWindow: intFrom(env.CHANNELD_UPLOAD_MIN_BYTES_PER_WINDOW, 'CHANNELD_UPLOAD_MIN_BYTES_PER_WINDOW', 64 * 1024, 1),
    uploadRateWindowMs: intFrom(env.CHANNELD_UPLOAD_RATE_WINDOW_MS, 'CHANNELD_UPLOAD_RATE_WINDOW_MS', 60_000, 100),
    authFailuresPerMinute: intFrom(env.CHANNELD_AUTH_FAILURES_PER_MINUTE, 'CHANNELD_AUTH_FAILURES_PER_MINUTE', 30, 1),
    graphqlRefusalsPerMinute: intFrom(env.CHANNELD_GRAPHQL_REFUSALS_PER_MINUTE, 'CHANNELD_GRAPHQL_REFUSALS_PER_MINUTE', 120, 1),
    trustProxy: boolFrom(env.CHANNELD_TRUST_PROXY, 'CHANNELD_TRUST_PROXY', false),
    graphiql: boolFrom(env.CHANNELD_GRAPHIQL, 'CHANNELD_GRAPHIQL', false),
    publicUrl: publicUrlFrom(env.CHANNELD_PUBLIC_URL),
    oidcIssuers: Object.freeze(issuersFrom(env.CHANNELD_OIDC_TRUSTED_ISSUERS)),
    oidcAudience: env.CHANNELD_OIDC_AUDIENCE?.trim().toLowerCase() || null,
    oidcJwksCooldownMs: intFrom(env.CHANNELD_OIDC_JWKS_COOLDOWN_MS, 'CHANNELD_OIDC_JWKS_COOLDOWN_MS', 30_000),
    storage: Object.freeze(storage),
    downloadRedirect: downloadRedirectFrom(env.CHANNELD_DOWNLOAD_REDIRECT, storage),
  });
}
