// `channeld migrate-storage`: a real single-node install (SQLite + data
// folder, whatever backends the suite runs on) is copied into a fresh
// PostgreSQL database and a fresh s3rver bucket; a server on the copy must
// serve the same channel, accept the old keys and take new uploads.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { Q } from '../helpers/access.js';
import { postgresReachable, postgresUrlFor, onPostgres, S3RVER_CREDENTIALS, startS3Double, type S3Double } from '../helpers/backends.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { gqlData } from '../helpers/graphql.js';
import { getRepodata, getShardIndex, request, sha256Hex, uploadAndIndex, type Repodata } from '../helpers/index-files.js';
import { runCli, startServer, tempDataDir, waitFor, type TestServer } from '../helpers/server.js';

const CHANNEL = 'moving';
const all = fixturePackages();
const pick = (filename: string) => {
  const p = all.find((f) => f.filename === filename);
  if (!p) throw new Error(`no fixture ${filename}`);
  return p;
};
const before_ = ['zlib-1.2.11-h7b6447c_3.conda', 'zlib-1.2.11-h7b6447c_3.tar.bz2', 'other-package-0.2-0.conda', 'dependency-1.0-0.conda', 'dependency-2.0-0.conda'].map(pick);
const yanked = pick('dependency-1.0-0.conda');
const later = ['package3-0.1.0-abc.conda', 'c-1-0.tar.bz2'].map(pick);
const subdirs = [...new Set(before_.map((p) => p.folder))].sort();

// The source is always the defaults of its data folder, whatever CHANNELD_TEST_* says.
const DEFAULTS = { CHANNELD_DATABASE_URL: '', CHANNELD_STORAGE_URL: '', CHANNELD_DOWNLOAD_REDIRECT: '' };

// Run when the suite is on PostgreSQL (where a missing server must fail),
// or when PostgreSQL happens to be reachable; otherwise skip, saying why.
const reachable = onPostgres ? { ok: true as const } : await postgresReachable();
const skip = reachable.ok ? false : `needs PostgreSQL: ${reachable.reason}`;

describe('migrate-storage: SQLite + folder → PostgreSQL + S3', { skip }, () => {
  let s3: S3Double;
  let source: TestServer | null = null;
  let target: TestServer | null = null;
  const sourceDir = tempDataDir('channeld-migrate-src-');
  const targetDir = tempDataDir('channeld-migrate-dst-');
  let sourceKey = '';
  let cliKey = '';
  const repodata = new Map<string, Repodata>();
  const shardNames = new Map<string, string[]>();
  let databaseUrl = '';
  let bucket = '';

  const s3Env = () => ({ CHANNELD_S3_ENDPOINT: s3.endpoint, CHANNELD_S3_FORCE_PATH_STYLE: 'true', ...S3RVER_CREDENTIALS });
  const migrate = (dataDir: string, db: string, bkt: string, extra: string[] = []) => runCli(
    ['migrate-storage', '--data', dataDir, '--to-database', db, '--to-storage', `s3://${bkt}/channels`, ...extra],
    { env: { ...DEFAULTS, ...s3Env() } },
  );

  before(async () => {
    s3 = await startS3Double();
    source = await startServer({ dataDir: sourceDir, env: DEFAULTS });
    assert.ok(fs.existsSync(path.join(sourceDir, 'channeld.db')), 'the source must be on SQLite');
    sourceKey = source.adminKey;
    await source.core.channels.create(CHANNEL, source.admin.id, { isPublic: true });
    await uploadAndIndex(source, CHANNEL, before_);
    await gqlData(source, Q.yank, { channel: CHANNEL, subdir: yanked.folder, filename: yanked.filename }, sourceKey);
    await waitFor(async () => (await getRepodata(source!.url, CHANNEL, yanked.folder)).removed.includes(yanked.filename), 10_000);
    for (const subdir of subdirs) {
      repodata.set(subdir, await getRepodata(source.url, CHANNEL, subdir));
      shardNames.set(subdir, Object.keys((await getShardIndex(source.url, CHANNEL, subdir))!.shards).sort());
    }
    await source.close();
    source = null;
    // A key made by the CLI on the stopped install, as an operator would.
    const key = await runCli(['key', 'create', '--user', 'admin', '--name', 'ci', '--data', sourceDir], { env: DEFAULTS });
    assert.equal(key.code, 0, key.stderr);
    cliKey = key.stdout.trim();
    databaseUrl = await postgresUrlFor(targetDir);
    bucket = await s3.newBucket();
  });

  after(async () => {
    await source?.close();
    await target?.close();
    await s3?.close();
  });

  it('copies every row and object, verifies them, and refuses a second run into the same target', async () => {
    const run = await migrate(sourceDir, databaseUrl, bucket);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^\s+packages\s+5$/m);
    assert.match(run.stdout, /^\s+api_keys\s+2$/m);
    assert.match(run.stdout, /every package's sha256 verified/);
    // Not a terminal here: plain progress lines, no bar.
    assert.match(run.stderr, /objects: .* done/);

    const again = await migrate(sourceDir, databaseUrl, bucket);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already holds data.*--resume/);

    const resumed = await migrate(sourceDir, databaseUrl, bucket, ['--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    // Packages, index generations and shards stay; only small mutable files are copied again.
    const [, copied, kept] = /objects: (\d+) copied, (\d+) already in place/.exec(resumed.stdout) ?? [];
    assert.ok(Number(kept) > before_.length && Number(copied) < Number(kept), resumed.stdout);
  });

  it('refuses a target that is the source itself', async () => {
    const run = await runCli(['migrate-storage', '--data', sourceDir, '--to-storage', `s3://${bucket}/x`], { env: { ...DEFAULTS, ...s3Env() } });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /target database is the source itself/);
  });

  it('a server on PostgreSQL + S3 serves the same channel, takes the old keys and new uploads', async () => {
    target = await startServer({
      dataDir: targetDir,
      env: { CHANNELD_DATABASE_URL: databaseUrl, CHANNELD_STORAGE_URL: `s3://${bucket}/channels`, ...s3Env() },
    });
    assert.ok(!fs.existsSync(path.join(targetDir, 'channeld.db')), 'the target server must not be on SQLite');
    for (const subdir of subdirs) {
      assert.deepEqual(await getRepodata(target.url, CHANNEL, subdir), repodata.get(subdir), `${subdir}/repodata.json`);
      assert.deepEqual(Object.keys((await getShardIndex(target.url, CHANNEL, subdir))!.shards).sort(), shardNames.get(subdir));
    }
    for (const p of before_) {
      const r = await request(target.url, `/${CHANNEL}/${p.folder}/${p.filename}`);
      assert.equal(r.status, 200, p.filename);
      assert.equal(sha256Hex(r.body), p.sha256, p.filename);
    }
    // Both keys of the old install upload; the new rows (packages, audit
    // events, a new key above) get ids that collide with none copied.
    for (const [pkg, key] of [[later[0]!, sourceKey], [later[1]!, cliKey]] as const) {
      const form = new FormData();
      form.append('file', new Blob([fs.readFileSync(pkg.file)]), pkg.filename);
      const r = await fetch(`${target.url}/api/v1/upload/${CHANNEL}`, { method: 'POST', headers: { Authorization: `Bearer ${key}` }, body: form });
      assert.equal(r.status, 200, `${pkg.filename}: ${await r.text()}`);
    }
    for (const pkg of later) {
      await waitFor(async () => {
        const doc = await getRepodata(target!.url, CHANNEL, pkg.folder).catch(() => null);
        return doc !== null && (pkg.filename in doc.packages || pkg.filename in doc['packages.conda']);
      }, 10_000);
    }
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM packages');
      assert.equal(Number(rows[0]!.n), before_.length + later.length);
    } finally {
      await client.end();
    }
  });

  it('a corrupted package file in the source fails the run, naming the file', async () => {
    const victim = before_[0]!;
    const file = path.join(sourceDir, 'channels', CHANNEL, victim.folder, victim.filename);
    const bytes = fs.readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    fs.writeFileSync(file, bytes);
    const run = await migrate(sourceDir, await postgresUrlFor(tempDataDir('channeld-migrate-bad-')), await s3.newBucket());
    assert.notEqual(run.code, 0);
    assert.ok(run.stderr.includes(file), run.stderr);
    assert.match(run.stderr, /sha256/);
  });
});
