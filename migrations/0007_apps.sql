-- Native apps (issue 14): the Android and iOS apps of a project, from which the broker derives
-- the app origins it accepts and the association files it serves, and the passkey endpoints
-- (enroll and manage URLs) of /.well-known/passkey-endpoints. Times are unix milliseconds.

-- apps: one row per app. platform is 'android' (identifier: the package name,
-- fingerprints: the SHA-256 signing-certificate fingerprints in colon-hex, a JSON list) or
-- 'ios' (identifier: TEAMID.bundle.id, fingerprints: '[]').
CREATE TABLE apps (
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    platform     TEXT NOT NULL,
    identifier   TEXT NOT NULL,
    fingerprints TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, platform, identifier)
);

ALTER TABLE projects ADD COLUMN passkey_enroll_url TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN passkey_manage_url TEXT NOT NULL DEFAULT '';
