// Storage faults: a write to the data folder or the bucket that failed for a
// reason of the storage's own (disk full, EIO, a read-only mount, S3 answering
// 5xx or not at all). They are the server's fault, not the client's, so they
// are answered with a status clients retry (507 when out of space, 503
// otherwise) and logged at error level — never mistaken for a client that
// went away. Callers decide what counts: only errors of a storage operation
// (the temp-file write stream, the store's put/delete) are passed here, so
// an error of the request stream never becomes one.
import { S3ServiceException } from '@aws-sdk/client-s3';
import { Errors, isAppError, isStorageFault, markStorageFault, type AppError, type StorageFault } from '../errors.js';

const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** An errno-carrying error from the OS (fs, a socket to the bucket). */
function errnoOf(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const { code, errno, syscall } = err as NodeJS.ErrnoException;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && (typeof errno === 'number' || typeof syscall === 'string')) return code;
  return null;
}

/**
 * The storage fault `err` amounts to, or null when it is no storage failure
 * (one of our AppErrors, a programming error): those the caller rethrows as
 * they are. `operation` names what failed, for the log.
 */
export function storageFault(err: unknown, operation: string): StorageFault | null {
  if (isStorageFault(err)) return err;
  if (isAppError(err)) return null;
  let fault: AppError;
  const errno = errnoOf(err);
  if (errno !== null) {
    fault = OUT_OF_SPACE.has(errno)
      ? new Errors.INSUFFICIENT_STORAGE(`the server is out of storage space (${errno}); the upload was not kept, try again later`)
      : new Errors.STORAGE_UNAVAILABLE(`storage could not take the file (${errno}); the upload was not kept, try again later`);
  } else if (err instanceof S3ServiceException) {
    // MinIO says XMinioStorageFull (HTTP 507) when its disks are full.
    const status = err.$metadata.httpStatusCode;
    fault = status === 507 || err.name === 'XMinioStorageFull'
      ? new Errors.INSUFFICIENT_STORAGE(`the storage bucket is out of space (${err.name}); the upload was not kept, try again later`)
      : new Errors.STORAGE_UNAVAILABLE(`the storage bucket refused the write (${err.name}${status ? `, HTTP ${status}` : ''}); the upload was not kept, try again later`);
  } else if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    // The SDK's request handler: the bucket accepted a connection and went silent.
    fault = new Errors.STORAGE_UNAVAILABLE(`the storage bucket did not answer (${err.name}); the upload was not kept, try again later`);
  } else {
    return null;
  }
  return markStorageFault(fault, err, { operation });
}

/** Runs a storage operation, turning its I/O failures into storage faults. */
export async function storageOp<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw storageFault(err, operation) ?? err;
  }
}
