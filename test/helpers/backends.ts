// Which backends the suite runs against. CHANNELD_TEST_STORAGE=s3 gives
// every server and CLI run a fresh bucket on one s3rver (an in-process S3
// stand-in, started once per test process), so the whole suite runs
// unchanged against S3ObjectStore. Unset: the data folder, as in production's default.
import crypto, { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

// s3rver encrypts ListObjectsV2 continuation tokens with DES, which the
// OpenSSL 3 in Node 20 refuses ("digital envelope routines::unsupported"),
// so every listing past 1000 keys fails with a 500. Only s3rver asks for
// DES, and the token only has to round-trip through s3rver itself: give it
// AES with the 8-byte key and IV doubled.
const des = <T>(create: (alg: string, key: Buffer, iv: Buffer) => T) =>
  (alg: string, key: Buffer, iv: Buffer): T => (alg === 'des' ? create('aes-128-cbc', Buffer.concat([key, key]), Buffer.concat([iv, iv])) : create(alg, key, iv));
const c = crypto as unknown as Record<'createCipheriv' | 'createDecipheriv', (alg: string, key: Buffer, iv: Buffer) => unknown>;
c.createCipheriv = des(c.createCipheriv.bind(crypto));
c.createDecipheriv = des(c.createDecipheriv.bind(crypto));

export const testStorage: 'folder' | 's3' = process.env.CHANNELD_TEST_STORAGE === 's3' ? 's3' : 'folder';

/** Skip-option for tests that cannot apply to S3 storage: `{ skip: onlyOnFolder('reason') }`. */
export const onlyOnFolder = (reason: string): string | false => (testStorage === 's3' ? `not on S3 storage: ${reason}` : false);

export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' } as const;

export interface S3Double {
  endpoint: string;
  /** s3rver's own folder: <directory>/<bucket>/… holds objects and unfinished uploads. */
  directory: string;
  client: S3Client;
  /** Creates an empty bucket with a fresh name. */
  newBucket(): Promise<string>;
  close(): Promise<void>;
}

/** Starts s3rver on a random loopback port with its own temp folder. */
export async function startS3Double(): Promise<S3Double> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'channeld-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const address = await server.run();
  // Never keeps a test process alive once its tests are done.
  (server as unknown as { httpServer: { unref(): void } }).httpServer.unref();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint, forcePathStyle: true, region: S3RVER_CREDENTIALS.AWS_REGION,
    credentials: { accessKeyId: S3RVER_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_CREDENTIALS.AWS_SECRET_ACCESS_KEY },
  });
  return {
    endpoint,
    directory,
    client,
    async newBucket() {
      const name = `t-${randomBytes(8).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async close() {
      client.destroy();
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

let shared: Promise<S3Double> | null = null;
const bucketOf = new Map<string, Promise<Record<string, string>>>();

/**
 * Environment that points the servers and CLI runs of one data folder at its
 * storage: nothing for the folder store; for S3, a bucket of its own on the
 * shared s3rver, the same one every time that data folder is used again (a
 * restart, a CLI command beside a server).
 */
export function storageEnv(dataDir: string): Promise<Record<string, string>> {
  if (testStorage !== 's3') return Promise.resolve({});
  const key = path.resolve(dataDir);
  let env = bucketOf.get(key);
  if (!env) {
    env = (async () => {
      shared ??= startS3Double();
      const s3 = await shared;
      return {
        CHANNELD_STORAGE_URL: `s3://${await s3.newBucket()}/channels`,
        CHANNELD_S3_ENDPOINT: s3.endpoint,
        CHANNELD_S3_FORCE_PATH_STYLE: 'true',
        ...S3RVER_CREDENTIALS,
      };
    })();
    bucketOf.set(key, env);
  }
  return env;
}
