// The PostgreSQL adapter set: one pool for every repository; index snapshots
// borrow a client of their own from it for the length of a pass.
import type { Repositories } from '../repositories.js';
import { PgApiKeyRepository } from './api-keys.js';
import { PgAuditRepository } from './audit.js';
import { PgCatalogRepository } from './catalog.js';
import { PgChannelRepository } from './channels.js';
import { openPostgres } from './database.js';
import { PgIndexStateRepository } from './index-state.js';
import { PgJobRepository } from './jobs.js';
import { PgOidcRepository } from './oidc.js';
import { PgPackageRepository } from './packages.js';
import { PgSessionRepository } from './sessions.js';
import { PgUserRepository } from './users.js';

export async function createPostgresRepositories(url: string): Promise<Repositories> {
  const pool = await openPostgres(url);
  return {
    users: new PgUserRepository(pool),
    channels: new PgChannelRepository(pool),
    apiKeys: new PgApiKeyRepository(pool),
    packages: new PgPackageRepository(pool),
    indexState: new PgIndexStateRepository(pool),
    catalog: new PgCatalogRepository(pool),
    jobs: new PgJobRepository(pool),
    audit: new PgAuditRepository(pool),
    sessions: new PgSessionRepository(pool),
    oidc: new PgOidcRepository(pool),
    close: () => pool.end(),
  };
}
