// Hostile GraphQL: documents and inputs that are cheap to send and were
// expensive to answer (issue 14 §3). Each is answered with a clear GraphQL
// error (or 413), never a 5xx; a well-behaved client polling /healthz
// alongside is answered promptly; the server is healthy afterwards. An
// in-process server measures the event-loop delay over each request with
// perf_hooks.monitorEventLoopDelay.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startServer, type TestServer } from '../helpers/server.js';
import { graphqlAttacks, type GqlAttack } from './graphql-attacks.js';
import { startHostileServer, type HostileServer } from './harness.js';

/** Generous: a blocked loop (the bug) held it for seconds. */
const MAX_LOOP_DELAY_MS = 250;

interface Answer { status: number; body: { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }>; error?: string } }

async function post(url: string, body: unknown, key?: string): Promise<Answer> {
  const r = await fetch(`${url}/api/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) as Answer['body'] };
  } catch {
    throw new Error(`HTTP ${r.status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
}

/** A refused attack: 413 with our error body, or a GraphQL error that names the client's fault. */
function assertRefused(what: string, a: Answer): void {
  assert.ok(a.status < 500, `${what}: HTTP ${a.status} ${JSON.stringify(a.body).slice(0, 500)}`);
  if (a.status === 413) {
    assert.equal(a.body.error, 'PAYLOAD_TOO_LARGE', `${what}: ${JSON.stringify(a.body)}`);
    return;
  }
  const errors = a.body.errors ?? [];
  assert.ok(errors.length > 0, `${what}: not refused: ${JSON.stringify(a.body).slice(0, 500)}`);
  for (const e of errors) {
    assert.ok(['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED'].includes(e.extensions?.code ?? ''), `${what}: ${JSON.stringify(e).slice(0, 500)}`);
  }
}

/** Runs `attack` while a client polls /healthz; returns the slowest poll (ms). */
async function whilePolling(url: string, attack: () => Promise<void>): Promise<number> {
  let slowest = 0;
  let running = true;
  const poller = (async () => {
    while (running) {
      const t0 = performance.now();
      const r = await fetch(`${url}/healthz`);
      await r.arrayBuffer();
      slowest = Math.max(slowest, performance.now() - t0);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  try {
    await attack();
  } finally {
    running = false;
    await poller;
  }
  return slowest;
}

describe('hostile GraphQL against a real server process', () => {
  let s: HostileServer;
  before(async () => {
    s = await startHostileServer();
  });
  after(async () => {
    await s?.stop();
  });

  for (const attack of graphqlAttacks()) {
    it(`${attack.name}: refused, and /healthz stays prompt`, async (t) => {
      let answer: Answer | undefined;
      const slowest = await whilePolling(s.url, async () => {
        answer = await post(s.url, attack.body);
      });
      t.diagnostic(`HTTP ${answer!.status}, slowest /healthz ${slowest.toFixed(0)} ms: ${JSON.stringify(answer!.body).slice(0, 160)}`);
      assertRefused(attack.name, answer!);
      assert.ok(slowest < MAX_LOOP_DELAY_MS, `/healthz took ${slowest.toFixed(0)} ms during the attack`);
      await s.assertHealthy();
    });
  }

  // The limits are checked with the request's variables before graphql-js
  // runs; variables of every wrong shape must never end in a 5xx or a crash.
  it('variables of any shape (array, string, number, unparsable GET JSON) never answer 5xx', async () => {
    const query = 'query($n: Int) { channels(limit: $n) { page { name } } }';
    for (const variables of [[1, 2], 'not json', '{"n": 100000}', 42, true, { n: 'x' }, { n: 1e300 }, { n: { deep: [] } }]) {
      const r = await post(s.url, { query, variables });
      assert.ok(r.status >= 200 && r.status < 500, `variables ${JSON.stringify(variables)}: HTTP ${r.status}`);
      await s.assertHealthy();
    }
    for (const raw of ['%ZZ', '{', '[1]', '{"n":100000}']) {
      const r = await fetch(`${s.url}/api/graphql?query=${encodeURIComponent(query)}&variables=${raw}`);
      assert.ok(r.status >= 200 && r.status < 500, `GET variables=${raw}: HTTP ${r.status}`);
      await r.arrayBuffer();
      await s.assertHealthy();
    }
    // A variable carrying the cost is refused before it runs, on GET as on POST.
    const costly = await fetch(`${s.url}/api/graphql?query=${encodeURIComponent(query)}&variables=${encodeURIComponent('{"n":100000}')}`);
    assert.equal(costly.status, 400, 'a limit of 100000 through a GET variable');
    await costly.arrayBuffer();
  });

  it('a POST body over the limit is 413 with our error body', async () => {
    const variables = { m: 'x'.repeat(2 << 20) };
    const a = await post(s.url, { query: '{ viewer { login } }', variables });
    assert.equal(a.status, 413, JSON.stringify(a.body).slice(0, 300));
    assert.equal(a.body.error, 'PAYLOAD_TOO_LARGE');
    await s.assertHealthy();
  });

  it('a form-encoded (curl --data) body over the limit is 413 too', async () => {
    const r = await fetch(`${s.url}/api/graphql`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: JSON.stringify({ query: `{ viewer { login } } #${'x'.repeat(1 << 20)}` }) });
    assert.equal(r.status, 413);
    assert.equal(((await r.json()) as Answer['body']).error, 'PAYLOAD_TOO_LARGE');
    await s.assertHealthy();
  });

  it('a GET ?query= over the limit is 413; one past the header limit is a 4xx', async () => {
    const big = await fetch(`${s.url}/api/graphql?query=${encodeURIComponent(`{ viewer { login } } #${'x'.repeat(10_000)}`)}`);
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as Answer['body']).error, 'PAYLOAD_TOO_LARGE');
    const huge = await fetch(`${s.url}/api/graphql?query=${'x'.repeat(100_000)}`);
    await huge.arrayBuffer();
    assert.ok(huge.status >= 400 && huge.status < 500, `HTTP ${huge.status}`);
    await s.assertHealthy();
  });

  it('a GET ?query= with an attack document is refused like a POST', async () => {
    const doc = graphqlAttacks().find((a) => a.name.startsWith('22 levels'))!.body.query;
    const r = await fetch(`${s.url}/api/graphql?query=${encodeURIComponent(doc)}`);
    assertRefused('GET doubled spreads', { status: r.status, body: (await r.json()) as Answer['body'] });
    await s.assertHealthy();
  });

  it('batched queries are refused (one request, one operation)', async () => {
    const doc = graphqlAttacks()[0]!.body.query;
    const a = await post(s.url, Array.from({ length: 500 }, () => ({ query: doc })));
    assert.ok(a.status >= 400 && a.status < 500, `HTTP ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);
    await s.assertHealthy();
  });

  it('a well-formed query still answers after all of the above', async () => {
    const a = await post(s.url, { query: '{ viewer { login } packages(limit: 5) { totalCount } }' }, s.adminKey);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.deepEqual(a.body.errors, undefined);
    await s.assertHealthy();
  });
});

describe('hostile GraphQL: event-loop delay over each request (in-process server)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.close();
    if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  });

  const measured = (attack: GqlAttack) => it(`${attack.name}: the loop is never held ${MAX_LOOP_DELAY_MS} ms`, async (t) => {
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    let answer: Answer;
    try {
      answer = await post(server.url, attack.body);
    } finally {
      histogram.disable();
    }
    const maxMs = histogram.max / 1e6;
    t.diagnostic(`event-loop delay max ${maxMs.toFixed(1)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms`);
    assertRefused(attack.name, answer);
    assert.ok(maxMs < MAX_LOOP_DELAY_MS, `the event loop was held ${maxMs.toFixed(0)} ms`);
  });
  for (const attack of graphqlAttacks()) measured(attack);
});
