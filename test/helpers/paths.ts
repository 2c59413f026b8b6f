import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The read-only shared folder CI places beside the repo. Never write into it. */
export const sharedDir = path.resolve(repoRoot, '../shared');
export const fixturesDir = path.join(sharedDir, 'fixtures');
export const cliEntry = path.join(repoRoot, 'bin/channeld.js');
