// Reads info/index.json (+ about.json, run_exports.json, paths.json) out of an uploaded package
// without unpacking it (tar-bz2-reader.ts, conda-reader.ts). Anything wrong with the archive is
// INVALID_PACKAGE (400); only I/O faults on our own disk pass through (archive-faults.ts).
import { Errors } from '../errors.js';
import { invalid } from './archive-faults.js';
import { readConda } from './conda-reader.js';
import { indexJsonProblem } from './index-json.js';
import { jsonTooDeep } from './json-depth.js';
import type { PackageFormat } from './package-filename.js';
import { readTarBz2 } from './tar-bz2-reader.js';

export interface PackageMetadata {
  indexJson: Record<string, unknown>;
  aboutJson: Record<string, unknown> | null;
  runExportsJson: unknown | null;
  /** info/paths.json's `paths` (for channeldata's install-script flags), or null. */
  paths: Array<Record<string, unknown>> | null;
}

function parseJsonOrNull(data: Buffer | undefined): unknown {
  try {
    return data === undefined || jsonTooDeep(data) ? null : (JSON.parse(data.toString('utf8')) as unknown);
  } catch {
    return null;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Reads metadata from a package file on disk. `stem` is the filename without extension (name-version-build). */
export async function readPackageMetadata(filePath: string, format: PackageFormat, stem: string): Promise<PackageMetadata> {
  const files = format === 'conda' ? await readConda(filePath, stem) : await readTarBz2(filePath);
  const index = files.get('info/index.json');
  if (index === undefined) throw invalid('info/index.json is missing');
  if (jsonTooDeep(index)) throw new Errors.INVALID_METADATA('info/index.json nests arrays or objects too deeply');
  let indexJson: unknown;
  try {
    indexJson = JSON.parse(index.toString('utf8'));
  } catch (err) {
    throw invalid(`info/index.json is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(indexJson)) throw invalid('info/index.json is not a JSON object');
  const problem = indexJsonProblem(indexJson);
  if (problem) throw new Errors.INVALID_METADATA(problem.message);
  // A broken about.json or run_exports.json costs the package its extra metadata, not its upload.
  const about = parseJsonOrNull(files.get('info/about.json'));
  const runExports = parseJsonOrNull(files.get('info/run_exports.json'));
  const paths = parseJsonOrNull(files.get('info/paths.json'));
  const pathList = isObject(paths) && Array.isArray(paths.paths) ? (paths.paths as unknown[]).filter(isObject) : null;
  return {
    indexJson,
    aboutJson: isObject(about) ? about : null,
    runExportsJson: typeof runExports === 'object' ? runExports : null,
    paths: pathList,
  };
}
