// What a client sees after the server dies at the worst moment: kill -9 in
// the middle of an upload body or of an index write, a stale pid file, and a
// SIGTERM (docker stop, systemd) while an upload is still streaming.
//
//   curl -T big.conda -H "X-File-Name: big.conda" … /api/v1/upload/<channel>
//     (server killed mid-body) → client sees a reset; after restart nothing of
//     that file is visible and the same upload succeeds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { deletePackage, rawUpload } from '../helpers/clients.js';
import { makePackages, type MadePackage, type PackageSpec } from '../helpers/make-packages.js';
import { backendEnv } from '../helpers/backends.js';
import { cliEntry } from '../helpers/paths.js';
import { freePort, runCli, spawnServer, tempDataDir, waitFor, type ChildServer } from '../helpers/server.js';

interface RepodataRecord { sha256: string; size: number }
interface Repodata { packages: Record<string, RepodataRecord>; 'packages.conda': Record<string, RepodataRecord> }

const children: ChildProcess[] = [];
const dirs: string[] = [];
let pkgDir: string;
let big: MadePackage;
let medium: MadePackage;
let small: MadePackage[];

before(async () => {
  pkgDir = tempDataDir('channeld-crash-pkgs-');
  dirs.push(pkgDir);
  const specs: PackageSpec[] = [
    { name: 'bigpayload', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'conda', payloadBytes: 32 << 20, zstdLevel: 1 },
    { name: 'midpayload', version: '1.0', build: 'h0_0', subdir: 'linux-64', format: 'conda', payloadBytes: 6 << 20, zstdLevel: 1 },
    ...Array.from({ length: 120 }, (_, i): PackageSpec => ({
      name: `hammer-${i}`, version: '0.1', build: `${i % 4}`, buildNumber: i % 4,
      subdir: i % 2 ? 'linux-64' : 'noarch', format: i % 5 === 0 ? 'tar.bz2' : 'conda',
    })),
  ];
  [big, medium, ...small] = (await makePackages(pkgDir, specs)) as [MadePackage, MadePackage, ...MadePackage[]];
});

after(() => {
  keepAliveAgent.destroy();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function start(dataDir: string, env: Record<string, string> = {}): Promise<ChildServer> {
  const srv = await spawnServer(dataDir, env);
  children.push(srv.child);
  return srv;
}

/** A fresh data folder with a running server, its bootstrap admin key and a channel. */
async function freshServer(channel: string, env: Record<string, string> = {}) {
  const dataDir = tempDataDir('channeld-crash-');
  dirs.push(dataDir);
  const srv = await start(dataDir, env);
  const adminKey = /pfx_[A-Za-z0-9]{52}/.exec(srv.output())?.[0];
  assert.ok(adminKey, `first start prints the admin key:\n${srv.output()}`);
  const made = await runCli(['channel', 'create', channel, '--owner', 'admin', '--data', dataDir]);
  assert.equal(made.code, 0, made.stderr);
  return { dataDir, srv, adminKey };
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

// Like rattler's reqwest pool (90 s idle) or conda's urllib3 pool: a client
// keeps its connection open after an answer until the server closes it.
const keepAliveAgent = new http.Agent({ keepAlive: true, timeout: 90_000 });

type UploadOutcome = { status: number; body: { error?: string } | null } | { error: string };

/** A raw-body upload that trickles its bytes, so the server is mid-stream for a while. */
function slowUpload(url: string, channel: string, key: string, pkg: MadePackage, chunkBytes: number, delayMs: number) {
  const data = fs.readFileSync(pkg.file);
  let failed = false;
  const req = http.request(`${url}/api/v1/upload/${channel}`, {
    method: 'POST',
    agent: keepAliveAgent,
    headers: {
      authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream', 'content-length': data.length,
      'x-file-name': pkg.filename, 'x-file-sha256': pkg.sha256,
    },
  });
  const outcome = new Promise<UploadOutcome>((resolve) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let body = null;
        try { body = JSON.parse(text); } catch { /* not JSON: left null, the caller asserts */ }
        resolve({ status: res.statusCode!, body });
      });
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('error', (e) => {
      failed = true;
      resolve({ error: e.message });
    });
  });
  void (async () => {
    for (let sent = 0; sent < data.length && !failed; sent += chunkBytes) {
      req.write(data.subarray(sent, sent + chunkBytes));
      await new Promise((r) => setTimeout(r, delayMs));
    }
    if (!failed) req.end();
  })();
  return outcome;
}

async function uploadRaw(url: string, channel: string, key: string, pkg: MadePackage): Promise<number> {
  const res = await rawUpload(url, channel, pkg, key);
  await res.arrayBuffer();
  return res.status;
}

/** One verified request, so a burst does not start with every request paying for argon2. */
async function warmKeyCache(url: string, key: string): Promise<void> {
  const res = await deletePackage(url, 'absent', 'noarch', 'absent-1-0.conda', key);
  await res.arrayBuffer();
  assert.equal(res.status, 404);
}

/** Waits until tmp/ holds an upload with at least minBytes received. */
async function uploadInFlight(dataDir: string, minBytes: number): Promise<string> {
  return waitFor(async () => {
    for (const name of fs.readdirSync(path.join(dataDir, 'tmp'))) {
      if (fs.statSync(path.join(dataDir, 'tmp', name)).size >= minBytes) return name;
    }
    return null;
  }, 10_000, 5);
}

function tempLeftovers(dataDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.name.startsWith('.tmp-')) found.push(path.join(dir, e.name));
    }
  };
  // On S3 storage the data folder holds no index files: a killed write there is an unfinished
  // multipart upload that no reader sees (s3rver cannot list those).
  if (fs.existsSync(path.join(dataDir, 'channels'))) walk(path.join(dataDir, 'channels'));
  return found;
}

async function fetchRepodata(url: string, channel: string, subdir: string): Promise<Repodata | null> {
  const res = await fetch(`${url}/${channel}/${subdir}/repodata.json`);
  const text = await res.text();
  if (res.status === 404) return null;
  assert.equal(res.status, 200);
  return JSON.parse(text) as Repodata; // throws on a torn file
}

const entries = (rd: Repodata) => [...Object.entries(rd.packages), ...Object.entries(rd['packages.conda'])];
const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex');

describe('crash safety', () => {
  test('kill -9 mid-upload: nothing half-published, temp files swept, the same upload then works', async () => {
    const { dataDir, srv, adminKey } = await freshServer('crashy');
    const outcome = slowUpload(srv.url, 'crashy', adminKey, big, 256 << 10, 15);
    await uploadInFlight(dataDir, 4 << 20);
    await kill9(srv.child);
    const seen = await outcome;
    assert.ok('error' in seen, `the client saw the connection die, not an answer: ${JSON.stringify(seen)}`);
    assert.notDeepEqual(fs.readdirSync(path.join(dataDir, 'tmp')), [], 'the kill left a partial upload behind');

    const again = await start(dataDir);
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'tmp')), []);
    assert.deepEqual(tempLeftovers(dataDir), []);
    const file = await fetch(`${again.url}/crashy/noarch/${big.filename}`);
    assert.equal(file.status, 404);
    await file.arrayBuffer();
    const rd = (await fetchRepodata(again.url, 'crashy', 'noarch'))!;
    assert.equal(entries(rd).length, 0);

    assert.equal(await uploadRaw(again.url, 'crashy', adminKey, big), 200);
    const served = await fetch(`${again.url}/crashy/noarch/${big.filename}`);
    assert.equal(served.status, 200);
    assert.equal(sha256(Buffer.from(await served.arrayBuffer())), big.sha256);
    assert.equal(await again.stop(), 0);
  });

  test('kill -9 while the indexer writes: repodata stays whole, lists only served files, keeps every 200', async () => {
    // Debounce 0: every upload triggers a rewrite, so the indexer is nearly always busy.
    const env = { CHANNELD_INDEX_DEBOUNCE_MS: '0' };
    const fresh = await freshServer('hammer', env);
    const { dataDir, adminKey } = fresh;
    let srv: ChildServer | null = fresh.srv;
    const acknowledged = new Map<string, MadePackage>();
    let caughtMidWrite = 0;
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      srv ??= await start(dataDir, env);
      const url = srv.url;
      await warmKeyCache(url, adminKey);
      const batch = small.slice(round * 40, round * 40 + 40);
      let next = 0;
      let ackedThisRound = 0;
      const uploads = Promise.all(Array.from({ length: 6 }, async () => {
        while (next < batch.length) {
          const pkg = batch[next++]!;
          const status = await uploadRaw(url, 'hammer', adminKey, pkg).catch(() => 0);
          if (status === 200) {
            acknowledged.set(pkg.filename, pkg);
            ackedThisRound++;
          }
        }
      }));
      // Kill on the first index temp file seen once a few uploads went through
      // and a random delay passed (or at a deadline).
      const notBefore = Date.now() + 100 + Math.random() * 700;
      const deadline = notBefore + 3000;
      const indexDirs = ['noarch', 'linux-64'].map((s) => path.join(dataDir, 'channels', 'hammer', s, '_index'));
      for (;;) {
        const now = Date.now();
        if (now >= deadline) break;
        if (now >= notBefore && ackedThisRound >= 3) {
          const writing = indexDirs.some((d) => fs.existsSync(d) && fs.readdirSync(d).some((n) => n.startsWith('.tmp-')));
          if (writing) {
            caughtMidWrite++;
            break;
          }
        }
        await new Promise((r) => setImmediate(r));
      }
      await kill9(srv.child);
      srv = null;
      await uploads;
      const leftBehind = tempLeftovers(dataDir);

      srv = await start(dataDir, env);
      // The new server may already be writing its own temp files; the crash's must be gone.
      assert.deepEqual(leftBehind.filter((f) => fs.existsSync(f)), []);
      assert.deepEqual(fs.readdirSync(path.join(dataDir, 'tmp')), []);
      for (const subdir of ['noarch', 'linux-64']) {
        const rd = await fetchRepodata(srv.url, 'hammer', subdir);
        if (rd === null) {
          assert.ok(![...acknowledged.values()].some((p) => p.subdir === subdir), `${subdir} has acknowledged uploads`);
          continue;
        }
        for (const [filename, record] of entries(rd)) {
          const res = await fetch(`${srv.url}/hammer/${subdir}/${filename}`);
          assert.equal(res.status, 200, `repodata lists ${subdir}/${filename} but it is not served`);
          const body = Buffer.from(await res.arrayBuffer());
          assert.equal(body.length, record.size, filename);
          assert.equal(sha256(body), record.sha256, filename);
        }
      }
      await waitFor(async () => {
        const listed = new Set<string>();
        for (const subdir of ['noarch', 'linux-64']) {
          const rd = await fetchRepodata(srv!.url, 'hammer', subdir);
          if (rd) for (const [f] of entries(rd)) listed.add(f);
        }
        return [...acknowledged.keys()].every((f) => listed.has(f));
      }, 5000);
    }
    console.log(`# ${acknowledged.size} uploads acknowledged; ${caughtMidWrite}/${rounds} kills landed during an index write`);
    assert.ok(acknowledged.size > 0);
    assert.equal(await srv!.stop(), 0);
    assert.deepEqual(tempLeftovers(dataDir), []);
  });

  test('a stale pid file does not block a restart; a second serve on a live data folder is refused', async () => {
    const { dataDir, srv } = await freshServer('pidchan');
    const pidFile = path.join(dataDir, 'channeld.pid');
    const deadPid = srv.child.pid!;
    await kill9(srv.child);
    assert.equal(fs.readFileSync(pidFile, 'utf8').trim(), String(deadPid));

    const live = await start(dataDir);
    const second = spawn(process.execPath, [cliEntry, 'serve', '--data', dataDir, '--port', String(await freePort())], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CHANNELD_LOG_LEVEL: 'warn', ...(await backendEnv(dataDir)) },
    });
    children.push(second);
    let stderr = '';
    second.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 10_000);
      second.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.notEqual(code, null, 'the second server kept running');
    assert.notEqual(code, 0);
    assert.match(stderr, /another server is running/);
    assert.equal(fs.readFileSync(pidFile, 'utf8').trim(), String(live.child.pid));
    assert.equal((await fetch(`${live.url}/healthz`)).status, 200);
    assert.equal(await live.stop(), 0);
    assert.equal(fs.existsSync(pidFile), false, 'a clean stop removes the pid file');
  });

  test('SIGTERM during an upload: the upload finishes or is refused cleanly, exit 0, present iff 200', async () => {
    const { dataDir, srv, adminKey } = await freshServer('graceful');
    const exited = new Promise<number | null>((resolve) => srv.child.once('exit', (c) => resolve(c)));
    const outcome = slowUpload(srv.url, 'graceful', adminKey, medium, 128 << 10, 15);
    await uploadInFlight(dataDir, 1 << 20);
    srv.child.kill('SIGTERM');
    const seen = await outcome;
    assert.ok(!('error' in seen), `the connection was cut instead of answered: ${JSON.stringify(seen)}`);
    if (seen.status !== 200) {
      assert.ok(seen.status >= 400 && typeof seen.body?.error === 'string', `a clean refusal: ${JSON.stringify(seen)}`);
    }
    // The server's own 30 s shutdown guard exits 1 if it is still waiting on the client.
    assert.equal(await exited, 0, srv.output());

    const again = await start(dataDir);
    const file = await fetch(`${again.url}/graceful/linux-64/${medium.filename}`);
    const body = Buffer.from(await file.arrayBuffer());
    if (seen.status === 200) {
      assert.equal(file.status, 200);
      assert.equal(sha256(body), medium.sha256);
      await waitFor(async () => {
        const rd = await fetchRepodata(again.url, 'graceful', 'linux-64');
        return rd?.['packages.conda'][medium.filename]?.sha256 === medium.sha256;
      }, 5000);
    } else {
      assert.equal(file.status, 404);
    }
    console.log(`# upload in flight at SIGTERM answered ${seen.status}`);
    assert.equal(await again.stop(), 0);
  });
});
