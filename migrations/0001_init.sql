-- Latchkey schema, version 1. Times are unix milliseconds; binary values are base64url text,
-- so that SQLite and PostgreSQL share this file's SQL exactly.

CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    rp_id      TEXT NOT NULL,
    rp_name    TEXT NOT NULL,
    origins    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_secrets (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_secrets_project ON api_secrets (project_id);

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    identifier   TEXT NOT NULL,
    display_name TEXT NOT NULL,
    webauthn_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (project_id, identifier),
    UNIQUE (project_id, webauthn_id)
);

CREATE TABLE passkeys (
    project_id         TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    credential_id      TEXT NOT NULL,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key         TEXT NOT NULL,
    sign_count         BIGINT NOT NULL,
    backup_eligible    BOOLEAN NOT NULL,
    backup_state       BOOLEAN NOT NULL,
    user_verified      BOOLEAN NOT NULL,
    transports         TEXT NOT NULL,
    aaguid             TEXT NOT NULL,
    attestation_format TEXT NOT NULL,
    label              TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    last_used_at       BIGINT,
    PRIMARY KEY (project_id, credential_id)
);
CREATE INDEX passkeys_user ON passkeys (user_id);

CREATE TABLE ceremonies (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    user_id          TEXT,
    connect_token_id TEXT,
    conditional      BOOLEAN NOT NULL,
    session          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX ceremonies_expires ON ceremonies (expires_at);

CREATE TABLE connect_tokens (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    type         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    identifier   TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    consumed_at  BIGINT
);
CREATE INDEX connect_tokens_expires ON connect_tokens (expires_at);

CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    private_key TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    active_from BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX signing_keys_project ON signing_keys (project_id, active_from);

CREATE TABLE verified_tokens (
    project_id  TEXT NOT NULL,
    jti         TEXT NOT NULL,
    verified_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, jti)
);
CREATE INDEX verified_tokens_expires ON verified_tokens (expires_at);
