-- A trusted publisher also holds the CI's immutable ids of the account and
-- the project it names (GitHub repository_owner_id / repository_id, GitLab
-- namespace_id / project_id: decimal strings in the tokens), given when it
-- is added or recorded from the first token that matches it by name. NULL
-- until then. Once set, a token must carry the same ids, so whoever
-- registers a renamed or deleted account's old name cannot mint tokens.
ALTER TABLE oidc_publishers ADD COLUMN owner_id TEXT;
ALTER TABLE oidc_publishers ADD COLUMN project_id TEXT;
