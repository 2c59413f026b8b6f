// Names, versions, build strings, package file names, subdirs and channel
// names: what an upload may be called, and where it goes.
//
// Rules are CEP 26 (docs/formats.md §A4) unless said otherwise:
//   name     lowercase [a-z0-9._-], starts with a letter/digit or ONE `_`,
//            no two separators in a row, max 64; `__…` names are virtual
//            packages and are never uploadable.
//   version  [0-9a-z._+!], max 64; here also conda's own rule (VersionOrder):
//            at most one `!` (after a numeric epoch) and one `+` (before a
//            local part), and no empty component between `.`/`_` separators
//            (`1..2`, `.1`, `1.`, `1+` are refused by conda and rattler), one
//            trailing `_` allowed (openssl's `1.0.1_`). So `.` and `..` can
//            never be a version, and a file name never holds `..`.
//   build    [a-zA-Z0-9_.+], max 64, and no empty `.`-component (no leading,
//            trailing or doubled `.`: `x-1-..conda` would hold `..`).
//   filename <name>-<version>-<build>.(conda|tar.bz2), max 211 chars, split on
//            the LAST TWO `-` (as rattler's `rsplitn(3, '-')` and quetz's
//            `rsplit("-", 2)`): the name may contain `-`, version/build may not.
//   subdir   `noarch` or ^[a-z0-9]+-[a-z0-9]+$, max 32 (so non-standard subdirs
//            such as `linux-fake` are accepted; see the fixtures).
//   channel  ^[a-z0-9_][a-z0-9_.-]*$, 3–64, no `..`, not a reserved route name.
//
// These are the only definition of a safe name: storage/keys.ts builds every
// key from parts that pass them, so what the door accepts and what storage
// accepts cannot drift apart (a channel `ab..c` once passed here, was
// refused by storage, and left its index failing forever).
//
// Every accepted file name is a single, safe path component: the character
// classes above leave no room for `/`, `\`, NUL, `:`, whitespace, non-ASCII or
// a leading `.`; those are still checked explicitly first so the error says
// what is wrong.
import { Errors } from '../errors.js';

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
export const MAX_NAME_LENGTH = 64;
export const MAX_VERSION_LENGTH = 64;
export const MAX_BUILD_LENGTH = 64;
export const MAX_SUBDIR_LENGTH = 32;
export const MIN_CHANNEL_NAME_LENGTH = 3;
export const MAX_CHANNEL_NAME_LENGTH = 64;

const EXTENSIONS: readonly (readonly [string, PackageFormat])[] = [
  ['.tar.bz2', 'tar.bz2'],
  ['.conda', 'conda'],
];

// CEP 26's name regex. Anchored, and every repetition is forced to end in a
// separator or the end of the string, so it cannot backtrack badly; the
// length is checked before it runs anyway.
const NAME_RE = /^(?:[a-z0-9]|[a-z0-9_](?!_))[._-]?(?:[a-z0-9]+(?:[._-]|$))*$/;
// The CEP 26 prose also says "no two consecutive separators"; the regex alone
// lets `_-x` through, so check it separately.
const DOUBLE_SEPARATOR_RE = /[._-]{2}/;
const VERSION_RE = /^[0-9a-z][0-9a-z._+!]*$/;
const BUILD_RE = /^[a-zA-Z0-9_.+]+$/;
const SUBDIR_RE = /^[a-z0-9]+-[a-z0-9]+$/;
const CHANNEL_NAME_RE = /^[a-z0-9_][a-z0-9_.-]*$/;

/** Channel names that would collide with server routes or well-known paths. */
export const RESERVED_CHANNEL_NAMES: ReadonlySet<string> = new Set([
  'api',
  'healthz',
  't',
  'static',
  'assets',
  'ui',
  'login',
  'logout',
  'settings',
  'channels',
  'graphql',
  'graphiql',
  'metrics',
  'favicon.ico',
  'robots.txt',
  '_',
  'admin',
  'auth',
  'oidc',
  '.well-known',
]);

/** JSON.stringify for messages, so odd characters show up escaped. */
function q(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** Returns a reason the package name is invalid, or null if it is fine. */
export function packageNameProblem(name: string): string | null {
  if (typeof name !== 'string') return 'the package name must be a string';
  if (name.length === 0) return 'the package name is empty';
  if (name.length > MAX_NAME_LENGTH) return `the package name is longer than ${MAX_NAME_LENGTH} characters`;
  if (name.startsWith('__')) return `package names starting with "__" are virtual packages and cannot be uploaded`;
  if (/[A-Z]/.test(name)) return `package name ${q(name)} contains uppercase letters (names must be lowercase)`;
  if (!/^[a-z0-9._-]+$/.test(name)) return `package name ${q(name)} may only contain a-z, 0-9, ".", "_" and "-"`;
  if (DOUBLE_SEPARATOR_RE.test(name)) return `package name ${q(name)} has two separators (".", "_", "-") in a row`;
  if (!NAME_RE.test(name)) return `package name ${q(name)} must start with a letter, a digit or a single "_"`;
  return null;
}

/** Returns a reason the version is invalid, or null if it is fine. */
export function versionProblem(version: string): string | null {
  if (typeof version !== 'string') return 'the version must be a string';
  if (version.length === 0) return 'the version is empty';
  if (version.length > MAX_VERSION_LENGTH) return `the version is longer than ${MAX_VERSION_LENGTH} characters`;
  if (!VERSION_RE.test(version)) {
    return `version ${q(version)} may only contain 0-9, a-z, ".", "_", "+" and "!" and must start with a letter or digit`;
  }
  const [epochAndMain, local, ...morePlus] = version.split('+');
  if (morePlus.length > 0) return `version ${q(version)} has more than one "+"`;
  const bang = epochAndMain!.split('!');
  if (bang.length > 2) return `version ${q(version)} has more than one "!"`;
  if (bang.length === 2 && !/^[0-9]+$/.test(bang[0]!)) return `version ${q(version)}: the epoch before "!" must be a number`;
  const main = bang.at(-1)!.replace(/_$/, '');
  if (hasEmptyComponent(main) || (local !== undefined && hasEmptyComponent(local))) {
    return `version ${q(version)} has an empty component (a "." or "_" at an end or two in a row)`;
  }
  return null;
}

/** Returns a reason the build string is invalid, or null if it is fine. */
export function buildProblem(build: string): string | null {
  if (typeof build !== 'string') return 'the build string must be a string';
  if (build.length === 0) return 'the build string is empty';
  if (build.length > MAX_BUILD_LENGTH) return `the build string is longer than ${MAX_BUILD_LENGTH} characters`;
  if (!BUILD_RE.test(build)) return `build string ${q(build)} may only contain a-z, A-Z, 0-9, "_", "." and "+"`;
  if (build.split('.').includes('')) return `build string ${q(build)} must not start or end with "." or have two in a row`;
  return null;
}

/** conda's VersionOrder refuses an empty part between `.`/`_` separators (also an empty string). */
function hasEmptyComponent(s: string): boolean {
  return s.split(/[._]/).includes('');
}

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
 * Validates a subdir (`noarch` or `<platform>-<arch>`); returns it unchanged.
 * @throws Errors.INVALID_SUBDIR (400)
 */
export function validateSubdir(subdir: string): string {
  if (typeof subdir !== 'string') throw new Errors.INVALID_SUBDIR('the subdir must be a string');
  if (subdir === 'noarch') return subdir;
  if (subdir.length > MAX_SUBDIR_LENGTH || !SUBDIR_RE.test(subdir)) {
    throw new Errors.INVALID_SUBDIR(
      `invalid subdir ${q(subdir)}: expected "noarch" or <platform>-<arch> ` +
        `(lowercase letters and digits, e.g. linux-64, osx-arm64), at most ${MAX_SUBDIR_LENGTH} characters`,
    );
  }
  return subdir;
}

// Old (pre-2016) index.json has `platform`/`arch` but no `subdir`. conda's
// naming: x86_64 → "64", x86 → "32", everything else (aarch64, arm64, armv6l,
// armv7l, ppc64le, ppc64, s390x, z, …) is used as is.
const ARCH_SUFFIX: Readonly<Record<string, string>> = { x86_64: '64', x86: '32' };
const PLATFORM_ALIAS: Readonly<Record<string, string>> = { darwin: 'osx' };

/**
 * The subdir a package belongs in, from its info/index.json:
 * 1. `subdir` if it is a string (validated);
 * 2. else `noarch` if the package says `noarch` (any truthy value);
 * 3. else `<platform>-<arch>` for old packages (osx + x86_64 → osx-64,
 *    linux + x86 → linux-32, linux + aarch64 → linux-aarch64, …), validated;
 * 4. else `noarch` (what pixi does when index.json has no subdir).
 * @throws Errors.INVALID_SUBDIR if the stated or derived subdir is malformed.
 */
export function subdirOf(indexJson: Record<string, unknown>): string {
  const { subdir, platform, arch, noarch } = indexJson;
  if (typeof subdir === 'string') return validateSubdir(subdir);
  if (noarch !== undefined && noarch !== null && noarch !== false && noarch !== '') return 'noarch';
  if (typeof platform === 'string' && typeof arch === 'string' && platform !== '' && arch !== '') {
    const p = PLATFORM_ALIAS[platform] ?? platform;
    const a = ARCH_SUFFIX[arch] ?? arch;
    return validateSubdir(`${p}-${a}`);
  }
  return 'noarch';
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

/**
 * Validates a channel name; returns it unchanged.
 * @throws Errors.INVALID_CHANNEL_NAME (400)
 */
export function validateChannelName(name: string): string {
  const bad = (why: string): never => {
    throw new Errors.INVALID_CHANNEL_NAME(why);
  };
  if (typeof name !== 'string') return bad('the channel name must be a string');
  if (name.length < MIN_CHANNEL_NAME_LENGTH) bad(`names must be at least ${MIN_CHANNEL_NAME_LENGTH} characters long`);
  if (name.length > MAX_CHANNEL_NAME_LENGTH) bad(`channel names must be at most ${MAX_CHANNEL_NAME_LENGTH} characters long`);
  if (!CHANNEL_NAME_RE.test(name)) {
    bad(
      `invalid channel name ${q(name)}: use lowercase letters, digits, "_", "." and "-", ` +
        'starting with a letter, digit or "_"',
    );
  }
  if (name.includes('..')) bad(`invalid channel name ${q(name)}: two "." in a row`);
  if (RESERVED_CHANNEL_NAMES.has(name)) bad(`the channel name ${q(name)} is reserved`);
  return name;
}
