CREATE INDEX packages_by_subdir_name ON packages (channel_id, subdir, name);
