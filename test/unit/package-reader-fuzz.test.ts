// Property-based fuzzing of the archive reader (issue 14): real fixture
// packages with bytes flipped, cut short or spliced, and random bytes. Over a
// bounded, seeded number of cases the reader never throws anything but our
// own 400 errors, never hangs, and whatever it accepts passes the CEP-34
// validator.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { isAppError } from '../../src/errors.js';
import { indexJsonProblem } from '../../src/conda/index-json.js';
import type { PackageFormat } from '../../src/conda/package-filename.js';
import { readPackageMetadata } from '../../src/conda/package-reader.js';
import { fixturePackages } from '../helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-reader-fuzz-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const bySize = fixturePackages().sort((a, b) => a.sizeBytes - b.sizeBytes);
const seeds = [
  ...bySize.filter((p) => p.filename.endsWith('.conda')).slice(0, 3),
  ...bySize.filter((p) => p.filename.endsWith('.tar.bz2')).slice(0, 2),
].map((p) => ({ bytes: fs.readFileSync(p.file), format: (p.filename.endsWith('.conda') ? 'conda' : 'tar.bz2') as PackageFormat, stem: p.filename.replace(/\.(conda|tar\.bz2)$/, '') }));

let n = 0;
async function readBytes(bytes: Uint8Array, format: PackageFormat, stem: string): Promise<void> {
  const file = path.join(tmp, `case-${n++}`);
  fs.writeFileSync(file, bytes);
  try {
    const meta = await readPackageMetadata(file, format, stem);
    assert.equal(indexJsonProblem(meta.indexJson), null, 'accepted metadata must be well typed');
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(isAppError(err) && (err.code === 'INVALID_PACKAGE' || err.code === 'INVALID_METADATA'), `unexpected error: ${String(err)}`);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

describe('readPackageMetadata under fuzzing', () => {
  it('mutated real packages: only our 400 errors, or well-typed metadata', async () => {
    const mutation = fc.record({
      seed: fc.nat({ max: seeds.length - 1 }),
      flips: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      cutAt: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    });
    await fc.assert(fc.asyncProperty(mutation, async ({ seed, flips, cutAt }) => {
      const { bytes, format, stem } = seeds[seed]!;
      const copy = Buffer.from(bytes);
      for (const [at, value] of flips) copy[Math.floor(at * (copy.length - 1))] = value;
      await readBytes(cutAt === undefined ? copy : copy.subarray(0, Math.floor(cutAt * copy.length)), format, stem);
    }), { numRuns: 300, seed: 14, interruptAfterTimeLimit: 60_000 });
  });

  it('random bytes as either format: only our 400 errors', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), async (bytes, conda) => {
      await readBytes(bytes, conda ? 'conda' : 'tar.bz2', 'x-1-0');
    }), { numRuns: 200, seed: 14 });
  });
});
