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
import { rattlerUpload } from '../helpers/clients.js';
import { fixturePackages } from '../helpers/fixtures.js';
import { gqlData } from '../helpers/graphql.js';
import { getRepodata, getShardIndex, request, sha256Hex, uploadAndIndex, uploadFile, type Repodata } from '../helpers/index-files.js';
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
  /** A server on a migrated copy (a data folder of its own for pid file and tmp/). */
  const serveCopy = (db: string, bkt: string, dataDir = tempDataDir('channeld-migrate-copy-')) => startServer({
    dataDir, env: { CHANNELD_DATABASE_URL: db, CHANNELD_STORAGE_URL: `s3://${bkt}/channels`, ...s3Env() },
  });
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
    target = await serveCopy(databaseUrl, bucket, targetDir);
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
      const r = await rattlerUpload(target.url, CHANNEL, pkg, key);
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

  it('copies a live server: one consistent snapshot while uploads go on, the rest with --resume once it stops', async () => {
    const dir = tempDataDir('channeld-migrate-live-');
    let live: TestServer | null = await startServer({ dataDir: dir, env: DEFAULTS });
    const taken = new Set([...before_, ...later].map((p) => `${p.folder}/${p.filename}`));
    const pool = all.filter((p) => p.folder === 'noarch' && !taken.has(`${p.folder}/${p.filename}`));
    assert.ok(pool.length >= 15, 'fixtures: noarch packages');
    const [first, rest] = [pool.slice(0, 5), pool.slice(5)];
    const db = await postgresUrlFor(tempDataDir('channeld-migrate-live-db-'));
    const bkt = await s3.newBucket();
    try {
      await live.core.channels.create('busy', live.admin.id, { isPublic: true });
      await uploadAndIndex(live, 'busy', first);
      // Uploads keep coming, one every 100 ms, for as long as the run lasts.
      let running = true;
      let uploaded = 0;
      let duringRun = 0;
      const uploads = (async () => {
        for (const pkg of rest) {
          if (!running) break;
          await uploadFile(live!, 'busy', pkg);
          uploaded++;
          if (running) duringRun++;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const run = await migrate(dir, db, bkt);
      running = false;
      await uploads;
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.ok(duringRun > 0, 'no upload was accepted while the run was going');
      const copied = Number(/^\s+packages\s+(\d+)$/m.exec(run.stdout)?.[1]);
      assert.ok(copied >= first.length && copied <= first.length + uploaded, `${copied} packages copied (${uploaded} uploaded meanwhile): ${run.stdout}`);
      await live.close();
      live = null;

      // The copy alone is a consistent install: what it lists, it serves.
      // An upload in flight at the snapshot left its intent in the copy; when its file was copied
      // too, the copy's start-up recovery finishes it (its owner, this test process's in-process
      // server, is a closed predecessor on the same node). So the copy lists the first `expected`
      // uploads, or one more.
      const check = async (atLeast: number) => {
        const server = await serveCopy(db, bkt);
        try {
          const doc = await getRepodata(server.url, 'busy', 'noarch');
          const listed = Object.keys({ ...doc.packages, ...doc['packages.conda'] }).sort();
          const expected = listed.length === atLeast + 1 ? atLeast + 1 : atLeast;
          assert.deepEqual(listed, pool.slice(0, expected).map((p) => p.filename).sort(), 'the first uploads, in order, and nothing else');
          for (const p of pool.slice(0, expected)) {
            const r = await request(server.url, `/busy/noarch/${p.filename}`);
            assert.equal(r.status, 200, p.filename);
            assert.equal(sha256Hex(r.body), p.sha256, p.filename);
          }
          assert.deepEqual(Object.keys((await getShardIndex(server.url, 'busy', 'noarch'))!.shards).sort(),
            [...new Set(pool.slice(0, expected).map((p) => p.name))].sort());
        } finally {
          await server.close();
        }
      };
      await check(copied);
      // Cut-over: the source stopped, a final --resume run carries the rest.
      const final = await migrate(dir, db, bkt, ['--resume']);
      assert.equal(final.code, 0, final.stderr);
      const all_ = Number(/^\s+packages\s+(\d+)$/m.exec(final.stdout)?.[1]);
      assert.equal(all_, first.length + uploaded, final.stdout);
      await check(all_);
    } finally {
      await live?.close();
    }
  });

  it('index files the source replaced after its snapshot are rewritten by the first server on the target', async () => {
    // A live source keeps its latest two generations: by the time the folder
    // is listed, the one the snapshot points at may be gone. Simulated on a
    // stopped source by removing that generation's files.
    const dir = tempDataDir('channeld-migrate-gone-');
    const src = await startServer({ dataDir: dir, env: DEFAULTS });
    let expected: Repodata;
    try {
      await src.core.channels.create('gone', src.admin.id, { isPublic: true });
      await uploadAndIndex(src, 'gone', [before_[0]!]);
      expected = await getRepodata(src.url, 'gone', before_[0]!.folder);
    } finally {
      await src.close();
    }
    const folder = path.join(dir, 'channels', 'gone', before_[0]!.folder, '_index');
    for (const f of fs.readdirSync(folder)) fs.rmSync(path.join(folder, f));
    const db = await postgresUrlFor(tempDataDir('channeld-migrate-gone-db-'));
    const bkt = await s3.newBucket();
    const run = await migrate(dir, db, bkt);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /1 subdir\(s\) were re-indexed by the running source while copying/);
    const server = await serveCopy(db, bkt);
    try {
      assert.deepEqual(await getRepodata(server.url, 'gone', before_[0]!.folder), expected);
      assert.ok(await getShardIndex(server.url, 'gone', before_[0]!.folder));
    } finally {
      await server.close();
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
