// One change, one rewrite. The indexer's poll (for changes made by other
// processes) lists every subdir whose revision is ahead of its index; while
// the rewrite of that very revision is running, the poll must not queue
// another full rewrite of it. bench/visible-latency.ts found 2 rewrites per
// upload on a 100k-record subdir (≈2.7 s each), so every upload cost twice
// the indexing work and the next upload and downloads waited behind it.
//
// The server's log says what it wrote: one "index written" line per rewrite
// with its revision. A revision written twice is wasted work.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { backendEnv } from '../helpers/backends.js';
import type { PackageFile } from '../../src/types.js';
import { canonicalJson } from '../../src/conda/canonical-json.js';
import { buildRecord } from '../../src/conda/repodata-record.js';
import { rawUpload } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { tempDataDir, waitFor } from '../helpers/server.js';

const RECORDS = 10_000;

function records(channelId: number): PackageFile[] {
  const out: PackageFile[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const name = `filler-${i}`;
    const filename = `${name}-1.0-0.conda`;
    const md5 = createHash('md5').update(filename).digest('hex');
    const sha256 = createHash('sha256').update(filename).digest('hex');
    const index = { build: '0', build_number: 0, depends: ['python >=3.8'], license: 'MIT', name, noarch: 'generic', subdir: 'noarch', version: '1.0' };
    out.push({
      channelId, subdir: 'noarch', filename, format: 'conda', name, version: '1.0', build: '0', buildNumber: 0,
      sizeBytes: 1000, sha256, md5, indexJson: JSON.stringify(index), aboutJson: null, runExportsJson: null,
      recordJson: canonicalJson(buildRecord(index, { md5, sha256, size: 1000 })), uploadedBy: null,
    });
  }
  return out;
}

test('an upload is indexed once, however often the poll looks meanwhile', async () => {
  const dataDir = tempDataDir();
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const written: Array<{ channel: string; subdir: string; revision: number }> = [];
  const config = loadConfig({
    CHANNELD_DATA_DIR: dataDir, CHANNELD_BOOTSTRAP_ADMIN: 'false', ...(await backendEnv(dataDir)),
    // The poll runs often (as it may on any server whose rewrites take longer than the poll interval).
    CHANNELD_INDEX_POLL_MS: '10',
  });
  const app = await buildApp(config, {
    logger: {
      level: 'info',
      stream: {
        write(line: string) {
          const entry = JSON.parse(line) as { msg?: string; channel?: string; subdir?: string; revision?: number };
          if (entry.msg === 'index written') written.push({ channel: entry.channel!, subdir: entry.subdir!, revision: entry.revision! });
        },
      },
    },
  });
  let closed = false;
  after(async () => {
    if (!closed) await app.close();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  const url = `http://127.0.0.1:${address.port}`;
  const { core } = app;
  const admin = await core.users.create('admin', true);
  const { token } = await core.users.createKey(admin, { name: 'test', expiresAt: null });
  const channel = await core.channels.create('big', admin.id, { isPublic: true });
  await core.repos.packages.insertFound(records(channel.id));
  await core.indexer.indexNow({ channelId: channel.id, channel: 'big', subdir: 'noarch' });

  const pkg = fixturePackages().find((p) => p.filename === 'dependency-1.0-0.conda')!;
  const res = await rawUpload(url, 'big', pkg, token);
  assert.equal(res.status, 200);
  await waitFor(async () => {
    const r = await fetch(`${url}/big/noarch/repodata.json`);
    return (await r.text()).includes(`"${pkg.filename}":`);
  }, 60_000, 20);
  // Closing drains the indexer: whatever it had queued is written before this returns.
  await app.close();
  closed = true;

  const revisions = written.filter((w) => w.channel === 'big' && w.subdir === 'noarch').map((w) => w.revision);
  const repeated = revisions.filter((r, i) => revisions.indexOf(r) !== i);
  assert.deepEqual(repeated, [], `revisions written: ${revisions.join(', ')}`);
});
