// An address that keeps sending GraphQL the server refuses (unparsable, over
// the cost limits, too large) is answered 429 for the rest of its minute,
// before its body is read; its other requests, other addresses, and queries
// that are answered are not touched, and answered queries never count.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { doubledSpreads } from './graphql-attacks.js';
import { startHostileServer, type HostileServer } from './harness.js';
import { rawRequest } from './raw-http.js';

const LIMIT = 5;

describe('refused GraphQL documents, per address', () => {
  let s: HostileServer;

  before(async () => {
    s = await startHostileServer({ CHANNELD_GRAPHQL_REFUSALS_PER_MINUTE: String(LIMIT), CHANNELD_TRUST_PROXY: 'true' });
  });
  after(async () => {
    await s?.stop();
  });

  const post = async (address: string, query: string) => {
    const r = await fetch(`${s.url}/api/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': address }, body: JSON.stringify({ query }),
    });
    return { status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.text() };
  };
  const get = async (address: string, query: string) => {
    const r = await fetch(`${s.url}/api/graphql?query=${encodeURIComponent(query)}`, { headers: { 'x-forwarded-for': address } });
    return { status: r.status, body: await r.text() };
  };
  const VALID = '{ channels { totalCount } }';

  it('answered queries never count, and fewer refusals than the limit block nothing', async () => {
    for (let i = 0; i < LIMIT * 3; i++) assert.equal((await post('203.0.113.1', VALID)).status, 200);
    for (let i = 0; i < LIMIT - 1; i++) assert.equal((await post('203.0.113.1', '{ channels {')).status, 400);
    assert.equal((await post('203.0.113.1', VALID)).status, 200);
    await s.assertHealthy();
  });

  it('past the limit, the address is answered 429 with Retry-After, even for a valid query, and other addresses are not', async () => {
    const attacker = '203.0.113.2';
    const refused = [
      await post(attacker, '{ channels {'),
      await post(attacker, doubledSpreads(22)),
      await get(attacker, 'query { nope'),
      await post(attacker, `{ viewer { login } }#${'x'.repeat(300 * 1024)}`),
      await post(attacker, '{ channels {'),
    ];
    assert.deepEqual(refused.map((r) => r.status), [400, 400, 400, 413, 400]);
    for (const query of [VALID, '{ channels {']) {
      const blocked = await post(attacker, query);
      assert.equal(blocked.status, 429, blocked.body);
      const retryAfter = Number(blocked.retryAfter);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${blocked.retryAfter}`);
      const body = JSON.parse(blocked.body) as { error: string; message: string };
      assert.equal(body.error, 'TOO_MANY_REQUESTS');
      assert.match(body.message, /refused/);
    }
    assert.equal((await get(attacker, VALID)).status, 429);
    // The rest of the server still answers that address; other addresses' GraphQL is untouched.
    assert.equal((await fetch(`${s.url}/bench/noarch/repodata.json`, { headers: { 'x-forwarded-for': attacker } })).status, 404);
    assert.equal((await post('203.0.113.3', VALID)).status, 200);
    await s.assertHealthy();
  });

  it('a blocked address is answered before its body is read', async () => {
    const attacker = '203.0.113.4';
    for (let i = 0; i < LIMIT; i++) assert.equal((await post(attacker, '{')).status, 400);
    // Announces 100 MiB and sends none of it: the 429 comes anyway.
    const r = await rawRequest(s.url, [
      'POST /api/graphql HTTP/1.1', `Host: ${new URL(s.url).host}`, 'Content-Type: application/json',
      `Content-Length: ${100 * 1024 * 1024}`, `X-Forwarded-For: ${attacker}`,
    ], '', 5_000);
    assert.equal(r.status, 429, r.body);
    await s.assertHealthy();
  });
});
