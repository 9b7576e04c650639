package sqlstore

import (
	"context"
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

// errPasskeyNotUsed rolls back a login whose passkey use the counter rule refused.
var errPasskeyNotUsed = errors.New("sqlstore: the passkey's use was refused")

// FinishLogin writes f all or nothing, and reports what stopped it: claimed is false when
// the ceremony was finished before (or failed too often), and nothing is written; claimed and
// not used means the passkey's use was refused (its counter did not increase, or it was
// deleted), and nothing is written either.
//
// On PostgreSQL it is one statement (one round trip, no BEGIN or COMMIT): data-modifying
// WITH queries, each conditioned on the one before, and a final division by the number of
// passkey rows updated, which fails (division_by_zero) and so undoes the statement when the
// ceremony was claimed and the passkey's use refused. On SQLite, which has no INSERT in WITH,
// it is a transaction of four statements.
func (s *Store) FinishLogin(ctx context.Context, f FinishedLogin) (claimed, used bool, err error) {
	if f.Shard < 0 || f.Shard >= CounterShards {
		return false, false, errors.New("sqlstore: FinishLogin: shard out of range")
	}
	if s.dialect != Postgres {
		err := s.InTx(ctx, func(tx *Tx) error {
			var err error
			if claimed, err = tx.FinishSealedCeremony(ctx, f.ProjectID, f.CeremonyKey, f.ExpiresAt, f.MaxFailures); err != nil || !claimed {
				return err
			}
			if used, err = tx.RecordPasskeyUse(ctx, f.Use); err != nil {
				return err
			}
			if !used {
				return errPasskeyNotUsed
			}
			if err := tx.InsertEvents(ctx, f.Events...); err != nil {
				return err
			}
			return tx.AddCounts(ctx, f.ProjectID, f.BucketStart, f.Shard, f.Count)
		})
		if errors.Is(err, errPasskeyNotUsed) {
			return true, false, nil
		}
		return claimed && err == nil, used && err == nil, err
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
	args = append(args, f.ProjectID, f.BucketStart, f.Count.Series, f.Count.Dim, int64(f.Shard), f.Count.Value)
	events := ""
	if len(f.Events) > 0 {
		events = `, e AS (
			INSERT INTO events (` + eventColumns + `) SELECT * FROM (VALUES ` + rows + `) AS r WHERE EXISTS (SELECT 1 FROM p)
		)`
	}
	var nClaimed, ratio int64
	err = s.row(ctx, `WITH o AS (
			INSERT INTO ceremony_outcomes (project_id, ceremony_key, finished, failures, expires_at)
			VALUES (?, ?, TRUE, 0, ?)
			ON CONFLICT (project_id, ceremony_key) DO UPDATE SET finished = TRUE
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
			CASE WHEN EXISTS (SELECT 1 FROM o) THEN 1 / (SELECT COUNT(*) FROM p) ELSE 0 END`, args, &nClaimed, &ratio)
	var perr *pq.Error
	switch {
	case errors.As(err, &perr) && perr.Code == "22012": // division_by_zero: claimed, not used
		return true, false, nil
	case err != nil:
		return false, false, err
	}
	return nClaimed == 1, nClaimed == 1, nil
}
