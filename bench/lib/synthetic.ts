// Synthetic catalog rows for benchmarks that need tens or hundreds of
// thousands of packages without making that many archives. Every row takes
// the shape of one of the 61 real fixture packages: its exact info/index.json
// (fixtures/expected-index.jsonl), its file size (MANIFEST.tsv), and the
// about.json / run_exports.json the server's own reader finds in the real
// archive. Only name, version, build (and, when asked, depends and subdir)
// change, so every file name is unique. The repodata record is made the way
// an upload makes it (buildRecord + canonicalJson); sha256/md5 are hashes of
// the file name, as random-looking (and as incompressible) as real ones.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { canonicalJson } from '../../src/conda/canonical-json.js';
import { parsePackageFilename } from '../../src/conda/package-filename.js';
import { readPackageMetadata } from '../../src/conda/package-reader.js';
import { buildRecord } from '../../src/conda/repodata-record.js';
import type { PackageFile } from '../../src/types.js';
import { fixturesDir } from '../../test/helpers/paths.js';

export interface Template {
  /** The fixture's info/index.json, as shipped. */
  index: Record<string, unknown>;
  format: 'conda' | 'tar.bz2';
  sizeBytes: number;
  aboutJson: string | null;
  runExportsJson: string | null;
  /** Fixture package name, the stem of synthetic names. */
  stem: string;
}

/** The 61 fixtures as templates, in expected-index.jsonl order. */
export async function loadTemplates(): Promise<Template[]> {
  const sizes = new Map<string, number>();
  const manifest = fs.readFileSync(path.join(fixturesDir, 'MANIFEST.tsv'), 'utf8').trim().split('\n');
  const header = manifest[0]!.split('\t');
  for (const line of manifest.slice(1)) {
    const row = line.split('\t');
    sizes.set(row[header.indexOf('path')]!, Number(row[header.indexOf('size')]));
  }
  const lines = fs.readFileSync(path.join(fixturesDir, 'expected-index.jsonl'), 'utf8').trim().split('\n');
  const out: Template[] = [];
  for (const line of lines) {
    const { path: rel, index } = JSON.parse(line) as { path: string; index: Record<string, unknown> };
    const format = rel.endsWith('.conda') ? 'conda' : 'tar.bz2';
    const filename = path.basename(rel);
    const meta = await readPackageMetadata(path.join(fixturesDir, rel), format, filename.slice(0, -(format.length + 1)));
    out.push({
      index, format, sizeBytes: sizes.get(rel) ?? 100_000, stem: String(index.name),
      aboutJson: meta.aboutJson === null ? null : JSON.stringify(meta.aboutJson),
      runExportsJson: meta.runExportsJson === null ? null : JSON.stringify(meta.runExportsJson),
    });
  }
  return out;
}

export interface RowSpec {
  channelId: number;
  subdir: string;
  template: Template;
  name: string;
  version: string;
  build: string;
  /** Replaces index.json's depends when given. */
  depends?: string[];
}

/** One PackageFile row, as an upload of such a package would store it. */
export function packageRow(spec: RowSpec): PackageFile {
  const t = spec.template;
  const filename = `${spec.name}-${spec.version}-${spec.build}.${t.format}`;
  const index: Record<string, unknown> = { ...t.index, name: spec.name, version: spec.version, build: spec.build, subdir: spec.subdir };
  // A platform subdir holds no noarch packages; drop the marker rather than mix kinds.
  if (spec.subdir !== 'noarch') delete index.noarch;
  if (spec.depends) index.depends = spec.depends;
  const sha256 = createHash('sha256').update(filename).digest('hex');
  const md5 = createHash('md5').update(filename).digest('hex');
  return {
    channelId: spec.channelId, subdir: spec.subdir, filename, format: t.format, name: spec.name, version: spec.version,
    build: spec.build, buildNumber: typeof index.build_number === 'number' ? index.build_number : 0,
    sizeBytes: t.sizeBytes, sha256, md5,
    indexJson: JSON.stringify(index), aboutJson: t.aboutJson, runExportsJson: t.runExportsJson,
    recordJson: canonicalJson(buildRecord(index, { md5, sha256, size: t.sizeBytes })),
    uploadedBy: null,
  };
}

/** Throws unless the file names of these rows are valid conda file names (checked on a sample). */
export function checkNames(rows: PackageFile[]): void {
  for (const r of rows) parsePackageFilename(r.filename);
}

/** Version strings with a `.k` suffix sort after the template's own version. */
export const versionOf = (t: Template, k: number): string => `${String(t.index.version)}.${k}`;
