CREATE INDEX packages_yanked ON packages (channel_id, subdir, filename) WHERE yanked_reason IS NOT NULL;
