// ShardIndexEntries writes the shard index's big map by hand, from entries
// kept encoded between passes. Its bytes must be exactly what @msgpack/msgpack
// writes for the same document with sortKeys, through any sequence of sets
// and deletes, for every size of map header and name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decode, encode } from '@msgpack/msgpack';
import { ShardIndexEntries } from '../../src/indexer/shards.js';

const info = { subdir: 'linux-64', createdAt: new Date('2026-11-27T12:00:00.123Z') };
const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The library's encoding of the same document: the reference. */
function reference(shards: Map<string, Uint8Array>): Uint8Array {
  return encode({
    info: { subdir: info.subdir, base_url: './', shards_base_url: './shards/', created_at: info.createdAt.toISOString() },
    shards: Object.fromEntries(shards),
  }, { sortKeys: true });
}

describe('ShardIndexEntries', () => {
  it('an empty index and one entry encode as the library does', () => {
    assert.deepEqual(new Uint8Array(ShardIndexEntries.from([]).encode(info)), reference(new Map()));
    assert.deepEqual(new Uint8Array(ShardIndexEntries.from([['zlib', sha('z')]]).encode(info)), reference(new Map([['zlib', sha('z')]])));
  });

  it('matches the library through sets and deletes across every header size, hex or bytes', () => {
    // Names of 1 to 300 characters (fixstr, str 8, str 16), digits-only names
    // (which a plain object would put first), and dashes, dots, underscores.
    const pool = Array.from({ length: 70_000 }, (_, i) => {
      const base = ['a', '0', '_x', 'py-', 'lib.', '9z', 'r-base'][i % 7]! + i.toString(36);
      return i % 997 === 0 ? base.padEnd(40 + (i % 260), 'n') : i % 13 === 0 ? String(i) : base;
    });
    const mirror = new Map<string, Uint8Array>();
    const live = ShardIndexEntries.from([]);
    let step = 0;
    const check = (what: string) => {
      assert.equal(live.size, mirror.size, what);
      assert.ok(Buffer.from(live.encode(info)).equals(Buffer.from(reference(mirror))), `${what}: bytes differ from @msgpack/msgpack`);
    };
    // Through 15/16 entries (fixmap → map 16) and 65535/65536 (map 16 → map 32).
    for (const [from, to] of [[0, 20], [20, 65_530], [65_530, 65_540]] as const) {
      for (let i = from; i < to; i++) {
        const h = sha(pool[i]!);
        if (i % 2 === 0) live.set(pool[i]!, h.toString('hex'));
        else live.set(pool[i]!, h);
        mirror.set(pool[i]!, h);
        if (to - from < 100) check(`after ${++step} sets`);
      }
      check(`${to} names`);
    }
    // Replace some hashes, delete some names (and one that is not there).
    for (let i = 0; i < 65_540; i += 7) {
      live.set(pool[i]!, sha(`v2 ${pool[i]}`));
      mirror.set(pool[i]!, sha(`v2 ${pool[i]}`));
    }
    for (let i = 3; i < 65_540; i += 5) {
      live.delete(pool[i]!);
      mirror.delete(pool[i]!);
    }
    live.delete('never-there');
    check('after replacing and deleting');
    // Built in one go from an unsorted list: the same bytes.
    assert.ok(Buffer.from(ShardIndexEntries.from([...mirror].reverse()).encode(info)).equals(Buffer.from(reference(mirror))));
    const decoded = decode(live.encode(info)) as { shards: Record<string, Uint8Array> };
    assert.equal(Object.keys(decoded.shards).length, mirror.size);
    assert.ok(Buffer.from(live.get(pool[7]!)!).equals(sha(`v2 ${pool[7]}`)));
  });

  it('refuses a hash that is not 32 bytes', () => {
    assert.throws(() => ShardIndexEntries.from([['x', 'abcd']]), /not 32/);
  });
});
