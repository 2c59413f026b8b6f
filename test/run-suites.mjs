// The README's test command: every test file, run twice.
//   1. on the embedded defaults (SQLite file + data folder), as `npm start` runs;
//   2. on PostgreSQL + S3 storage (s3rver), as replicas run: the same files
//      with CHANNELD_TEST_DATABASE=postgres CHANNELD_TEST_STORAGE=s3.
// Without a PostgreSQL server the second run is skipped and the summary says
// so plainly; with CHANNELD_REQUIRE_POSTGRES=1 (CI sets it) that is a failure.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// Arguments narrow the run to those files (both configurations still run).
const files = process.argv.length > 2 ? process.argv.slice(2) : fs.readdirSync(path.join(root, 'test'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => fs.readdirSync(path.join(root, 'test', d.name)).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${d.name}/${f}`))
  .sort();
const postgresUrl = new URL(process.env.CHANNELD_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres');

/** Runs every file under one configuration; resolves to the spec reporter's "failing tests" block, or null when all passed. */
function run(label, env) {
  console.log(`\n=== ${label}: ${files.length} test files ===\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
  });
  // Echo as it comes, and keep the tail: the reporter ends with the failures
  // in full, which the summary repeats so a CI log's last lines say what broke.
  let tail = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4_000_000);
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      if (code === 0) return resolve(null);
      const at = tail.lastIndexOf('failing tests:');
      resolve(at >= 0 ? tail.slice(at).slice(0, 20_000) : `(exit code ${code}; no "failing tests" block in the output)`);
    });
  });
}

function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

const results = [];
const failures = [];
async function suite(label, env) {
  const failed = await run(label, env);
  if (failed !== null) failures.push(`--- ${label} ---\n${failed}`);
  results.push([label, failed === null ? 'passed' : 'FAILED']);
}
await suite('SQLite + data folder (defaults)', { CHANNELD_TEST_DATABASE: '', CHANNELD_TEST_STORAGE: '' });
const where = `${postgresUrl.hostname}:${postgresUrl.port || 5432}`;
if (await reachable(postgresUrl.hostname, Number(postgresUrl.port || 5432))) {
  await suite('PostgreSQL + S3 (s3rver)', { CHANNELD_TEST_DATABASE: 'postgres', CHANNELD_TEST_STORAGE: 's3' });
} else if (process.env.CHANNELD_REQUIRE_POSTGRES === '1') {
  results.push(['PostgreSQL + S3 (s3rver)', `FAILED: no PostgreSQL at ${where}, and CHANNELD_REQUIRE_POSTGRES=1`]);
} else {
  results.push(['PostgreSQL + S3 (s3rver)', `SKIPPED: no PostgreSQL at ${where} (set CHANNELD_TEST_POSTGRES_URL to point at one)`]);
}
if (failures.length > 0) console.log(`\n=== failures, repeated ===\n${failures.join('\n')}`);
console.log('\n=== summary ===');
for (const [label, outcome] of results) console.log(`${label}: ${outcome}`);
process.exit(results.some(([, outcome]) => outcome.startsWith('FAILED')) ? 1 : 0);
