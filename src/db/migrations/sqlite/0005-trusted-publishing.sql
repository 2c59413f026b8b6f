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
