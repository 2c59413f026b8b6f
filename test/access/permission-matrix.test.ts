// The permission matrix: every caller × key × channel visibility × action,
// run against one real server over HTTP (REST for files, GraphQL for the
// rest) and checked against `expected()` — the spec, written from the issue:
//
//   "server admins; per-channel roles OWNER (everything on the channel:
//   settings, members, ?force=true overwrite, delete channel), CONTRIBUTOR
//   (read, upload, yank, delete files), VIEWER (read) … API key accessMode:
//   ALL (acts as the user), READ, READ_WRITE (read, upload, yank),
//   READ_WRITE_DELETE (adds delete); optional channelName scoping a key to
//   one channel. A key never grants more than its user has. … Anonymous
//   request to a private channel → 401 …; authenticated but not allowed →
//   404 for reads (existence not leaked), 403 for writes."
//   (issue 14 narrowed that: a write to a channel the caller cannot read is
//   404 as well, for the same reason; 403 only where it may read.)
//
// plus the decisions taken with it: force-upload needs OWNER (or admin) and a
// READ_WRITE_DELETE or ALL key; reindex is OWNER/CONTRIBUTOR with READ_WRITE
// and up; managing the channel (members, settings, deletion) is OWNER/admin
// with an ALL key; a key scoped to another channel is worth an anonymous
// caller here; account actions (minting keys) need an unscoped ALL key.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { AccessMode, User } from '../../src/types.js';
import { CHALLENGE, Q, bearer, deleteFile, get, gql, gqlOutcome, gqlVisibility, reindex, upload, type Answer } from '../helpers/access.js';
import { makePackages, type MadePackage } from '../helpers/make-packages.js';
import { startServer, tempDataDir, type TestServer } from '../helpers/server.js';

// ---------------------------------------------------------------- the spec

// admin: a server admin. owner/contributor/viewer: members with that role
// (the channels are created by a sixth user, so OWNER comes from the role,
// not from having created the channel). non-member: signed in, no role.
const ROLES = ['admin', 'owner', 'contributor', 'viewer', 'non-member'] as const;
const KEYS = ['ALL', 'READ', 'READ_WRITE', 'READ_WRITE_DELETE', 'ALL scoped to this channel', 'ALL scoped to another channel'] as const;
const VISIBILITIES = ['public', 'private'] as const;
const ACTIONS = [
  'read repodata', 'download package', 'upload', 'force-upload', 'delete', 'reindex', 'yank', 'unyank',
  'add member', 'update channel', 'delete channel', 'add publisher', 'create key for channel', 'GraphQL channel', 'GraphQL packages',
] as const;

type Role = (typeof ROLES)[number] | 'anonymous';
type KeyKind = (typeof KEYS)[number] | 'no key';
type Visibility = (typeof VISIBILITIES)[number];
type Action = (typeof ACTIONS)[number];
/** 'ok' = done; '401'/'403'/'404' = refused with that status (GraphQL: UNAUTHENTICATED/FORBIDDEN/NOT_FOUND). */
type Outcome = 'ok' | '401' | '403' | '404' | 'visible' | 'hidden';

type Right = 'read' | 'upload' | 'overwrite' | 'delete' | 'reindex' | 'yank' | 'manage' | 'account';
const RIGHT_NEEDED: Record<Action, Right> = {
  'read repodata': 'read', 'download package': 'read', 'GraphQL channel': 'read', 'GraphQL packages': 'read',
  upload: 'upload', 'force-upload': 'overwrite', delete: 'delete', reindex: 'reindex', yank: 'yank', unyank: 'yank',
  'add member': 'manage', 'add publisher': 'manage', 'update channel': 'manage', 'delete channel': 'manage', 'create key for channel': 'account',
};

const EVERYTHING: Right[] = ['read', 'upload', 'overwrite', 'delete', 'reindex', 'yank', 'manage'];
/** What each user may do on the channel (admin: on every channel). */
const ROLE_MAY: Record<Exclude<Role, 'anonymous'>, Right[]> = {
  admin: EVERYTHING,
  owner: EVERYTHING,
  contributor: ['read', 'upload', 'yank', 'delete', 'reindex'],
  viewer: ['read'],
  'non-member': [],
};
/** What a key lets its user do on the channel under test (never more than the user may). */
const KEY_MAY: Record<KeyKind, Right[]> = {
  ALL: EVERYTHING,
  READ: ['read'],
  READ_WRITE: ['read', 'upload', 'yank', 'reindex'],
  READ_WRITE_DELETE: ['read', 'upload', 'yank', 'reindex', 'delete', 'overwrite'],
  'ALL scoped to this channel': EVERYTHING,
  // Here it is worth no key at all: public reads only, which need no right.
  'ALL scoped to another channel': [],
  'no key': [],
};

/** THE SPEC: what `role`, calling with `key`, gets for `action` on a `visibility` channel. */
function expected(role: Role, key: KeyKind, visibility: Visibility, action: Action): Outcome {
  const right = RIGHT_NEEDED[action];
  if (right === 'account') {
    // createApiKey(accessMode: READ, channelName: <this channel>)
    if (role === 'anonymous') return '401';
    if (key !== 'ALL') return '403'; // a narrowed key must not mint keys
    // A key for a channel the user cannot see would tell them it exists.
    return expected(role, 'ALL', visibility, 'read repodata') === 'ok' ? 'ok' : '404';
  }
  const allowed =
    (right === 'read' && visibility === 'public') ||
    (role !== 'anonymous' && ROLE_MAY[role].includes(right) && KEY_MAY[key].includes(right));
  if (action === 'GraphQL channel' || action === 'GraphQL packages') return allowed ? 'visible' : 'hidden';
  if (allowed) return 'ok';
  if (role === 'anonymous') return '401';
  // A refused write to a channel the caller cannot read is a 404 too: a 403
  // would tell a private channel from one that does not exist.
  return right === 'read' || expected(role, key, visibility, 'read repodata') !== 'ok' ? '404' : '403';
}

// ------------------------------------------------------------- the world

interface Principal { role: Role; key: KeyKind }
const PRINCIPALS: Principal[] = [
  ...ROLES.flatMap((role) => KEYS.map((key): Principal => ({ role, key }))),
  { role: 'anonymous', key: 'no key' },
];
const CELLS = PRINCIPALS.length * VISIBILITIES.length * ACTIONS.length;

const mainChannel = (v: Visibility) => (v === 'public' ? 'pub-main' : 'priv-main');
/** Each delete-channel cell deletes a channel of its own. */
const dropChannel = (v: Visibility, i: number) => `${v === 'public' ? 'pub' : 'priv'}-drop-${i}`;

let server: TestServer;
let pkgDir: string;
let founderKey: string;
const users = new Map<string, User>();
/** `${role}/${mode}` for unscoped keys, `${role}@${channel}` for scoped ones. */
const keys = new Map<string, string>();
let pkgs: { dl: MadePackage; yank: MadePackage; up: MadePackage[]; force: MadePackage[]; del: MadePackage[] };
let cellsRun = 0;

function keyFor(p: Principal, channel: string): string | null {
  if (p.role === 'anonymous') return null;
  const k =
    p.key === 'ALL scoped to this channel' ? keys.get(`${p.role}@${channel}`)
      : p.key === 'ALL scoped to another channel' ? keys.get(`${p.role}@other`)
        : keys.get(`${p.role}/${p.key}`);
  assert.ok(k, `no fixture key for ${p.role} ${p.key} on ${channel}`);
  return k;
}

async function setup(query: string, variables: Record<string, unknown>) {
  const res = await gql(server, query, variables, founderKey);
  assert.equal(gqlOutcome(res), 'ok', `fixture ${query.slice(0, 40)} ${JSON.stringify(variables)}`);
  return res.body.data;
}

/** A channel of founder's with owner as OWNER, contributor, and viewer (as MEMBER, VIEWER's old name, when private). */
async function makeChannel(name: string, isPublic: boolean): Promise<void> {
  await setup(Q.createChannel, { name, isPublic });
  await setup(Q.addMember, { user: 'owner', channel: name, role: 'OWNER' });
  await setup(Q.addMember, { user: 'contributor', channel: name, role: 'CONTRIBUTOR' });
  const viewer = await setup(Q.addMember, { user: 'viewer', channel: name, role: isPublic ? 'VIEWER' : 'MEMBER' });
  assert.equal(viewer.addChannelMember.role, 'VIEWER', 'MEMBER is stored as VIEWER');
}

before(async () => {
  server = await startServer({ env: { CHANNELD_AUTH_FAILURES_PER_MINUTE: '100000' } });
  const { core } = server;
  users.set('admin', server.admin);
  for (const login of ['owner', 'contributor', 'viewer', 'non-member', 'founder', 'bystander']) users.set(login, await core.users.create(login, false));
  founderKey = (await core.users.createKey(users.get('founder')!, { name: 'setup', expiresAt: null })).token;

  pkgDir = tempDataDir('channeld-matrix-pkgs-');
  const spec = (name: string) => ({ name, version: '1.0', build: '0', subdir: 'noarch', format: 'tar.bz2' as const });
  const n = PRINCIPALS.length;
  const made = await makePackages(pkgDir, [
    spec('cell-dl'), spec('cell-yank'),
    ...PRINCIPALS.map((_, i) => spec(`cell-up-${i}`)),
    ...PRINCIPALS.map((_, i) => spec(`cell-force-${i}`)),
    ...PRINCIPALS.map((_, i) => spec(`cell-del-${i}`)),
  ]);
  pkgs = { dl: made[0]!, yank: made[1]!, up: made.slice(2, 2 + n), force: made.slice(2 + n, 2 + 2 * n), del: made.slice(2 + 2 * n) };

  // `other`: where the scoped-elsewhere keys point; every role owns it, so
  // nothing they can do here comes from rights there.
  await setup(Q.createChannel, { name: 'other', isPublic: false });
  for (const login of ['owner', 'contributor', 'viewer', 'non-member']) await setup(Q.addMember, { user: login, channel: 'other', role: 'OWNER' });
  for (const v of VISIBILITIES) {
    await makeChannel(mainChannel(v), v === 'public');
    for (let i = 0; i < n; i++) await makeChannel(dropChannel(v, i), v === 'public');
  }

  // argon2 runs on libuv's pool: mint all keys at once.
  const mint = async (mapKey: string, login: string, accessMode: AccessMode, channelName: string | null) => {
    const { token } = await core.users.createKey(users.get(login)!, { name: mapKey, expiresAt: null, accessMode, channelName });
    keys.set(mapKey, token);
  };
  const minting: Array<Promise<void>> = [];
  for (const role of ROLES) {
    for (const mode of ['ALL', 'READ', 'READ_WRITE', 'READ_WRITE_DELETE'] as const) minting.push(mint(`${role}/${mode}`, role, mode, null));
    minting.push(mint(`${role}@other`, role, 'ALL', 'other'));
    for (const v of VISIBILITIES) {
      minting.push(mint(`${role}@${mainChannel(v)}`, role, 'ALL', mainChannel(v)));
      const i = PRINCIPALS.findIndex((p) => p.role === role && p.key === 'ALL scoped to this channel');
      minting.push(mint(`${role}@${dropChannel(v, i)}`, role, 'ALL', dropChannel(v, i)));
    }
  }
  await Promise.all(minting);

  for (const v of VISIBILITIES) {
    for (const pkg of [pkgs.dl, pkgs.yank, ...pkgs.force, ...pkgs.del]) {
      const r = await upload(server.url, mainChannel(v), pkg, founderKey);
      assert.equal(r.status, 200, `fixture upload ${pkg.filename}: ${r.message}`);
    }
  }
  // Verify every key once (argon2, then cached) and check it is whose it should be.
  await Promise.all([...keys].map(async ([mapKey, token]) => {
    const res = await gql(server, '{ viewer { login } }', undefined, token);
    assert.equal(res.body.data?.viewer?.login, mapKey.split(/[/@]/)[0], `fixture key ${mapKey}`);
  }));
});

after(async () => {
  await server?.close();
  if (server) fs.rmSync(server.dataDir, { recursive: true, force: true });
  if (pkgDir) fs.rmSync(pkgDir, { recursive: true, force: true });
});

// ------------------------------------------------------------- the cells

interface Observed { outcome: string; detail?: string }

function rest(a: Answer, okStatus: number, okCheck: () => string | null = () => null): Observed {
  if (a.status === okStatus) {
    const problem = okCheck();
    return problem ? { outcome: `ok, but ${problem}` } : { outcome: 'ok' };
  }
  const detail = `${a.error}: ${a.message}`;
  if (a.status === 401 && a.headers.get('www-authenticate') !== CHALLENGE) {
    return { outcome: `401 without WWW-Authenticate: ${CHALLENGE}`, detail };
  }
  return { outcome: String(a.status), detail };
}

function graphql(res: Awaited<ReturnType<typeof gql>>): Observed {
  const outcome = gqlOutcome(res);
  const message = res.body.errors?.[0]?.message;
  return message ? { outcome, detail: message } : { outcome };
}

async function perform(action: Action, v: Visibility, i: number, p: Principal): Promise<Observed> {
  const channel = action === 'delete channel' ? dropChannel(v, i) : mainChannel(v);
  const key = keyFor(p, channel);
  const cacheScope = (a: Answer) => {
    const cc = a.headers.get('cache-control') ?? '';
    return cc.startsWith(v === 'public' ? 'public' : 'private') ? null : `Cache-Control is '${cc}'`;
  };
  switch (action) {
    case 'read repodata': {
      const a = await get(`${server.url}/${channel}/noarch/repodata.json`, key && bearer(key));
      return rest(a, 200, () => cacheScope(a) ?? (JSON.parse(a.body.toString()).packages[pkgs.dl.filename] ? null : 'cell-dl is not listed'));
    }
    case 'download package': {
      const a = await get(`${server.url}/${channel}/noarch/${pkgs.dl.filename}`, key && bearer(key));
      return rest(a, 200, () => cacheScope(a) ?? (createHash('sha256').update(a.body).digest('hex') === pkgs.dl.sha256 ? null : 'the bytes differ'));
    }
    case 'upload':
      return rest(await upload(server.url, channel, pkgs.up[i]!, key), 200);
    case 'force-upload': {
      const a = await upload(server.url, channel, pkgs.force[i]!, key, true);
      return rest(a, 200, () => (JSON.parse(a.body.toString()).replaced === true ? null : 'replaced is not true'));
    }
    case 'delete':
      return rest(await deleteFile(server.url, channel, 'noarch', pkgs.del[i]!.filename, key), 200);
    case 'reindex':
      // linux-64 has no files: a rescan there cannot race the uploads and deletes of other cells.
      return rest(await reindex(server.url, channel, 'linux-64', key), 202);
    case 'yank':
      return graphql(await gql(server, Q.yank, { channel, subdir: 'noarch', filename: pkgs.yank.filename }, key));
    case 'unyank':
      return graphql(await gql(server, Q.unyank, { channel, subdir: 'noarch', filename: pkgs.yank.filename }, key));
    case 'add publisher':
      return graphql(await gql(server, Q.addGithubPublisher, { channel, owner: 'acme', repo: `cell-${i}`, workflow: 'release.yml' }, key));
    case 'add member':
      return graphql(await gql(server, Q.addMember, { user: 'bystander', channel, role: 'VIEWER' }, key));
    case 'update channel':
      return graphql(await gql(server, Q.updateChannel, { name: channel, description: `set by cell ${i}` }, key));
    case 'delete channel':
      return graphql(await gql(server, Q.deleteChannel, { name: channel }, key));
    case 'create key for channel': {
      const res = await gql(server, Q.createKey, { name: `cell-${v}-${i}`, accessMode: 'READ', channelName: channel }, key);
      const made = res.body.data?.createApiKey;
      if (made && (made.accessMode !== 'READ' || made.channel?.name !== channel)) return { outcome: `ok, but the key is ${JSON.stringify(made)}` };
      return graphql(res);
    }
    case 'GraphQL channel':
    case 'GraphQL packages': {
      const seen = await gqlVisibility(server, channel, 'cell-dl', key);
      const [one, listed] = action === 'GraphQL channel' ? [seen.channel, seen.listed] : [seen.package, seen.packageListed];
      if (one && listed) return { outcome: 'visible' };
      if (!one && !listed) return { outcome: 'hidden' };
      return { outcome: 'inconsistent', detail: JSON.stringify(seen) };
    }
  }
}

for (const v of VISIBILITIES) {
  describe(`${v} channel`, () => {
    for (const action of ACTIONS) {
      it(`${action}: ${PRINCIPALS.length} callers`, async () => {
        const wrong: string[] = [];
        for (const [i, p] of PRINCIPALS.entries()) {
          const want = expected(p.role, p.key, v, action);
          let got: Observed;
          try {
            got = await perform(action, v, i, p);
          } catch (err) {
            got = { outcome: 'the request failed', detail: String(err) };
          }
          cellsRun++;
          if (got.outcome !== want) {
            wrong.push(`  [${p.role} | ${p.key} key | ${v} | ${action}] expected ${want}, got ${got.outcome}${got.detail ? ` (${got.detail})` : ''}`);
          }
        }
        assert.equal(wrong.length, 0, `${wrong.length} cell(s) differ from the spec:\n${wrong.join('\n')}`);
      });
    }
  });
}

describe('the matrix', () => {
  it('ran every cell', (t) => {
    t.diagnostic(`${cellsRun} permission cells run (${PRINCIPALS.length} callers × ${VISIBILITIES.length} visibilities × ${ACTIONS.length} actions)`);
    console.log(`permission matrix: ${cellsRun} cells run`);
    assert.equal(cellsRun, CELLS);
  });
});
