// Three `channeld serve` processes sharing one PostgreSQL database and one
// S3 bucket (s3rver), as behind a load balancer. Each has a data folder of
// its own (pid file, tmp/) and nothing else: what one replica accepts, the
// others must serve; what one revokes, the others must refuse; what one was
// indexing when it died, another must finish.
//
// Always PostgreSQL + S3, whatever CHANNELD_TEST_* says; skipped (with the
// reason) when PostgreSQL is unreachable.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import pg from 'pg';
import { CHALLENGE, Q, bearer, deleteFile, get, gql, upload } from '../helpers/access.js';
import { S3RVER_CREDENTIALS, startS3Double, type S3Double } from '../helpers/backends.js';
import { rawUpload } from '../helpers/clients.js';
import { getRepodata, getShard, getShardIndex, sha256Hex, type Repodata } from '../helpers/index-files.js';
import { makePackages, type MadePackage, type PackageSpec } from '../helpers/make-packages.js';
import { runCli, spawnServer, tempDataDir, waitFor, type ChildServer } from '../helpers/server.js';

const adminUrl = process.env.CHANNELD_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

async function postgresUnreachable(): Promise<string | false> {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return false;
  } catch (err) {
    return `PostgreSQL is unreachable at ${adminUrl} (${(err as Error).message}): the replica tests need it`;
  }
}
const skip = await postgresUnreachable();

const CHANNEL = 'fleet';
const POLL_MS = 100;
const LEASE_MS = 1500;

let s3: S3Double;
let bucket: string;
let dbName: string;
let db: pg.Client;
let sharedEnv: Record<string, string>;
let adminKey: string;
let pkgDir: string;
const dirs: string[] = [];
/** The three replicas; a killed one is replaced in place by a new process on the same data folder. */
const replicas: ChildServer[] = [];
const replicaDirs: string[] = [];
let made: MadePackage[] = [];
const take = (n: number): MadePackage[] => {
  assert.ok(made.length >= n, 'ran out of packages');
  return made.splice(0, n);
};

async function startReplica(i: number): Promise<ChildServer> {
  const srv = await spawnServer(replicaDirs[i]!, sharedEnv);
  replicas[i] = srv;
  return srv;
}

function kill9(srv: ChildServer): Promise<void> {
  return new Promise((resolve) => {
    if (srv.child.exitCode !== null || srv.child.signalCode !== null) return resolve();
    srv.child.once('exit', () => resolve());
    srv.child.kill('SIGKILL');
  });
}

async function uploadRaw(url: string, pkg: MadePackage, key = adminKey): Promise<{ status: number; error?: string }> {
  const res = await rawUpload(url, CHANNEL, pkg, key, { sha256: pkg.sha256 });
  const body = (await res.json()) as { error?: string };
  return { status: res.status, error: body.error };
}

/** One verified request per replica, so bursts do not start with every request paying for argon2. */
async function warmKey(url: string, key = adminKey): Promise<void> {
  const r = await deleteFile(url, CHANNEL, 'noarch', 'absent-1-0.conda', key);
  assert.equal(r.status, 404, `warm-up: ${r.status} ${r.error}`);
}

const listed = (rd: Repodata): string[] => [...Object.keys(rd.packages), ...Object.keys(rd['packages.conda'])];

async function repodataOrNull(url: string, subdir: string): Promise<Repodata | null> {
  return getRepodata(url, CHANNEL, subdir).catch(() => null);
}

/** True when the replica's shard index names the package and its shard lists the file. */
async function inShards(url: string, pkg: MadePackage): Promise<boolean> {
  const index = await getShardIndex(url, CHANNEL, pkg.subdir).catch(() => null);
  const hash = index?.shards[pkg.spec.name];
  if (!index || !hash) return false;
  const { shard } = await getShard(url, CHANNEL, pkg.subdir, index, hash);
  return pkg.filename in shard.packages || pkg.filename in shard['packages.conda'];
}

/** Package objects in the bucket for a subdir (index generations and shards left out). */
async function bucketPackages(subdir: string): Promise<string[]> {
  const prefix = `channels/${CHANNEL}/${subdir}/`;
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const rest = o.Key!.slice(prefix.length);
      if (!rest.includes('/') && (rest.endsWith('.conda') || rest.endsWith('.tar.bz2'))) out.push(rest);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

async function inBucket(subdir: string, filename: string): Promise<boolean> {
  try {
    await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: `channels/${CHANNEL}/${subdir}/${filename}` }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

/** Both kinds of index of every subdir of the channel cover its latest revision, and no lease is held. */
async function settled(): Promise<boolean> {
  const { rows } = await db.query(`SELECT s.revision, s.indexed_revision, s.shards_revision, s.lease_owner, s.shards_lease_owner
    FROM subdirs s JOIN channels c ON c.id = s.channel_id WHERE c.name = $1`, [CHANNEL]);
  return rows.every((r) => Number(r.indexed_revision) >= Number(r.revision) && Number(r.shards_revision) >= Number(r.revision)
    && r.lease_owner === null && r.shards_lease_owner === null);
}

describe('three replicas on one PostgreSQL database and one bucket', { skip }, () => {
  before(async () => {
    s3 = await startS3Double();
    bucket = await s3.newBucket();
    dbName = `channeld_replicas_${process.pid}_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const url = new URL(adminUrl);
    url.pathname = `/${dbName}`;
    db = new pg.Client({ connectionString: url.href });
    sharedEnv = {
      CHANNELD_DATABASE_URL: url.href,
      CHANNELD_STORAGE_URL: `s3://${bucket}/channels`,
      CHANNELD_S3_ENDPOINT: s3.endpoint,
      CHANNELD_S3_FORCE_PATH_STYLE: 'true',
      ...S3RVER_CREDENTIALS,
      CHANNELD_INDEX_POLL_MS: String(POLL_MS),
      CHANNELD_INDEX_LEASE_MS: String(LEASE_MS),
      // Dead keys are failed authentications; the limiter is not under test here.
      CHANNELD_AUTH_FAILURES_PER_MINUTE: '1000',
    };

    for (let i = 0; i < 3; i++) {
      replicaDirs.push(tempDataDir(`channeld-replica-${'abc'[i]}-`));
      dirs.push(replicaDirs[i]!);
    }
    // All three start at once on an empty database, as a deployment rolls
    // out: migrations and the bootstrap admin must come out exactly once.
    await Promise.all([0, 1, 2].map(startReplica));
    await db.connect();
    const keys = replicas.map((r) => /pfx_[A-Za-z0-9]{52}/.exec(r.output())?.[0]).filter((k): k is string => k !== undefined);
    assert.equal(keys.length, 1, `exactly one replica bootstraps the admin:\n${replicas.map((r) => r.output()).join('\n---\n')}`);
    adminKey = keys[0]!;

    const spare = tempDataDir('channeld-replica-cli-');
    dirs.push(spare);
    const created = await runCli(['channel', 'create', CHANNEL, '--owner', 'admin', '--data', spare], { env: sharedEnv });
    assert.equal(created.code, 0, created.stderr);

    pkgDir = tempDataDir('channeld-replica-pkgs-');
    dirs.push(pkgDir);
    const specs: PackageSpec[] = Array.from({ length: 160 }, (_, i) => ({
      name: `fleet-${i}`, version: `1.${i % 5}.0`, build: `h${i.toString(16).padStart(6, '0')}_${i % 3}`, buildNumber: i % 3,
      subdir: i % 2 === 0 ? 'noarch' : 'linux-64', format: i % 4 === 0 ? 'tar.bz2' : 'conda',
    }));
    made = await makePackages(pkgDir, specs);
    for (const r of replicas) await warmKey(r.url);
  });

  after(async () => {
    for (const r of replicas) if (r) await kill9(r);
    await db?.end().catch(() => {});
    if (dbName) {
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    }
    await s3?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('an upload to one replica is in repodata.json and the shard index of the other two within 1 s', async () => {
    const pkgs = take(9);
    const worst: number[] = [];
    for (const [i, pkg] of pkgs.entries()) {
      const via = i % 3;
      const up = await uploadRaw(replicas[via]!.url, pkg);
      assert.equal(up.status, 200, `${pkg.filename} via replica ${via}: ${up.status} ${up.error}`);
      const acked = performance.now();
      const seen = await Promise.all([0, 1, 2].filter((j) => j !== via).map(async (j) => {
        const url = replicas[j]!.url;
        let inRepodata = NaN;
        let inShardIndex = NaN;
        while (performance.now() - acked < 3000 && (Number.isNaN(inRepodata) || Number.isNaN(inShardIndex))) {
          if (Number.isNaN(inRepodata) && listed((await repodataOrNull(url, pkg.subdir)) ?? { packages: {}, 'packages.conda': {} } as unknown as Repodata).includes(pkg.filename)) {
            inRepodata = performance.now() - acked;
          }
          if (Number.isNaN(inShardIndex) && (await inShards(url, pkg))) inShardIndex = performance.now() - acked;
          await new Promise((r) => setTimeout(r, 20));
        }
        return { replica: j, inRepodata, inShardIndex };
      }));
      for (const s of seen) {
        assert.ok(s.inRepodata < 1000, `${pkg.filename} (via ${via}) reached replica ${s.replica}'s repodata.json after ${s.inRepodata} ms`);
        assert.ok(s.inShardIndex < 1000, `${pkg.filename} (via ${via}) reached replica ${s.replica}'s shard index after ${s.inShardIndex} ms`);
        worst.push(Math.max(s.inRepodata, s.inShardIndex));
      }
    }
    console.log(`# visible on the other replicas after (ms): max ${Math.round(Math.max(...worst))}, all ${worst.map(Math.round).join(' ')}`);
  });

  test('50 concurrent uploads of one file across the replicas: one 200, 49 × 409, one object, served by all', async () => {
    const [pkg] = take(1) as [MadePackage];
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => uploadRaw(replicas[i % 3]!.url, pkg)));
    const ok = results.filter((r) => r.status === 200);
    const conflicts = results.filter((r) => r.status === 409);
    assert.equal(ok.length, 1, `statuses: ${results.map((r) => r.status).join(',')}`);
    assert.equal(conflicts.length, 49);
    for (const r of conflicts) assert.equal(r.error, 'PACKAGE_EXISTS');

    const rows = await db.query(`SELECT count(*)::int AS n FROM packages p JOIN channels c ON c.id = p.channel_id
      WHERE c.name = $1 AND p.filename = $2`, [CHANNEL, pkg.filename]);
    assert.equal(rows.rows[0].n, 1, 'one row');
    assert.equal((await bucketPackages(pkg.subdir)).filter((f) => f === pkg.filename).length, 1, 'one object');
    for (const r of replicas) {
      const rd = await waitFor(async () => {
        const doc = await repodataOrNull(r.url, pkg.subdir);
        return doc && listed(doc).includes(pkg.filename) ? doc : null;
      }, 2000, 20);
      assert.equal(listed(rd).filter((f) => f === pkg.filename).length, 1);
      const served = await get(`${r.url}/${CHANNEL}/${pkg.subdir}/${pkg.filename}`);
      assert.equal(served.status, 200);
      assert.equal(sha256Hex(served.body), pkg.sha256);
    }
  });

  test('a key revoked through one replica is refused by the others on their very next request', async () => {
    const spare = dirs.find((d) => d.includes('channeld-replica-cli-'))!;
    const made = await runCli(['user', 'create', 'ruth', '--data', spare], { env: sharedEnv });
    assert.equal(made.code, 0, made.stderr);
    const minted = await runCli(['key', 'create', '--user', 'ruth', '--name', 'main', '--data', spare], { env: sharedEnv });
    assert.equal(minted.code, 0, minted.stderr);
    const ruth = minted.stdout.trim();
    const [a, b, c] = replicas as [ChildServer, ChildServer, ChildServer];
    const created = await gql(a, Q.createChannel, { name: 'ruths', isPublic: false }, ruth);
    assert.equal(created.body.errors, undefined, JSON.stringify(created.body));
    const ci = await gql(a, Q.createKey, { name: 'ci', expiresAt: null }, ruth);
    assert.equal(ci.body.errors, undefined, JSON.stringify(ci.body));
    const key = ci.body.data.createApiKey.key as string;

    const [known, ...fresh] = take(3) as [MadePackage, ...MadePackage[]];
    assert.equal((await upload(a.url, 'ruths', known, key)).status, 200);
    // B and C verify the key now, so it sits in their caches when A revokes it.
    for (const r of [b, c]) {
      const down = await waitFor(async () => {
        const d = await get(`${r.url}/ruths/${known.subdir}/${known.filename}`, bearer(key));
        return d.status === 200 ? d : null;
      }, 2000, 20);
      assert.equal(sha256Hex(down.body), known.sha256);
    }
    const revoked = await gql(a, Q.revokeKey, { name: 'ci' }, ruth);
    assert.deepEqual(revoked.body, { data: { revokeApiKey: true } });

    for (const [i, r] of [b, c].entries()) {
      const down = await get(`${r.url}/ruths/${known.subdir}/${known.filename}`, bearer(key));
      assert.equal(down.status, 401, `replica ${i + 1} download after revocation: ${down.status} ${down.error}`);
      assert.equal(down.headers.get('www-authenticate'), CHALLENGE);
      const up = await upload(r.url, 'ruths', fresh[i]!, key);
      assert.equal(up.status, 401, `replica ${i + 1} upload after revocation: ${up.status} ${up.error}`);
      const viewer = await gql(r, '{ viewer { login } }', undefined, key);
      assert.deepEqual(viewer.body, { data: { viewer: null } });
    }
    // The owner's own key still works everywhere.
    for (const r of [a, b, c]) assert.equal((await get(`${r.url}/ruths/${known.subdir}/${known.filename}`, bearer(ruth))).status, 200);
  });

  test('kill -9 of the replica holding an index lease: another finishes; nothing lost, nothing twice, equal to a fresh reindex', async () => {
    const acknowledged = new Map<string, MadePackage>();
    let caught = 0;
    const attempts = 4;
    for (let attempt = 0; attempt < attempts && caught === 0; attempt++) {
      const victim = replicas[0]!;
      const pid = victim.child.pid!;
      const batch = take(30);
      const ackedBefore = acknowledged.size;
      let next = 0;
      const uploads = Promise.all(Array.from({ length: 6 }, async () => {
        while (next < batch.length) {
          const pkg = batch[next++]!;
          const r = await uploadRaw(victim.url, pkg).catch(() => null);
          if (r?.status === 200) acknowledged.set(pkg.filename, pkg);
        }
      }));
      // Watch the lease columns until the victim is seen holding one (a few
      // uploads in, so there is something for the others to finish).
      const deadline = Date.now() + 5000;
      let holding: string | null = null;
      while (Date.now() < deadline && holding === null) {
        if (acknowledged.size - ackedBefore < 3) {
          await new Promise((r) => setTimeout(r, 2));
          continue;
        }
        const { rows } = await db.query(`SELECT lease_owner, shards_lease_owner, revision, indexed_revision, shards_revision FROM subdirs`);
        const isVictim = (o: unknown) => typeof o === 'string' && o.split(':')[1] === String(pid);
        for (const r of rows) {
          // Held with work still to publish: what the survivors must finish.
          if (isVictim(r.lease_owner) && Number(r.indexed_revision) < Number(r.revision)) holding = r.lease_owner as string;
          else if (isVictim(r.shards_lease_owner) && Number(r.shards_revision) < Number(r.revision)) holding = r.shards_lease_owner as string;
        }
      }
      await kill9(victim);
      await uploads;
      if (holding !== null) {
        caught++;
        const { rows } = await db.query(`SELECT count(*)::int AS n FROM subdirs WHERE indexed_revision < revision OR shards_revision < revision`);
        console.log(`# dead replica's lease ${holding}; subdirs with unpublished revisions after the kill: ${rows[0].n}`);
      }
      console.log(`# attempt ${attempt + 1}: killed replica 0 (pid ${pid}) ${holding ? `holding lease ${holding}` : 'without catching it holding a lease'}`);
      // Not caught: back as a new process for another try. Caught: it stays
      // dead until the survivors have finished, since a restart on the same
      // host would release its dead leases at once (start-up recovery) and
      // this is about what the others do with only the lease to go by.
      if (holding === null) await startReplica(0);
    }
    assert.ok(caught > 0, `never caught replica 0 holding an index lease in ${attempts} attempts`);

    const [, b, c] = replicas as [ChildServer, ChildServer, ChildServer];
    const killedAt = performance.now();
    // Lease expiry plus a poll or two; far more means the survivors did not take over.
    await waitFor(settled, LEASE_MS + 3000, 50);
    console.log(`# B and C finished the dead replica's index ${Math.round(performance.now() - killedAt)} ms after the kill (lease ${LEASE_MS} ms)`);
    const served: Record<string, Repodata> = {};
    for (const subdir of ['noarch', 'linux-64']) {
      const fromB = await getRepodata(b.url, CHANNEL, subdir);
      assert.deepEqual(await getRepodata(c.url, CHANNEL, subdir), fromB, `${subdir}: B and C serve the same repodata.json`);
      const names = listed(fromB);
      assert.equal(new Set(names).size, names.length, `${subdir}: a file listed twice`);
      served[subdir] = fromB;
    }
    const all = new Set([...listed(served.noarch!), ...listed(served['linux-64']!)]);
    const lost = [...acknowledged.keys()].filter((f) => !all.has(f));
    assert.deepEqual(lost, [], 'every acknowledged upload is listed');
    for (const [f, pkg] of acknowledged) {
      const rd = served[pkg.subdir]!;
      assert.equal((rd.packages[f] ?? rd['packages.conda'][f])!.sha256, pkg.sha256, f);
    }
    const dup = await db.query(`SELECT subdir, filename, count(*)::int AS n FROM packages GROUP BY subdir, filename HAVING count(*) > 1`);
    assert.deepEqual(dup.rows, [], 'a package row twice');

    // Back on its folder: start-up recovery settles the upload intents the
    // dead process left (an upload cut between the object write and the row
    // commit); until then its object sits unlisted in the bucket. Only a
    // restart on the same host does this — see the report on branch replicas.
    await startReplica(0);
    await waitFor(settled, 5000, 50);
    for (const subdir of ['noarch', 'linux-64']) {
      // It may publish such an upload (the client saw a reset, not a 200); it must drop nothing.
      const now = await getRepodata(b.url, CHANNEL, subdir);
      const before = listed(served[subdir]!);
      assert.deepEqual(before.filter((f) => !listed(now).includes(f)), [], `${subdir}: the restart dropped a listed file`);
      const added = listed(now).filter((f) => !before.includes(f));
      if (added.length > 0) console.log(`# the restart finished ${subdir} upload(s) cut by the kill: ${added.join(' ')}`);
      served[subdir] = now;
      // Every listed file is in the bucket, and every package in the bucket is listed.
      assert.deepEqual(await bucketPackages(subdir), listed(now).sort(), `${subdir}: bucket and repodata.json agree`);
    }
    // A fresh full reindex (rescan of the bucket + rewrite) from a spare folder changes nothing.
    const spare = tempDataDir('channeld-replica-reindex-');
    dirs.push(spare);
    const re = await runCli(['reindex', CHANNEL, '--data', spare], { env: sharedEnv });
    assert.equal(re.code, 0, re.stderr);
    for (const line of re.stdout.trim().split('\n')) assert.match(line, /: 0 added, 0 dropped$/, re.stdout);
    await waitFor(settled, 5000, 50);
    for (const subdir of ['noarch', 'linux-64']) {
      for (const r of replicas) {
        assert.deepEqual(await getRepodata(r.url, CHANNEL, subdir), served[subdir], `${subdir}: equal to a fresh reindex`);
      }
    }
    console.log(`# ${acknowledged.size} uploads acknowledged; caught the victim holding a lease ${caught} time(s)`);
  });

  test('a delete through one replica vanishes from the others and its file leaves the bucket', async () => {
    const pkgs = take(4);
    const [a, b, c] = replicas as [ChildServer, ChildServer, ChildServer];
    await warmKey(a.url);
    for (const pkg of pkgs) assert.equal((await uploadRaw(a.url, pkg)).status, 200);
    for (const r of [a, b, c]) {
      for (const pkg of pkgs) {
        await waitFor(async () => listed((await repodataOrNull(r.url, pkg.subdir)) ?? ({ packages: {}, 'packages.conda': {} } as unknown as Repodata)).includes(pkg.filename), 2000, 20);
      }
    }
    const gone = pkgs.slice(0, 2);
    const kept = pkgs.slice(2);
    for (const pkg of gone) {
      const del = await deleteFile(b.url, CHANNEL, pkg.subdir, pkg.filename, adminKey);
      assert.equal(del.status, 200, `delete ${pkg.filename}: ${del.status} ${del.error}`);
    }
    const deleted = performance.now();
    for (const r of [a, c]) {
      for (const pkg of gone) {
        await waitFor(async () => {
          const rd = await repodataOrNull(r.url, pkg.subdir);
          return rd !== null && !listed(rd).includes(pkg.filename) && !(await inShards(r.url, pkg));
        }, 1000, 20);
        assert.equal((await get(`${r.url}/${CHANNEL}/${pkg.subdir}/${pkg.filename}`)).status, 404);
      }
      for (const pkg of kept) {
        assert.ok(listed((await repodataOrNull(r.url, pkg.subdir))!).includes(pkg.filename), `${pkg.filename} is still listed`);
      }
    }
    console.log(`# deletes gone from the other replicas' indexes after ${Math.round(performance.now() - deleted)} ms`);
    for (const pkg of gone) await waitFor(async () => !(await inBucket(pkg.subdir, pkg.filename)), 5000, 50);
    for (const pkg of kept) assert.ok(await inBucket(pkg.subdir, pkg.filename), `${pkg.filename} is still in the bucket`);
  });
});
