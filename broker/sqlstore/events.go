package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// likeEscaper escapes the wildcards of a LIKE pattern written with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// Event is a row of events, the audit log: rows are appended, deleted when they are older
// than the retention period (DeleteEventsBefore), and changed only to erase a deleted user's
// personal data (ClearUserRequestInfo, ScrubEvent). The log's order is (created_at, seq, id);
// the broker stamps seq (see broker's eventClock), so no counter row is shared between
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

// args are e's values in the order of eventColumns.
func (e Event) args() []any {
	return []any{e.ProjectID, e.ID, e.CreatedAt, e.Seq, e.Type, e.UserID, e.CredentialID,
		e.RequestID, e.ClientIP, e.UserAgent, e.Details}
}

// InsertEvents appends evs in one statement (prepared once per number of events).
func (q queries) InsertEvents(ctx context.Context, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	args := make([]any, 0, 11*len(evs))
	for _, e := range evs {
		args = append(args, e.args()...)
	}
	_, err := q.exec(ctx, `INSERT INTO events (`+eventColumns+`) VALUES `+values(len(evs), 11), args...)
	return err
}

// EventFilter selects a page of a project's events in the log's order.
type EventFilter struct {
	ProjectID string
	// Until leaves out events created after it (unix ms).
	Until int64
	// Since, if not 0, leaves out events created before it (unix ms).
	Since int64
	// After, if set, starts after the event at (AfterCreatedAt, AfterSeq, After).
	After          string
	AfterCreatedAt int64
	AfterSeq       int64
	Type           string // "" for every type
	UserID         string // "" for every user
	// NoUser keeps only the events without a user (user_id NULL).
	NoUser bool
	// DetailsContain, if set, keeps only the events whose details, as stored (compact JSON),
	// contain it. It is matched with LIKE, which on SQLite ignores the case of ASCII letters:
	// callers check the details they get.
	DetailsContain string
	Limit          int
}

// Events returns the events f selects, ordered by (created_at, seq, id).
func (q queries) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	where := []string{`project_id = ?`, `created_at <= ?`}
	args := []any{f.ProjectID, f.Until}
	if f.Since != 0 {
		where, args = append(where, `created_at >= ?`), append(args, f.Since)
	}
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
	if f.NoUser {
		where = append(where, `user_id IS NULL`)
	}
	if f.DetailsContain != "" {
		where, args = append(where, `details LIKE ? ESCAPE '\'`), append(args, "%"+likeEscaper.Replace(f.DetailsContain)+"%")
	}
	var out []Event
	err := q.selectRows(ctx, &out, `SELECT `+eventColumns+` FROM events WHERE `+strings.Join(where, ` AND `)+`
		ORDER BY created_at, seq, id LIMIT ?`, append(args, f.Limit)...)
	return out, err
}

// DeleteEventsBefore removes at most limit (at least 1) of the project's events created
// before before (unix ms), oldest first, and returns how many it removed. It finds the key of
// the limit-th oldest such event, then deletes up to it in one statement of its own (or, when
// fewer are left, all of them): both walk a range of the primary key (project_id, created_at,
// seq, id), whatever plan the database caches. Replicas may run it at once: an event that
// another one removed is skipped, not an error, and a batch may then come back short.
func (q queries) DeleteEventsBefore(ctx context.Context, projectID string, before int64, limit int) (int64, error) {
	if limit < 1 {
		return 0, fmt.Errorf("sqlstore: DeleteEventsBefore: limit %d is less than 1", limit)
	}
	var last struct {
		CreatedAt int64  `db:"created_at"`
		Seq       int64  `db:"seq"`
		ID        string `db:"id"`
	}
	err := q.get(ctx, &last, `SELECT created_at, seq, id FROM events WHERE project_id = ? AND created_at < ?
		ORDER BY created_at, seq, id LIMIT 1 OFFSET ?`, projectID, before, limit-1)
	if errors.Is(err, ErrNotFound) { // fewer than limit: no event gets older than before
		return q.exec(ctx, `DELETE FROM events WHERE project_id = ? AND created_at < ?`, projectID, before)
	} else if err != nil {
		return 0, err
	}
	return q.exec(ctx, `DELETE FROM events WHERE project_id = ? AND created_at < ? AND (created_at, seq, id) <= (?, ?, ?)`,
		projectID, before, last.CreatedAt, last.Seq, last.ID)
}

// ClearUserRequestInfo empties the client IP and user agent of every event of the project's
// user userID, in one statement, and returns how many events it changed.
func (q queries) ClearUserRequestInfo(ctx context.Context, projectID, userID string) (int64, error) {
	return q.exec(ctx, `UPDATE events SET client_ip = '', user_agent = ''
		WHERE project_id = ? AND user_id = ? AND (client_ip <> '' OR user_agent <> '')`, projectID, userID)
}

// ScrubEvent replaces the details of the project's event e (found by its key: project,
// created_at, seq and ID) with e.Details and empties its client IP and user agent; its type,
// time, user, credential and request stay. Errors: ErrNotFound when there is no such event.
func (q queries) ScrubEvent(ctx context.Context, e Event) error {
	n, err := q.exec(ctx, `UPDATE events SET client_ip = '', user_agent = '', details = ?
		WHERE project_id = ? AND created_at = ? AND seq = ? AND id = ?`, e.Details, e.ProjectID, e.CreatedAt, e.Seq, e.ID)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	return err
}
