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
