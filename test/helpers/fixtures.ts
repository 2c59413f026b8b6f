// The shared real packages (fixtures/MANIFEST.tsv) and their expected index.json.
import fs from 'node:fs';
import path from 'node:path';
import { fixturesDir } from './paths.js';

export interface FixturePackage {
  /** Absolute path of the package file. */
  file: string;
  filename: string;
  /** The folder it sits in under fixtures/packages/ (= the subdir it indexes into). */
  folder: string;
  sha256: string;
  md5: string;
  sizeBytes: number;
  name: string;
  version: string;
  build: string;
}

export function fixturePackages(): FixturePackage[] {
  const lines = fs.readFileSync(path.join(fixturesDir, 'MANIFEST.tsv'), 'utf8').trim().split('\n');
  const header = lines[0]!.split('\t');
  const col = (row: string[], name: string) => row[header.indexOf(name)]!;
  return lines.slice(1).map((line) => {
    const row = line.split('\t');
    const rel = col(row, 'path');
    return {
      file: path.join(fixturesDir, rel),
      filename: path.basename(rel),
      folder: rel.split('/')[1]!,
      sha256: col(row, 'sha256'),
      md5: col(row, 'md5'),
      sizeBytes: Number(col(row, 'size')),
      name: col(row, 'name'),
      version: col(row, 'version'),
      build: col(row, 'build'),
    };
  });
}

export function malformedFiles(): Array<{ file: string; filename: string; problem: string }> {
  const dir = path.join(fixturesDir, 'malformed');
  const lines = fs.readFileSync(path.join(dir, 'MANIFEST.tsv'), 'utf8').trim().split('\n').slice(1);
  return lines.map((line) => {
    const [filename, , , , , , problem] = line.split('\t');
    return { file: path.join(dir, filename!), filename: filename!, problem: problem ?? '' };
  });
}

/** conda-index's repodata.json for a subdir (fixtures/conda-index/<subdir>/repodata.json). */
export function condaIndexRepodata(subdir: string): { packages: Record<string, unknown>; 'packages.conda': Record<string, unknown> } {
  return JSON.parse(fs.readFileSync(path.join(fixturesDir, 'conda-index', subdir, 'repodata.json'), 'utf8'));
}
