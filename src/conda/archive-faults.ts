// Who is at fault when a package cannot be read. Anything wrong with the
// archive is the uploader's: INVALID_PACKAGE (400). Only I/O faults on our own
// disk pass through unchanged, because those are ours.
import { Errors } from '../errors.js';

/** Thrown inside a decoder's output callback to abandon the rest of its input once the reader has enough. */
export const STOP = Symbol('stop decoding');

export function invalid(message: string, cause?: unknown): Error {
  const err = new Errors.INVALID_PACKAGE(message);
  if (cause !== undefined) err.cause = cause; // for the server log; only `message` is sent
  return err;
}

export function isIoError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}
