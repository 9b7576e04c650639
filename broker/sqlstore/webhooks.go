package sqlstore

import (
	"context"
)

// WebhookEndpoint is a row of webhook_endpoints. An endpoint's messages are the events of
// its project after its cursor, of its event types, in the log's order. A replica sends them
// only while it holds the endpoint's lease: it claims the lease with ClaimWebhookEndpoint (one
// conditional UPDATE, so that two replicas cannot both win it), and every later change it
// makes (ExtendWebhookLease, AdvanceWebhookCursor, WebhookFailed, ReleaseWebhookEndpoint)
// applies only while lease_owner is still its token.
type WebhookEndpoint struct {
	ProjectID       string       `db:"project_id"`
	ID              string       `db:"id"`
	URL             string       `db:"url"`
	EventTypes      List[string] `db:"event_types"`
	SealedSecret    string       `db:"sealed_secret"`
	CreatedAt       int64        `db:"created_at"`
	DisabledAt      *int64       `db:"disabled_at"`
	DisabledReason  string       `db:"disabled_reason"`
	CursorCreatedAt int64        `db:"cursor_created_at"`
	CursorSeq       int64        `db:"cursor_seq"`
	CursorID        string       `db:"cursor_id"`
	Failures        int64        `db:"failures"`
	FailingSince    *int64       `db:"failing_since"`
	NextAttemptAt   int64        `db:"next_attempt_at"`
	LeasedUntil     int64        `db:"leased_until"`
	LeaseOwner      string       `db:"lease_owner"`
}

const webhookColumns = `project_id, id, url, event_types, sealed_secret, created_at, disabled_at, disabled_reason,
	cursor_created_at, cursor_seq, cursor_id, failures, failing_since, next_attempt_at, leased_until, lease_owner`

// InsertWebhookEndpoint adds e. Errors: ErrAlreadyExists.
func (q queries) InsertWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error {
	_, err := q.exec(ctx, `INSERT INTO webhook_endpoints (`+webhookColumns+`) VALUES `+values(1, 16),
		e.ProjectID, e.ID, e.URL, e.EventTypes, e.SealedSecret, e.CreatedAt, e.DisabledAt, e.DisabledReason,
		e.CursorCreatedAt, e.CursorSeq, e.CursorID, e.Failures, e.FailingSince, e.NextAttemptAt, e.LeasedUntil, e.LeaseOwner)
	return err
}

// WebhookEndpoints returns the project's endpoints, oldest first.
func (q queries) WebhookEndpoints(ctx context.Context, projectID string) ([]WebhookEndpoint, error) {
	var out []WebhookEndpoint
	err := q.selectRows(ctx, &out, `SELECT `+webhookColumns+` FROM webhook_endpoints WHERE project_id = ? ORDER BY created_at, id`, projectID)
	return out, err
}

// WebhookEndpoint returns the project's endpoint id. Errors: ErrNotFound.
func (q queries) WebhookEndpoint(ctx context.Context, projectID, id string) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := q.get(ctx, &e, `SELECT `+webhookColumns+` FROM webhook_endpoints WHERE project_id = ? AND id = ?`, projectID, id)
	return e, err
}

// DeleteWebhookEndpoint removes the project's endpoint id and its attempts. Errors:
// ErrNotFound. Run it in a transaction, so that both go or neither.
func (q queries) DeleteWebhookEndpoint(ctx context.Context, projectID, id string) error {
	if err := q.execOne(ctx, "webhook endpoint "+id, `DELETE FROM webhook_endpoints WHERE project_id = ? AND id = ?`, projectID, id); err != nil {
		return err
	}
	_, err := q.exec(ctx, `DELETE FROM webhook_attempts WHERE project_id = ? AND endpoint_id = ?`, projectID, id)
	return err
}

// DueWebhookEndpoints returns at most limit enabled endpoints, of every project, whose next
// attempt is due at now and whose lease is free then, in key order after (afterProject,
// afterID) ("" and "": from the first), so that a caller that walks on from the last one it
// got visits every endpoint in turn. They are candidates only: ClaimWebhookEndpoint decides
// who sends.
func (q queries) DueWebhookEndpoints(ctx context.Context, now int64, afterProject, afterID string, limit int) ([]WebhookEndpoint, error) {
	var out []WebhookEndpoint
	err := q.selectRows(ctx, &out, `SELECT `+webhookColumns+` FROM webhook_endpoints
		WHERE (project_id, id) > (?, ?) AND disabled_at IS NULL AND next_attempt_at <= ? AND leased_until <= ?
		ORDER BY project_id, id LIMIT ?`, afterProject, afterID, now, now, limit)
	return out, err
}

// ClaimWebhookEndpoint gives the lease of the project's endpoint id to owner until until, if
// the endpoint is enabled, due at now and its lease free then, in one conditional UPDATE: of
// concurrent claims (from any replica) at most one wins. It reports whether owner got it.
func (q queries) ClaimWebhookEndpoint(ctx context.Context, projectID, id, owner string, now, until int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE webhook_endpoints SET leased_until = ?, lease_owner = ?
		WHERE project_id = ? AND id = ? AND disabled_at IS NULL AND next_attempt_at <= ? AND leased_until <= ?`,
		until, owner, projectID, id, now, now)
	return n == 1, err
}

// ExtendWebhookLease moves the end of owner's lease of the endpoint to until. Errors:
// ErrNotFound when owner no longer holds it (another replica claimed it, or it was disabled
// or removed).
func (q queries) ExtendWebhookLease(ctx context.Context, projectID, id, owner string, until int64) error {
	return q.execOne(ctx, "webhook lease "+id, `UPDATE webhook_endpoints SET leased_until = ?
		WHERE project_id = ? AND id = ? AND lease_owner = ? AND disabled_at IS NULL`, until, projectID, id, owner)
}

// AdvanceWebhookCursor moves the endpoint's cursor forward to the event (createdAt, seq,
// eventID) that owner delivered, clears its failures and makes its next attempt due at
// next. Errors: ErrNotFound when owner no longer holds the lease or the cursor is already
// there or past it.
func (q queries) AdvanceWebhookCursor(ctx context.Context, projectID, id, owner string, createdAt, seq int64, eventID string, next int64) error {
	return q.execOne(ctx, "webhook lease "+id, `UPDATE webhook_endpoints
		SET cursor_created_at = ?, cursor_seq = ?, cursor_id = ?, failures = 0, failing_since = NULL, next_attempt_at = ?
		WHERE project_id = ? AND id = ? AND lease_owner = ? AND (cursor_created_at, cursor_seq, cursor_id) < (?, ?, ?)`,
		createdAt, seq, eventID, next, projectID, id, owner, createdAt, seq, eventID)
}

// WebhookFailed records that owner's attempt at the endpoint's next message failed: its
// count of failures, when they began, when the next attempt is due, and the lease freed.
// Errors: ErrNotFound when owner no longer holds the lease.
func (q queries) WebhookFailed(ctx context.Context, projectID, id, owner string, failures, failingSince, next int64) error {
	return q.execOne(ctx, "webhook lease "+id, `UPDATE webhook_endpoints
		SET failures = ?, failing_since = ?, next_attempt_at = ?, leased_until = 0
		WHERE project_id = ? AND id = ? AND lease_owner = ?`, failures, failingSince, next, projectID, id, owner)
}

// ReleaseWebhookEndpoint frees owner's lease of the endpoint (nothing if owner no longer
// holds it) and makes its next attempt due at next.
func (q queries) ReleaseWebhookEndpoint(ctx context.Context, projectID, id, owner string, next int64) error {
	_, err := q.exec(ctx, `UPDATE webhook_endpoints SET leased_until = 0, next_attempt_at = ?
		WHERE project_id = ? AND id = ? AND lease_owner = ?`, next, projectID, id, owner)
	return err
}

// DisableWebhookEndpoint disables the project's enabled endpoint id at at, saying why.
// Errors: ErrNotFound when there is no such enabled endpoint.
func (q queries) DisableWebhookEndpoint(ctx context.Context, projectID, id string, at int64, reason string) error {
	return q.execOne(ctx, "webhook endpoint "+id, `UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ?, leased_until = 0
		WHERE project_id = ? AND id = ? AND disabled_at IS NULL`, at, reason, projectID, id)
}

// WebhookEventsAfter returns at most limit of the project's events created at or before
// until, after the event (afterCreatedAt, afterSeq, afterID) in the log's order, of one of
// types (at least one).
func (q queries) WebhookEventsAfter(ctx context.Context, projectID string, afterCreatedAt, afterSeq int64, afterID string,
	types []string, until int64, limit int) ([]Event, error) {
	args := []any{projectID, until, afterCreatedAt, afterSeq, afterID}
	for _, t := range types {
		args = append(args, t)
	}
	var out []Event
	err := q.selectRows(ctx, &out, `SELECT `+eventColumns+` FROM events
		WHERE project_id = ? AND created_at <= ? AND (created_at, seq, id) > (?, ?, ?)
		AND type IN (`+placeholders(len(types))+`)
		ORDER BY created_at, seq, id LIMIT ?`, append(args, limit)...)
	return out, err
}

// WebhookAttempt is a row of webhook_attempts: one delivery attempt of one message (an
// event) to one endpoint.
type WebhookAttempt struct {
	ProjectID     string `db:"project_id"`
	EndpointID    string `db:"endpoint_id"`
	ID            string `db:"id"`
	EventID       string `db:"event_id"`
	EventType     string `db:"event_type"`
	Attempt       int64  `db:"attempt"`
	AttemptedAt   int64  `db:"attempted_at"`
	DurationMS    int64  `db:"duration_ms"`
	Result        string `db:"result"`
	StatusCode    int64  `db:"status_code"`
	Error         string `db:"error"`
	NextAttemptAt *int64 `db:"next_attempt_at"`
}

const attemptColumns = `project_id, endpoint_id, id, event_id, event_type, attempt, attempted_at, duration_ms, result, status_code, error, next_attempt_at`

// InsertWebhookAttempt adds a. Errors: ErrAlreadyExists.
func (q queries) InsertWebhookAttempt(ctx context.Context, a WebhookAttempt) error {
	_, err := q.exec(ctx, `INSERT INTO webhook_attempts (`+attemptColumns+`) VALUES `+values(1, 12),
		a.ProjectID, a.EndpointID, a.ID, a.EventID, a.EventType, a.Attempt, a.AttemptedAt, a.DurationMS, a.Result, a.StatusCode, a.Error, a.NextAttemptAt)
	return err
}

// WebhookAttempts returns at most limit of the endpoint's attempts made before before (unix
// ms; or at the same time with a smaller ID than beforeID), newest first.
func (q queries) WebhookAttempts(ctx context.Context, projectID, endpointID string, before int64, beforeID string, limit int) ([]WebhookAttempt, error) {
	var out []WebhookAttempt
	err := q.selectRows(ctx, &out, `SELECT `+attemptColumns+` FROM webhook_attempts
		WHERE project_id = ? AND endpoint_id = ? AND (attempted_at, id) < (?, ?)
		ORDER BY attempted_at DESC, id DESC LIMIT ?`, projectID, endpointID, before, beforeID, limit)
	return out, err
}

// DeleteWebhookAttemptsBefore removes the attempts made before before (unix ms) and returns
// how many it removed.
func (q queries) DeleteWebhookAttemptsBefore(ctx context.Context, before int64) (int64, error) {
	return q.exec(ctx, `DELETE FROM webhook_attempts WHERE attempted_at < ?`, before)
}
