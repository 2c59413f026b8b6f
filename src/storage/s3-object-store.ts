// ObjectStore on an S3-compatible bucket (AWS S3, MinIO, R2, Ceph).
// A PUT is atomic in S3: readers see the old object or the new one. Large
// bodies go up as multipart uploads through @aws-sdk/lib-storage's Upload,
// which holds at most a few parts in memory and aborts the multipart upload
// when the body or a part fails, so a failed write leaves no object behind.
// (A process killed mid-upload leaves an incomplete multipart upload that no
// reader ever sees; a bucket lifecycle rule AbortIncompleteMultipartUpload
// reclaims its space. Start-up must not abort them: another replica may own one.)
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ByteRange, Chunks, ObjectRead, ObjectStat, ObjectStore, WriteResult } from './object-store.js';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' = the bucket root). */
  prefix: string;
  endpoint: string | null;
  region: string | null;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | null;
  /** Overrides of the timeouts below (tests). */
  timeouts?: { connectMs: number; idleMs: number };
}

// The SDK sets no timeouts of its own: a bucket that accepts a connection and
// then stops answering would hang the call for ever — an upload's request, or
// an index pass that keeps renewing its lease and never publishes. These turn
// such a stall into an error (the SDK retries it, then the caller fails).
/** Time to open a connection to the bucket. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Time a request's socket may stay silent both ways. Not a limit on a whole
 * transfer: a slow upload or download that keeps moving is never cut (a proxied
 * download whose client stops reading for this long is). AWS S3 sends
 * whitespace while a slow CompleteMultipartUpload works, to keep it alive.
 */
const SOCKET_IDLE_TIMEOUT_MS = 120_000;

/** Part size of multipart uploads: S3's minimum; bodies below it go up in one PUT. */
const PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight per upload (memory per upload ≈ PART_SIZE × this). */
const QUEUE_SIZE = 4;

function isNotFound(err: unknown): boolean {
  if (err instanceof S3ServiceException) {
    return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404;
  }
  return false;
}

export class S3ObjectStore implements ObjectStore {
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(opts: S3StoreOptions, client?: S3Client) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix === '' ? '' : `${opts.prefix}/`;
    this.client = client ?? new S3Client({
      ...(opts.region ? { region: opts.region } : {}),
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // Checksums only when the operation requires them: S3-compatible servers
      // (MinIO, R2, Ceph, s3rver) do not all understand the newer defaults.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        connectionTimeout: opts.timeouts?.connectMs ?? CONNECT_TIMEOUT_MS,
        socketTimeout: opts.timeouts?.idleMs ?? SOCKET_IDLE_TIMEOUT_MS,
      },
    });
  }

  /** Full object key; keys.ts built it from validated parts, this is a second line of defence. */
  private full(key: string): string {
    if (key === '' || key.startsWith('/') || key.split('/').some((p) => p === '' || p === '.' || p === '..')) {
      throw new Error(`unsafe storage key: ${JSON.stringify(key)}`);
    }
    return this.prefix + key;
  }

  private folder(folderKey: string): string {
    return folderKey === '' ? this.prefix : `${this.full(folderKey)}/`;
  }

  private async upload(key: string, body: Readable): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.full(key), Body: body },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      // Upload aborts the multipart upload itself; make sure the body stops too.
      body.destroy();
      throw err;
    }
  }

  async putFile(key: string, localPath: string): Promise<void> {
    await this.upload(key, fs.createReadStream(localPath, { highWaterMark: 1 << 20 }));
    await fsp.rm(localPath, { force: true });
  }

  async putStream(key: string, chunks: Chunks): Promise<WriteResult> {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    const feed = pipeline(Readable.from(chunks, { objectMode: false }), async function* (source: AsyncIterable<Buffer | string>) {
      for await (const chunk of source) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
        hash.update(buf);
        sizeBytes += buf.length;
        yield buf;
      }
    }, body);
    // A failing source must fail the upload (which then aborts), not end the body early.
    feed.catch((err: unknown) => body.destroy(err as Error));
    // Settle both before answering: a caller told "failed" must find the upload already aborted.
    const [fed, uploaded] = await Promise.allSettled([feed, this.upload(key, body)]);
    if (fed.status === 'rejected') throw fed.reason;
    if (uploaded.status === 'rejected') throw uploaded.reason;
    return { sha256: hash.digest('hex'), sizeBytes };
  }

  async stat(key: string): Promise<ObjectStat | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
      return { sizeBytes: head.ContentLength ?? 0, mtimeMs: head.LastModified?.getTime() ?? 0, etag: head.ETag ?? '""' };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<ObjectRead | null> {
    let got;
    try {
      got = await this.client.send(new GetObjectCommand({
        Bucket: this.bucket, Key: this.full(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
      }));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    // With a range, the full size is the part of Content-Range after '/'.
    const total = /\/(\d+)$/.exec(got.ContentRange ?? '');
    return {
      stream: got.Body as Readable,
      sizeBytes: total ? Number(total[1]) : got.ContentLength ?? 0,
      mtimeMs: got.LastModified?.getTime() ?? 0,
      etag: got.ETag ?? '""',
    };
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.full(key) }));
  }

  private async *pages(prefix: string, delimiter: boolean) {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket, Prefix: prefix, ...(delimiter ? { Delimiter: '/' } : {}), ...(token ? { ContinuationToken: token } : {}),
      }));
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async list(folderKey: string): Promise<string[]> {
    const prefix = this.folder(folderKey);
    const names: string[] = [];
    for await (const page of this.pages(prefix, true)) {
      for (const o of page.Contents ?? []) {
        const name = o.Key!.slice(prefix.length);
        if (name !== '' && !name.startsWith('.')) names.push(name);
      }
    }
    return names.sort();
  }

  async listFolders(folderKey: string): Promise<string[]> {
    const prefix = this.folder(folderKey);
    const names: string[] = [];
    for await (const page of this.pages(prefix, true)) {
      for (const p of page.CommonPrefixes ?? []) {
        const name = p.Prefix!.slice(prefix.length, -1);
        if (name !== '' && !name.startsWith('.') && !name.startsWith('_')) names.push(name);
      }
    }
    return names.sort();
  }

  async deleteFolder(folderKey: string): Promise<void> {
    for await (const page of this.pages(this.folder(folderKey), false)) {
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length === 0) continue;
      const res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys, Quiet: true } }));
      if (res.Errors?.length) throw new Error(`could not delete ${res.Errors.length} objects under ${folderKey}: ${res.Errors[0]!.Message ?? res.Errors[0]!.Code}`);
    }
  }

  presignGet(key: string, ttlSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.full(key) }), { expiresIn: ttlSeconds });
  }
}
