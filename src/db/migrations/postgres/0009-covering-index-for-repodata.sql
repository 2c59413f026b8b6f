-- Nothing here: SQLite's covering index for full rewrites is not made in
-- PostgreSQL. A btree entry is capped near 2.7 kB and record_json is often
-- longer, and about_json is stored out of line (TOAST) there, so the table
-- scan never paid for it. packages_by_format stays.
SELECT 1;
