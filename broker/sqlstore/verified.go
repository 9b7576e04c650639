package sqlstore

import (
	"context"
	"errors"
	"strings"
)

// VerifiedToken is a row of verified_tokens: the jti of a signedPasskeyData that was
// verified once, kept until the token has expired.
type VerifiedToken struct {
	ProjectID  string `db:"project_id"`
	JTI        string `db:"jti"`
	VerifiedAt int64  `db:"verified_at"`
	ExpiresAt  int64  `db:"expires_at"`
}

// InsertVerifiedToken records v. Of callers with one (project, jti), exactly one succeeds;
// the others get ErrAlreadyExists. That is what makes verification single use.
func (q queries) InsertVerifiedToken(ctx context.Context, v VerifiedToken) error {
	_, err := q.exec(ctx, `INSERT INTO verified_tokens (project_id, jti, verified_at, expires_at) VALUES (?, ?, ?, ?)`,
		v.ProjectID, v.JTI, v.VerifiedAt, v.ExpiresAt)
	return err
}

// expiringTables are the tables whose rows expire, with their primary key.
var expiringTables = []struct {
	table string
	key   []string
}{
	{"ceremonies", []string{"id"}}, {"connect_tokens", []string{"id"}},
	{"verified_tokens", []string{"project_id", "jti"}}, {"ceremony_outcomes", []string{"project_id", "ceremony_key"}},
}

// DeleteExpired removes ceremonies, connect tokens, verified jtis and ceremony outcomes that
// expired before now, at most limit rows of each table (the oldest), and returns how many
// rows it removed. Each table's batch is one statement of its own, so replicas sweeping at
// once do not conflict. A batch is bounded by the limit-th expired row in (expires_at, key)
// order, so that both statements read an index that starts with expires_at (the primary key
// of verified_tokens and ceremony_outcomes) and never scan the table, however long the
// backlog.
func (q queries) DeleteExpired(ctx context.Context, now int64, limit int) (int64, error) {
	var total int64
	for _, t := range expiringTables {
		keys := strings.Join(t.key, ", ")
		var (
			cutoff int64
			key    = make([]string, len(t.key))
			dest   = []any{&cutoff}
		)
		for i := range key {
			dest = append(dest, &key[i])
		}
		err := q.row(ctx, `SELECT expires_at, `+keys+` FROM `+t.table+` WHERE expires_at < ?
			ORDER BY expires_at, `+keys+` LIMIT 1 OFFSET ?`, []any{now, max(limit, 1) - 1}, dest...)
		var n int64
		switch {
		case errors.Is(err, ErrNotFound): // fewer than limit left: all of them
			n, err = q.exec(ctx, `DELETE FROM `+t.table+` WHERE expires_at < ?`, now)
		case err == nil:
			args := []any{cutoff, cutoff}
			for _, k := range key {
				args = append(args, k)
			}
			n, err = q.exec(ctx, `DELETE FROM `+t.table+` WHERE expires_at <= ? AND (expires_at < ? OR (`+keys+`) <= (`+
				placeholders(len(key))+`))`, args...)
		}
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ExpiredBacklog returns how many ceremonies, connect tokens and verified jtis expired
// before now and are still stored.
func (q queries) ExpiredBacklog(ctx context.Context, now int64) (int64, error) {
	var total int64
	for _, t := range expiringTables {
		var n int64
		if err := q.get(ctx, &n, `SELECT COUNT(*) FROM `+t.table+` WHERE expires_at < ?`, now); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// InsertVerifiedTokenOfUser records v, as InsertVerifiedToken does, but only while the
// project's user userID has identifier, and reports whether it did: false (and nothing
// written) when the user was renamed or deleted. Errors: ErrAlreadyExists.
func (q queries) InsertVerifiedTokenOfUser(ctx context.Context, v VerifiedToken, userID, identifier string) (bool, error) {
	n, err := q.exec(ctx, `INSERT INTO verified_tokens (project_id, jti, verified_at, expires_at)
		SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE project_id = ? AND id = ? AND identifier = ?)`,
		v.ProjectID, v.JTI, v.VerifiedAt, v.ExpiresAt, v.ProjectID, userID, identifier)
	return n == 1, err
}

// Verified is what a successful online verification writes, and the conditions it is
// written on.
type Verified struct {
	Token VerifiedToken // the jti, single use as InsertVerifiedToken
	Event Event         // its audit event
	// With Identifier set, the writes happen only while the project's user UserID has it.
	UserID, Identifier string
	// With SecretHash set, the writes happen only while the project (Token.ProjectID) has a
	// live API secret of that hash: a caller that authenticated the backend against hashes it
	// read earlier has that confirmed in the same statement or transaction as the writes.
	SecretHash string
}

// ErrSecretNotLive is RecordVerified's answer when Verified.SecretHash is set and no live
// secret of the project has that hash: nothing was written.
var ErrSecretNotLive = errors.New("sqlstore: the API secret is not a live secret of the project")

// RecordVerified writes v's jti and event, both or neither, and reports whether it did:
// false (nothing written) when the user was renamed or deleted. Errors: ErrSecretNotLive,
// checked before anything else; ErrAlreadyExists when the jti was verified before.
//
// On PostgreSQL it is one statement, and so one round trip and no BEGIN or COMMIT; on SQLite,
// which has no INSERT in WITH, a transaction.
func (s *Store) RecordVerified(ctx context.Context, v Verified) (bool, error) {
	t, ev := v.Token, v.Event
	if s.dialect == Postgres {
		var live bool
		var n int64
		err := s.row(ctx, `WITH a AS (
				SELECT CAST(? AS TEXT) = '' OR EXISTS (SELECT 1 FROM api_secrets WHERE project_id = ? AND secret_hash = ? AND revoked_at IS NULL) AS live
			), v AS (
				INSERT INTO verified_tokens (project_id, jti, verified_at, expires_at)
				SELECT ?, ?, ?, ? WHERE (SELECT live FROM a)
					AND (CAST(? AS TEXT) = '' OR EXISTS (SELECT 1 FROM users WHERE project_id = ? AND id = ? AND identifier = ?))
				RETURNING 1
			), e AS (
				INSERT INTO events (`+eventColumns+`) SELECT `+placeholders(11)+` WHERE EXISTS (SELECT 1 FROM v)
			)
			SELECT (SELECT live FROM a), (SELECT COUNT(*) FROM v)`,
			append([]any{v.SecretHash, t.ProjectID, v.SecretHash, t.ProjectID, t.JTI, t.VerifiedAt, t.ExpiresAt,
				v.Identifier, t.ProjectID, v.UserID, v.Identifier}, ev.args()...), &live, &n)
		switch {
		case err != nil:
			return false, err
		case !live:
			return false, ErrSecretNotLive
		}
		return n == 1, nil
	}
	ok := true
	err := s.InTx(ctx, func(tx *Tx) error {
		if v.SecretHash != "" {
			live, err := tx.SecretLive(ctx, t.ProjectID, v.SecretHash)
			if err != nil {
				return err
			}
			if !live {
				return ErrSecretNotLive
			}
		}
		if v.Identifier == "" {
			if err := tx.InsertVerifiedToken(ctx, t); err != nil {
				return err
			}
		} else {
			var err error
			if ok, err = tx.InsertVerifiedTokenOfUser(ctx, t, v.UserID, v.Identifier); err != nil || !ok {
				return err
			}
		}
		return tx.InsertEvents(ctx, ev)
	})
	return ok && err == nil, err
}
