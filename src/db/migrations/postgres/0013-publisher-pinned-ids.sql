ALTER TABLE oidc_publishers ADD COLUMN owner_id TEXT COLLATE "C";
ALTER TABLE oidc_publishers ADD COLUMN project_id TEXT COLLATE "C";
