// The prefix.dev docs' two ways of checking an API key against GraphQL
// (shared/docs/seed-prefix-api-keys.md): their curl line and their Python
// `requests` snippet, run as printed with only the URL and token replaced.
// A key that is not valid is not an HTTP error on GraphQL: rattler's
// `auth login --token` expects HTTP 200 with {"data":{"viewer":null}}.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gql, userWithKey } from '../helpers/graphql.js';
import { repoRoot } from '../helpers/paths.js';
import { startServer, type TestServer } from '../helpers/server.js';

const pythonClient = path.join(repoRoot, 'test/clients/graphql_viewer.py');
// Well-formed (pfx_ + 52 base62) but never issued.
const UNKNOWN_KEY = 'pfx_vr2XPfxpByKvGVhzrINSERTYOURTOKENHEREaaaaaaaaaaaaaaaa';

interface Run { code: number; stdout: string; stderr: string }

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

let server: TestServer;
let alice: { key: string };

before(async () => {
  server = await startServer();
  alice = await userWithKey(server, 'alice');
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
});

describe('the docs curl example', () => {
  // Pasted into a shell as the docs print it. It sends no Content-Type, so
  // curl labels the JSON application/x-www-form-urlencoded.
  const docsCurl = (token: string) =>
    `curl ${server.url}/api/graphql \\\n     -H "Authorization: Bearer ${token}" \\\n     --data '{"query": "{ viewer { login }}"}'`;
  const withoutKey = () => `curl ${server.url}/api/graphql --data '{"query": "{ viewer { login }}"}'`;
  // The same command, plus -w to see the HTTP status the docs line does not print.
  const withStatus = (cmd: string) => `${cmd} -sS -w '\\n%{http_code}'`;

  async function shell(cmd: string): Promise<string> {
    const r = await run('/bin/sh', ['-c', cmd]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  }

  it('answers the logged-in user login', async () => {
    assert.deepEqual(JSON.parse(await shell(docsCurl(server.adminKey))), { data: { viewer: { login: 'admin' } } });
    assert.deepEqual(JSON.parse(await shell(docsCurl(alice.key))), { data: { viewer: { login: 'alice' } } });
  });

  it('answers viewer null with HTTP 200 for a key that does not exist', async () => {
    const out = await shell(withStatus(docsCurl(UNKNOWN_KEY)));
    const [body, status] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
    assert.equal(status, '200', body);
    assert.deepEqual(JSON.parse(body), { data: { viewer: null } });
  });

  it('answers viewer null with HTTP 200 for a token that is not a key at all', async () => {
    const out = await shell(withStatus(docsCurl('not-a-prefix-key')));
    const [body, status] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
    assert.equal(status, '200', body);
    assert.deepEqual(JSON.parse(body), { data: { viewer: null } });
  });

  it('answers viewer null without an Authorization header', async () => {
    const out = await shell(withStatus(withoutKey()));
    const [body, status] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
    assert.equal(status, '200', body);
    assert.deepEqual(JSON.parse(body), { data: { viewer: null } });
  });
});

describe('the docs Python requests example', () => {
  const python = (token: string) =>
    run('/usr/bin/python3', [pythonClient], { CHANNELD_GRAPHQL_URL: `${server.url}/api/graphql`, CHANNELD_TOKEN: token });

  it('prints the logged-in user login', async () => {
    const admin = await python(server.adminKey);
    assert.equal(admin.code, 0, admin.stderr);
    assert.equal(admin.stdout, "{'data': {'viewer': {'login': 'admin'}}}\n");
    const a = await python(alice.key);
    assert.equal(a.stdout, "{'data': {'viewer': {'login': 'alice'}}}\n", a.stderr);
  });

  it('prints viewer None for a key that does not exist', async () => {
    const r = await python(UNKNOWN_KEY);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "{'data': {'viewer': None}}\n");
  });

  it('prints viewer None with an empty token', async () => {
    const r = await python('');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "{'data': {'viewer': None}}\n");
  });
});

describe('other clients validating a key', () => {
  it("rattler's `auth login --token` query, with error_for_status: 200 and the login", async () => {
    const send = (token: string) => fetch(`${server.url}/api/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'query { viewer { login } }' }),
    });
    const good = await send(alice.key);
    assert.equal(good.status, 200);
    assert.deepEqual(await good.json(), { data: { viewer: { login: 'alice' } } });
    const bad = await send(UNKNOWN_KEY);
    assert.equal(bad.status, 200);
    assert.deepEqual(await bad.json(), { data: { viewer: null } });
  });

  it("pixi-pfx's Basic form (any user name, the key as password)", async () => {
    const basic = Buffer.from(`whoever:${alice.key}`).toString('base64');
    const r = await fetch(`${server.url}/api/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${basic}` },
      body: JSON.stringify({ query: '{ viewer { login name } }' }),
    });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { data: { viewer: { login: 'alice', name: 'alice' } } });
  });

  // rattler reads HTTP 200 + viewer null as "this token is invalid". While an
  // address is over its failed-login limit, a valid key from it must not be
  // told that: it simply works, on REST and GraphQL alike.
  it('a valid key sent during a failed-login lockout is not reported as invalid', async () => {
    const strict = await startServer({ env: { CHANNELD_AUTH_FAILURES_PER_MINUTE: '3' } });
    try {
      for (let i = 0; i < 4; i++) {
        const bad = await gql(strict, '{ viewer { login } }', undefined, UNKNOWN_KEY);
        assert.ok(bad.status === 429 || JSON.stringify(bad.body) === '{"data":{"viewer":null}}', JSON.stringify(bad));
      }
      const locked = await gql(strict, '{ viewer { login } }', undefined, UNKNOWN_KEY);
      assert.equal(locked.status, 429, 'the address is over its limit');
      // Past authentication: the upload without a body is refused for what it is.
      const rest = await fetch(`${strict.url}/api/v1/upload/anything`, { method: 'POST', headers: { authorization: `Bearer ${strict.adminKey}` } });
      assert.equal(rest.status, 400, `REST with the valid key: ${rest.status}`);
      await rest.arrayBuffer();
      const good = await gql(strict, '{ viewer { login } }', undefined, strict.adminKey);
      assert.equal(good.status, 200);
      assert.deepEqual(good.body, { data: { viewer: { login: 'admin' } } });
    } finally {
      await strict.close();
      fs.rmSync(strict.dataDir, { recursive: true, force: true });
    }
  });

  it('the helper used by the other GraphQL tests sees the same thing', async () => {
    const r = await gql(server, '{ viewer { login } }', undefined, alice.key);
    assert.deepEqual(r, { status: 200, body: { data: { viewer: { login: 'alice' } } } });
  });
});
