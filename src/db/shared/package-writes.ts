// What both package adapters write the same way: a package row's columns,
// what a forced re-upload replaces, and which subdirs a batch changed.
import type { PackageFile } from '../../types.js';

/** The columns an upload or a rescan writes, bar created_at and updated_at (both the time of the write). */
export const PACKAGE_COLUMNS = [
  'channel_id', 'subdir', 'filename', 'format', 'name', 'version', 'build', 'build_number', 'size_bytes', 'sha256', 'md5',
  'index_json', 'about_json', 'run_exports_json', 'record_json', 'post_install', 'has_attestation', 'uploaded_by',
] as const;

export const packageColumns = (f: PackageFile): Record<(typeof PACKAGE_COLUMNS)[number], unknown> => ({
  channel_id: f.channelId, subdir: f.subdir, filename: f.filename, format: f.format, name: f.name, version: f.version,
  build: f.build, build_number: f.buildNumber, size_bytes: f.sizeBytes, sha256: f.sha256, md5: f.md5,
  index_json: f.indexJson, about_json: f.aboutJson, run_exports_json: f.runExportsJson, record_json: f.recordJson,
  post_install: f.postInstallJson ?? null, has_attestation: f.hasAttestation ? 1 : 0, uploaded_by: f.uploadedBy,
});

/**
 * A forced re-upload replaces everything the new file decides, keeps the
 * row's id and created_at, and makes it visible again (a yank or hide was
 * of the old file).
 */
export const REPLACE_ON_CONFLICT = `ON CONFLICT (channel_id, subdir, filename) DO UPDATE SET
    format = excluded.format, name = excluded.name, version = excluded.version, build = excluded.build,
    build_number = excluded.build_number, size_bytes = excluded.size_bytes, sha256 = excluded.sha256,
    md5 = excluded.md5, index_json = excluded.index_json, about_json = excluded.about_json,
    run_exports_json = excluded.run_exports_json, record_json = excluded.record_json,
    post_install = excluded.post_install, has_attestation = excluded.has_attestation,
    uploaded_by = excluded.uploaded_by, updated_at = excluded.updated_at,
    yanked_reason = NULL, hidden = 0`;

/** The subdirs a batch changed, each with the package names it changed there: one revision bump a subdir, not one a file. */
export function bySubdir(changed: Iterable<{ channelId: number; subdir: string; name: string }>): Array<{ channelId: number; subdir: string; names: Set<string> }> {
  const out = new Map<string, { channelId: number; subdir: string; names: Set<string> }>();
  for (const { channelId, subdir, name } of changed) {
    const k = `${channelId}\0${subdir}`;
    let entry = out.get(k);
    if (!entry) out.set(k, (entry = { channelId, subdir, names: new Set<string>() }));
    entry.names.add(name);
  }
  return [...out.values()];
}
