ALTER TABLE upload_intents ADD COLUMN owner TEXT COLLATE "C";
ALTER TABLE upload_intents ADD COLUMN alive_at BIGINT;
