// The one way a package's database row is made from what was read of it:
// an upload and a rescan of files found on storage must describe a file
// alike (a rescan once lost hasAttestation by building its own copy).
import { canonicalJson } from '../conda/canonical-json.js';
import type { parsePackageFilename } from '../conda/package-filename.js';
import type { PackageMetadata } from '../conda/package-reader.js';
import { postInstallFlags } from '../conda/post-install-flags.js';
import { buildRecord } from '../conda/repodata-record.js';
import type { PackageFile } from '../types.js';

export interface FileFacts {
  channelId: number;
  subdir: string;
  parsed: ReturnType<typeof parsePackageFilename>;
  meta: PackageMetadata;
  hashes: { sizeBytes: number; sha256: string; md5: string };
  /** Sigstore bundles are stored beside the file. */
  hasAttestation: boolean;
  /** The user who uploaded it; null when found on storage or sent by a trusted publisher. */
  uploadedBy: number | null;
}

export function packageFileOf(facts: FileFacts): PackageFile {
  const { parsed, meta, hashes } = facts;
  return {
    channelId: facts.channelId,
    subdir: facts.subdir,
    filename: parsed.filename,
    format: parsed.format,
    name: parsed.name,
    version: parsed.version,
    build: parsed.build,
    buildNumber: typeof meta.indexJson.build_number === 'number' ? meta.indexJson.build_number : 0,
    sizeBytes: hashes.sizeBytes,
    sha256: hashes.sha256,
    md5: hashes.md5,
    indexJson: JSON.stringify(meta.indexJson),
    aboutJson: meta.aboutJson === null ? null : JSON.stringify(meta.aboutJson),
    runExportsJson: meta.runExportsJson === null ? null : JSON.stringify(meta.runExportsJson),
    recordJson: canonicalJson(buildRecord(meta.indexJson, { md5: hashes.md5, sha256: hashes.sha256, size: hashes.sizeBytes })),
    postInstallJson: JSON.stringify(postInstallFlags(meta.paths)),
    hasAttestation: facts.hasAttestation,
    uploadedBy: facts.uploadedBy,
  };
}
