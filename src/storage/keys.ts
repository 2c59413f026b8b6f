// Storage keys. Callers pass parts that were already validated (channel
// name, subdir, package filename); these functions refuse anything that
// could still escape its folder, as a second line of defence.
const SAFE_PART = /^[A-Za-z0-9_][A-Za-z0-9_.+!-]*$/;

function part(value: string): string {
  if (!SAFE_PART.test(value) || value.includes('..')) {
    throw new Error(`unsafe storage key part: ${JSON.stringify(value)}`);
  }
  return value;
}

export const channelKey = (channel: string): string => part(channel);
export const subdirKey = (channel: string, subdir: string): string => `${part(channel)}/${part(subdir)}`;
export const packageKey = (channel: string, subdir: string, filename: string): string =>
  `${part(channel)}/${part(subdir)}/${part(filename)}`;
export const repodataKey = (channel: string, subdir: string, variant = 'repodata.json'): string =>
  `${part(channel)}/${part(subdir)}/${part(variant)}`;
/** Sigstore bundles sent with an upload, served beside the package (issue: attestations). */
export const attestationKey = (channel: string, subdir: string, filename: string): string =>
  `${packageKey(channel, subdir, filename)}.v0.sigs`;
/** Generated index files live in one folder per generation (= subdir revision). */
export const indexFolderKey = (channel: string, subdir: string): string => `${subdirKey(channel, subdir)}/_index`;
export const indexKey = (channel: string, subdir: string, generation: number, variant: string): string =>
  `${indexFolderKey(channel, subdir)}/${generation}-${part(variant)}`;
/** Content-addressed shard files (CEP-16): <subdir>/shards/<sha256>.msgpack.zst. */
/** The files of one full index generation under _index/ (written together by the indexer's full pass). */
export const FULL_GENERATION_FILES: readonly string[] = ['repodata.json', 'repodata.json.zst', 'run_exports.json', 'run_exports.json.zst'];
/** The one file of a shard index generation under _index/. */
export const SHARD_INDEX_FILE = 'repodata_shards.msgpack.zst';
export const shardFolderKey = (channel: string, subdir: string): string => `${subdirKey(channel, subdir)}/shards`;
export const shardKey = (channel: string, subdir: string, sha256: string): string => {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${JSON.stringify(sha256)}`);
  return `${shardFolderKey(channel, subdir)}/${sha256}.msgpack.zst`;
};
/** channeldata.json (CEP-38) at the channel root. */
export const channeldataKey = (channel: string): string => `${part(channel)}/channeldata.json`;
