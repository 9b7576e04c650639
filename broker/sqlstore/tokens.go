package sqlstore

import (
	"context"
)

// ConnectToken is a row of connect_tokens. SecretHash (unique) is connecttoken.Hash of the
// secret, which the store never sees.
type ConnectToken struct {
	ID          string `db:"id"`
	ProjectID   string `db:"project_id"`
	Type        string `db:"type"`
	SecretHash  string `db:"secret_hash"`
	Identifier  string `db:"identifier"`
	DisplayName string `db:"display_name"`
	CreatedAt   int64  `db:"created_at"`
	ExpiresAt   int64  `db:"expires_at"`
	ConsumedAt  *int64 `db:"consumed_at"`
}

const tokenColumns = `id, project_id, type, secret_hash, identifier, display_name, created_at, expires_at, consumed_at`

// InsertConnectToken adds t. Errors: ErrAlreadyExists.
func (q queries) InsertConnectToken(ctx context.Context, t ConnectToken) error {
	_, err := q.exec(ctx, `INSERT INTO connect_tokens (id, project_id, type, secret_hash, identifier, display_name, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.ProjectID, t.Type, t.SecretHash, t.Identifier, t.DisplayName, t.CreatedAt, t.ExpiresAt)
	return err
}

// ConnectToken returns the project's token id, expired or consumed or not. Errors:
// ErrNotFound.
func (q queries) ConnectToken(ctx context.Context, projectID, id string) (ConnectToken, error) {
	var t ConnectToken
	err := q.get(ctx, &t, `SELECT `+tokenColumns+` FROM connect_tokens WHERE project_id = ? AND id = ?`, projectID, id)
	return t, err
}

// ConnectTokenByHash returns the project's token whose secret hashes to hash. Errors:
// ErrNotFound.
func (q queries) ConnectTokenByHash(ctx context.Context, projectID, hash string) (ConnectToken, error) {
	var t ConnectToken
	err := q.get(ctx, &t, `SELECT `+tokenColumns+` FROM connect_tokens WHERE project_id = ? AND secret_hash = ?`, projectID, hash)
	return t, err
}

// ConsumeConnectToken marks token id consumed at now if it is unconsumed and unexpired then.
// Only one caller can consume a token: the others, and every call for a token that is
// expired or gone, get ErrNotFound.
func (q queries) ConsumeConnectToken(ctx context.Context, id string, now int64) error {
	return q.execOne(ctx, "connect token "+id, `UPDATE connect_tokens SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL AND expires_at > ?`, now, id, now)
}

// DeleteConnectToken deletes the project's token id. Errors: ErrNotFound.
func (q queries) DeleteConnectToken(ctx context.Context, projectID, id string) error {
	return q.execOne(ctx, "connect token "+id, `DELETE FROM connect_tokens WHERE project_id = ? AND id = ?`, projectID, id)
}

// RenameTokenIdentifier moves the project's unconsumed tokens for identifier from to to.
func (q queries) RenameTokenIdentifier(ctx context.Context, projectID, from, to string) error {
	_, err := q.exec(ctx, `UPDATE connect_tokens SET identifier = ? WHERE project_id = ? AND identifier = ? AND consumed_at IS NULL`,
		to, projectID, from)
	return err
}

// DeleteUnconsumedTokens deletes the project's unconsumed tokens for identifier and returns
// exactly the IDs it deleted (DELETE ... RETURNING), in no particular order.
func (q queries) DeleteUnconsumedTokens(ctx context.Context, projectID, identifier string) ([]string, error) {
	var ids []string
	err := q.selectRows(ctx, &ids, `DELETE FROM connect_tokens WHERE project_id = ? AND identifier = ? AND consumed_at IS NULL RETURNING id`,
		projectID, identifier)
	return ids, err
}
