// Shared plumbing for the benchmark scripts: flags, temp folders that are
// always removed, a watchdog so no run can hang, RSS readings of a server
// process, and the table + JSON-line output every script ends with.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../test/helpers/paths.js';

export const MB = 1e6;
export const MiB = 1024 * 1024;

export interface BenchArgs {
  quick: boolean;
  /** --sizes=100000,465000: the subdir sizes to measure, for scripts that take sizes (null = the script's own). */
  sizes: number[] | null;
}

export function parseBenchArgs(argv = process.argv.slice(2)): BenchArgs {
  const sizesArg = argv.find((a) => a.startsWith('--sizes='));
  const sizes = sizesArg ? sizesArg.slice('--sizes='.length).split(',').map(Number) : null;
  const unknown = argv.filter((a) => a !== '--quick' && a !== sizesArg);
  if (unknown.length > 0 || (sizes && sizes.some((n) => !Number.isInteger(n) || n <= 0))) {
    process.stderr.write(`bad argument(s): ${[...unknown, sizesArg ?? ''].join(' ').trim()} (accepted: --quick, --sizes=N[,N…])\n`);
    process.exit(2);
  }
  return { quick: argv.includes('--quick'), sizes };
}

type Cleanup = () => void | Promise<void>;
const cleanups: Cleanup[] = [];
const tempDirs = new Set<string>();

/** A fresh folder in os.tmpdir(), removed when the script ends however it ends. */
export function benchTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Runs (newest first) when the script ends, normally or not. */
export function onCleanup(fn: Cleanup): void {
  cleanups.push(fn);
}

let cleaned = false;
export async function cleanupAll(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup failed: ${(err as Error).message}\n`);
    }
  }
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
}

// Last resort when the process is going down without running cleanupAll
// (an uncaught error, a signal): temp folders must still go.
process.on('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs a benchmark body with cleanup and a hard time limit: past `limitMs`
 * the script cleans up and exits 1, so `run-all` can never hang.
 */
export function runBench(name: string, limitMs: number, body: () => Promise<void>): void {
  const watchdog = setTimeout(() => {
    process.stderr.write(`${name}: gave up after ${Math.round(limitMs / 1000)} s\n`);
    void cleanupAll().finally(() => process.exit(1));
  }, limitMs);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void cleanupAll().finally(() => process.exit(130));
    });
  }
  body().then(
    async () => {
      clearTimeout(watchdog);
      await cleanupAll();
      process.exit(0);
    },
    async (err: unknown) => {
      clearTimeout(watchdog);
      process.stderr.write(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      await cleanupAll();
      process.exit(1);
    },
  );
}

/**
 * The spawned servers run dist/ (bin/channeld.js); rebuild it when a source
 * file is newer, so a benchmark never measures stale code.
 */
export function ensureBuilt(): void {
  const built = path.join(repoRoot, 'dist/cli/main.js');
  const builtAt = fs.existsSync(built) ? fs.statSync(built).mtimeMs : 0;
  const newest = newestMtime(path.join(repoRoot, 'src'));
  if (builtAt >= newest) return;
  process.stderr.write('dist/ is older than src/: building (tsc -p tsconfig.json)…\n');
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: repoRoot, stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error('the build failed; fix it before benchmarking');
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

// ---------------------------------------------------------------------------
// Memory of another process, from /proc/<pid>/status.

export interface ProcMemory {
  rssKiB: number;
  hwmKiB: number;
}

export function procMemory(pid: number): ProcMemory {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** Resets VmHWM to the current RSS (Linux: write 5 to clear_refs). False when not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Peak RSS of a process over a stretch of time: VmHWM after a reset catches
 * spikes between samples; the 10 ms VmRSS samples are the fallback when the
 * reset is not permitted.
 */
export class PeakRss {
  private peakKiB = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly hwmReset: boolean;

  constructor(private readonly pid: number, everyMs = 10) {
    this.hwmReset = resetPeakRss(pid);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    try {
      this.peakKiB = Math.max(this.peakKiB, procMemory(this.pid).rssKiB);
    } catch {
      // the process is gone; keep what we have
    }
  }

  /** Stops sampling; returns the peak in KiB. */
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    if (this.hwmReset) {
      try {
        this.peakKiB = Math.max(this.peakKiB, procMemory(this.pid).hwmKiB);
      } catch {
        // gone
      }
    }
    return this.peakKiB;
  }
}

// ---------------------------------------------------------------------------
// Numbers and output.

/** Nearest-rank percentile (p95 of 20 values is the 19th smallest). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const msSince = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

export function printTable(title: string, headers: string[], rows: Array<Array<string | number>>): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? String(c) : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const out = [
    '',
    title,
    line(headers),
    `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...cells.map(line),
    '',
  ];
  process.stdout.write(out.join('\n') + '\n');
}

/**
 * The one machine-readable line of a run, after a line saying what ran it.
 * The load average is there because other work on a shared machine moves
 * absolute figures (ratios much less).
 */
export function printResultJson(bench: string, args: BenchArgs, results: unknown): void {
  const loadavg = os.loadavg().map((x) => round(x, 2));
  process.stdout.write(`machine: ${os.cpus().length} cores, Node ${process.version}, load average (1/5/15 min) ${loadavg.join(' / ')}\n`);
  process.stdout.write(
    JSON.stringify({
      bench, quick: args.quick, date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg, results,
    }) + '\n',
  );
}

export function log(message: string): void {
  process.stderr.write(`  ${message}\n`);
}
