// An index pass that keeps failing for one subdir backs off instead of
// spinning: one error line per failure, each retry twice as far off as the
// last (CHANNELD_INDEX_RETRY_BASE_MS / _MAX_MS make the steps small here),
// while other subdirs index at once and a restart starts serving without
// waiting for the broken subdir. The fault is real: a plain file sits where
// the subdir's index folder must be (a data folder damaged by hand), so the
// pass fails in the filesystem. Once it is removed, the next retry publishes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { upload } from '../helpers/access.js';
import { testStorage } from '../helpers/backends.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { gql } from '../helpers/graphql.js';
import { spawnServer, waitFor } from '../helpers/server.js';
import { startHostileServer, type HostileServer } from './harness.js';

const BASE_MS = 200;
const MAX_MS = 1600;
const env = { CHANNELD_INDEX_RETRY_BASE_MS: String(BASE_MS), CHANNELD_INDEX_RETRY_MAX_MS: String(MAX_MS) };

interface LogLine { msg?: string; retryInMs?: number; failures?: number; subdir?: string; kind?: string; level?: number }
const lines = (output: string): LogLine[] => output.split('\n').flatMap((l) => {
  try {
    return [JSON.parse(l) as LogLine];
  } catch {
    return [];
  }
});

describe('a failing index pass backs off', { skip: testStorage !== 'folder' && 'the fault is made in the data folder (folder storage only)' }, () => {
  let s: HostileServer;
  const linux = fixturePackages().find((p) => p.filename === 'zlib-1.2.11-h7b6447c_3.tar.bz2')!;
  const noarch = fixturePackages().find((p) => p.folder === 'noarch')!;
  const obstruction = () => path.join(s.dataDir, 'channels', 'shaky', 'linux-64', '_index');
  const repodata = async (subdir: string) => {
    const r = await fetch(`${s.url}/shaky/${subdir}/repodata.json`);
    return r.ok ? ((await r.json()) as { packages: Record<string, unknown>; 'packages.conda': Record<string, unknown> }) : null;
  };
  const lists = (doc: Awaited<ReturnType<typeof repodata>>, filename: string) =>
    doc !== null && (filename in doc.packages || filename in doc['packages.conda']);

  before(async () => {
    s = await startHostileServer(env);
    const made = await gql(s, 'mutation { createChannel(name: "shaky", isPublic: true) { channel { name } } }', undefined, s.adminKey);
    assert.equal(made.body.errors, undefined, JSON.stringify(made.body));
  });
  after(async () => {
    if (s && fs.existsSync(obstruction()) && fs.statSync(obstruction()).isFile()) fs.rmSync(obstruction());
    await s?.stop();
  });

  it('retries at doubling intervals with one error line each, while another subdir indexes at once', async () => {
    fs.mkdirSync(path.dirname(obstruction()), { recursive: true });
    fs.writeFileSync(obstruction(), 'not a folder');
    const started = Date.now();
    assert.equal((await upload(s.url, 'shaky', linux, s.adminKey)).status, 200, 'the upload itself succeeds');
    // Another subdir of the same channel is indexed meanwhile, without waiting.
    assert.equal((await upload(s.url, 'shaky', noarch, s.adminKey)).status, 200);
    await waitFor(async () => lists(await repodata('noarch'), noarch.filename), 5000);

    const failures = () => lines(s.server.output()).filter((l) => l.msg === 'index pass failed; retrying later' && l.subdir === 'linux-64');
    await waitFor(async () => failures().filter((l) => l.kind === 'full').length >= 5, 15_000);
    const elapsed = Date.now() - started;
    const full = failures().filter((l) => l.kind === 'full');
    // Doubling from BASE_MS, capped at MAX_MS: 200, 400, 800, 1600, 1600, …
    assert.deepEqual(full.slice(0, 5).map((l) => l.retryInMs), [200, 400, 800, 1600, 1600]);
    assert.deepEqual(full.slice(0, 5).map((l) => l.failures), [1, 2, 3, 4, 5]);
    assert.ok(full.every((l) => l.level === 50), 'logged at error level');
    // Spinning would have failed hundreds of times by now; backing off fails
    // once per step (1 + 200 + 400 + 800 + 1600 ms to the fifth).
    assert.ok(full.length <= Math.ceil(elapsed / BASE_MS), `${full.length} failures in ${elapsed} ms`);
    assert.equal(await repodata('linux-64').then((d) => lists(d, linux.filename)), false, 'nothing half-published');
    await s.assertHealthy();
  });

  it('a restart with the fault still in place serves at once; removing it lets the next retry publish', async () => {
    await s.server.stop();
    const again = await spawnServer(s.dataDir, { CHANNELD_LOG_LEVEL: 'info', ...env });
    try {
      assert.ok(lists(await fetch(`${again.url}/shaky/noarch/repodata.json`).then((r) => r.json()) as never, noarch.filename), 'noarch served after the restart');
      await waitFor(async () => lines(again.output()).some((l) => l.msg === 'index pass failed; retrying later' && l.subdir === 'linux-64'), 10_000);
      fs.rmSync(obstruction());
      await waitFor(async () => {
        const r = await fetch(`${again.url}/shaky/linux-64/repodata.json`);
        if (!r.ok) return false;
        const doc = (await r.json()) as { packages: Record<string, unknown> };
        return linux.filename in doc.packages;
      }, 3 * MAX_MS + 5000);
      assert.ok(lines(again.output()).some((l) => l.msg === 'index pass succeeded again' && l.subdir === 'linux-64'), 'recovery is logged');
    } finally {
      await again.stop();
    }
    // The harness's stop() then checks every repodata.json written and removes the folder.
  });
});
