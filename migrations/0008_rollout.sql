-- Gradual rollout and kill switch, and "Not now" for the passkey offer (issue 16).
--
-- rollouts holds a project's rollout; a project without a row has every component on for
-- everyone (the behaviour before this migration). login, append and manage are "off", "on"
-- or a share of identifiers in basis points ("2500" is 25%). Lists are JSON text; the
-- decline period is seconds.
CREATE TABLE rollouts (
    project_id     TEXT NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    login          TEXT NOT NULL,
    append_passkey TEXT NOT NULL,
    manage         TEXT NOT NULL,
    allow_list     TEXT NOT NULL,
    deny_list      TEXT NOT NULL,
    requirements   TEXT NOT NULL, -- JSON list: platformAuthenticator, conditionalMediation, os:<family>
    decline_period BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- append_declines remembers that a user answered "Not now" to the passkey offer, until
-- declined_until (milliseconds); it goes with the user.
CREATE TABLE append_declines (
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    declined_until BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
