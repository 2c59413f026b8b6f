// Preloaded into a benchmarked server (NODE_OPTIONS=--import <this file>):
// samples the server's own event-loop delay with perf_hooks, and on SIGUSR2
// writes the histogram since the last signal to $CHANNELD_BENCH_LOOP_FILE
// (then starts a new one), with the main thread's heap figures at that
// moment (to tell heap growth from native memory in RSS). Bench-only: the
// product has no such hook.
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.CHANNELD_BENCH_LOOP_FILE;
if (file) {
  let histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  process.on('SIGUSR2', () => {
    const h = histogram;
    h.disable();
    const ms = (ns) => Math.round(ns / 1e4) / 100;
    const m = process.memoryUsage();
    const mib = (n) => Math.round(n / 1048576);
    const out = {
      count: h.count, p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max),
      memoryMiB: { rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) },
    };
    histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(out));
    fs.renameSync(`${file}.tmp`, file);
  });
}
