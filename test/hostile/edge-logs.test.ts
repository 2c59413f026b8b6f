// Keys never reach the log, wherever a client puts them; UI pages carry the
// headers that keep them out of frames and sniffers; the session cookie is
// Secure when the public URL is https. The log is the real server's output
// at debug level.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { userWithPassword } from '../helpers/browser.js';
import { startServer } from '../helpers/server.js';
import { startHostileServer, type HostileServer } from './harness.js';
import { rawRequest } from './raw-http.js';

describe('keys in log lines', () => {
  let s: HostileServer;
  before(async () => {
    s = await startHostileServer({ CHANNELD_LOG_LEVEL: 'debug' });
  });
  after(async () => {
    await s?.stop();
  });

  it('no key-shaped string appears in any log line', async () => {
    const key = s.adminKey;
    const condaSafe = `pfx-${key.slice(4)}`;
    const fake = `pfx_${'Z'.repeat(52)}`;
    const targets = [
      `/t/${key}/edge/noarch/repodata.json`, `//t/${key}/edge/noarch/repodata.json`, `///t/${condaSafe}/x/y/z`,
      `/edge/noarch/repodata.json?token=${key}`, `/api/graphql?query=${fake}`, `/${fake}/noarch/x.conda`,
      `/t/${encodeURIComponent(key).replace('_', '%5F')}/x/noarch/repodata.json`, `/t/%ZZ${key}/x`,
    ];
    for (const t of targets) await rawRequest(s.url, [`GET ${t} HTTP/1.1`, 'Host: x', 'Connection: close', `User-Agent: conda/24 ${key}`]);
    for (const name of [fake, `${condaSafe}-1-0.conda`, `a-1-${key}.conda`]) {
      await rawRequest(s.url, ['POST /api/v1/upload/nochannel HTTP/1.1', 'Host: x', 'Connection: close', `Authorization: Bearer ${fake}`,
        'Content-Type: application/octet-stream', `X-File-Name: ${name}`, 'Content-Length: 3', `User-Agent: ${condaSafe}`], 'abc');
    }
    await rawRequest(s.url, ['POST /api/graphql HTTP/1.1', 'Host: x', 'Connection: close', 'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(`{"query":"{ ${fake} }"`)}`], `{"query":"{ ${fake} }"`);
    await s.assertHealthy();
    const logLines = s.server.output().split('\n').filter((l) => l.startsWith('{'));
    assert.ok(logLines.length > 20, 'the server logged the requests');
    const secrets = [key.slice(4), fake.slice(4)];
    for (const line of logLines) {
      for (const secret of secrets) assert.ok(!line.includes(secret.slice(0, 20)), `a key in the log: ${line}`);
    }
  });
});

describe('UI page headers and the session cookie', () => {
  it('UI pages send a CSP without unsafe-inline, nosniff, DENY framing and a referrer policy', async () => {
    const server = await startServer();
    try {
      for (const page of ['/', '/login', '/channels/x', '/settings/keys']) {
        const r = await fetch(`${server.url}${page}`);
        await r.arrayBuffer();
        assert.equal(r.status, 200, page);
        const csp = r.headers.get('content-security-policy') ?? '';
        assert.match(csp, /default-src 'none'/, page);
        assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/, page);
        assert.match(csp, /frame-ancestors 'none'/, page);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, page);
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff', page);
        assert.equal(r.headers.get('x-frame-options'), 'DENY', page);
        assert.ok(r.headers.get('referrer-policy'), page);
      }
    } finally {
      await server.close();
    }
  });

  it('the session cookie is Secure when CHANNELD_PUBLIC_URL is https, without a trusted proxy', async () => {
    for (const [publicUrl, secure] of [['https://conda.example.com', true], ['http://conda.example.com', false]] as const) {
      const server = await startServer({ env: { CHANNELD_PUBLIC_URL: publicUrl } });
      try {
        const { password } = await userWithPassword(server, 'carol');
        const r = await fetch(`${server.url}/api/session`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'carol', password }),
        });
        assert.equal(r.status, 200);
        const cookie = r.headers.get('set-cookie') ?? '';
        assert.match(cookie, /channeld_session=/);
        assert.equal(/;\s*Secure/i.test(cookie), secure, `${publicUrl}: ${cookie}`);
      } finally {
        await server.close();
      }
    }
  });
});
