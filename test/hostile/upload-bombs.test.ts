// Small packages that inflate to a lot (issue 14 §3: no single request holds
// the server): 96 MiB of zeros under info/ in a 375-byte .tar.bz2 and a
// 4 KB .conda, a zstd frame declaring a 1.9 GiB window, index.json nested
// 100,000 deep. Each is answered (the zeros are valid packages: the reader
// stops at its byte bound; the others are 400s), and while the server reads
// them its event loop never stalls past a generous bound: the decoding runs
// on reader threads. The server runs in this process so the event-loop
// histogram (perf_hooks.monitorEventLoopDelay) is the server's own.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { rawUpload } from '../helpers/clients.js';
import { buildUploadBombs, type Bomb } from '../helpers/upload-bombs.js';
import { startServer, tempDataDir, type TestServer } from '../helpers/server.js';

const STALL_BOUND_MS = 250;

describe('upload bombs', () => {
  let server: TestServer;
  let key: string;
  let dir: string;
  let bombs: Bomb[];

  before(async () => {
    dir = tempDataDir('channeld-bombs-');
    bombs = await buildUploadBombs(path.join(dir, 'bombs'));
    server = await startServer();
    const admin = await server.core.users.create('root', true);
    key = (await server.core.users.createKey(admin, { name: 'k', expiresAt: null })).token;
    await server.core.channels.create('bombs', admin.id, { isPublic: true });
  });
  after(async () => {
    await server?.close();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const expected: Record<string, { status: number; error?: string; message?: RegExp }> = {
    'bomb-wide-1.0-0.conda': { status: 400, error: 'INVALID_PACKAGE', message: /1920 MiB window/ },
    'bomb-zeros-1.0-0.conda': { status: 200 },
    'bomb-bz2-1.0-0.tar.bz2': { status: 200 },
    'bomb-deep-1.0-0.conda': { status: 400, error: 'INVALID_METADATA', message: /too deeply/ },
  };

  it('answers each without holding the event loop', async () => {
    for (const bomb of bombs) {
      const want = expected[bomb.filename];
      assert.ok(want, `an expectation for ${bomb.filename}`);
      const loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
      const r = await rawUpload(server.url, 'bombs', bomb, key);
      const body = (await r.json()) as { error?: string; message?: string };
      loop.disable();
      assert.equal(r.status, want.status, `${bomb.filename}: ${JSON.stringify(body)}`);
      if (want.error) assert.equal(body.error, want.error, bomb.filename);
      if (want.message) assert.match(body.message ?? '', want.message, bomb.filename);
      const maxMs = loop.max / 1e6;
      assert.ok(maxMs < STALL_BOUND_MS, `${bomb.filename}: the event loop stalled ${maxMs.toFixed(0)} ms`);
    }
  });
});
