// The README's test command: every test file, run twice.
//   1. on the embedded defaults (SQLite file + data folder), as `npm start` runs;
//   2. on PostgreSQL + S3 storage (s3rver), as replicas run: the same files
//      with CHANNELD_TEST_DATABASE=postgres CHANNELD_TEST_STORAGE=s3.
// Without a PostgreSQL server the second run is skipped and the summary says
// so plainly; with CHANNELD_REQUIRE_POSTGRES=1 (CI sets it) that is a failure.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const files = fs.readdirSync(path.join(root, 'test'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => fs.readdirSync(path.join(root, 'test', d.name)).filter((f) => f.endsWith('.test.ts')).map((f) => `test/${d.name}/${f}`))
  .sort();
const postgresUrl = new URL(process.env.CHANNELD_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres');

function run(label, env) {
  console.log(`\n=== ${label}: ${files.length} test files ===\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
    cwd: root, stdio: 'inherit', env: { ...process.env, ...env },
  });
  return r.status === 0;
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
results.push(['SQLite + data folder (defaults)', run('SQLite + data folder (defaults)', { CHANNELD_TEST_DATABASE: '', CHANNELD_TEST_STORAGE: '' }) ? 'passed' : 'FAILED']);
const where = `${postgresUrl.hostname}:${postgresUrl.port || 5432}`;
if (await reachable(postgresUrl.hostname, Number(postgresUrl.port || 5432))) {
  const ok = run('PostgreSQL + S3 (s3rver)', { CHANNELD_TEST_DATABASE: 'postgres', CHANNELD_TEST_STORAGE: 's3' });
  results.push(['PostgreSQL + S3 (s3rver)', ok ? 'passed' : 'FAILED']);
} else if (process.env.CHANNELD_REQUIRE_POSTGRES === '1') {
  results.push(['PostgreSQL + S3 (s3rver)', `FAILED: no PostgreSQL at ${where}, and CHANNELD_REQUIRE_POSTGRES=1`]);
} else {
  results.push(['PostgreSQL + S3 (s3rver)', `SKIPPED: no PostgreSQL at ${where} (set CHANNELD_TEST_POSTGRES_URL to point at one)`]);
}
console.log('\n=== summary ===');
for (const [label, outcome] of results) console.log(`${label}: ${outcome}`);
process.exit(results.some(([, outcome]) => outcome.startsWith('FAILED')) ? 1 : 0);
