// Picks the database from the configuration: the SQLite file in the data
// folder by default, PostgreSQL when CHANNELD_DATABASE_URL names one. The
// rest of the program sees only the Repositories interfaces, and what
// database.ts offers the worker threads.
import type { Config } from '../config.js';
import type { Repositories } from './repositories.js';
import { createPostgresRepositories } from './postgres/index.js';
import { createSqliteRepositories, sqliteFile } from './sqlite/index.js';

export { sqliteFile };
// migrate-storage copies rows from the SQLite file into PostgreSQL, beneath the repositories.
export { openRowCopy, RowCopyRefused, type ListedPackage, type RowCopy } from './copy-to-postgres.js';

export async function createRepositories(config: Pick<Config, 'dataDir' | 'databaseUrl'>): Promise<Repositories> {
  return config.databaseUrl === null
    ? createSqliteRepositories(sqliteFile(config.dataDir))
    : createPostgresRepositories(config.databaseUrl);
}
