-- The shard pass (kilobytes) and the full rewrite (the whole subdir) hold
-- separate leases, so an upload's shard never waits behind a full rewrite.
-- lease_owner / lease_until stay the full pass's lease.
ALTER TABLE subdirs ADD COLUMN shards_lease_owner TEXT;
ALTER TABLE subdirs ADD COLUMN shards_lease_until INTEGER;
