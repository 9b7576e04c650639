package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/lib/pq"
)

// FinishedLogin is what the finish of a login with a sealed ceremony writes: the ceremony's
// outcome (single use), the passkey's use (counter rule and all, as RecordPasskeyUse), the
// audit events and one count of the analytics.
type FinishedLogin struct {
	ProjectID, CeremonyKey string
	ExpiresAt, MaxFailures int64 // as FinishSealedCeremony
	Use                    PasskeyUse
	Events                 []Event
	BucketStart            int64 // the count, as AddCounts
	Shard                  int
	Count                  Count
}

// LoginWritten is what FinishLogin did.
type LoginWritten struct {
	// Claimed is false when the ceremony was finished before (or failed too often); nothing
	// was written.
	Claimed bool
	// Used is false, with Claimed true, when the passkey's use was refused (its counter did
	// not increase, or it was deleted); nothing was written either.
	Used bool
	// SigningKeyID, when both are true, is the ID of the project's key that signs at the
	// login's time (Use.At), read in the same statement or transaction as the writes, or ""
	// if the project has none: the broker signs with a key it may have cached and checks it
	// here, so that a key rotated in to sign at once through another replica is used at once.
	SigningKeyID string
}

// errPasskeyNotUsed rolls back a login whose passkey use the counter rule refused.
var errPasskeyNotUsed = errors.New("sqlstore: the passkey's use was refused")

// FinishLogin writes f all or nothing, and reports what stopped it, if anything (see
// LoginWritten).
//
// On PostgreSQL it is one statement (one round trip, no BEGIN or COMMIT): data-modifying
// WITH queries, each conditioned on the one before, and a final division by the number of
// passkey rows updated, which fails (division_by_zero) and so undoes the statement when the
// ceremony was claimed and the passkey's use refused. On SQLite, which has no INSERT in WITH,
// it is a transaction of five statements.
func (s *Store) FinishLogin(ctx context.Context, f FinishedLogin) (LoginWritten, error) {
	if f.Shard < 0 || f.Shard >= CounterShards {
		return LoginWritten{}, errors.New("sqlstore: FinishLogin: shard out of range")
	}
	if s.dialect != Postgres {
		var w LoginWritten
		err := s.InTx(ctx, func(tx *Tx) error {
			var err error
			if w.Claimed, err = tx.FinishSealedCeremony(ctx, f.ProjectID, f.CeremonyKey, f.ExpiresAt, f.MaxFailures); err != nil || !w.Claimed {
				return err
			}
			if w.Used, err = tx.RecordPasskeyUse(ctx, f.Use); err != nil {
				return err
			}
			if !w.Used {
				return errPasskeyNotUsed
			}
			if err := tx.InsertEvents(ctx, f.Events...); err != nil {
				return err
			}
			if err := tx.AddCounts(ctx, f.ProjectID, f.BucketStart, f.Shard, f.Count); err != nil {
				return err
			}
			w.SigningKeyID, err = tx.SigningKeyAt(ctx, f.ProjectID, f.Use.At)
			return err
		})
		switch {
		case errors.Is(err, errPasskeyNotUsed):
			return LoginWritten{Claimed: true}, nil
		case err != nil:
			return LoginWritten{}, err
		}
		return w, nil
	}

	u := f.Use
	args := []any{f.ProjectID, f.CeremonyKey, f.ExpiresAt, f.MaxFailures,
		u.SignCount, u.SignCount, u.BackupState, u.UserVerified, u.At, u.ProjectID, u.CredentialID, u.SignCount, u.SignCount}
	// The events' rows, in a VALUES list that PostgreSQL types from the first row: the
	// BIGINT columns are cast, the others are text.
	eventRow := "(?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, ?, ?, ?, ?, ?, ?)"
	rows := repeatRow(eventRow, len(f.Events))
	for _, e := range f.Events {
		args = append(args, e.args()...)
	}
	args = append(args, f.ProjectID, f.BucketStart, f.Count.Series, f.Count.Dim, int64(f.Shard), f.Count.Value, f.ProjectID, f.Use.At)
	events := ""
	if len(f.Events) > 0 {
		events = `, e AS (
			INSERT INTO events (` + eventColumns + `) SELECT * FROM (VALUES ` + rows + `) AS r WHERE EXISTS (SELECT 1 FROM p)
		)`
	}
	var nClaimed, ratio int64
	var kid sql.NullString
	err := s.row(ctx, `WITH o AS (
			INSERT INTO ceremony_outcomes (project_id, ceremony_key, finished, failures, expires_at)
			VALUES (?, ?, TRUE, 0, ?)
			ON CONFLICT (expires_at, project_id, ceremony_key) DO UPDATE SET finished = TRUE
			WHERE ceremony_outcomes.finished = FALSE AND ceremony_outcomes.failures < ?
			RETURNING 1
		), p AS (
			UPDATE passkeys SET sign_count = CASE WHEN CAST(? AS BIGINT) > sign_count THEN CAST(? AS BIGINT) ELSE sign_count END,
				backup_state = ?, user_verified = (user_verified OR ?), last_used_at = ?
			WHERE project_id = ? AND credential_id = ? AND ((CAST(? AS BIGINT) = 0 AND sign_count = 0) OR sign_count < CAST(? AS BIGINT))
				AND EXISTS (SELECT 1 FROM o)
			RETURNING 1
		)`+events+`, c AS (
			INSERT INTO analytics_counters (project_id, bucket_start, series, dim, shard, value)
			SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM p)
			ON CONFLICT (project_id, bucket_start, series, dim, shard)
			DO UPDATE SET value = analytics_counters.value + excluded.value
		)
		SELECT (SELECT COUNT(*) FROM o),
			CASE WHEN EXISTS (SELECT 1 FROM o) THEN 1 / (SELECT COUNT(*) FROM p) ELSE 0 END,
			(`+signingKeyAt+`)`, args, &nClaimed, &ratio, &kid)
	var perr *pq.Error
	switch {
	case errors.As(err, &perr) && perr.Code == "22012": // division_by_zero: claimed, not used
		return LoginWritten{Claimed: true}, nil
	case err != nil:
		return LoginWritten{}, err
	case nClaimed != 1:
		return LoginWritten{}, nil
	}
	return LoginWritten{Claimed: true, Used: true, SigningKeyID: kid.String}, nil
}
