// A package's repodata record, as conda-index 0.12 builds it (docs/formats.md
// §A1.2): info/index.json minus DROPPED_INDEX_FIELDS, plus md5/sha256/size of
// the whole archive file. Nothing else is added (a package whose index.json
// has no `subdir` gets no `subdir` key), and every other key passes through.

/** index.json keys conda-index leaves out of repodata records (conda_index/index/cache.py filter_fields). */
export const DROPPED_INDEX_FIELDS: readonly string[] = Object.freeze([
  'arch',
  'has_prefix',
  'mtime',
  'platform',
  'ucs',
  'requires_features',
  'binstar',
  'target-triplet',
  'machine',
  'operatingsystem',
]);
const DROPPED = new Set(DROPPED_INDEX_FIELDS);

const MD5_RE = /^[0-9a-f]{32}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, so a `__proto__` key in index.json stays a plain key.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Record for repodata = info/index.json minus DROPPED_INDEX_FIELDS, plus
 * md5/sha256 (lowercase hex of the whole archive) and size (bytes). The
 * computed md5/sha256/size win over any same-named keys in index.json.
 * Shallow: nested values are shared with `indexJson`.
 * @throws TypeError if md5/sha256/size are malformed (a programming error).
 */
export function buildRecord(
  indexJson: Record<string, unknown>,
  file: { md5: string; sha256: string; size: number },
): Record<string, unknown> {
  if (!MD5_RE.test(file.md5)) throw new TypeError(`buildRecord: md5 must be 32 lowercase hex digits, got ${JSON.stringify(file.md5)}`);
  if (!SHA256_RE.test(file.sha256)) {
    throw new TypeError(`buildRecord: sha256 must be 64 lowercase hex digits, got ${JSON.stringify(file.sha256)}`);
  }
  if (!Number.isSafeInteger(file.size) || file.size < 0) {
    throw new TypeError(`buildRecord: size must be a non-negative integer, got ${String(file.size)}`);
  }
  const record: Record<string, unknown> = {};
  for (const key of Object.keys(indexJson)) {
    if (!DROPPED.has(key)) setOwn(record, key, indexJson[key]);
  }
  setOwn(record, 'md5', file.md5);
  setOwn(record, 'sha256', file.sha256);
  setOwn(record, 'size', file.size);
  return record;
}
