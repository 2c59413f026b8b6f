// The SQLite adapter set: one writer connection for all repositories, and
// read-only connections for the indexer's snapshots (one per running pass).
import path from 'node:path';
import { openSqlite } from './database.js';
import type { Repositories } from '../repositories.js';
import { SqliteApiKeyRepository } from './api-keys.js';
import { SqliteAuditRepository } from './audit.js';
import { SqliteCatalogRepository } from './catalog.js';
import { SqliteChannelRepository } from './channels.js';
import { SqliteJobRepository } from './jobs.js';
import { SqliteSessionRepository } from './sessions.js';
import { SqliteOidcRepository } from './oidc.js';
import { SqliteIndexStateRepository, openSnapshotReader, revisionBumper } from './index-state.js';
import { SqlitePackageRepository } from './packages.js';
import { SqliteUserRepository } from './users.js';

export function sqliteFile(dataDir: string): string {
  return path.join(dataDir, 'channeld.db');
}

export function createSqliteRepositories(file: string): Repositories {
  const db = openSqlite(file);
  const indexState = new SqliteIndexStateRepository(db, () => openSnapshotReader(file));
  return {
    users: new SqliteUserRepository(db),
    channels: new SqliteChannelRepository(db),
    apiKeys: new SqliteApiKeyRepository(db),
    packages: new SqlitePackageRepository(db, revisionBumper(db)),
    indexState,
    catalog: new SqliteCatalogRepository(db),
    jobs: new SqliteJobRepository(db),
    audit: new SqliteAuditRepository(db),
    sessions: new SqliteSessionRepository(db),
    oidc: new SqliteOidcRepository(db),
    async close() {
      indexState.closeReaders();
      db.close();
    },
  };
}
