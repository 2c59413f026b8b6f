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
