-- Latchkey schema, version 4: login ceremonies without a connect token are sealed into their
-- IDs (nothing is stored when one starts). A row here records, keyed by a hash of a
-- ceremony's ID, how often a finish of it failed (a ceremony closes after a few failures), and
-- for a sealed ceremony that it finished (single use). Rows live as long as the ceremony.

CREATE TABLE ceremony_outcomes (
    project_id   TEXT NOT NULL,
    ceremony_key TEXT NOT NULL,
    finished     BOOLEAN NOT NULL,
    failures     BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, ceremony_key)
);
CREATE INDEX ceremony_outcomes_expires ON ceremony_outcomes (expires_at);
