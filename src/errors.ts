// The one error catalogue. Core code throws these; REST renders them as
// `{"error": CODE, "message": …}` with their status, GraphQL (later) as
// `extensions.code`. Anything that is not an AppError is a 5xx whose details
// are logged and never sent.
//
// Status choices follow what rattler/pixi do with them (docs/prefix-api.md
// §1.1): 400/404/413/422 are user errors and are not retried; 401 makes the
// client say "check your API key"; 409 is "already exists" (--skip-existing);
// anything else (5xx, 429) is retried, so 5xx is only for real faults.
import createError, { type FastifyErrorConstructor } from '@fastify/error';
import { STATUS_CODES } from 'node:http';

export interface AppError extends Error {
  code: string;
  statusCode: number;
}

type Ctor = FastifyErrorConstructor<{ code: string; statusCode: number }, [string?]>;

function define(code: string, statusCode: number, defaultMessage: string): Ctor {
  // '%s' lets callers pass a specific message while keeping a default.
  const ctor = createError(code, '%s', statusCode) as unknown as Ctor;
  return class extends (ctor as unknown as new (message?: string) => AppError) {
    constructor(message?: string) {
      super(message ?? defaultMessage);
    }
  } as unknown as Ctor;
}

export const Errors = {
  // 400 — the request itself is wrong
  BAD_REQUEST: define('BAD_REQUEST', 400, 'bad request'),
  INVALID_FILENAME: define('INVALID_FILENAME', 400, 'invalid package file name'),
  INVALID_PACKAGE: define('INVALID_PACKAGE', 400, 'invalid package'),
  CHECKSUM_MISMATCH: define('CHECKSUM_MISMATCH', 400, 'the data received does not match X-File-SHA256'),
  SIZE_MISMATCH: define('SIZE_MISMATCH', 400, 'the data received does not match Content-Length'),
  METADATA_MISMATCH: define('METADATA_MISMATCH', 400, 'file name does not match info/index.json'),
  // A field of info/index.json has a type conda, mamba or rattler cannot read (CEP 34); the message names it.
  INVALID_METADATA: define('INVALID_METADATA', 400, 'info/index.json has a field clients cannot read'),
  INVALID_SUBDIR: define('INVALID_SUBDIR', 400, 'invalid subdir'),
  INVALID_CHANNEL_NAME: define('INVALID_CHANNEL_NAME', 400, 'invalid channel name'),
  INVALID_ATTESTATION: define('INVALID_ATTESTATION', 400, 'the attestation is not a sigstore bundle for this package and channel'),
  // The multipart framing itself: no boundary, no closing delimiter, a body the parser cannot read.
  INVALID_MULTIPART: define('INVALID_MULTIPART', 400, 'the multipart/form-data body is malformed'),
  // 401/403 — who you are, what you may do
  UNAUTHENTICATED: define('UNAUTHENTICATED', 401, 'a valid API key is required (Authorization: Bearer pfx_…)'),
  FORBIDDEN: define('FORBIDDEN', 403, 'you are not allowed to do this'),
  // Trusted publishing (POST /api/oidc/mint_token): rattler prints these bodies.
  OIDC_TOKEN_INVALID: define('OIDC_TOKEN_INVALID', 401, 'the CI identity token is not valid here'),
  NO_MATCHING_PUBLISHER: define('NO_MATCHING_PUBLISHER', 403, 'no trusted publisher matches this CI identity token'),
  // 404/409/413
  NOT_FOUND: define('NOT_FOUND', 404, 'not found'),
  CHANNEL_NOT_FOUND: define('CHANNEL_NOT_FOUND', 404, 'channel not found'),
  PACKAGE_NOT_FOUND: define('PACKAGE_NOT_FOUND', 404, 'package not found'),
  USER_NOT_FOUND: define('USER_NOT_FOUND', 404, 'user not found'),
  PACKAGE_EXISTS: define('PACKAGE_EXISTS', 409, 'the package already exists in this channel (use ?force=true to replace it)'),
  CONFLICT: define('CONFLICT', 409, 'conflict'),
  // 412/416 — conditional and range requests (RFC 9110) that cannot be met
  PRECONDITION_FAILED: define('PRECONDITION_FAILED', 412, 'a precondition of the request does not hold'),
  RANGE_NOT_SATISFIABLE: define('RANGE_NOT_SATISFIABLE', 416, 'the requested range is not satisfiable'),
  PAYLOAD_TOO_LARGE: define('PAYLOAD_TOO_LARGE', 413, 'the package is larger than this server accepts'),
  UNSUPPORTED_MEDIA_TYPE: define('UNSUPPORTED_MEDIA_TYPE', 415, 'send the package as application/octet-stream or multipart/form-data'),
  REQUEST_TIMEOUT: define('REQUEST_TIMEOUT', 408, 'the request did not arrive in time'),
  HEADERS_TOO_LARGE: define('HEADERS_TOO_LARGE', 431, 'the request headers are larger than this server accepts'),
  TOO_MANY_REQUESTS: define('TOO_MANY_REQUESTS', 429, 'too many requests'),
  // 500 — anything that is not one of these: details logged, never sent
  INTERNAL: define('INTERNAL', 500, 'internal server error'),
  // 502 — a CI's OIDC issuer could not be reached (retried by clients)
  OIDC_ISSUER_UNAVAILABLE: define('OIDC_ISSUER_UNAVAILABLE', 502, "the CI identity token's issuer could not be reached"),
  // 503 — shutting down
  UNAVAILABLE: define('UNAVAILABLE', 503, 'the server is shutting down'),
  // 503/507 — storage could not take a write (src/storage/faults.ts): our
  // fault, not the client's, so a status clients retry. Disk full or over
  // quota is 507; any other I/O failure (EIO, a read-only data folder, an
  // S3 bucket answering 5xx or not at all) is 503.
  STORAGE_UNAVAILABLE: define('STORAGE_UNAVAILABLE', 503, 'storage could not take the file; try again later'),
  INSUFFICIENT_STORAGE: define('INSUFFICIENT_STORAGE', 507, 'the server is out of storage space; try again later'),
} as const;

export type ErrorCode = keyof typeof Errors;

/**
 * A storage fault (storage/faults.ts classifies them): one of ours, not the
 * client's, answered 503/507 and logged at error level with its cause.
 */
export interface StorageFault extends AppError {
  /** The I/O error as storage raised it (logged, never sent). */
  cause: unknown;
  /** What was being written, for the log line (channel, file, operation). */
  context: Record<string, unknown>;
}

const storageFaults = new WeakSet<object>();

export function markStorageFault(fault: AppError, cause: unknown, context: Record<string, unknown>): StorageFault {
  const marked = Object.assign(fault, { cause, context }) as StorageFault;
  storageFaults.add(marked);
  return marked;
}

export function isStorageFault(err: unknown): err is StorageFault {
  return typeof err === 'object' && err !== null && storageFaults.has(err);
}

/** The fields of a storage fault worth a log line (the cause's code, errno, syscall, message). */
export function faultLogFields(fault: StorageFault): Record<string, unknown> {
  const cause = fault.cause as Partial<NodeJS.ErrnoException> & { $metadata?: { httpStatusCode?: number } } | undefined;
  return {
    code: fault.code,
    status: fault.statusCode,
    ...fault.context,
    cause: cause === undefined ? undefined : {
      name: cause.name, code: cause.code, errno: cause.errno, syscall: cause.syscall, message: cause.message,
      ...(cause.$metadata?.httpStatusCode !== undefined ? { httpStatus: cause.$metadata.httpStatusCode } : {}),
    },
  };
}

/** The body of every error answer, REST and transport alike. */
export function errorBody(err: AppError): { error: string; message: string } {
  return { error: err.code, message: err.message };
}

/**
 * An error answer as raw HTTP/1.1, for a socket no reply owns (a request
 * Node's parser refused, a body cut at its deadline); the connection closes.
 */
export function rawErrorResponse(err: AppError): string {
  const body = JSON.stringify(errorBody(err));
  return `HTTP/1.1 ${err.statusCode} ${STATUS_CODES[err.statusCode] ?? 'Error'}\r\nContent-Type: application/json\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export function isAppError(err: unknown): err is AppError {
  return (
    err instanceof Error &&
    typeof (err as AppError).code === 'string' &&
    typeof (err as AppError).statusCode === 'number' &&
    (err as AppError).code in Errors
  );
}
