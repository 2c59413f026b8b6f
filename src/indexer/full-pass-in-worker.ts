// The main thread's side of full-pass-worker.ts: one thread, started on
// first use (a CLI command that never rewrites an index never starts it) and
// ended after a while with no pass (an idle server holds no pass thread),
// asked for one pass at a time.
import type { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import type { SubdirRef } from '../types.js';
import type { FullPassReply, FullPassRequest } from './full-pass-worker.js';
import { startWorker } from './worker-thread.js';

export interface FullPassWritten { revision: number; sha256: string; sizeBytes: number; records: number }

/** A thread with no pass for this long is ended; the next pass starts one (~50 ms). */
const IDLE_MS = 30_000;

export class FullPassThread {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, { worker: Worker; resolve: (w: FullPassWritten) => void; reject: (err: Error) => void }>();
  private nextId = 0;
  /** Passes go one after another: the thread has one reader connection. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private idle: NodeJS.Timeout | null = null;

  constructor(private readonly opts: { file: string; idleMs?: number } & Pick<Config, 'dataDir' | 'storage'>) {}

  write(ref: SubdirRef): Promise<FullPassWritten> {
    const run = this.queue.then(() => this.ask(ref));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Stops the thread (after the indexer has drained: no pass is waiting). */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    if (this.idle) clearTimeout(this.idle);
    await this.worker?.terminate();
    this.worker = null;
  }

  private ask(ref: SubdirRef): Promise<FullPassWritten> {
    if (this.closed) return Promise.reject(new Error('the full-pass thread is closed'));
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const worker = this.worker ?? this.start();
    const id = ++this.nextId;
    // Referenced while a pass is in flight (a CLI command awaiting it has nothing else keeping it alive).
    worker.ref();
    return new Promise<FullPassWritten>((resolve, reject) => {
      this.waiting.set(id, { worker, resolve, reject });
      worker.postMessage({ id, ref } satisfies FullPassRequest);
    }).finally(() => {
      if ([...this.waiting.values()].some((w) => w.worker === worker)) return;
      worker.unref();
      if (this.worker === worker && !this.closed) this.retireWhenIdle(worker);
    });
  }

  private retireWhenIdle(worker: Worker): void {
    this.idle = setTimeout(() => {
      this.idle = null;
      if (this.worker !== worker || this.waiting.size > 0) return;
      this.worker = null;
      void worker.terminate();
    }, this.opts.idleMs ?? IDLE_MS);
    this.idle.unref();
  }

  private start(): Worker {
    const worker = startWorker('full-pass-worker', this.opts);
    // Idle, it must not keep the process alive.
    worker.unref();
    worker.on('message', (reply: FullPassReply) => {
      const w = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (!w) return;
      if ('error' in reply) w.reject(new Error(`full pass failed in its thread: ${reply.error}`));
      else w.resolve({ revision: reply.revision, sha256: reply.sha256, sizeBytes: reply.sizeBytes, records: reply.records });
    });
    // A thread that died takes its passes with it (and only its own: 'exit'
    // follows 'error', maybe after the next pass started a new thread).
    const died = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const [id, w] of this.waiting) {
        if (w.worker !== worker) continue;
        this.waiting.delete(id);
        w.reject(err);
      }
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`the full-pass thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
