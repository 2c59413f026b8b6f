// Package operations shared by every transport: upload, delete, rescan.
//
// Upload order (each step makes the next one safe after a crash):
//   1. stream the body to tmp/ while hashing; check size and sha256;
//   2. read info/index.json and check it against the file name;
//   3. claim the filename (an upload intent row: exactly one winner);
//   4. move the file into storage (a rename, or an upload to the bucket);
//   5. commit the package row and bump the subdir's revision; wake the indexer.
// Start-up recovery (recovery.ts) finishes or drops intents left between 3
// and 5. Nothing is served until its row exists, and the index never lists a
// file before it is in place.
import fsp from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { checkIndexMatchesFilename, parsePackageFilename } from '../conda/package-filename.js';
import { readPackageMetadata } from '../conda/package-reader.js';
import { subdirOf, validateSubdir } from '../conda/subdirs.js';
import type { Repositories } from '../db/repositories.js';
import { Errors } from '../errors.js';
import { storedRecordProblem } from './stored-metadata.js';
import type { ObjectStore } from '../storage/object-store.js';
import { storageOp } from '../storage/faults.js';
import { attestationKey, packageKey, subdirKey } from '../storage/keys.js';
import { checkAttestation } from './attestations.js';
import type { AuditLog } from './audit.js';
import type { ChannelService } from './channels.js';
import { hashFile } from './hash-file.js';
import { packageFileOf } from './package-file.js';
import { withLocalCopy } from './stored-file.js';
import { ingestToTemp, type IngestedFile } from './ingest.js';
import type { BackgroundJob, Channel, PackageFile, PackageRow, Principal, SubdirRef } from '../types.js';

export interface UploadDetails {
  filename: string;
  /** X-File-SHA256, when the client sent one (any hex case). */
  expectedSha256?: string | undefined;
  /** Content-Length of a raw body, when known. */
  declaredSizeBytes?: number | undefined;
  force: boolean;
  /** The multipart `attestation` part (a sigstore bundle, JSON text). */
  attestation?: string | undefined;
}

export interface UploadResult {
  channel: string;
  subdir: string;
  filename: string;
  sha256: string;
  md5: string;
  sizeBytes: number;
  replaced: boolean;
}

export interface IndexNotifier {
  notify(ref: SubdirRef): void;
}

export class PackageService {
  constructor(
    private readonly repos: Repositories,
    private readonly channels: ChannelService,
    private readonly store: ObjectStore,
    private readonly indexer: IndexNotifier,
    private readonly audit: AuditLog,
    private readonly opts: {
      tempDir: string; maxUploadBytes: number; publicUrl?: string | null; owner: string;
      /** Reads a package's info/ (default: on this thread; the server passes its reader threads). */
      readMetadata?: typeof readPackageMetadata;
    },
  ) {}

  private readMetadata(file: string, format: Parameters<typeof readPackageMetadata>[1], stem: string) {
    return (this.opts.readMetadata ?? readPackageMetadata)(file, format, stem);
  }

  /**
   * A background job of the caller's (or any, for an admin): null for anyone
   * else, and for the reindex jobs a server runs for itself.
   */
  async backgroundJob(principal: Principal, id: string): Promise<BackgroundJob | null> {
    if (principal.kind !== 'user') return null;
    const job = await this.repos.jobs.get(id);
    if (!job || job.jobType === 'REINDEX') return null;
    return job.createdBy === principal.user.id || principal.user.isAdmin ? job : null;
  }

  async channelForUpload(principal: Principal, channelName: string, force: boolean): Promise<Channel> {
    return this.channels.resolve(principal, channelName, force ? 'force-upload' : 'upload');
  }

  /** Checks that can be made before a single byte of the body is read. */
  checkUploadRequest(filename: string, declaredSizeBytes?: number): void {
    parsePackageFilename(filename);
    if (declaredSizeBytes !== undefined && declaredSizeBytes > this.opts.maxUploadBytes) {
      throw new Errors.PAYLOAD_TOO_LARGE(`the package is ${declaredSizeBytes} bytes; this server accepts at most ${this.opts.maxUploadBytes}`);
    }
  }

  /** Streams a body to a temp file (hashing as it goes). */
  receive(body: Readable): Promise<IngestedFile> {
    return ingestToTemp(body, this.opts.tempDir, this.opts.maxUploadBytes);
  }

  async discard(ingested: IngestedFile): Promise<void> {
    await fsp.rm(ingested.path, { force: true });
  }

  /** Checks a received file and publishes it. Takes ownership of the temp file. */
  async accept(principal: Principal, channel: Channel, received: IngestedFile, src: UploadDetails): Promise<UploadResult> {
    let ingested: IngestedFile | null = received;
    let reserved: { subdir: string } | null = null;
    try {
      const parsed = parsePackageFilename(src.filename);
      const expected = src.expectedSha256?.trim().toLowerCase();
      if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) {
        throw new Errors.BAD_REQUEST('X-File-SHA256 must be 64 hex characters');
      }
      if (src.declaredSizeBytes !== undefined && ingested.sizeBytes !== src.declaredSizeBytes) {
        throw new Errors.SIZE_MISMATCH(`received ${ingested.sizeBytes} bytes but Content-Length said ${src.declaredSizeBytes}`);
      }
      if (ingested.sizeBytes === 0) throw new Errors.INVALID_PACKAGE('the upload is empty');
      if (expected !== undefined && expected !== ingested.sha256) {
        throw new Errors.CHECKSUM_MISMATCH(`X-File-SHA256 is ${expected} but the data received hashes to ${ingested.sha256}`);
      }
      const meta = await this.readMetadata(ingested.path, parsed.format, parsed.stem);
      checkIndexMatchesFilename(meta.indexJson, parsed);
      const subdir = subdirOf(meta.indexJson);
      const attestationJson = src.attestation === undefined ? null : checkAttestation(src.attestation, {
        sha256: ingested.sha256, channel: channel.name, host: this.opts.publicUrl ? new URL(this.opts.publicUrl).host : null,
      });
      const file = packageFileOf({
        channelId: channel.id, subdir, parsed, meta, hashes: ingested,
        hasAttestation: attestationJson !== null,
        uploadedBy: principal.kind === 'user' ? principal.user.id : null,
      });
      const existing = await this.repos.packages.get(channel.id, subdir, parsed.filename);
      const claim = await this.repos.packages.reserveUpload(file, src.force, this.opts.owner);
      if (claim === 'exists') {
        throw new Errors.PACKAGE_EXISTS(`${subdir}/${parsed.filename} already exists in channel '${channel.name}' (use ?force=true to replace it)`);
      }
      if (claim === 'in-progress') {
        throw new Errors.PACKAGE_EXISTS(`another upload of ${subdir}/${parsed.filename} to channel '${channel.name}' is in progress`);
      }
      reserved = { subdir };
      // The bundles describe these bytes: a replacement without any must not inherit the old ones.
      const sigsKey = attestationKey(channel.name, subdir, parsed.filename);
      // Storage failures here are faults of ours (503/507), not the client's.
      if (attestationJson !== null) await storageOp('storing the attestation', () => this.store.putStream(sigsKey, [attestationJson]));
      else if (existing !== null) await storageOp('removing the replaced attestation', () => this.store.delete(sigsKey));
      const stored = ingested.path;
      await storageOp('moving the package into storage', () => this.store.putFile(packageKey(channel.name, subdir, parsed.filename), stored));
      ingested = null;
      await this.repos.packages.commitUpload(channel.id, subdir, parsed.filename);
      reserved = null;
      this.indexer.notify({ channelId: channel.id, channel: channel.name, subdir });
      await this.audit.record(principal, 'package.uploaded', {
        channel: channel.name, target: `${subdir}/${parsed.filename}`, details: { sha256: file.sha256, replaced: existing !== null },
      });
      return {
        channel: channel.name, subdir, filename: parsed.filename, sha256: file.sha256, md5: file.md5,
        sizeBytes: file.sizeBytes, replaced: existing !== null,
      };
    } finally {
      if (ingested !== null) await fsp.rm(ingested.path, { force: true });
      if (reserved !== null) await this.repos.packages.abandonUpload(channel.id, reserved.subdir, src.filename);
    }
  }

  async delete(principal: Principal, channelName: string, subdir: string, filename: string): Promise<void> {
    const channel = await this.channels.resolve(principal, channelName, 'delete');
    validateSubdir(subdir);
    parsePackageFilename(filename);
    // The file itself is unlinked by the indexer once the index no longer lists it.
    const deleted = await this.repos.packages.delete(channel.id, subdir, filename);
    if (!deleted) throw new Errors.PACKAGE_NOT_FOUND(`${subdir}/${filename} not found in channel '${channelName}'`);
    this.indexer.notify({ channelId: channel.id, channel: channel.name, subdir });
    await this.audit.record(principal, 'package.deleted', { channel: channel.name, target: `${subdir}/${filename}` });
  }

  /**
   * Yanks (reason) or unyanks (null) variants in one transaction: a yanked
   * file leaves repodata's maps and is listed in "removed", but stays
   * downloadable. One reindex per touched subdir.
   */
  async setYanked(principal: Principal, channelName: string, entries: Array<{ subdir: string; filename: string }>, reason: string | null, hidden: boolean): Promise<void> {
    const channel = await this.channels.resolve(principal, channelName, 'yank');
    const refs = this.refsOf(channel, entries);
    if (reason === null) {
      // A record set aside for metadata clients cannot read stays out of the indexes.
      for (const ref of refs) {
        const row = await this.repos.packages.get(ref.channelId, ref.subdir, ref.filename);
        const problem = row ? storedRecordProblem(row.recordJson) : null;
        if (problem) throw new Errors.INVALID_METADATA(`${ref.subdir}/${ref.filename} cannot be unyanked: ${problem.message}`);
      }
    }
    const missing = await this.repos.packages.setYanked(refs, reason, hidden);
    if (missing) throw new Errors.PACKAGE_NOT_FOUND(`${missing.subdir}/${missing.filename} not found in channel '${channelName}'`);
    this.notifySubdirs(channel, refs);
    for (const r of refs) {
      await this.audit.record(principal, reason === null ? 'package.unyanked' : 'package.yanked', {
        channel: channel.name, target: `${r.subdir}/${r.filename}`, details: reason === null ? null : { reason, hidden },
      });
    }
  }

  /** Deletes variants in one transaction; files go once the index no longer lists them. */
  async deleteMany(principal: Principal, channelName: string, entries: Array<{ subdir: string; filename: string }>): Promise<void> {
    const channel = await this.channels.resolve(principal, channelName, 'delete');
    const refs = this.refsOf(channel, entries);
    const missing = await this.repos.packages.deleteMany(refs);
    if (missing) throw new Errors.PACKAGE_NOT_FOUND(`${missing.subdir}/${missing.filename} not found in channel '${channelName}'`);
    this.notifySubdirs(channel, refs);
    for (const r of refs) await this.audit.record(principal, 'package.deleted', { channel: channel.name, target: `${r.subdir}/${r.filename}` });
  }

  private refsOf(channel: Channel, entries: Array<{ subdir: string; filename: string }>) {
    if (entries.length === 0) throw new Errors.BAD_REQUEST('no entries given');
    if (entries.length > 10_000) throw new Errors.BAD_REQUEST('at most 10000 entries per call');
    return entries.map((e) => {
      validateSubdir(e.subdir);
      parsePackageFilename(e.filename);
      return { channelId: channel.id, subdir: e.subdir, filename: e.filename };
    });
  }

  private notifySubdirs(channel: Channel, refs: Array<{ subdir: string }>): void {
    for (const subdir of new Set(refs.map((r) => r.subdir))) {
      this.indexer.notify({ channelId: channel.id, channel: channel.name, subdir });
    }
  }

  /** Subdirs known to the database or present on storage (for a full rescan). */
  async subdirsOf(channel: Channel): Promise<string[]> {
    const known = (await this.repos.indexState.listForChannel(channel.id)).map((s) => s.subdir);
    const stored = (await this.store.listFolders(channel.name)).filter((name) => {
      try {
        validateSubdir(name);
        return true;
      } catch {
        return false;
      }
    });
    return [...new Set([...known, ...stored])].sort();
  }

  /** A live (committed) package, for serving. */
  /** The committed package by its file name; null for a name no package can have. */
  async find(channel: Channel, subdir: string, filename: string): Promise<PackageRow | null> {
    try {
      parsePackageFilename(filename);
    } catch {
      return null;
    }
    return this.repos.packages.get(channel.id, subdir, filename);
  }

  /**
   * Brings the database in line with storage for one subdir: files present
   * but unknown are read and added, rows whose files vanished are dropped.
   * Files that fail to parse are reported and left alone.
   */
  /** Throws for a subdir name no subdir can have before anything starts (a 400 for the caller, not a failed run). */
  rescan(channel: Channel, subdir: string): Promise<{ added: number; dropped: number; refused: Array<{ filename: string; reason: string }> }> {
    validateSubdir(subdir);
    return this.rescanValid(channel, subdir);
  }

  private async rescanValid(channel: Channel, subdir: string): Promise<{ added: number; dropped: number; refused: Array<{ filename: string; reason: string }> }> {
    const onStorage = new Set(await this.store.list(subdirKey(channel.name, subdir)));
    const known = new Set(await this.repos.packages.filenames(channel.id, subdir));
    const dying = new Set(await this.repos.packages.pendingDeletionNames(channel.id, subdir));
    const refused: Array<{ filename: string; reason: string }> = [];
    const found: PackageFile[] = [];
    for (const filename of onStorage) {
      if (known.has(filename) || dying.has(filename)) continue;
      let parsed;
      try {
        parsed = parsePackageFilename(filename);
      } catch {
        continue; // not a package (attestations, stray files)
      }
      try {
        found.push(await this.describeStoredFile(channel, subdir, parsed));
      } catch (err) {
        refused.push({ filename, reason: (err as Error).message });
      }
    }
    const added = await this.repos.packages.insertFound(found);
    const vanished = [...known].filter((f) => !onStorage.has(f));
    const dropped = await this.repos.packages.dropMissing(channel.id, subdir, vanished);
    await this.repos.indexState.touch(channel.id, subdir);
    this.indexer.notify({ channelId: channel.id, channel: channel.name, subdir });
    return { added, dropped, refused };
  }

  private async describeStoredFile(channel: Channel, subdir: string, parsed: ReturnType<typeof parsePackageFilename>): Promise<PackageFile> {
    const read = await withLocalCopy(this.store, packageKey(channel.name, subdir, parsed.filename), this.opts.tempDir, async (file) => ({
      hashes: await hashFile(file),
      meta: await this.readMetadata(file, parsed.format, parsed.stem),
    }));
    if (read === null) throw new Errors.INVALID_PACKAGE('the file vanished from storage while it was read');
    const { hashes, meta } = read;
    checkIndexMatchesFilename(meta.indexJson, parsed);
    const belongs = subdirOf(meta.indexJson);
    if (belongs !== subdir) throw new Errors.INVALID_PACKAGE(`info/index.json says it belongs in ${belongs}, not ${subdir}`);
    const hasAttestation = (await this.store.stat(attestationKey(channel.name, subdir, parsed.filename))) !== null;
    return packageFileOf({ channelId: channel.id, subdir, parsed, meta, hashes, hasAttestation, uploadedBy: null });
  }
}
