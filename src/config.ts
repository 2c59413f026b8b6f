// One validated configuration object, read once from env and CLI flags.
// This is the only module that reads process.env.
import path from 'node:path';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Largest package accepted by upload, in bytes (413 above it). */
  maxUploadBytes: number;
  logLevel: string;
  /** How long the indexer waits after a change before rewriting, to coalesce bursts. */
  indexDebounceMs: number;
  /** How long the indexer waits before rebuilding changed shards and the shard index. */
  shardDebounceMs: number;
  /** How often the indexer looks for changes made by other processes (CLI, replicas). */
  indexPollMs: number;
  /** How long a verified API key is remembered (argon2 skipped; revocation still checked). */
  keyCacheTtlMs: number;
  /** Cache-Control max-age for repodata.json. */
  repodataMaxAgeSeconds: number;
  /** Create user `admin` with a fresh key on first start when there are no users. */
  bootstrapAdmin: boolean;
  /** Failed authentications allowed per client address per minute before 429. */
  authFailuresPerMinute: number;
  /** Trust X-Forwarded-* from a reverse proxy (client address for rate limits, https for URLs). */
  trustProxy: boolean;
  /** Serve the GraphiQL IDE at /graphiql. */
  graphiql: boolean;
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const port = intFrom(overrides.port ?? env.CHANNELD_PORT, 'port (CHANNELD_PORT)', 8080, 0);
  if (port > 65535) throw new Error('port must be <= 65535');
  return Object.freeze({
    host: overrides.host ?? env.CHANNELD_HOST ?? '127.0.0.1',
    port,
    dataDir: path.resolve(overrides.dataDir ?? env.CHANNELD_DATA_DIR ?? './data'),
    maxUploadBytes: intFrom(env.CHANNELD_MAX_UPLOAD_BYTES, 'CHANNELD_MAX_UPLOAD_BYTES', 2 * GiB, 1),
    logLevel: env.CHANNELD_LOG_LEVEL ?? 'info',
    indexDebounceMs: intFrom(env.CHANNELD_INDEX_DEBOUNCE_MS, 'CHANNELD_INDEX_DEBOUNCE_MS', 100),
    shardDebounceMs: intFrom(env.CHANNELD_SHARD_DEBOUNCE_MS, 'CHANNELD_SHARD_DEBOUNCE_MS', 5),
    indexPollMs: intFrom(env.CHANNELD_INDEX_POLL_MS, 'CHANNELD_INDEX_POLL_MS', 500, 10),
    keyCacheTtlMs: intFrom(env.CHANNELD_KEY_CACHE_TTL_MS, 'CHANNELD_KEY_CACHE_TTL_MS', 5 * 60_000),
    repodataMaxAgeSeconds: intFrom(env.CHANNELD_REPODATA_MAX_AGE, 'CHANNELD_REPODATA_MAX_AGE', 60),
    bootstrapAdmin: boolFrom(env.CHANNELD_BOOTSTRAP_ADMIN, 'CHANNELD_BOOTSTRAP_ADMIN', true),
    authFailuresPerMinute: intFrom(env.CHANNELD_AUTH_FAILURES_PER_MINUTE, 'CHANNELD_AUTH_FAILURES_PER_MINUTE', 30, 1),
    trustProxy: boolFrom(env.CHANNELD_TRUST_PROXY, 'CHANNELD_TRUST_PROXY', false),
    graphiql: boolFrom(env.CHANNELD_GRAPHIQL, 'CHANNELD_GRAPHIQL', false),
  });
}
