ALTER TABLE users ADD COLUMN password_hash TEXT COLLATE "C";

CREATE TABLE sessions (
  token_hash    TEXT COLLATE "C" PRIMARY KEY,
  user_id       BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at    BIGINT  NOT NULL,
  expires_at    BIGINT  NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
