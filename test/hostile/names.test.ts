// Names a client chooses, through every door (issue 14 §1): GraphQL
// createChannel, the CLI, REST upload/delete/reindex. A name storage would
// refuse is refused at the door with a 4xx (GraphQL: BAD_USER_INPUT), nothing
// is created, the server stays healthy, and a restarted server starts
// (a bad channel name used to leave the indexer failing ~20 times a second
// and a restarted server never listening).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { runCli, spawnServer } from '../helpers/server.js';
import { startHostileServer, type HostileServer } from './harness.js';

const BAD_CHANNEL_NAMES = [
  'ab..c', '.', '..', 'a/b', '%2e%2e', 'ａｂｃ', 'ab\u0000c', 'x'.repeat(200), '.hidden', '-dash', 'api', 'ab c', 'ab\nc', 'AB..', '',
];

let s: HostileServer;

async function graphql(query: string, variables: object): Promise<{ data: unknown; errors?: Array<{ extensions?: { code?: string } }> }> {
  const r = await fetch(`${s.url}/api/graphql`, {
    method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  assert.equal(r.status, 200);
  return (await r.json()) as { data: unknown; errors?: Array<{ extensions?: { code?: string } }> };
}

async function channelNames(): Promise<string[]> {
  const r = await graphql('{ channels(limit: 100) { page { name } } }', {});
  return (r.data as { channels: { page: Array<{ name: string }> } }).channels.page.map((c) => c.name);
}

describe('hostile names against a real server process', () => {
  before(async () => {
    s = await startHostileServer();
    const ok = await graphql('mutation($n: String!) { createChannel(name: $n, isPublic: true) { channel { name } } }', { n: 'okchan' });
    assert.equal(ok.errors, undefined);
  });
  after(() => s.stop());

  it('GraphQL createChannel refuses every bad name with BAD_USER_INPUT and creates nothing', async () => {
    for (const name of BAD_CHANNEL_NAMES) {
      const r = await graphql('mutation($n: String!) { createChannel(name: $n, isPublic: true) { channel { name } } }', { n: name });
      assert.ok(r.errors && r.errors.length > 0, `accepted ${JSON.stringify(name)}`);
      assert.equal(r.errors[0]!.extensions?.code, 'BAD_USER_INPUT', JSON.stringify({ name, r }));
      await s.assertHealthy();
    }
    assert.deepEqual(await channelNames(), ['okchan']);
  });

  it('the CLI refuses them too, beside the running server', async () => {
    for (const name of ['ab..c', '..', 'a/b', '.hidden']) {
      const r = await runCli(['channel', 'create', name, '--owner', 'admin', '--data', s.dataDir]);
      assert.notEqual(r.code, 0, `CLI accepted ${name}`);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'a stack trace instead of a message');
    }
    await s.assertHealthy();
    assert.deepEqual(await channelNames(), ['okchan']);
  });

  it('REST upload, delete and reindex answer 4xx to bad channel, subdir and file names', async () => {
    const body = Buffer.from('not a package');
    const sha = createHash('sha256').update(body).digest('hex');
    for (const filename of ['x-1-..conda', '../x-1-0.conda', 'x-1-0.conda/..', '.x-1-0.conda', 'x-1-0\u0000.conda', 'x-1-0%2f..conda', 'x'.repeat(300) + '-1-0.conda']) {
      const r = await fetch(`${s.url}/api/v1/upload/okchan`, {
        method: 'POST', body, headers: { authorization: `Bearer ${s.adminKey}`, 'x-file-name': encodeURI(filename), 'x-file-sha256': sha, 'content-type': 'application/octet-stream' },
      });
      assert.ok(r.status >= 400 && r.status < 500, `upload ${JSON.stringify(filename)}: ${r.status}`);
      await r.arrayBuffer();
    }
    for (const target of ['ab..c/noarch/x-1-0.conda', 'okchan/..%2f../x-1-0.conda', 'okchan/noarch/x-1-..conda', 'okchan/%2e%2e/x-1-0.conda', 'okchan/noarch/..', '%2e%2e/noarch/x-1-0.conda']) {
      const r = await fetch(`${s.url}/api/v1/delete/${target}`, { method: 'DELETE', headers: { authorization: `Bearer ${s.adminKey}` } });
      assert.ok(r.status >= 400 && r.status < 500, `delete ${target}: ${r.status}`);
      await r.arrayBuffer();
    }
    for (const target of ['ab..c/noarch', 'okchan/..', 'okchan/%2e%2e', 'okchan/a..b', 'okchan/' + 'x'.repeat(100)]) {
      const r = await fetch(`${s.url}/api/v1/reindex/${target}`, { method: 'POST', headers: { authorization: `Bearer ${s.adminKey}` } });
      assert.ok(r.status >= 400 && r.status < 500, `reindex ${target}: ${r.status}`);
      await r.arrayBuffer();
    }
    await s.assertHealthy();
  });

  it('a restarted server starts and serves the good channel', async () => {
    await s.server.stop();
    const again = await spawnServer(s.dataDir);
    try {
      const r = await fetch(`${again.url}/okchan/noarch/repodata.json`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    } finally {
      await again.stop();
    }
  });
});
