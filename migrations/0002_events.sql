-- Latchkey schema, version 2: the audit log, and the index behind the paginated user list.
-- Times are unix milliseconds. The same SQL runs on SQLite and PostgreSQL.

-- events is append-only: a row is inserted in the transaction of the change it records and
-- never updated. The log's order is (created_at, seq, id): seq increases within a millisecond
-- in each process and starts at a random value, so that no sequence or counter row is shared
-- between transactions (see README, "The audit log").
CREATE TABLE events (
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
);
CREATE INDEX events_type ON events (project_id, type, created_at, seq);
CREATE INDEX events_user ON events (project_id, user_id, created_at, seq);

CREATE INDEX users_created ON users (project_id, created_at, id);
