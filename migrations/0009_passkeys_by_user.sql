-- A user's passkeys by project and user, in creation order: the lookups of identifier login
-- (login/start), manage/list, the management API's pages and a user's deletion. Without it,
-- SQLite (which has no statistics to go by) chose passkeys_created (project_id, created_at)
-- for "project_id = ? AND user_id = ? ORDER BY created_at" and read every passkey of the
-- project for each login. passkeys_user (user_id) stays for the users foreign key's cascade.
CREATE INDEX passkeys_project_user ON passkeys (project_id, user_id, created_at);
