-- Per-project security policy (issue 6). Every column has the default that keeps the
-- behaviour of version 1, so existing projects are unchanged. Lists are JSON text; lifetimes
-- are seconds.

ALTER TABLE projects ADD COLUMN user_verification TEXT NOT NULL DEFAULT 'preferred';
ALTER TABLE projects ADD COLUMN resident_key TEXT NOT NULL DEFAULT 'preferred';
ALTER TABLE projects ADD COLUMN algorithms TEXT NOT NULL DEFAULT '[-7,-8,-257]';
ALTER TABLE projects ADD COLUMN attestation TEXT NOT NULL DEFAULT 'none';
ALTER TABLE projects ADD COLUMN aaguid_allow TEXT NOT NULL DEFAULT '[]';
ALTER TABLE projects ADD COLUMN aaguid_deny TEXT NOT NULL DEFAULT '[]';
ALTER TABLE projects ADD COLUMN usernameless BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE projects ADD COLUMN connect_token_max_lifetime BIGINT NOT NULL DEFAULT 3600;
ALTER TABLE projects ADD COLUMN ceremony_lifetime BIGINT NOT NULL DEFAULT 300;

-- Counting a project's pending ceremonies (the cap on unfinished ceremonies) reads this index.
CREATE INDEX ceremonies_project_expires ON ceremonies (project_id, expires_at);
