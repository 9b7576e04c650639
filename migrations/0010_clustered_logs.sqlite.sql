-- Latchkey schema, version 10, SQLite: the tables every login writes to are stored in their
-- primary key's order (WITHOUT ROWID). A table with a rowid keeps its rows in one B-tree and
-- its primary key in another, so each insert changed two B-trees and, at commit, two pages
-- more in the WAL; clustered, the row lives in the primary key's B-tree and one of them goes.
-- A login inserts into events (three times), ceremony_outcomes, verified_tokens and
-- analytics_counters, so this saves six B-tree inserts per login. Columns, keys and indexes
-- do not change (PostgreSQL, whose tables have no rowid, applies nothing: see the
-- .postgres.sql file of this version). Each table is copied, then swapped in.

CREATE TABLE events_v10 (
    project_id    TEXT NOT NULL,
    id            TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    type          TEXT NOT NULL,
    user_id       TEXT,
    credential_id TEXT,
    request_id    TEXT NOT NULL,
    client_ip     TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    details       TEXT NOT NULL,
    PRIMARY KEY (project_id, created_at, seq, id)
) WITHOUT ROWID;
INSERT INTO events_v10 (project_id, id, created_at, seq, type, user_id, credential_id, request_id, client_ip, user_agent, details)
    SELECT project_id, id, created_at, seq, type, user_id, credential_id, request_id, client_ip, user_agent, details FROM events;
DROP TABLE events;
ALTER TABLE events_v10 RENAME TO events;
CREATE INDEX events_type ON events (project_id, type, created_at, seq);
CREATE INDEX events_user ON events (project_id, user_id, created_at, seq);

CREATE TABLE ceremony_outcomes_v10 (
    project_id   TEXT NOT NULL,
    ceremony_key TEXT NOT NULL,
    finished     BOOLEAN NOT NULL,
    failures     BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, ceremony_key)
) WITHOUT ROWID;
INSERT INTO ceremony_outcomes_v10 (project_id, ceremony_key, finished, failures, expires_at)
    SELECT project_id, ceremony_key, finished, failures, expires_at FROM ceremony_outcomes;
DROP TABLE ceremony_outcomes;
ALTER TABLE ceremony_outcomes_v10 RENAME TO ceremony_outcomes;
CREATE INDEX ceremony_outcomes_expires ON ceremony_outcomes (expires_at);

CREATE TABLE verified_tokens_v10 (
    project_id  TEXT NOT NULL,
    jti         TEXT NOT NULL,
    verified_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, jti)
) WITHOUT ROWID;
INSERT INTO verified_tokens_v10 (project_id, jti, verified_at, expires_at)
    SELECT project_id, jti, verified_at, expires_at FROM verified_tokens;
DROP TABLE verified_tokens;
ALTER TABLE verified_tokens_v10 RENAME TO verified_tokens;
CREATE INDEX verified_tokens_expires ON verified_tokens (expires_at);

CREATE TABLE analytics_counters_v10 (
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    bucket_start BIGINT NOT NULL,
    series       TEXT NOT NULL,
    dim          TEXT NOT NULL,
    shard        BIGINT NOT NULL,
    value        BIGINT NOT NULL,
    PRIMARY KEY (project_id, bucket_start, series, dim, shard)
) WITHOUT ROWID;
INSERT INTO analytics_counters_v10 (project_id, bucket_start, series, dim, shard, value)
    SELECT project_id, bucket_start, series, dim, shard, value FROM analytics_counters;
DROP TABLE analytics_counters;
ALTER TABLE analytics_counters_v10 RENAME TO analytics_counters;
