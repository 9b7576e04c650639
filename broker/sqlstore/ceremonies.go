package sqlstore

import (
	"context"
	"errors"
)

// Ceremony is a row of ceremonies: a started WebAuthn registration or login, its session
// data (opaque to the store) and when it expires.
type Ceremony struct {
	ID             string  `db:"id"`
	ProjectID      string  `db:"project_id"`
	Kind           string  `db:"kind"`
	UserID         *string `db:"user_id"`
	ConnectTokenID *string `db:"connect_token_id"`
	Conditional    bool    `db:"conditional"`
	Session        string  `db:"session"`
	CreatedAt      int64   `db:"created_at"`
	ExpiresAt      int64   `db:"expires_at"`
}

// InsertCeremony adds c unless its project already has limit ceremonies that are unexpired
// at c.CreatedAt (limit 0: no cap), and reports whether it did. The count and the insert are
// one statement, so the cap holds across replicas (give or take concurrent starts).
func (q queries) InsertCeremony(ctx context.Context, c Ceremony, limit int) (bool, error) {
	limit = max(limit, 0)
	n, err := q.exec(ctx, `INSERT INTO ceremonies (id, project_id, kind, user_id, connect_token_id, conditional, session, created_at, expires_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE ? = 0 OR (SELECT COUNT(*) FROM (SELECT 1 FROM ceremonies WHERE project_id = ? AND expires_at > ? LIMIT ?) pending) < ?`,
		c.ID, c.ProjectID, c.Kind, c.UserID, c.ConnectTokenID, c.Conditional, c.Session, c.CreatedAt, c.ExpiresAt,
		limit, c.ProjectID, c.CreatedAt, limit, limit)
	return n == 1, err
}

// Ceremony returns the project's ceremony id of kind, expired or not. Errors: ErrNotFound.
func (q queries) Ceremony(ctx context.Context, projectID, id, kind string) (Ceremony, error) {
	var c Ceremony
	err := q.byKey().get(ctx, &c, `SELECT id, project_id, kind, user_id, connect_token_id, conditional, session, created_at, expires_at
		FROM ceremonies WHERE id = ? AND project_id = ? AND kind = ?`, id, projectID, kind)
	return c, err
}

// EndCeremony deletes ceremony id if it is unexpired at now. Only one caller can delete it:
// the others get ErrNotFound, so a ceremony finishes at most once.
func (q queries) EndCeremony(ctx context.Context, id string, now int64) error {
	return q.execOne(ctx, "ceremony "+id, `DELETE FROM ceremonies WHERE id = ? AND expires_at > ?`, id, now)
}

// DeleteCeremoniesOf deletes the project's ceremonies of user userID and those bound to an
// unconsumed connect token for identifier, and returns how many it deleted.
func (q queries) DeleteCeremoniesOf(ctx context.Context, projectID, userID, identifier string) (int64, error) {
	return q.exec(ctx, `DELETE FROM ceremonies WHERE project_id = ? AND (user_id = ? OR connect_token_id IN
		(SELECT id FROM connect_tokens WHERE project_id = ? AND identifier = ? AND consumed_at IS NULL))`,
		projectID, userID, projectID, identifier)
}

// CeremonyOutcome is a row of ceremony_outcomes, keyed by a hash of a ceremony's ID: how
// often a finish of the ceremony failed, and for a sealed ceremony (one not stored in
// ceremonies) whether it finished.
type CeremonyOutcome struct {
	ProjectID   string `db:"project_id"`
	CeremonyKey string `db:"ceremony_key"`
	Finished    bool   `db:"finished"`
	Failures    int64  `db:"failures"`
	ExpiresAt   int64  `db:"expires_at"`
}

// FinishSealedCeremony records that the project's sealed ceremony key finished, unless it
// already finished or failed maxFailures times, and reports whether this call finished it.
// The check and the write are one statement: of concurrent callers, one finishes it.
func (q queries) FinishSealedCeremony(ctx context.Context, projectID, key string, expiresAt, maxFailures int64) (bool, error) {
	n, err := q.exec(ctx, `INSERT INTO ceremony_outcomes (project_id, ceremony_key, finished, failures, expires_at)
		VALUES (?, ?, TRUE, 0, ?)
		ON CONFLICT (expires_at, project_id, ceremony_key) DO UPDATE SET finished = TRUE
		WHERE ceremony_outcomes.finished = FALSE AND ceremony_outcomes.failures < ?`, projectID, key, expiresAt, maxFailures)
	return n == 1, err
}

// CountFailedFinish counts a failed finish of the project's ceremony key, sealed or stored,
// and returns its failures so far (0 if it had finished: a finished ceremony counts no
// failure). Concurrent failures are each counted once.
func (q queries) CountFailedFinish(ctx context.Context, projectID, key string, expiresAt int64) (int64, error) {
	var n int64
	err := q.get(ctx, &n, `INSERT INTO ceremony_outcomes (project_id, ceremony_key, finished, failures, expires_at)
		VALUES (?, ?, FALSE, 1, ?)
		ON CONFLICT (expires_at, project_id, ceremony_key) DO UPDATE SET failures = ceremony_outcomes.failures + 1
		WHERE ceremony_outcomes.finished = FALSE
		RETURNING failures`, projectID, key, expiresAt)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return n, err
}

// CeremonyOutcome returns the outcome row of the project's ceremony key, which expires at
// expiresAt (the ceremony's expiry, part of the row's key as in FinishSealedCeremony and
// CountFailedFinish). Errors: ErrNotFound (no finish failed or, for a sealed ceremony,
// finished).
func (q queries) CeremonyOutcome(ctx context.Context, projectID, key string, expiresAt int64) (CeremonyOutcome, error) {
	var o CeremonyOutcome
	err := q.byKey().get(ctx, &o, `SELECT project_id, ceremony_key, finished, failures, expires_at FROM ceremony_outcomes
		WHERE expires_at = ? AND project_id = ? AND ceremony_key = ?`, expiresAt, projectID, key)
	return o, err
}
