// Malformed requests, as a scanner or a broken client sends them, against a
// real `channeld serve`: bad percent-escapes anywhere in the path (conda's
// /t/<key>/ prefix included), odd bytes in headers, broken framing, bad
// credentials. Each answers 4xx in our error format, and the process stays up.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fixturePackages } from '../helpers/fixtures.js';
import { gql } from '../helpers/graphql.js';
import { upload } from '../helpers/access.js';
import { startHostileServer, storedPackageFiles, type HostileServer } from './harness.js';
import { assertRefused, rawGet, rawRequest } from './raw-http.js';

describe('hostile URLs and headers', () => {
  let s: HostileServer;
  const pkg = fixturePackages().find((p) => p.folder === 'noarch')!;
  const pkgPath = `/edge/noarch/${pkg.filename}`;

  before(async () => {
    s = await startHostileServer();
    const made = await gql(s, 'mutation { createChannel(name: "edge", isPublic: true) { channel { name } } }', undefined, s.adminKey);
    assert.equal(made.body.errors, undefined, JSON.stringify(made.body));
    const up = await upload(s.url, 'edge', pkg, s.adminKey);
    assert.equal(up.status, 200, JSON.stringify(up.body));
  });
  after(async () => {
    await s?.stop();
  });

  it('a bad percent-escape anywhere in the path is 400, /t/<key>/ prefix included', async () => {
    const targets = [
      '/t/%ZZ/x', '/t/%/edge/noarch/repodata.json', '/t/%E0%A4%A/edge/noarch/repodata.json', '/t/%C0%AF/edge/noarch/repodata.json',
      '/%ZZ', '/edge/%ZZ/repodata.json', '/edge/noarch/%C0%AF', '/edge/noarch/%ZZ', '/%C0%AF/noarch/repodata.json',
      '/edge/noarch/%ED%A0%80', '/channels/%ZZ', '/settings/%E0', '//t/%ZZ/x', '/api/v1/upload/%ZZ',
    ];
    for (const target of targets) {
      assertRefused(await rawGet(s.url, target), `GET ${target}`, 400);
      await s.assertHealthy();
    }
    const post = await rawRequest(s.url, ['POST /t/%ZZ/api/v1/upload/edge HTTP/1.1', 'Host: x', 'Content-Length: 0', 'Connection: close']);
    assertRefused(post, 'POST /t/%ZZ/…', 400);
    await s.assertHealthy();
  });

  it('escapes that decode to odd characters are refused as names, not errors', async () => {
    for (const target of ['/edge/%00/x', '/edge/noarch/%00', '/edge/noarch/..%2F..%2Fetc%2Fpasswd', '/%2E%2E/noarch/repodata.json', '/edge/%2e%2e/repodata.json', `/edge/noarch/${pkg.filename}%00`]) {
      assertRefused(await rawGet(s.url, target), `GET ${target}`);
      await s.assertHealthy();
    }
  });

  it('malformed query strings are ignored or refused', async () => {
    for (const target of [`${pkgPath}?%`, `${pkgPath}?%ZZ=%C0`, '/edge/noarch/repodata.json?a=%E0%A4%A&&=&', '/api/v1/upload/edge?force=%ZZ']) {
      const r = await rawGet(s.url, target);
      assert.ok(r.status < 500, `GET ${target}: ${r.status} ${r.body}`);
      if (r.status >= 400) assertRefused(r, `GET ${target}`);
      await s.assertHealthy();
    }
  });

  it('odd Range and conditional headers never give a 5xx', async () => {
    const headers = [
      'Range: bytes=99999999999999999999999-', 'Range: bytes=--1', 'Range: bytes=5-1', 'Range: bytes=-0', 'Range: items=0-1',
      'Range: bytes=0-1,2-3,4-5,6-7', `Range: bytes=${'0-1,'.repeat(2000)}0-1`, 'Range: bytes=\xff-',
      'If-Modified-Since: garbage', 'If-Modified-Since: Tue, 99 Foo 99999 99:99:99 GMT', 'If-Unmodified-Since: -1',
      'If-None-Match: ,,,,', 'If-None-Match: "\xff"', 'If-Match: W/', 'If-Range: "x"', 'If-Range: not a date',
      'Accept-Encoding: gzip;q=NaN', 'Accept-Encoding: \xff\xfe',
    ];
    for (const target of [pkgPath, '/edge/noarch/repodata.json', '/edge/noarch/repodata.json.zst', '/edge/noarch/repodata_shards.msgpack.zst']) {
      for (const h of headers) {
        const r = await rawGet(s.url, target, [h]);
        assert.ok(r.status < 500, `${target} with ${h.slice(0, 40)}: ${r.status} ${r.body.slice(0, 200)}`);
        if (r.status >= 400) assertRefused(r, `${target} with ${h.slice(0, 40)}`);
      }
      await s.assertHealthy();
    }
  });

  it('bad credentials are 401 or ignored, never a crash', async () => {
    const auths = [
      'Authorization: Basic %%%', `Authorization: Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0xc0]).toString('base64')}`, 'Authorization: Basic',
      'Authorization: Bearer', 'Authorization: Bearer pfx_\xff\xfe', `Authorization: Bearer ${'pfx_'.padEnd(8000, 'A')}`, 'Authorization: \xff \xff',
      'Cookie: channeld_session=%ZZ%C0', 'Cookie: channeld_session="\xff', 'Cookie: =;;;=;channeld_session', 'Cookie: channeld_session=%E0%A4%A',
    ];
    for (const target of ['/edge/noarch/repodata.json', '/api/session', '/api/v1/upload/edge']) {
      for (const h of auths) {
        const r = await rawRequest(s.url, [`${target.startsWith('/api/v1') ? 'POST' : 'GET'} ${target} HTTP/1.1`, 'Host: x', 'Connection: close', 'Content-Length: 0', h]);
        assert.ok(r.status < 500, `${target} with ${h.slice(0, 40)}: ${r.status} ${r.body.slice(0, 200)}`);
        if (r.status >= 400) assertRefused(r, `${target} with ${h.slice(0, 40)}`);
      }
      await s.assertHealthy();
    }
  });

  it('broken framing, over-long URLs and headers are 4xx in our error format', async () => {
    const heads: Array<[string, string[], number?]> = [
      ['Content-Length: -1', ['POST /api/v1/upload/edge HTTP/1.1', 'Host: x', 'Content-Length: -1']],
      ['Content-Length: abc', ['POST /api/v1/upload/edge HTTP/1.1', 'Host: x', 'Content-Length: abc']],
      ['two Content-Lengths', ['POST /api/graphql HTTP/1.1', 'Host: x', 'Content-Length: 1', 'Content-Length: 2']],
      ['Transfer-Encoding and Content-Length', ['POST /api/graphql HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked', 'Content-Length: 3']],
      ['Transfer-Encoding: gzip', ['POST /api/graphql HTTP/1.1', 'Host: x', 'Transfer-Encoding: gzip']],
      ['a header over 16 KiB', ['GET /healthz HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(20_000)}`], 431],
      ['a URL over 16 KiB', [`GET /${'a'.repeat(70_000)} HTTP/1.1`, 'Host: x'], 431],
      ['many headers', ['GET /healthz HTTP/1.1', 'Host: x', ...Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`)]],
      ['a bad request line', ['GARBAGE', 'Host: x']],
      ['HTTP/9', ['GET / HTTP/9.9', 'Host: x']],
      ['a control character in a header', ['GET /healthz HTTP/1.1', 'Host: x', 'X-A: a\x01b']],
    ];
    for (const [what, head, status] of heads) {
      assertRefused(await rawRequest(s.url, head), what, status);
      await s.assertHealthy();
    }
    const chunked = await rawRequest(s.url, ['POST /api/graphql HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked'], 'zz\r\nabc\r\n0\r\n\r\n');
    assertRefused(chunked, 'a bad chunk size');
    await s.assertHealthy();
  });

  it('odd bytes in X-File-Name and X-File-SHA256 are refused and nothing is stored', async () => {
    const body = fs.readFileSync(pkg.file);
    const cases: Array<[string, string]> = [
      [`X-File-Name: \xff\xfe${pkg.filename}`, `X-File-SHA256: ${pkg.sha256}`],
      ['X-File-Name: ../../etc/passwd.conda', `X-File-SHA256: ${pkg.sha256}`],
      ['X-File-Name: %2e%2e%2fx-1-0.conda', `X-File-SHA256: ${pkg.sha256}`],
      [`X-File-Name: ${'a'.repeat(4000)}-1-0.conda`, `X-File-SHA256: ${pkg.sha256}`],
      [`X-File-Name: other-9.9-0.conda`, `X-File-SHA256: ${pkg.sha256}`],
      [`X-File-Name: ${pkg.filename}`, 'X-File-SHA256: \xff\xfe'],
      [`X-File-Name: ${pkg.filename}`, `X-File-SHA256: ${'z'.repeat(64)}`],
      [`X-File-Name: ${pkg.filename}`, `X-File-SHA256: ${pkg.sha256.repeat(100)}`],
    ];
    const before = storedPackageFiles(s.dataDir, 'edge');
    for (const [name, sha] of cases) {
      const r = await rawRequest(s.url, [
        'POST /api/v1/upload/edge?force=true HTTP/1.1', 'Host: x', `Authorization: Bearer ${s.adminKey}`, 'Connection: close',
        'Content-Type: application/octet-stream', `Content-Length: ${body.length}`, name, sha,
      ], body);
      assertRefused(r, `${name.slice(0, 40)} / ${sha.slice(0, 40)}`);
      await s.assertHealthy();
    }
    assert.deepEqual(storedPackageFiles(s.dataDir, 'edge'), before);
  });
});
