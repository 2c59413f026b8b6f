// A server started as PID 1 of a new PID namespace (as in a container) and
// killed with SIGKILL starts again at once in a new one (issue 14 §1): its
// pid file names PID 1, which is now the new server itself, so it is stale;
// and the dead server's index leases and upload intents are its own, so they
// are released at start-up instead of waited out (the lease here is 60 s).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { backendEnv } from '../helpers/backends.js';
import { rawUpload } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { cliEntry } from '../helpers/paths.js';
import { freePort, tempDataDir, waitFor } from '../helpers/server.js';

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
const LEASE_MS = 60_000;

interface Contained { child: ChildProcess; url: string; output(): string }

async function startContained(dataDir: string): Promise<Contained> {
  const port = await freePort();
  const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, cliEntry, 'serve', '--data', dataDir, '--port', String(port)], {
    env: { ...process.env, CHANNELD_LOG_LEVEL: 'warn', CHANNELD_INDEX_LEASE_MS: String(LEASE_MS), ...(await backendEnv(dataDir)) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${out}`);
    return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
  }, 20_000, 50);
  return { child, url, output: () => out };
}

/** SIGKILL the server itself: the unshare process's child, PID 1 of its namespace. */
function killServer(c: Contained): Promise<void> {
  const pid = Number(execFileSync('pgrep', ['-P', String(c.child.pid)]).toString().trim().split('\n')[0]);
  process.kill(pid, 'SIGKILL');
  return new Promise((resolve) => (c.child.exitCode !== null ? resolve() : c.child.once('exit', () => resolve())));
}

describe('restart as PID 1 after SIGKILL', { skip: !canUnshare && 'needs root and unshare --pid' }, () => {
  const dataDir = tempDataDir('channeld-pid1-');
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('starts again at once, and indexes without waiting out its own dead leases', async () => {
    const first = await startContained(dataDir);
    const key = /pfx_[A-Za-z0-9]{52}/.exec(first.output())?.[0];
    assert.ok(key, first.output());
    assert.equal(fs.readFileSync(path.join(dataDir, 'channeld.pid'), 'utf8').trim(), '1', 'the server is PID 1 of its namespace');
    const gql = await fetch(`${first.url}/api/graphql`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { createChannel(name: "pid1", isPublic: true) { channel { name } } }' }),
    });
    assert.equal(gql.status, 200);
    await gql.json();
    await killServer(first);

    const started = Date.now();
    const second = await startContained(dataDir);
    try {
      const p = fixturePackages().find((f) => f.folder === 'noarch')!;
      const sha256 = createHash('sha256').update(fs.readFileSync(p.file)).digest('hex');
      const up = await rawUpload(second.url, 'pid1', p, key, { sha256 });
      assert.equal(up.status, 200, await up.text());
      await waitFor(async () => (await (await fetch(`${second.url}/pid1/noarch/repodata.json`)).text()).includes(p.filename), LEASE_MS / 3, 100);
      assert.ok(Date.now() - started < LEASE_MS / 2, `restart + first index took ${Date.now() - started} ms (lease ${LEASE_MS} ms)`);
    } finally {
      await killServer(second);
    }
  });
});
