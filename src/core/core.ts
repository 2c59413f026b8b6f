// Wires the core together: repositories, storage, key verifier, services and
// the indexer. The server (app.ts) and the CLI both start from here, so they
// behave the same on the same data folder.
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { ApiKeyVerifier } from '../auth/api-keys.js';
import { PackageReaderPool } from '../indexer/package-reader-pool.js';
import { Authenticator } from '../auth/authenticate.js';
import { SessionManager } from '../auth/sessions.js';
import { OidcVerifier } from '../auth/oidc-verifier.js';
import { PublisherTokenVerifier } from '../auth/publisher-tokens.js';
import { sortVersionsDesc } from '../conda/version-order.js';
import type { Config } from '../config.js';
import type { Repositories } from '../db/repositories.js';
import { createRepositories, sqliteFile } from '../db/index.js';
import { channeldataInWorker } from '../indexer/channeldata-in-worker.js';
import { FullPassThread } from '../indexer/full-pass-in-worker.js';
import { Indexer } from '../indexer/indexer.js';
import { createObjectStore } from '../storage/create-store.js';
import { LocalReadCache } from '../storage/read-cache.js';
import type { ObjectStore } from '../storage/object-store.js';
import { AuditLog } from './audit.js';
import { CatalogService } from './catalog.js';
import { ChannelService } from './channels.js';
import { PackageService } from './packages.js';
import { PublisherService } from './publishers.js';
import { nodeIdOf, newOwner } from './process-owner.js';
import { setAsideInvalidRecords } from './stored-metadata.js';
import { recover, settleAbandonedIntents } from './recovery.js';
import { ServingService } from './serving.js';
import { UserService } from './users.js';
import { WindowCounter } from '../auth/window-counter.js';

export interface Core {
  config: Config;
  repos: Repositories;
  store: ObjectStore;
  verifier: ApiKeyVerifier;
  auth: Authenticator;
  sessions: SessionManager;
  users: UserService;
  audit: AuditLog;
  channels: ChannelService;
  catalog: CatalogService;
  packages: PackageService;
  publishers: PublisherService;
  /** What the file routes serve (channels' index files, packages, shards, channeldata). */
  serving: ServingService;
  indexer: Indexer;
  tempDir: string;
  /** Names this core in index leases and upload intents (process-owner.ts). */
  owner: string;
  /** Local copies of immutable index files when storage is remote (the server only; null otherwise). */
  readCache: LocalReadCache | null;
  /** Start-up recovery + background indexing (the server; not the CLI). */
  startBackground(): Promise<void>;
  /** Drains the indexer and closes the database. */
  close(): Promise<void>;
}

export async function createCore(config: Config, log: FastifyBaseLogger): Promise<Core> {
  const repos = await createRepositories(config);
  const store = createObjectStore(config);
  const tempDir = path.join(config.dataDir, 'tmp');
  // Names this core in leases and upload intents.
  const nodeId = nodeIdOf(config.dataDir);
  const owner = newOwner(nodeId);
  const verifier = new ApiKeyVerifier(repos.apiKeys, repos.users, config.keyCacheTtlMs);
  // On SQLite the heavy index work runs in worker threads with their own
  // read connections (on PostgreSQL it awaits the network and stays here).
  const onSqlite = config.databaseUrl === null;
  const fullPasses = onSqlite ? new FullPassThread({ file: sqliteFile(config.dataDir), dataDir: config.dataDir, storage: config.storage }) : null;
  const indexer = new Indexer(repos, store, log.child({ component: 'indexer' }), {
    debounceMs: config.indexDebounceMs,
    shardDebounceMs: config.shardDebounceMs,
    pollMs: config.indexPollMs,
    leaseMs: config.indexLeaseMs,
    retryBaseMs: config.indexRetryBaseMs,
    retryMaxMs: Math.max(config.indexRetryMaxMs, config.indexRetryBaseMs),
    newestFirst: sortVersionsDesc,
    supersededShardRetentionMs: config.supersededShardRetentionMs,
    ...(onSqlite ? { buildChanneldata: channeldataInWorker(sqliteFile(config.dataDir)) } : {}),
    ...(fullPasses ? { writeFull: (ref) => fullPasses.write(ref) } : {}),
    owner,
  });
  const audit = new AuditLog(repos.audit);
  // Uploads' info/ is read on threads of its own: a package slow to inflate never holds requests.
  const packageReader = new PackageReaderPool();
  const sessions = new SessionManager(repos);
  const channels = new ChannelService(repos, store, indexer, audit);
  const packages = new PackageService(repos, channels, store, indexer, audit, {
    tempDir, maxUploadBytes: config.maxUploadBytes, publicUrl: config.publicUrl, owner,
    readMetadata: (file, format, stem) => packageReader.read(file, format, stem),
  });
  const oidc = new OidcVerifier(config.oidcIssuers, { jwksCooldownMs: config.oidcJwksCooldownMs });
  let closed = false;
  const timers: NodeJS.Timeout[] = [];
  const core: Core = {
    config,
    repos,
    store,
    verifier,
    sessions,
    auth: new Authenticator(
      verifier, sessions, new PublisherTokenVerifier(repos.oidc), (userId) => repos.channels.rolesOfUser(userId),
      new WindowCounter({ max: config.authFailuresPerMinute, windowMs: 60_000 }),
    ),
    tempDir,
    owner,
    readCache: null,
    indexer,
    users: new UserService(repos, verifier, audit),
    audit,
    channels,
    catalog: new CatalogService(repos.catalog),
    packages,
    serving: new ServingService(channels, packages, repos.indexState, store, () => core.readCache, config),
    publishers: new PublisherService(repos, channels, oidc, audit, {
      audience: config.oidcAudience, publicUrl: config.publicUrl, log: log.child({ component: 'trusted-publishing' }),
    }),
    async startBackground() {
      await recover(repos, store, tempDir, log, config.uploadIntentTimeoutMs, nodeId);
      await setAsideInvalidRecords(repos, log);
      // Not in createCore: a CLI command beside a running server must not empty the server's cache.
      if (!store.localFile && config.readCacheMaxBytes > 0) {
        core.readCache = await LocalReadCache.open(path.join(config.dataDir, 'cache'), store, config.readCacheMaxBytes);
      }
      // This process's uploads in flight say they are alive; other
      // processes' abandoned ones are settled (a replica died mid-upload).
      const every = (ms: number, task: () => Promise<unknown>) => {
        const timer = setInterval(() => void task().catch((err: unknown) => log.error({ err }, 'upload intent upkeep failed')), ms);
        timer.unref();
        timers.push(timer);
      };
      every(Math.max(100, Math.floor(config.uploadIntentTimeoutMs / 6)), () => repos.packages.touchUploadIntents(owner, Date.now()));
      every(Math.max(200, Math.floor(config.uploadIntentTimeoutMs / 2)), async () => {
        const { finished, dropped } = await settleAbandonedIntents(repos, store, config.uploadIntentTimeoutMs, Date.now(), nodeId);
        if (finished + dropped > 0) log.info({ intentsFinished: finished, intentsDropped: dropped }, 'settled uploads abandoned by a dead process');
      });
      // Bring every index up to date before the first request: after a crash
      // no acknowledged upload may be missing from what is served.
      for (const ref of await repos.indexState.dirty()) await indexer.indexNow(ref);
      indexer.start();
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers.splice(0)) clearInterval(timer);
      await indexer.drain();
      await fullPasses?.close();
      await packageReader.close();
      await repos.close();
    },
  };
  return core;
}
