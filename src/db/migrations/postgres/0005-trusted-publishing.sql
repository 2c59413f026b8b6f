CREATE TABLE oidc_publishers (
  id           TEXT COLLATE "C" PRIMARY KEY,
  channel_id   BIGINT  NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  provider     TEXT COLLATE "C" NOT NULL,
  owner        TEXT COLLATE "C" NOT NULL,
  project      TEXT COLLATE "C" NOT NULL,
  workflow     TEXT COLLATE "C" NOT NULL,
  environment  TEXT COLLATE "C" NOT NULL DEFAULT '',
  access_mode  TEXT COLLATE "C" NOT NULL,
  created_by   BIGINT  REFERENCES users(id) ON DELETE SET NULL,
  created_at   BIGINT  NOT NULL,
  updated_at   BIGINT  NOT NULL,
  UNIQUE (channel_id, provider, owner, project, workflow, environment)
);
CREATE INDEX oidc_publishers_by_repository ON oidc_publishers (provider, owner, project);

CREATE TABLE oidc_tokens (
  token_hash    TEXT COLLATE "C" NOT NULL,
  publisher_id  TEXT COLLATE "C" NOT NULL REFERENCES oidc_publishers(id) ON DELETE CASCADE,
  channel_id    BIGINT  NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
  access_mode   TEXT COLLATE "C" NOT NULL,
  claims        TEXT COLLATE "C" NOT NULL,
  created_at    BIGINT  NOT NULL,
  expires_at    BIGINT  NOT NULL,
  PRIMARY KEY (token_hash, publisher_id)
);
CREATE INDEX oidc_tokens_by_expiry ON oidc_tokens (expires_at);

CREATE TABLE oidc_used_jtis (
  issuer      TEXT COLLATE "C" NOT NULL,
  jti         TEXT COLLATE "C" NOT NULL,
  expires_at  BIGINT  NOT NULL,
  PRIMARY KEY (issuer, jti)
);
CREATE INDEX oidc_used_jtis_by_expiry ON oidc_used_jtis (expires_at);

ALTER TABLE audit_events ADD COLUMN actor_publisher TEXT COLLATE "C";

ALTER TABLE packages ADD COLUMN has_attestation BIGINT NOT NULL DEFAULT 0;
