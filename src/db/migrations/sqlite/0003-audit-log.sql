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
