-- Latchkey schema, version 10, PostgreSQL: nothing changes. On SQLite this version stores the
-- tables every login writes to in their primary key's order (WITHOUT ROWID, see the
-- .sqlite.sql file); PostgreSQL's tables have no rowid B-tree to save.
SELECT 1;
