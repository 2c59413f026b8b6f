-- Which process holds an upload intent (<host>:<pid>:<random>, as leases),
-- and when that process last said it is alive. With several replicas on one
-- database, one must not settle another live replica's upload in flight,
-- but must settle a dead one's (which would block that file name forever).
ALTER TABLE upload_intents ADD COLUMN owner TEXT;
ALTER TABLE upload_intents ADD COLUMN alive_at INTEGER;
