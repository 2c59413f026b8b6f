// Hostile credentials against a running server: whatever is presented as a
// key, a password or a client address, the answer is 401 or 429 (never 5xx),
// the server stays healthy, and the admin's valid key keeps working from the
// very address that sent the garbage. A flood of guesses at the admin's real
// key id from sprayed addresses is checked through one bounded lane: most of
// it is turned away without argon2, and the admin still gets in.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startHostileServer, type HostileServer } from './harness.js';

const LIMIT = 5;

describe('hostile credentials', () => {
  let s: HostileServer;

  before(async () => {
    s = await startHostileServer({ CHANNELD_AUTH_FAILURES_PER_MINUTE: String(LIMIT), CHANNELD_TRUST_PROXY: 'true' });
  });
  after(async () => {
    await s?.stop();
  });

  const viewer = async (authorization: string | null, forwardedFor: string) => {
    const r = await fetch(`${s.url}/api/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor, ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ query: '{ viewer { login } }' }),
    });
    return { status: r.status, body: await r.text() };
  };
  const upload = async (authorization: string, forwardedFor: string) => {
    const r = await fetch(`${s.url}/api/v1/upload/nowhere`, {
      method: 'POST', headers: { authorization, 'x-forwarded-for': forwardedFor, 'content-type': 'application/octet-stream', 'x-file-name': 'a-1-0.conda' },
      body: 'x',
    });
    return { status: r.status, body: await r.text() };
  };

  it('garbage credentials are 401, then 429; the admin key from the same address still works', async () => {
    const lookup = s.adminKey.slice(0, 16);
    const members: Array<[string, string]> = [
      ['Basic, not base64', 'Basic %%%%'],
      ['Basic without a colon', `Basic ${Buffer.from('no-colon').toString('base64')}`],
      ['Basic with an empty password', `Basic ${Buffer.from('user:').toString('base64')}`],
      ['an unknown scheme', 'Digest abc'],
      ['three words', 'Bearer a b'],
      ['a huge token', `Bearer ${'A'.repeat(12_000)}`],
      ['pfx_ with non-base62', `Bearer pfx_${'é'.repeat(52)}`],
      ['pfx_ too short', 'Bearer pfx_abc'],
      ['a publisher token that is not ours', `Bearer pfx_oidc_${'x'.repeat(43)}`],
      ['an unknown key id', `Bearer pfx_${'Q'.repeat(52)}`],
      ['the admin key id with a wrong secret', `Bearer ${lookup}${'W'.repeat(40)}`],
      ['the admin key with one character changed', `Bearer ${s.adminKey.slice(0, -1)}${s.adminKey.endsWith('A') ? 'B' : 'A'}`],
      ['a NUL inside', `Bearer pfx_${'A'.repeat(20)}\u0000${'A'.repeat(31)}`],
    ];
    let refused = 0;
    for (const [what, authorization] of members) {
      let r: { status: number; body: string };
      try {
        r = await upload(authorization, '198.51.100.77');
      } catch (e) {
        // fetch itself refuses a header value it cannot send (the NUL): nothing reached the server.
        assert.ok(e instanceof TypeError, `${what}: ${String(e)}`);
        continue;
      }
      assert.ok(r.status === 401 || r.status === 429, `${what}: ${r.status} ${r.body}`);
      assert.match(r.body, /"error"/, `${what}: a JSON error body`);
      if (++refused > LIMIT) assert.equal(r.status, 429, `${what}: past the limit`);
      await s.assertHealthy();
    }
    const ok = await viewer(`Bearer ${s.adminKey}`, '198.51.100.77');
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), { data: { viewer: { login: 'admin' } } });
  });

  it('hostile client addresses (behind a trusted proxy) are only counted, never fatal', async () => {
    for (const forwarded of ['not-an-ip', '::1, ::1, ::1', `${'9.'.repeat(2000)}9`, Array.from({ length: 500 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(', '), '[::ffff:1.2.3.4]:80', '']) {
      const r = await viewer(`Bearer pfx_${'R'.repeat(52)}`, forwarded);
      assert.ok([200, 401, 429].includes(r.status), `X-Forwarded-For ${forwarded.slice(0, 40)}: ${r.status} ${r.body}`);
      await s.assertHealthy();
    }
  });

  it('a flood of guesses at the admin key id from 150 addresses: bounded argon2 work, the admin still served', async () => {
    const lookup = s.adminKey.slice(0, 16);
    // The admin's address, verified before the flood (its key is then also cached).
    assert.equal((await viewer(`Bearer ${s.adminKey}`, '203.0.113.50')).status, 200);
    const N = 150;
    const flood = Array.from({ length: N }, (_, i) => viewer(`Bearer ${lookup}${String(i).padStart(40, 'F')}`, `172.16.${i >> 8}.${(i & 255) + 1}`));
    const admin = viewer(`Bearer ${s.adminKey}`, '203.0.113.50');
    const answers = await Promise.all(flood);
    for (const a of answers) assert.ok(a.status === 401 || a.status === 429 || (a.status === 200 && a.body.includes('"viewer":null')), `${a.status} ${a.body}`);
    const checked = answers.filter((a) => !a.body.includes('checking this credential at once')).length;
    // One guess runs and 32 wait in the key id's lane (a few more may be
    // checked while the flood is still arriving); the rest are turned away at once.
    assert.ok(checked <= 1 + 32 + 8, `${checked} of ${N} guesses were argon2-checked`);
    const mine = await admin;
    assert.equal(mine.status, 200, mine.body);
    assert.match(mine.body, /"login":"admin"/);
    await s.assertHealthy();
  });
});
