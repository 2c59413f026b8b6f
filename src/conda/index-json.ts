// The shape of info/index.json that every client can read (CEP 34, with the
// types rattler's IndexJson and conda's PackageRecord deserialise). A record
// that breaks one of these types is accepted by nothing downstream: conda
// search, mamba and rattler fail on the whole subdir. Unknown keys pass.
// Pure: used at upload (400 INVALID_METADATA) and for stored records
// (`channeld check`, start-up).

export interface MetadataProblem {
  field: string;
  message: string;
}

type Check = (value: unknown) => string | null;

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

const string: Check = (v) => (isString(v) ? null : 'must be a string');
const optionalString: Check = (v) => (v === null || isString(v) ? null : 'must be a string or null');
const stringList: Check = (v) => (isStringList(v) ? null : 'must be a list of strings');
const nonNegativeInteger: Check = (v) =>
  (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? null : 'must be a non-negative integer');
const optionalNonNegativeInteger: Check = (v) => (v === null ? null : nonNegativeInteger(v));
// rattler reads a comma- or space-separated string or a list; conda-build writes the string.
const features: Check = (v) => (isString(v) || isStringList(v) ? null : 'must be a string or a list of strings');
// "generic" / "python", or the legacy boolean of conda-build 2 (true = generic).
const noarch: Check = (v) =>
  (v === null || v === 'generic' || v === 'python' || typeof v === 'boolean' ? null : 'must be "generic", "python", a boolean or null');
const stringListMap: Check = (v) =>
  (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(isStringList)
    ? null : 'must be an object whose values are lists of strings');

const REQUIRED: ReadonlyArray<[string, Check]> = [
  ['name', string], ['version', string], ['build', string], ['build_number', nonNegativeInteger],
];
const OPTIONAL: ReadonlyArray<[string, Check]> = [
  ['depends', stringList], ['constrains', stringList],
  ['subdir', optionalString], ['arch', optionalString], ['platform', optionalString],
  ['license', optionalString], ['license_family', optionalString], ['features', optionalString],
  ['python_site_packages_path', optionalString],
  ['noarch', noarch], ['timestamp', optionalNonNegativeInteger], ['track_features', features],
  ['extra_depends', stringListMap], ['flags', stringList], ['purls', stringList],
  ['repodata_revision', optionalNonNegativeInteger], ['schema_version', optionalNonNegativeInteger],
];

/** The first field of `indexJson` a client could not read, or null when every known field is well typed. */
export function indexJsonProblem(indexJson: Record<string, unknown>): MetadataProblem | null {
  for (const [field, check] of REQUIRED) {
    if (!(field in indexJson)) return { field, message: `info/index.json has no "${field}"` };
    const problem = check(indexJson[field]);
    if (problem) return { field, message: `info/index.json "${field}" ${problem}` };
  }
  for (const [field, check] of OPTIONAL) {
    if (!(field in indexJson)) continue;
    const problem = check(indexJson[field]);
    if (problem) return { field, message: `info/index.json "${field}" ${problem}` };
  }
  return null;
}
