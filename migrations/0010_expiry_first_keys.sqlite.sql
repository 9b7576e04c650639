-- Latchkey schema, version 10: the rows that expire after minutes are keyed by their expiry
-- first. A ceremony's outcome and a verified token's jti were keyed (project_id, key), and
-- the key is a hash or a random ID: every login wrote one random page of each key's index,
-- and one of the expires_at index that the sweep reads. Keyed (expires_at, project_id, key),
-- the rows of a login go where the rows of the logins before it went (the pages a batch
-- writes are shared), the key is still unique (a ceremony's or token's expiry is sealed or
-- signed with it, so one key never comes with two expiries), and the sweep reads the primary
-- key. Lookups know the expiry: the sealed ceremony or the token carries it.
--
-- SQLite cannot change a primary key in place: each table is copied into a new one.

CREATE TABLE ceremony_outcomes_v10 (
    project_id   TEXT NOT NULL,
    ceremony_key TEXT NOT NULL,
    finished     BOOLEAN NOT NULL,
    failures     BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (expires_at, project_id, ceremony_key)
);
INSERT INTO ceremony_outcomes_v10 (project_id, ceremony_key, finished, failures, expires_at)
    SELECT project_id, ceremony_key, finished, failures, expires_at FROM ceremony_outcomes;
DROP TABLE ceremony_outcomes;
ALTER TABLE ceremony_outcomes_v10 RENAME TO ceremony_outcomes;

CREATE TABLE verified_tokens_v10 (
    project_id  TEXT NOT NULL,
    jti         TEXT NOT NULL,
    verified_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (expires_at, project_id, jti)
);
INSERT INTO verified_tokens_v10 (project_id, jti, verified_at, expires_at)
    SELECT project_id, jti, verified_at, expires_at FROM verified_tokens;
DROP TABLE verified_tokens;
ALTER TABLE verified_tokens_v10 RENAME TO verified_tokens;
