ALTER TABLE packages ADD COLUMN post_install TEXT COLLATE "C";

CREATE TABLE shards (
  channel_id  BIGINT  NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir      TEXT COLLATE "C" NOT NULL,
  name        TEXT COLLATE "C" NOT NULL,
  sha256      TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (channel_id, subdir, name)
);
CREATE TABLE shard_files (
  channel_id     BIGINT  NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir         TEXT COLLATE "C" NOT NULL,
  sha256         TEXT COLLATE "C" NOT NULL,
  superseded_at  BIGINT,
  PRIMARY KEY (channel_id, subdir, sha256)
);
CREATE TABLE dirty_names (
  channel_id  BIGINT  NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  subdir      TEXT COLLATE "C" NOT NULL,
  name        TEXT COLLATE "C" NOT NULL,
  revision    BIGINT  NOT NULL,
  PRIMARY KEY (channel_id, subdir, name)
);
ALTER TABLE subdirs ADD COLUMN shards_revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subdirs ADD COLUMN shard_index_sha256 TEXT COLLATE "C";
INSERT INTO dirty_names (channel_id, subdir, name, revision)
  SELECT DISTINCT channel_id, subdir, name, 0 FROM packages;
