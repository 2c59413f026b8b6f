// What real clients send to channeld, one function per client trace
// (shared/docs/prefix-api.md §1, shared/docs/seed-prefix-api-keys.md). Tests
// call these for an ordinary request so that they read as the client they
// stand for; a test whose point is the exact bytes (test/hostile, broken
// framing, wrong checksums) still writes those bytes itself.
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths.js';

/** A package file on disk and the name it is uploaded under. */
export interface PackageFile {
  file: string;
  filename: string;
}

/** `null` sends no Authorization at all (the anonymous client). */
export type Key = string | null;

export const bearer = (key: string): string => `Bearer ${key}`;
/** conda / .netrc: any user name, the key as password. */
export const basic = (user: string, key: string): string => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;
/** conda's /t/<token>/ allows only [A-Za-z0-9-]: the key with `pfx-` for `pfx_`. */
export const condaSafe = (key: string): string => `pfx-${key.slice(4)}`;
/** The channel URL a conda user configures with the key in it: `<server>/t/<key>/<channel>`. */
export const tokenUrl = (baseUrl: string, key: string, channel: string): string => `${baseUrl}/t/${key}/${channel}`;

const authHeaders = (key: Key): Record<string, string> => (key ? { authorization: bearer(key) } : {});
const uploadUrl = (baseUrl: string, channel: string, force = false): string =>
  `${baseUrl}/api/v1/upload/${channel}${force ? '?force=true' : ''}`;

export interface RattlerUploadOptions {
  /** `--force`: rattler appends `?force=true`. */
  force?: boolean;
  /** The sigstore bundle JSON sent as the `attestation` text part (`--attestation`, trusted publishing). */
  attestation?: string;
  /** Any other query string, `?…` included (replaces `force`). */
  query?: string;
}

// reqwest's multipart boundary: four random 64-bit numbers in hex.
const reqwestBoundary = (): string => Array.from({ length: 4 }, () => randomBytes(8).toString('hex')).join('-');

/**
 * rattler_upload (`rattler-build upload prefix`, `pixi upload prefix`, `pixi
 * publish`): multipart/form-data with the package as part `file`, carrying
 * its own content-type, content-length, x-file-name and x-file-sha256 (reqwest
 * writes the added part headers lowercase), and the optional `attestation`
 * text part.
 */
export function rattlerUpload(baseUrl: string, channel: string, pkg: PackageFile, key: Key, opts: RattlerUploadOptions = {}): Promise<Response> {
  const bytes = fs.readFileSync(pkg.file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const boundary = reqwestBoundary();
  const parts: Buffer[] = [
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${pkg.filename}"\r\n` +
        `Content-Type: application/octet-stream\r\ncontent-length: ${bytes.length}\r\n` +
        `x-file-name: ${pkg.filename}\r\nx-file-sha256: ${sha256}\r\n\r\n`,
    ),
    bytes,
    Buffer.from('\r\n'),
  ];
  if (opts.attestation !== undefined) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="attestation"\r\n\r\n${opts.attestation}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  const query = opts.query ?? (opts.force ? '?force=true' : '');
  return fetch(`${baseUrl}/api/v1/upload/${channel}${query}`, {
    method: 'POST',
    headers: { ...authHeaders(key), 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: Buffer.concat(parts),
  });
}

export interface RawUploadOptions {
  force?: boolean;
  /** Sent as X-File-SHA256 when given; several legacy clients left it out. */
  sha256?: string;
  /** The whole Authorization value, for clients that send Basic or something odd instead of the key. */
  authorization?: string;
}

/**
 * The raw octet-stream upload of legacy rattler-build's prefix uploader and
 * old `pixi upload <url> <file>`: the package is the request body, named by
 * X-File-Name (and X-File-SHA256 when the client sends it).
 */
export function rawUpload(baseUrl: string, channel: string, pkg: PackageFile, key: Key, opts: RawUploadOptions = {}): Promise<Response> {
  const headers: Record<string, string> = opts.authorization !== undefined ? { authorization: opts.authorization } : authHeaders(key);
  headers['content-type'] = 'application/octet-stream';
  headers['x-file-name'] = pkg.filename;
  if (opts.sha256 !== undefined) headers['x-file-sha256'] = opts.sha256;
  return fetch(uploadUrl(baseUrl, channel, opts.force), { method: 'POST', headers, body: fs.readFileSync(pkg.file) });
}

/** `DELETE /api/v1/delete/<channel>/<subdir>/<file>`, as the prefix.dev docs describe it. */
export function deletePackage(baseUrl: string, channel: string, subdir: string, filename: string, key: Key): Promise<Response> {
  return fetch(`${baseUrl}/api/v1/delete/${channel}/${subdir}/${filename}`, { method: 'DELETE', headers: authHeaders(key) });
}

/** `POST /api/v1/reindex/<channel>/<subdir>` with no body. */
export function reindexSubdir(baseUrl: string, channel: string, subdir: string, key: Key): Promise<Response> {
  return fetch(`${baseUrl}/api/v1/reindex/${channel}/${subdir}`, { method: 'POST', headers: authHeaders(key) });
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const uploadScript = path.join(repoRoot, 'test/clients/upload.py');

/** The prefix.dev docs' Python `requests` script (test/clients/upload.py), run as its users run it. */
export function pythonUpload(baseUrl: string, channel: string, pkg: { file: string }, key: string): Promise<Run> {
  return run('/usr/bin/python3', [uploadScript, pkg.file], { CHANNELD_UPLOAD_URL: uploadUrl(baseUrl, channel), CHANNELD_TOKEN: key });
}

/** The docs' headers sent by curl (raw body), with -w so the status is the last line of stdout. */
export function curlUpload(baseUrl: string, channel: string, pkg: PackageFile & { sha256: string }, key: string): Promise<Run> {
  return run('curl', [
    '-sS', '-o', '-', '-w', '\n%{http_code}',
    '-X', 'POST',
    '-H', `Authorization: Bearer ${key}`,
    '-H', `X-File-Name: ${pkg.filename}`,
    '-H', `X-File-SHA256: ${pkg.sha256}`,
    '-H', 'Content-Type: application/octet-stream',
    '--data-binary', `@${pkg.file}`,
    uploadUrl(baseUrl, channel),
  ]);
}
