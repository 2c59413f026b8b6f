// Index file names are made and read in one module (storage/keys.ts): the
// collector lists a generation folder and must read back exactly what
// indexKey and gzipKey made, and nothing else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FULL_GENERATION_FILES, SHARD_INDEX_FILE, gzipKey, indexFolderKey, indexKey, parseIndexFileName } from '../../src/storage/keys.js';

const listed = (key: string) => key.slice(indexFolderKey('conda-forge', 'linux-64').length + 1);

describe('parseIndexFileName', () => {
  it('reads back every name indexKey makes, and its gzip copy', () => {
    for (const variant of [...FULL_GENERATION_FILES, SHARD_INDEX_FILE]) {
      for (const generation of [0, 7, 123456]) {
        const key = indexKey('conda-forge', 'linux-64', generation, variant);
        assert.deepEqual(parseIndexFileName(listed(key)), { generation, variant, gzip: false });
        assert.deepEqual(parseIndexFileName(listed(gzipKey(key))), { generation, variant, gzip: true });
      }
    }
  });

  it('is null for names indexKey never makes', () => {
    for (const name of ['repodata.json', '-repodata.json', 'x-repodata.json', '12-', '12-.gz', '12-Repodata.json',
      '12-repodata json', `12-${'a'.repeat(60)}.json`, '99999999999999999999-repodata.json']) {
      assert.equal(parseIndexFileName(name), null, name);
    }
  });
});
