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
