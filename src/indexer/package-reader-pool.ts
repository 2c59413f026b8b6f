// Reads package metadata in worker threads (package-reader-worker.ts), so a
// package that is slow to inflate holds a worker, never the event loop. At
// most half the cores' worth of workers, each reading one package at a time
// with a bounded heap and a deadline; the rest wait in order. A worker that
// runs out of heap or time is ended and the package refused; the next read
// starts a new one; one left idle is ended too (an idle server holds no
// reader threads). Errors come back as the catalogue's own (Errors.*).
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { PackageFormat } from '../conda/package-filename.js';
import type { PackageMetadata } from '../conda/package-reader.js';
import { Errors } from '../errors.js';
import type { ReadReply, ReadRequest } from './package-reader-worker.js';
import { startWorker } from './worker-thread.js';

export interface ReaderPoolOptions {
  size?: number;
  /** A read taking longer ends its worker and refuses the package. */
  deadlineMs?: number;
  /** Heap of each worker (V8's old generation), MiB. */
  heapMiB?: number;
  /** A worker with no read for this long is ended (~30 MiB each); the next read starts one. */
  idleMs?: number;
}

interface Job {
  req: Omit<ReadRequest, 'id'>;
  resolve: (meta: PackageMetadata) => void;
  reject: (err: unknown) => void;
}

interface Slot { worker: Worker | null; job: (Job & { id: number; timer: NodeJS.Timeout }) | null; idle: NodeJS.Timeout | null }

const DEFAULT_DEADLINE_MS = 60_000;
const DEFAULT_HEAP_MIB = 256;
const DEFAULT_IDLE_MS = 30_000;

export class PackageReaderPool {
  private readonly slots: Slot[];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;
  private readonly deadlineMs: number;
  private readonly heapMiB: number;
  private readonly idleMs: number;

  constructor(opts: ReaderPoolOptions = {}) {
    const size = opts.size ?? Math.max(1, Math.floor(os.availableParallelism() / 2));
    this.slots = Array.from({ length: size }, () => ({ worker: null, job: null, idle: null }));
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.heapMiB = opts.heapMiB ?? DEFAULT_HEAP_MIB;
    this.idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
  }

  read(filePath: string, format: PackageFormat, stem: string): Promise<PackageMetadata> {
    if (this.closed) return Promise.reject(new Error('the package reader is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ req: { filePath, format, stem }, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Error('the package reader is closed'));
    await Promise.all(this.slots.map(async (slot) => {
      if (slot.idle) clearTimeout(slot.idle);
      const worker = slot.worker;
      slot.worker = null;
      if (slot.job) this.settle(slot, new Error('the package reader is closed'));
      await worker?.terminate();
    }));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job || this.waiting.length === 0) continue;
      const job = this.waiting.shift()!;
      const id = this.nextId++;
      if (slot.idle) clearTimeout(slot.idle);
      slot.idle = null;
      const worker = slot.worker ?? this.spawn(slot);
      const timer = setTimeout(() => {
        this.settle(slot, new Errors.INVALID_PACKAGE(`reading the package took longer than ${Math.round(this.deadlineMs / 1000)} s`));
        this.retire(slot);
      }, this.deadlineMs);
      slot.job = { ...job, id, timer };
      worker.ref(); // a CLI awaiting the read must not exit meanwhile
      worker.postMessage({ id, ...job.req } satisfies ReadRequest);
    }
  }

  private spawn(slot: Slot): Worker {
    const worker = startWorker('package-reader-worker', null, { maxOldGenerationSizeMb: this.heapMiB });
    slot.worker = worker;
    worker.on('message', (reply: ReadReply) => {
      if (slot.job?.id !== reply.id) return;
      if ('meta' in reply) this.settle(slot, null, reply.meta);
      else this.settle(slot, rebuild(reply.error));
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (slot.worker !== worker) return;
      const refusal = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? new Errors.INVALID_PACKAGE(`the package needs more than ${this.heapMiB} MiB of memory to read`)
        : err;
      this.settle(slot, refusal);
      slot.worker = null;
    });
    worker.on('exit', () => {
      if (slot.worker !== worker) return;
      slot.worker = null;
      this.settle(slot, new Error('the package reader thread stopped'));
    });
    worker.unref();
    return worker;
  }

  /** Ends the slot's worker (after a deadline); a new one starts with the next read. */
  private retire(slot: Slot): void {
    const worker = slot.worker;
    slot.worker = null;
    void worker?.terminate();
  }

  private settle(slot: Slot, err: unknown, meta?: PackageMetadata): void {
    const job = slot.job;
    if (!job) return;
    slot.job = null;
    clearTimeout(job.timer);
    slot.worker?.unref(); // an idle reader keeps no process alive
    if (err) job.reject(err);
    else job.resolve(meta!);
    if (this.closed) return;
    this.dispatch();
    if (!slot.job && slot.worker) {
      slot.idle = setTimeout(() => {
        slot.idle = null;
        if (!slot.job) this.retire(slot);
      }, this.idleMs);
      slot.idle.unref();
    }
  }
}

function rebuild(error: { code: string | null; message: string }): Error {
  const Ctor = error.code !== null ? (Errors as Record<string, new (message?: string) => Error>)[error.code] : undefined;
  return Ctor ? new Ctor(error.message) : new Error(error.message);
}
