// Runs every benchmark in sequence, each in its own Node process (so one's
// memory and JIT state cannot colour the next), passing --quick through.
// Prints each script's output as it comes, then their JSON lines together.
// "Every benchmark" is every bench/*.ts but this one and the A/Bs against
// another checkout: the three of issue 2 first, in this order, then any
// others alphabetically.
//
//   node --import tsx bench/run-all.ts [--quick]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs } from './lib/common.js';

const FIRST = ['upload-ingest.ts', 'auth-vs-anon.ts', 'visible-latency.ts'];
// Comparisons that need a second checkout to compare against (--base=DIR): run by hand.
const BY_HAND = ['hot-paths.ts'];
// Each script has its own watchdog; this one only guards against a child
// that ignores it.
const PER_BENCH_LIMIT_MS = 30 * 60_000;

const args = parseBenchArgs();
const here = path.dirname(fileURLToPath(import.meta.url));
const others = fs.readdirSync(here).filter((f) => f.endsWith('.ts') && f !== 'run-all.ts' && !FIRST.includes(f) && !BY_HAND.includes(f)).sort();
const BENCHES = [...FIRST.filter((f) => fs.existsSync(path.join(here, f))), ...others];

function runOne(file: string): Promise<{ code: number; json: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, file), ...(args.quick ? ['--quick'] : [])], {
      cwd: path.resolve(here, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const killer = setTimeout(() => child.kill('SIGTERM'), PER_BENCH_LIMIT_MS);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      out += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code: code ?? 1, json: out.split('\n').filter((l) => l.startsWith('{"bench":')) });
    });
  });
}

const failed: string[] = [];
const lines: string[] = [];
for (const file of BENCHES) {
  process.stdout.write(`\n=== ${file}${args.quick ? ' --quick' : ''} ===\n`);
  const started = Date.now();
  const { code, json } = await runOne(file);
  process.stdout.write(`=== ${file}: ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${Math.round((Date.now() - started) / 1000)} s ===\n`);
  if (code !== 0) failed.push(file);
  lines.push(...json);
}
process.stdout.write('\nresults (one JSON line per benchmark):\n' + lines.join('\n') + '\n');
if (failed.length > 0) {
  process.stderr.write(`failed: ${failed.join(', ')}\n`);
  process.exitCode = 1;
}
