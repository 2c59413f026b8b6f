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
