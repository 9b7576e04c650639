-- Latchkey schema, version 5: signed webhooks. Deliveries come from the audit log (events),
-- which each change writes in its own transaction: an endpoint keeps a cursor into its
-- project's events, and a replica that delivers holds the endpoint's lease (leased_until,
-- lease_owner) so that one replica at a time sends an endpoint's messages, in the log's
-- order. Times are unix milliseconds.

-- webhook_endpoints: one row per endpoint. sealed_secret is the whsec_ secret sealed with the
-- broker's secret key (it signs, so it cannot be a hash). event_types is a JSON list. The
-- cursor (cursor_created_at, cursor_seq, cursor_id) is the last event handled. failures counts
-- the failed attempts at the message after the cursor since the last success, failing_since
-- is when the first of them was made, next_attempt_at when the next may be. disabled_at is set
-- when the endpoint failed for too long.
CREATE TABLE webhook_endpoints (
    project_id        TEXT NOT NULL,
    id                TEXT NOT NULL,
    url               TEXT NOT NULL,
    event_types       TEXT NOT NULL,
    sealed_secret     TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    disabled_at       BIGINT,
    disabled_reason   TEXT NOT NULL,
    cursor_created_at BIGINT NOT NULL,
    cursor_seq        BIGINT NOT NULL,
    cursor_id         TEXT NOT NULL,
    failures          BIGINT NOT NULL,
    failing_since     BIGINT,
    next_attempt_at   BIGINT NOT NULL,
    leased_until      BIGINT NOT NULL,
    lease_owner       TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX webhook_endpoints_due ON webhook_endpoints (next_attempt_at);

-- webhook_attempts: one row per delivery attempt, kept for the management API and removed
-- with its endpoint or when older than the attempts' retention.
CREATE TABLE webhook_attempts (
    project_id      TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    id              TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    attempt         BIGINT NOT NULL,
    attempted_at    BIGINT NOT NULL,
    duration_ms     BIGINT NOT NULL,
    result          TEXT NOT NULL,
    status_code     BIGINT NOT NULL,
    error           TEXT NOT NULL,
    next_attempt_at BIGINT,
    PRIMARY KEY (project_id, endpoint_id, attempted_at, id)
);
CREATE INDEX webhook_attempts_time ON webhook_attempts (attempted_at);
