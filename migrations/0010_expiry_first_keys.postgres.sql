-- Latchkey schema, version 10: the rows that expire after minutes are keyed by their expiry
-- first. A ceremony's outcome and a verified token's jti were keyed (project_id, key), and
-- the key is a hash or a random ID: every login wrote one random page of each key's index,
-- and one of the expires_at index that the sweep reads. Keyed (expires_at, project_id, key),
-- the rows of a login go where the rows of the logins before it went, the key is still
-- unique (a ceremony's or token's expiry is sealed or signed with it, so one key never comes
-- with two expiries), and the sweep reads the primary key. Lookups know the expiry: the
-- sealed ceremony or the token carries it.
--
-- A replica of an earlier version fails its login finishes (its ON CONFLICT names the old
-- key) until it runs this version too: upgrade every replica.

ALTER TABLE ceremony_outcomes DROP CONSTRAINT ceremony_outcomes_pkey,
    ADD CONSTRAINT ceremony_outcomes_pkey PRIMARY KEY (expires_at, project_id, ceremony_key);
DROP INDEX ceremony_outcomes_expires;

ALTER TABLE verified_tokens DROP CONSTRAINT verified_tokens_pkey,
    ADD CONSTRAINT verified_tokens_pkey PRIMARY KEY (expires_at, project_id, jti);
DROP INDEX verified_tokens_expires;
