package sqlstore

import (
	"context"
	"strings"
)

// Event is a row of events, the append-only audit log. The log's order is (created_at, seq,
// id); the broker stamps seq (see broker's eventClock), so no counter row is shared between
// transactions.
type Event struct {
	ProjectID    string  `db:"project_id"`
	ID           string  `db:"id"`
	CreatedAt    int64   `db:"created_at"`
	Seq          int64   `db:"seq"`
	Type         string  `db:"type"`
	UserID       *string `db:"user_id"`
	CredentialID *string `db:"credential_id"`
	RequestID    string  `db:"request_id"`
	ClientIP     string  `db:"client_ip"`
	UserAgent    string  `db:"user_agent"`
	Details      Object  `db:"details"`
}

const eventColumns = `project_id, id, created_at, seq, type, user_id, credential_id, request_id, client_ip, user_agent, details`

// InsertEvents appends evs in one statement (prepared once per number of events).
func (q queries) InsertEvents(ctx context.Context, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	args := make([]any, 0, 11*len(evs))
	for _, e := range evs {
		args = append(args, e.ProjectID, e.ID, e.CreatedAt, e.Seq, e.Type, e.UserID, e.CredentialID,
			e.RequestID, e.ClientIP, e.UserAgent, e.Details)
	}
	_, err := q.exec(ctx, `INSERT INTO events (`+eventColumns+`) VALUES `+values(len(evs), 11), args...)
	return err
}

// EventFilter selects a page of a project's events in the log's order.
type EventFilter struct {
	ProjectID string
	// Until leaves out events created after it (unix ms).
	Until int64
	// After, if set, starts after the event at (AfterCreatedAt, AfterSeq, After).
	After          string
	AfterCreatedAt int64
	AfterSeq       int64
	Type           string // "" for every type
	UserID         string // "" for every user
	Limit          int
}

// Events returns the events f selects, ordered by (created_at, seq, id).
func (q queries) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	where := []string{`project_id = ?`, `created_at <= ?`}
	args := []any{f.ProjectID, f.Until}
	if f.After != "" {
		where = append(where, `(created_at, seq, id) > (?, ?, ?)`)
		args = append(args, f.AfterCreatedAt, f.AfterSeq, f.After)
	}
	if f.Type != "" {
		where, args = append(where, `type = ?`), append(args, f.Type)
	}
	if f.UserID != "" {
		where, args = append(where, `user_id = ?`), append(args, f.UserID)
	}
	var out []Event
	err := q.selectRows(ctx, &out, `SELECT `+eventColumns+` FROM events WHERE `+strings.Join(where, ` AND `)+`
		ORDER BY created_at, seq, id LIMIT ?`, append(args, f.Limit)...)
	return out, err
}
