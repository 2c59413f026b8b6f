// Numbered migrations, applied in order inside one transaction each and
// tracked with PRAGMA user_version. The SQL stays portable (INTEGER ms
// timestamps, TEXT JSON, 0/1 booleans) so a PostgreSQL adapter can run the
// same sequence.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'init',
    sql: `
CREATE TABLE users (
  id          INTEGER PRIMARY KEY,
  login       TEXT    NOT NULL UNIQUE,
  is_admin    INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL
);

CREATE TABLE channels (
  id           INTEGER PRIMARY KEY,
  name         TEXT    NOT NULL UNIQUE,
  owner_id     INTEGER NOT NULL REFERENCES users(id),
  is_public    INTEGER NOT NULL DEFAULT 1,
  description  TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);

-- A key is pfx_<lookup_id><secret>; only lookup_id is stored in clear, the
-- whole token is stored as an argon2id hash.
CREATE TABLE api_keys (
  id            INTEGER PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  lookup_id     TEXT    NOT NULL UNIQUE,
  secret_hash   TEXT    NOT NULL,
  name          TEXT    NOT NULL,
  description   TEXT,
  access_mode   TEXT    NOT NULL DEFAULT 'ALL',
  channel_id    INTEGER REFERENCES channels(id) ON DELETE CASCADE,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER,
  last_used_at  INTEGER,
  revoked_at    INTEGER,
  UNIQUE (user_id, name)
);

-- One row per channel/subdir that exists. revision counts changes;
-- indexed_revision is the revision the files on storage reflect. The
-- indexer rewrites a subdir while indexed_revision < revision.
CREATE TABLE subdirs (
  channel_id        INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir            TEXT    NOT NULL,
  revision          INTEGER NOT NULL DEFAULT 1,
  indexed_revision  INTEGER NOT NULL DEFAULT 0,
  repodata_sha256   TEXT,
  repodata_size     INTEGER,
  indexed_at        INTEGER,
  lease_owner       TEXT,
  lease_until       INTEGER,
  PRIMARY KEY (channel_id, subdir)
);

CREATE TABLE packages (
  id                INTEGER PRIMARY KEY,
  channel_id        INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir            TEXT    NOT NULL,
  filename          TEXT    NOT NULL,
  format            TEXT    NOT NULL,
  name              TEXT    NOT NULL,
  version           TEXT    NOT NULL,
  build             TEXT    NOT NULL,
  build_number      INTEGER NOT NULL DEFAULT 0,
  size_bytes        INTEGER NOT NULL,
  sha256            TEXT    NOT NULL,
  md5               TEXT    NOT NULL,
  index_json        TEXT    NOT NULL,
  about_json        TEXT,
  run_exports_json  TEXT,
  record_json       TEXT    NOT NULL,
  uploaded_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  UNIQUE (channel_id, subdir, filename)
);
CREATE INDEX packages_by_name ON packages (channel_id, name);
-- The indexer streams each map of repodata.json in filename order (BINARY
-- collation = code point order, the order conda-index's sort_keys gives).
CREATE INDEX packages_by_format ON packages (channel_id, subdir, format, filename);

-- An accepted upload between "file verified" and "file in place + row
-- committed". Exactly one upload of a filename can hold the intent; after a
-- crash, start-up recovery finishes or drops it by checking the file's hash.
CREATE TABLE upload_intents (
  channel_id   INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir       TEXT    NOT NULL,
  filename     TEXT    NOT NULL,
  record       TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (channel_id, subdir, filename)
);

-- Files whose rows are gone; unlinked once the subdir's index no longer
-- lists them (indexed_revision >= revision), so no index ever points at a
-- missing file.
CREATE TABLE file_deletions (
  id          INTEGER PRIMARY KEY,
  channel_id  INTEGER NOT NULL,
  channel     TEXT    NOT NULL,
  subdir      TEXT    NOT NULL,
  filename    TEXT    NOT NULL,
  revision    INTEGER NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'members-yank-jobs',
    sql: `
ALTER TABLE channels ADD COLUMN logo TEXT;
ALTER TABLE channels ADD COLUMN allow_v3_uploads INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN relation_base_id INTEGER REFERENCES channels(id) ON DELETE SET NULL;
ALTER TABLE channels ADD COLUMN relation_overrides_id INTEGER REFERENCES channels(id) ON DELETE SET NULL;

-- Roles on a channel besides its owner (stored here; enforced by the
-- access-control issue). role: OWNER | CONTRIBUTOR | VIEWER.
CREATE TABLE channel_members (
  channel_id  INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role        TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (channel_id, user_id)
);

-- A yanked file leaves repodata's package maps and is listed in "removed",
-- but stays downloadable. hidden additionally hides it from package listings.
ALTER TABLE packages ADD COLUMN yanked_reason TEXT;
ALTER TABLE packages ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;

CREATE TABLE background_jobs (
  id               TEXT    PRIMARY KEY,
  job_type         TEXT    NOT NULL,
  status           TEXT    NOT NULL,
  channel_id       INTEGER REFERENCES channels(id) ON DELETE SET NULL,
  created_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
  payload          TEXT    NOT NULL,
  total_count      INTEGER NOT NULL DEFAULT 0,
  processed_count  INTEGER NOT NULL DEFAULT 0,
  failed_count     INTEGER NOT NULL DEFAULT 0,
  error_message    TEXT,
  results          TEXT,
  created_at       INTEGER NOT NULL,
  completed_at     INTEGER
);
`,
  },
  {
    version: 3,
    name: 'audit-log',
    sql: `
-- Who did what: key created/revoked/deleted, uploads, deletes, yanks, member
-- and visibility changes. actor_key_id is set when a key did it.
CREATE TABLE audit_events (
  id             INTEGER PRIMARY KEY,
  at             INTEGER NOT NULL,
  actor_user_id  INTEGER,
  actor_login    TEXT,
  actor_key_id   INTEGER,
  action         TEXT    NOT NULL,
  channel        TEXT,
  target         TEXT,
  details        TEXT
);
CREATE INDEX audit_events_by_time ON audit_events (at);
`,
  },
  {
    version: 4,
    name: 'shards-run-exports-channeldata',
    sql: `
-- CEP-38 install-script flags read from info/paths.json at upload.
ALTER TABLE packages ADD COLUMN post_install TEXT;

-- The live shard of each package name (sha256 of its .msgpack.zst).
CREATE TABLE shards (
  channel_id  INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir      TEXT    NOT NULL,
  name        TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  PRIMARY KEY (channel_id, subdir, name)
);
-- Every shard file written; superseded ones stay downloadable for a week
-- (clients may hold an older index), then are collected.
CREATE TABLE shard_files (
  channel_id     INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir         TEXT    NOT NULL,
  sha256         TEXT    NOT NULL,
  superseded_at  INTEGER,
  PRIMARY KEY (channel_id, subdir, sha256)
);
-- Names whose shard must be rebuilt, with the subdir revision that dirtied them.
CREATE TABLE dirty_names (
  channel_id  INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir      TEXT    NOT NULL,
  name        TEXT    NOT NULL,
  revision    INTEGER NOT NULL,
  PRIMARY KEY (channel_id, subdir, name)
);
ALTER TABLE subdirs ADD COLUMN shards_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subdirs ADD COLUMN shard_index_sha256 TEXT;
INSERT INTO dirty_names (channel_id, subdir, name, revision)
  SELECT DISTINCT channel_id, subdir, name, 0 FROM packages;
`,
  },
  {
    version: 5,
    name: 'trusted-publishing',
    sql: `
-- CI workflows allowed to mint short-lived tokens for a channel. GitHub:
-- owner/project = repository owner/name, workflow = workflow file name.
-- GitLab: owner/project = namespace/project, workflow = CI config path.
-- environment '' = any environment (or none).
CREATE TABLE oidc_publishers (
  id           TEXT    PRIMARY KEY,
  channel_id   INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  provider     TEXT    NOT NULL,
  owner        TEXT    NOT NULL,
  project      TEXT    NOT NULL,
  workflow     TEXT    NOT NULL,
  environment  TEXT    NOT NULL DEFAULT '',
  access_mode  TEXT    NOT NULL,
  created_by   INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  UNIQUE (channel_id, provider, owner, project, workflow, environment)
);
CREATE INDEX oidc_publishers_by_repository ON oidc_publishers (provider, owner, project);

-- Minted tokens: only a sha256 of the token, one row per publisher it
-- matched. Deleting the publisher (or its channel) ends the token at once.
CREATE TABLE oidc_tokens (
  token_hash    TEXT    NOT NULL,
  publisher_id  TEXT    NOT NULL REFERENCES oidc_publishers(id) ON DELETE CASCADE,
  channel_id    INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  access_mode   TEXT    NOT NULL,
  claims        TEXT    NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  PRIMARY KEY (token_hash, publisher_id)
);
CREATE INDEX oidc_tokens_by_expiry ON oidc_tokens (expires_at);

-- Each CI token is accepted once: its jti is kept until the token expires.
CREATE TABLE oidc_used_jtis (
  issuer      TEXT    NOT NULL,
  jti         TEXT    NOT NULL,
  expires_at  INTEGER NOT NULL,
  PRIMARY KEY (issuer, jti)
);
CREATE INDEX oidc_used_jtis_by_expiry ON oidc_used_jtis (expires_at);

-- What a trusted-publishing token did is recorded with its publishers and
-- the CI claims behind it (JSON: {publisherIds, claims}).
ALTER TABLE audit_events ADD COLUMN actor_publisher TEXT;

-- A checked sigstore bundle is stored beside the package (<file>.v0.sigs).
ALTER TABLE packages ADD COLUMN has_attestation INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 6,
    name: 'passwords-sessions',
    sql: `
-- Local accounts for the web UI: argon2id hashes only.
ALTER TABLE users ADD COLUMN password_hash TEXT;

-- Web sessions: only a sha256 of the cookie value is stored.
CREATE TABLE sessions (
  token_hash    TEXT    PRIMARY KEY,
  user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
`,
  },
  {
    version: 7,
    name: 'packages-by-subdir-name',
    sql: `
-- A shard is built from one name's files in one subdir: looked up directly,
-- not by walking the subdir (7 ms a name at 20k records before).
CREATE INDEX packages_by_subdir_name ON packages (channel_id, subdir, name);
`,
  },
  {
    version: 8,
    name: 'lease-per-index-kind',
    sql: `
-- The shard pass (kilobytes) and the full rewrite (the whole subdir) hold
-- separate leases, so an upload's shard never waits behind a full rewrite.
-- lease_owner / lease_until stay the full pass's lease.
ALTER TABLE subdirs ADD COLUMN shards_lease_owner TEXT;
ALTER TABLE subdirs ADD COLUMN shards_lease_until INTEGER;
`,
  },
  {
    version: 9,
    name: 'covering-index-for-repodata',
    sql: `
-- A full rewrite streams every live record of a subdir in filename order.
-- Read from the table, each row drags its about.json (kilobytes, stored
-- before record_json, so through overflow pages) and yanked_reason (added
-- last): 1.0 s for 259k rows. Read from this covering index, in order and
-- without touching the table: 0.45 s. It also serves everything
-- packages_by_format did, which it replaces.
CREATE INDEX packages_index_records ON packages (channel_id, subdir, format, filename, yanked_reason, record_json, run_exports_json);
DROP INDEX packages_by_format;
`,
  },
];
