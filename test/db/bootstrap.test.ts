// The bootstrap admin on first start: exactly one, whatever starts at once.
// Replicas rolled out together on an empty database all try it; one must
// win and the others start without error (the losers' inserts find the
// login taken). Creating one login twice at once: one user, one 409.
// Runs on whichever database the suite uses.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { createCore, type Core } from '../../src/core/core.js';
import { backendEnv } from '../helpers/backends.js';
import { tempDataDir } from '../helpers/server.js';
import { isAppError } from '../../src/errors.js';

describe('bootstrap admin', () => {
  const cores: Core[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const c of cores) await c.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('processes bootstrapping one empty database at once: one key, no error', async () => {
    const dataDir = tempDataDir('channeld-bootstrap-');
    dirs.push(dataDir);
    const env = { CHANNELD_DATA_DIR: dataDir, ...(await backendEnv(dataDir)) };
    // Two cores on one database (on SQLite: two connections to one file), as two replicas.
    for (let i = 0; i < 2; i++) cores.push(await createCore(loadConfig(env), pino({ level: 'silent' })));
    const tokens = await Promise.all([...cores, ...cores].map((c) => c.users.bootstrapAdmin()));
    assert.equal(tokens.filter((t) => t !== null).length, 1, `tokens: ${tokens.map((t) => (t ? 'key' : 'null')).join(', ')}`);
    assert.equal(await cores[0]!.repos.users.count(), 1);
    assert.equal(await cores[1]!.users.bootstrapAdmin(), null, 'a later start makes no second key');
  });

  test('one login created by several processes at once: one user, the others a conflict', async () => {
    const [a, b] = cores as [Core, Core];
    const results = await Promise.allSettled([a, b, a, b].map((c) => c.users.create('twice', false)));
    const made = results.filter((r) => r.status === 'fulfilled');
    assert.equal(made.length, 1, JSON.stringify(results.map((r) => (r.status === 'fulfilled' ? 'user' : String(r.reason)))));
    for (const r of results) {
      if (r.status === 'rejected') {
        assert.ok(isAppError(r.reason), String(r.reason));
        assert.equal(r.reason.statusCode, 409);
        assert.match(r.reason.message, /user 'twice' already exists/);
      }
    }
    assert.equal((await b.repos.users.byLogin('twice'))?.id, (made[0] as PromiseFulfilledResult<{ id: number }>).value.id);
  });
});
