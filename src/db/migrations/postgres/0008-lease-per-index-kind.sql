ALTER TABLE subdirs ADD COLUMN shards_lease_owner TEXT COLLATE "C";
ALTER TABLE subdirs ADD COLUMN shards_lease_until BIGINT;
