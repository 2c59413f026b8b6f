// What a package's name, version and build string may be: CEP 26
// (docs/formats.md §A4) unless said otherwise.
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
import { quoted as q } from './quoted.js';

export const MAX_NAME_LENGTH = 64;
export const MAX_VERSION_LENGTH = 64;
export const MAX_BUILD_LENGTH = 64;

// CEP 26's name regex. Anchored, and every repetition is forced to end in a
// separator or the end of the string, so it cannot backtrack badly; the
// length is checked before it runs anyway.
const NAME_RE = /^(?:[a-z0-9]|[a-z0-9_](?!_))[._-]?(?:[a-z0-9]+(?:[._-]|$))*$/;
// The CEP 26 prose also says "no two consecutive separators"; the regex alone
// lets `_-x` through, so check it separately.
const DOUBLE_SEPARATOR_RE = /[._-]{2}/;
const VERSION_RE = /^[0-9a-z][0-9a-z._+!]*$/;
const BUILD_RE = /^[a-zA-Z0-9_.+]+$/;

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
