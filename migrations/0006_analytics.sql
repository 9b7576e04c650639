-- Latchkey schema, version 6: adoption analytics (issue 13). Counters kept per project and
-- hour: a change that counts (a passkey login, a passkey added or removed, a password login
-- an app backend reports, an outcome a browser reports) adds to its rows with one upsert in
-- the transaction it already has. A row's key has a shard (0 to 15, chosen at random by each
-- writer) so that concurrent logins of one project rarely wait on the same row; readers sum
-- the shards. Unlike events, counters are not deleted by the retention sweep.

CREATE TABLE analytics_counters (
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    bucket_start BIGINT NOT NULL,
    series       TEXT NOT NULL,
    dim          TEXT NOT NULL,
    shard        BIGINT NOT NULL,
    value        BIGINT NOT NULL,
    PRIMARY KEY (project_id, bucket_start, series, dim, shard)
);

-- The adoption curve (users with a passkey over time) reads passkeys by creation time.
CREATE INDEX passkeys_created ON passkeys (project_id, created_at);
