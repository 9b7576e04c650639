package sqlstore

import (
	"context"
	"strings"
)

// User is a row of users. Identifier is unique per project, and so is WebAuthnID (the
// base64url WebAuthn user handle).
type User struct {
	ID          string `db:"id"`
	ProjectID   string `db:"project_id"`
	Identifier  string `db:"identifier"`
	DisplayName string `db:"display_name"`
	WebAuthnID  string `db:"webauthn_id"`
	CreatedAt   int64  `db:"created_at"`
}

const userColumns = `id, project_id, identifier, display_name, webauthn_id, created_at`

// InsertUser adds u. Errors: ErrAlreadyExists (the identifier, user handle or ID is taken).
func (q queries) InsertUser(ctx context.Context, u User) error {
	_, err := q.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.ProjectID, u.Identifier, u.DisplayName, u.WebAuthnID, u.CreatedAt)
	return err
}

// InsertUserIfAbsent adds u unless its project has a user with its identifier, and reports
// whether it did; of concurrent callers with one identifier, exactly one adds it.
func (q queries) InsertUserIfAbsent(ctx context.Context, u User) (bool, error) {
	n, err := q.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (project_id, identifier) DO NOTHING`, u.ID, u.ProjectID, u.Identifier, u.DisplayName, u.WebAuthnID, u.CreatedAt)
	return n == 1, err
}

// UserByIdentifier returns the project's user with identifier. Errors: ErrNotFound.
func (q queries) UserByIdentifier(ctx context.Context, projectID, identifier string) (User, error) {
	var u User
	err := q.byKey().get(ctx, &u, `SELECT `+userColumns+` FROM users WHERE project_id = ? AND identifier = ?`, projectID, identifier)
	return u, err
}

// UserByID returns the project's user with id. Errors: ErrNotFound.
func (q queries) UserByID(ctx context.Context, projectID, id string) (User, error) {
	var u User
	err := q.byKey().get(ctx, &u, `SELECT `+userColumns+` FROM users WHERE project_id = ? AND id = ?`, projectID, id)
	return u, err
}

// SetUserDisplayName changes the display name of the project's user id. Errors: ErrNotFound.
func (q queries) SetUserDisplayName(ctx context.Context, projectID, id, displayName string) error {
	return q.execOne(ctx, "user "+id, `UPDATE users SET display_name = ? WHERE project_id = ? AND id = ?`, displayName, projectID, id)
}

// SetUserIdentifier changes the identifier of the project's user id. Errors: ErrNotFound,
// ErrAlreadyExists (another user of the project has it).
func (q queries) SetUserIdentifier(ctx context.Context, projectID, id, identifier string) error {
	return q.execOne(ctx, "user "+id, `UPDATE users SET identifier = ? WHERE project_id = ? AND id = ?`, identifier, projectID, id)
}

// DeleteUser deletes the project's user id; its passkeys go with it (ON DELETE CASCADE).
// Errors: ErrNotFound.
func (q queries) DeleteUser(ctx context.Context, projectID, id string) error {
	return q.execOne(ctx, "user "+id, `DELETE FROM users WHERE project_id = ? AND id = ?`, projectID, id)
}

// UserFilter selects a page of a project's users in creation order.
type UserFilter struct {
	ProjectID string
	// Identifier, if set, selects the user with that identifier only.
	Identifier string
	// After, if set, starts after the user created at AfterCreatedAt with ID After.
	After          string
	AfterCreatedAt int64
	Limit          int
}

// Users returns the users f selects, ordered by (created_at, id).
func (q queries) Users(ctx context.Context, f UserFilter) ([]User, error) {
	where, args := []string{`project_id = ?`}, []any{f.ProjectID}
	if f.Identifier != "" {
		where, args = append(where, `identifier = ?`), append(args, f.Identifier)
	}
	if f.After != "" {
		where, args = append(where, `(created_at, id) > (?, ?)`), append(args, f.AfterCreatedAt, f.After)
	}
	var out []User
	err := q.selectRows(ctx, &out, `SELECT `+userColumns+` FROM users WHERE `+strings.Join(where, ` AND `)+`
		ORDER BY created_at, id LIMIT ?`, append(args, f.Limit)...)
	return out, err
}
