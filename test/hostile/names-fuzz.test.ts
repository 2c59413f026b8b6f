// Property-based fuzzing of the name validators against storage/keys.ts:
// a validator throws nothing but our 400 errors, and a name it accepts is a
// name storage accepts (keys.ts builds keys from the same validators, so an
// accepted name can never be refused later by the indexer).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isAppError } from '../../src/errors.js';
import { validateChannelName } from '../../src/conda/channel-names.js';
import { parsePackageFilename } from '../../src/conda/package-filename.js';
import { validateSubdir } from '../../src/conda/subdirs.js';
import { channelKey, packageKey, subdirKey } from '../../src/storage/keys.js';

const RUNS = { numRuns: 2000, seed: 14 };
const hostileChars = fc.constantFrom('a', 'z', '0', '9', '.', '..', '-', '_', '+', '!', '/', '\\', '\0', '%2e', 'A', 'ä', '\u0430', ' ', '\n', 'conda', 'tar.bz2');
const hostile = fc.oneof(fc.string({ maxLength: 80 }), fc.array(hostileChars, { maxLength: 30 }).map((a) => a.join('')));

function accepts(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    assert.ok(isAppError(err) && err.statusCode === 400, `threw something other than a 400 AppError: ${String(err)}`);
    return false;
  }
}

describe('name validators vs storage keys', () => {
  it('channel names', () => fc.assert(fc.property(hostile, (name) => {
    if (accepts(() => validateChannelName(name))) assert.ok(!channelKey(name).includes('..') && !channelKey(name).includes('/'));
    else assert.equal(accepts(() => channelKey(name)), false);
  }), RUNS));

  it('subdirs', () => fc.assert(fc.property(hostile, (subdir) => {
    const ok = accepts(() => validateSubdir(subdir));
    assert.equal(accepts(() => subdirKey('chan', subdir)), ok);
  }), RUNS));

  it('package file names', () => fc.assert(fc.property(hostile, hostile, hostile, fc.constantFrom('.conda', '.tar.bz2', ''), (n, v, b, ext) => {
    const filename = `${n}-${v}-${b}${ext}`;
    const ok = accepts(() => parsePackageFilename(filename));
    assert.equal(accepts(() => packageKey('chan', 'noarch', filename)), ok);
    if (ok) {
      const key = packageKey('chan', 'noarch', filename);
      assert.equal(key.split('/').length, 3, key);
      assert.ok(!key.split('/').some((p) => p === '.' || p === '..' || p.includes('..')), key);
    }
  }), RUNS));
});
