package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Count is an amount to add to one of a project's analytics counters: a series (such as
// "login") and a dimension within it (such as "conditional"; "" for none).
type Count struct {
	Series string
	Dim    string
	Value  int64
}

// CounterShards is the number of shards of each counter (see the migration): writers pick
// one, readers sum them all.
const CounterShards = 16

// AddCounts adds cs to the project's counters of the hour that starts at bucketStart (unix
// ms), in shard shard (0 to CounterShards-1), with one statement whatever the number of
// counts: an upsert that creates the rows it lacks and adds to those it has. The rows are
// written in the order of their keys, so that two transactions adding to the same counters
// cannot deadlock on PostgreSQL.
func (q queries) AddCounts(ctx context.Context, projectID string, bucketStart int64, shard int, cs ...Count) error {
	if len(cs) == 0 {
		return nil
	}
	if shard < 0 || shard >= CounterShards {
		return fmt.Errorf("sqlstore: AddCounts: shard %d out of range", shard)
	}
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b Count) int {
		if c := strings.Compare(a.Series, b.Series); c != 0 {
			return c
		}
		return strings.Compare(a.Dim, b.Dim)
	})
	// Two counts of one counter in a statement would make the upsert touch a row twice,
	// which PostgreSQL refuses: merge them.
	merged := cs[:0]
	for _, c := range cs {
		if n := len(merged); n > 0 && merged[n-1].Series == c.Series && merged[n-1].Dim == c.Dim {
			merged[n-1].Value += c.Value
			continue
		}
		merged = append(merged, c)
	}
	args := make([]any, 0, 6*len(merged))
	for _, c := range merged {
		args = append(args, projectID, bucketStart, c.Series, c.Dim, int64(shard), c.Value)
	}
	_, err := q.exec(ctx, `INSERT INTO analytics_counters (project_id, bucket_start, series, dim, shard, value)
		VALUES `+values(len(merged), 6)+`
		ON CONFLICT (project_id, bucket_start, series, dim, shard)
		DO UPDATE SET value = analytics_counters.value + excluded.value`, args...)
	return err
}

// CounterRow is the sum of one counter's shards in one hour.
type CounterRow struct {
	BucketStart int64  `db:"bucket_start"`
	Series      string `db:"series"`
	Dim         string `db:"dim"`
	Value       int64  `db:"value"`
}

// Counters returns the project's counters of the hours that start in [from, to) (unix ms),
// their shards summed, ordered by hour, series and dimension.
func (q queries) Counters(ctx context.Context, projectID string, from, to int64) ([]CounterRow, error) {
	var out []CounterRow
	err := q.selectRows(ctx, &out, `SELECT bucket_start, series, dim, SUM(value) AS value FROM analytics_counters
		WHERE project_id = ? AND bucket_start >= ? AND bucket_start < ?
		GROUP BY bucket_start, series, dim ORDER BY bucket_start, series, dim`, projectID, from, to)
	return out, err
}

// BucketCount is how many rows fall into bucket Bucket: -1 for those before the range.
type BucketCount struct {
	Bucket int64 `db:"bucket"`
	N      int64 `db:"n"`
}

// UsersCreated counts the project's users created before to (unix ms) by bucket of width
// ms from from: bucket -1 holds those created before from, bucket i those created in
// [from + i·width, from + (i+1)·width). Deleted users are not counted: they are gone.
func (q queries) UsersCreated(ctx context.Context, projectID string, from, to, width int64) ([]BucketCount, error) {
	var out []BucketCount
	err := q.selectRows(ctx, &out, `SELECT CASE WHEN created_at < ? THEN -1 ELSE (created_at - ?) / ? END AS bucket, COUNT(*) AS n
		FROM users WHERE project_id = ? AND created_at < ? GROUP BY bucket ORDER BY bucket`, from, from, width, projectID, to)
	return out, err
}

// FirstPasskeys is UsersCreated for the users with at least one passkey, by the creation
// time of the oldest passkey they have (a user whose passkeys were all deleted is not
// counted).
func (q queries) FirstPasskeys(ctx context.Context, projectID string, from, to, width int64) ([]BucketCount, error) {
	var out []BucketCount
	err := q.selectRows(ctx, &out, `SELECT CASE WHEN first_at < ? THEN -1 ELSE (first_at - ?) / ? END AS bucket, COUNT(*) AS n
		FROM (SELECT MIN(created_at) AS first_at FROM passkeys WHERE project_id = ? AND created_at < ? GROUP BY user_id) f
		GROUP BY bucket ORDER BY bucket`, from, from, width, projectID, to)
	return out, err
}

// PasskeyGroup is how many of a project's passkeys share an AAGUID and backup flags.
type PasskeyGroup struct {
	AAGUID         string `db:"aaguid"`
	BackupEligible bool   `db:"backup_eligible"`
	BackupState    bool   `db:"backup_state"`
	N              int64  `db:"n"`
}

// PasskeyGroups returns the project's passkeys counted by AAGUID and backup flags.
func (q queries) PasskeyGroups(ctx context.Context, projectID string) ([]PasskeyGroup, error) {
	var out []PasskeyGroup
	err := q.selectRows(ctx, &out, `SELECT aaguid, backup_eligible, backup_state, COUNT(*) AS n FROM passkeys
		WHERE project_id = ? GROUP BY aaguid, backup_eligible, backup_state ORDER BY aaguid, backup_eligible, backup_state`, projectID)
	return out, err
}
