// Every repodata.json a test server wrote must be readable by clients: each
// record typed as CEP 34 says (our own validator) and accepted by rattler's
// own PackageRecord deserialiser (@conda-org/rattler, the real Rust code as
// wasm). Test servers run this on the data folder when they close, so a
// record that would break conda or rattler fails the test that made it.
// Folder storage only (on S3 the files are in the bucket).
import fs from 'node:fs';
import path from 'node:path';
import { PackageRecord } from '@conda-org/rattler';
import { indexJsonProblem } from '../../src/conda/index-json.js';

/** Problems found in the generation files (…/_index/<gen>-repodata.json) under dataDir/channels. */
export function repodataProblems(dataDir: string): string[] {
  const root = path.join(dataDir, 'channels');
  if (!fs.existsSync(root)) return [];
  const problems: string[] = [];
  for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/^\d+-repodata\.json$/.test(entry.name)) continue;
    const file = path.join(entry.parentPath, entry.name);
    const where = path.relative(root, file);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      // Removed by the server between listing and reading (an old generation collected): not a problem.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      problems.push(`${where}: not JSON (${(err as Error).message})`);
      continue;
    }
    for (const map of ['packages', 'packages.conda'] as const) {
      const records = (doc[map] ?? {}) as Record<string, Record<string, unknown>>;
      for (const [filename, record] of Object.entries(records)) {
        const typed = indexJsonProblem(record);
        if (typed) problems.push(`${where} ${filename}: ${typed.message}`);
        try {
          new PackageRecord(record as unknown as ConstructorParameters<typeof PackageRecord>[0]).free();
        } catch (err) {
          problems.push(`${where} ${filename}: rattler cannot read the record (${String(err).slice(0, 200)})`);
        }
      }
    }
  }
  return problems;
}

/** Throws when any repodata.json under dataDir holds a record clients cannot read. */
export function assertRepodataReadable(dataDir: string): void {
  const problems = repodataProblems(dataDir);
  if (problems.length > 0) throw new Error(`repodata.json that clients cannot read:\n${problems.slice(0, 20).join('\n')}`);
}
