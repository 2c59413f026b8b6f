// The SQLite adapter set: one writer connection for all repositories, one
// read-only connection for the indexer's snapshots.
import path from 'node:path';
import Database from 'better-sqlite3';
import { openSqlite } from '../database.js';
import type { Repositories } from '../repositories.js';
import { SqliteApiKeyRepository } from './api-keys.js';
import { SqliteAuditRepository } from './audit.js';
import { SqliteCatalogRepository } from './catalog.js';
import { SqliteChannelRepository } from './channels.js';
import { SqliteJobRepository } from './jobs.js';
import { SqliteSessionRepository } from './sessions.js';
import { SqliteOidcRepository } from './oidc.js';
import { SqliteIndexStateRepository, revisionBumper } from './index-state.js';
import { SqlitePackageRepository } from './packages.js';
import { SqliteUserRepository } from './users.js';

export function sqliteFile(dataDir: string): string {
  return path.join(dataDir, 'channeld.db');
}

export function createSqliteRepositories(file: string): Repositories {
  const db = openSqlite(file);
  const reader = new Database(file, { readonly: true });
  reader.pragma('busy_timeout = 10000');
  return {
    users: new SqliteUserRepository(db),
    channels: new SqliteChannelRepository(db),
    apiKeys: new SqliteApiKeyRepository(db),
    packages: new SqlitePackageRepository(db, revisionBumper(db)),
    indexState: new SqliteIndexStateRepository(db, reader),
    catalog: new SqliteCatalogRepository(db),
    jobs: new SqliteJobRepository(db),
    audit: new SqliteAuditRepository(db),
    sessions: new SqliteSessionRepository(db),
    oidc: new SqliteOidcRepository(db),
    close() {
      reader.close();
      db.close();
    },
  };
}
