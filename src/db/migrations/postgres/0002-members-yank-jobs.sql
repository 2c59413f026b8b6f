ALTER TABLE channels ADD COLUMN logo TEXT COLLATE "C";
ALTER TABLE channels ADD COLUMN allow_v3_uploads BIGINT NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN relation_base_id BIGINT REFERENCES channels(id) ON DELETE SET NULL;
ALTER TABLE channels ADD COLUMN relation_overrides_id BIGINT REFERENCES channels(id) ON DELETE SET NULL;

CREATE TABLE channel_members (
  channel_id  BIGINT  NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  user_id     BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role        TEXT COLLATE "C" NOT NULL,
  created_at  BIGINT  NOT NULL,
  PRIMARY KEY (channel_id, user_id)
);

ALTER TABLE packages ADD COLUMN yanked_reason TEXT COLLATE "C";
ALTER TABLE packages ADD COLUMN hidden BIGINT NOT NULL DEFAULT 0;

CREATE TABLE background_jobs (
  id               TEXT COLLATE "C" PRIMARY KEY,
  job_type         TEXT COLLATE "C" NOT NULL,
  status           TEXT COLLATE "C" NOT NULL,
  channel_id       BIGINT  REFERENCES channels(id) ON DELETE SET NULL,
  created_by       BIGINT  REFERENCES users(id) ON DELETE SET NULL,
  payload          TEXT COLLATE "C" NOT NULL,
  total_count      BIGINT  NOT NULL DEFAULT 0,
  processed_count  BIGINT  NOT NULL DEFAULT 0,
  failed_count     BIGINT  NOT NULL DEFAULT 0,
  error_message    TEXT COLLATE "C",
  results          TEXT COLLATE "C",
  created_at       BIGINT  NOT NULL,
  completed_at     BIGINT
);
