// Subdirs: `noarch` or ^[a-z0-9]+-[a-z0-9]+$, max 32 (CEP 26, docs/formats.md
// §A4), so non-standard subdirs such as `linux-fake` are accepted (see the
// fixtures); and the subdir a package's index.json puts it in.
import { Errors } from '../errors.js';
import { quoted as q } from './quoted.js';

export const MAX_SUBDIR_LENGTH = 32;

const SUBDIR_RE = /^[a-z0-9]+-[a-z0-9]+$/;

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
