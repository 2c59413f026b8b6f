// Hostile ids for trusted publishers' pinned account and project ids
// (issue 14 §5), through both doors: `channeld publisher add` beside the
// running server, and CI tokens whose id claims are anything but decimal
// ids. Each is refused with a short message, nothing is stored or pinned,
// the server stays healthy, and its log says a pinned publisher's ids
// differ without repeating anything from the token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { queryRows } from '../helpers/backends.js';
import { ADD_GITHUB, TestIssuers, githubClaims, mintToken, sign, signingKey, type SigningKey } from '../helpers/oidc.js';
import { runCli, waitFor } from '../helpers/server.js';
import { startHostileServer, type HostileServer } from './harness.js';

// Each is a CLI run (~1.5 s): the id rule itself is unit-tested with more.
const BAD_IDS = ['', 'acme', '0x10', '-1', '007', ' 1', '12\n3', '１２３', '1'.repeat(21), '9'.repeat(100_000), "1' OR '1'='1"];
const BAD_CLAIMS: unknown[] = [
  '9'.repeat(9000), 'abc', '', '0', '０', '-1', "1' OR '1'='1", -1, 0, 1.5, 1e30, Number.MAX_SAFE_INTEGER + 2, null, true, [], ['1'], {}, { id: '1' },
];

let s: HostileServer;
let issuers: TestIssuers;
let key: SigningKey;
let publisherId: string;

async function graphql(query: string, variables: object): Promise<{ data?: Record<string, any>; errors?: unknown[] }> {
  const r = await fetch(`${s.url}/api/graphql`, {
    method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  assert.equal(r.status, 200);
  return (await r.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

async function publisherRows(): Promise<Array<Record<string, unknown>>> {
  return queryRows(s.dataDir, 'SELECT id, owner, project, owner_id, project_id FROM oidc_publishers ORDER BY created_at, id');
}

const token = (extra: Record<string, unknown>) => sign(githubClaims(issuers.url('github'), '127.0.0.1', {}, extra), key);

describe('hostile publisher ids against a real server process', () => {
  before(async () => {
    issuers = await TestIssuers.start();
    key = await signingKey('ES256', 'gh-hostile');
    issuers.publish('github', key);
    s = await startHostileServer({ CHANNELD_OIDC_TRUSTED_ISSUERS: `github=${issuers.url('github')}`, CHANNELD_OIDC_JWKS_COOLDOWN_MS: '0' });
    assert.equal((await graphql('mutation { createChannel(name: "pins", isPublic: true) { channel { name } } }', {})).errors, undefined);
    const added = await graphql(ADD_GITHUB, { channel: 'pins', owner: 'acme', repo: 'widgets', workflow: 'release.yml' });
    assert.equal(added.errors, undefined, JSON.stringify(added.errors));
    publisherId = added.data!.addGithubOidcPublisher.id;
  });
  after(async () => {
    await s?.stop();
    await issuers?.close();
  });

  it('`channeld publisher add` refuses every bad id with a short message and adds nothing', async () => {
    const before = await publisherRows();
    for (const [flag, ids] of [['--repository-owner-id', BAD_IDS], ['--repository-id', BAD_IDS.slice(0, 2)]] as const) {
      for (const id of ids) {
        const r = await runCli(['publisher', 'add', 'pins', '--user', 'admin', '--github', 'acme/other', '--workflow', 'release.yml', `${flag}=${id}`, '--data', s.dataDir]);
        assert.equal(r.code, 1, `${flag} ${JSON.stringify(id.slice(0, 40))}: ${r.stdout}${r.stderr.slice(0, 2000)}`);
        // Node's own process warnings (the AWS SDK's on Node 20, with S3 storage) are not our message.
        const ours = r.stderr.replace(/\(node:\d+\) [\s\S]*?\(Use `node --trace-warnings[^\n]*\n?/g, '');
        assert.match(ours, /is the decimal id GitHub puts in its tokens/);
        assert.ok(ours.length < 400, `a long message: ${ours.length} characters: ${ours.slice(0, 600)}`);
        assert.doesNotMatch(ours, /at .*\.js:\d+/, 'a stack trace instead of a message');
      }
    }
    for (const id of BAD_IDS.slice(0, 2)) {
      const r = await runCli(['publisher', 'add', 'pins', '--user', 'admin', '--gitlab', 'acme/tools/x', '--workflow', '.gitlab-ci.yml', `--namespace-id=${id}`, '--data', s.dataDir]);
      assert.equal(r.code, 1, r.stderr);
    }
    assert.deepEqual(await publisherRows(), before);
    await s.assertHealthy();
  });

  it('tokens whose id claims are not decimal ids are refused (403, short) and pin nothing', async () => {
    for (const bad of BAD_CLAIMS) {
      for (const claim of ['repository_owner_id', 'repository_id']) {
        const r = await mintToken(s.url, await token({ [claim]: bad }));
        assert.equal(r.status, 403, `${claim}=${JSON.stringify(bad)?.slice(0, 40)}: ${r.body.slice(0, 300)}`);
        const body = JSON.parse(r.body) as { error: string; message: string };
        assert.equal(body.error, 'NO_MATCHING_PUBLISHER');
        assert.match(body.message, new RegExp(`no usable "${claim}" claim`));
        assert.ok(r.body.length < 512, 'rattler shows at most 512 characters');
      }
    }
    assert.deepEqual((await publisherRows()).map((p) => [p.owner_id, p.project_id]), [[null, null]]);
    await s.assertHealthy();
  });

  it('once pinned, a token with other ids is refused and logged at warn, without the token\'s contents', async () => {
    const first = await mintToken(s.url, await token({}));
    assert.equal(first.status, 200, first.body);
    const claims = { repository_owner_id: '4444444444', repository_id: '5555555555', jti: 'hostile-jti-7f3a' };
    const jwt = await token(claims);
    const r = await mintToken(s.url, jwt);
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /repository_owner_id and repository_id differ/);
    assert.deepEqual((await publisherRows()).map((p) => [p.owner_id, p.project_id]), [['91234567', '812345678']]);

    const warnings = () => s.server.output().split('\n').filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40 && /ids differ/.test(String(l.msg)));
    const warned = await waitFor(async () => (warnings().length > 0 ? warnings() : null), 5000).catch(() => warnings());
    assert.equal(warned.length, 1, s.server.output().slice(-3000));
    assert.equal(warned[0]!.publisher, publisherId);
    assert.deepEqual(warned[0]!.differ, ['repository_owner_id', 'repository_id']);
    const out = s.server.output();
    for (const secret of [...Object.values(claims), jwt, jwt.split('.')[1]!, '91234567', '812345678']) {
      assert.ok(!out.includes(secret), `the log holds ${secret.slice(0, 40)}`);
    }
    await s.assertHealthy();
  });
});
