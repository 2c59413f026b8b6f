// Package file names: <name>-<version>-<build>.(conda|tar.bz2), max 211
// chars (CEP 26, docs/formats.md §A4), split on the LAST TWO `-` (as
// rattler's `rsplitn(3, '-')` and quetz's `rsplit("-", 2)`): the name may
// contain `-`, version/build may not (package-names.ts has their rules).
//
// These and the subdir and channel rules beside them are the only definition
// of a safe name: storage/keys.ts builds every key from parts that pass them,
// so what the door accepts and what storage accepts cannot drift apart (a
// channel `ab..c` once passed here, was refused by storage, and left its
// index failing forever).
//
// Every accepted file name is a single, safe path component: the character
// classes leave no room for `/`, `\`, NUL, `:`, whitespace, non-ASCII or a
// leading `.`; those are still checked explicitly first so the error says
// what is wrong.
import { Errors } from '../errors.js';
import { buildProblem, packageNameProblem, versionProblem } from './package-names.js';
import { quoted as q } from './quoted.js';

export type PackageFormat = 'conda' | 'tar.bz2';

export interface ParsedFilename {
  /** The file name as given (already validated). */
  filename: string;
  name: string;
  version: string;
  build: string;
  format: PackageFormat;
  /** `<name>-<version>-<build>`, the file name without its extension. */
  stem: string;
}

export const MAX_FILENAME_LENGTH = 211;

const EXTENSIONS: readonly (readonly [string, PackageFormat])[] = [
  ['.tar.bz2', 'tar.bz2'],
  ['.conda', 'conda'],
];

/**
 * Parses `<name>-<version>-<build>.conda|.tar.bz2`.
 * @throws Errors.INVALID_FILENAME (400) saying what is wrong.
 */
export function parsePackageFilename(filename: string): ParsedFilename {
  const bad = (why: string): never => {
    const shown = typeof filename === 'string' ? q(filename) : typeof filename;
    throw new Errors.INVALID_FILENAME(`invalid package file name ${shown}: ${why}`);
  };
  if (typeof filename !== 'string') return bad('it must be a string');
  if (filename.length === 0) bad('it is empty');
  if (filename.length > MAX_FILENAME_LENGTH) bad(`it is longer than ${MAX_FILENAME_LENGTH} characters`);
  if (/[/\\]/.test(filename)) bad('it must not contain "/" or a backslash');
  if (filename.includes('\0')) bad('it must not contain NUL');
  if (filename.startsWith('.')) bad('it must not start with "."');

  const ext = EXTENSIONS.find(([suffix]) => filename.endsWith(suffix));
  if (!ext) return bad('it must end in ".conda" or ".tar.bz2"');
  const [suffix, format] = ext;
  const stem = filename.slice(0, -suffix.length);

  const lastDash = stem.lastIndexOf('-');
  const secondDash = lastDash > 0 ? stem.lastIndexOf('-', lastDash - 1) : -1;
  if (secondDash <= 0) bad('it must look like <name>-<version>-<build>' + suffix);
  const name = stem.slice(0, secondDash);
  const version = stem.slice(secondDash + 1, lastDash);
  const build = stem.slice(lastDash + 1);

  const problem = packageNameProblem(name) ?? versionProblem(version) ?? buildProblem(build);
  if (problem !== null) bad(problem);
  return { filename, name, version, build, format, stem };
}

/**
 * info/index.json must name the same package as the file name.
 * @throws Errors.INVALID_PACKAGE if name/version/build are missing, not
 *   strings, or break the CEP 26 rules;
 * @throws Errors.METADATA_MISMATCH if they differ from the file name's.
 */
export function checkIndexMatchesFilename(indexJson: Record<string, unknown>, parsed: ParsedFilename): void {
  const fields = ['name', 'version', 'build'] as const;
  for (const field of fields) {
    const v = indexJson[field];
    if (typeof v !== 'string') {
      throw new Errors.INVALID_PACKAGE(
        `info/index.json ${v === undefined ? 'has no' : 'has a non-string'} "${field}" field`,
      );
    }
  }
  const name = indexJson.name as string;
  const version = indexJson.version as string;
  const build = indexJson.build as string;
  if (name !== parsed.name || version !== parsed.version || build !== parsed.build) {
    throw new Errors.METADATA_MISMATCH(
      `file name says ${parsed.name} ${parsed.version} ${parsed.build} ` +
        `but info/index.json says ${name} ${version} ${build}`,
    );
  }
  // Equal to parts that already passed parsePackageFilename, so this only
  // fires if a caller built `parsed` by hand; kept so the promise holds.
  const problem = packageNameProblem(name) ?? versionProblem(version) ?? buildProblem(build);
  if (problem !== null) throw new Errors.INVALID_PACKAGE(`info/index.json: ${problem}`);
}
