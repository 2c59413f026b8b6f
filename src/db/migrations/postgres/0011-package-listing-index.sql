CREATE INDEX packages_listing ON packages (channel_id, name, size_bytes, created_at);
