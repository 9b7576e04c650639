package broker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/signeddata"
)

// The types of audit events.
const (
	EventConnectTokenMinted   = "connect_token.minted"
	EventConnectTokenConsumed = "connect_token.consumed"
	EventConnectTokenRevoked  = "connect_token.revoked"
	EventCeremonyStarted      = "ceremony.started"
	EventCeremonyFinished     = "ceremony.finished"
	EventCeremonyFailed       = "ceremony.failed"
	EventPasskeyAdded         = "passkey.added"
	EventPasskeyUsed          = "passkey.used"
	EventPasskeyRelabelled    = "passkey.relabelled"
	EventPasskeyDeleted       = "passkey.deleted"
	EventCounterRegression    = "passkey.counter_regression"
	EventSignedDataVerified   = "signed_passkey_data.verified"
	EventSignedDataRejected   = "signed_passkey_data.rejected"
	EventUserCreated          = "user.created"
	EventUserRenamed          = "user.renamed"
	EventUserDeleted          = "user.deleted"
	EventAPISecretAdded       = "api_secret.added"
	EventAPISecretRevoked     = "api_secret.revoked"
	EventSigningKeyRotated    = "signing_key.rotated"
	EventProjectUpdated       = "project.updated"
	EventWebhookAdded         = "webhook.added"
	EventWebhookRemoved       = "webhook.removed"
	EventWebhookDisabled      = "webhook.disabled"
	EventRolloutChanged       = "project.rollout_changed"
	EventAppendDeclined       = "user.append_declined"
)

// EventTypes returns every event type, sorted.
func EventTypes() []string {
	types := []string{
		EventConnectTokenMinted, EventConnectTokenConsumed, EventConnectTokenRevoked,
		EventCeremonyStarted, EventCeremonyFinished, EventCeremonyFailed,
		EventPasskeyAdded, EventPasskeyUsed, EventPasskeyRelabelled, EventPasskeyDeleted, EventCounterRegression,
		EventSignedDataVerified, EventSignedDataRejected,
		EventUserCreated, EventUserRenamed, EventUserDeleted,
		EventAPISecretAdded, EventAPISecretRevoked, EventSigningKeyRotated, EventProjectUpdated,
		EventWebhookAdded, EventWebhookRemoved, EventWebhookDisabled,
		EventRolloutChanged, EventAppendDeclined,
	}
	slices.Sort(types)
	return types
}

// EventFeedDelay is how old an event must be before Events returns it. A transaction stamps
// its events just before it commits; holding the newest events back this long means that a
// reader's cursor never passes an event whose transaction has yet to commit, also across
// replicas whose clocks agree to well within it.
const EventFeedDelay = 2 * time.Second

// Event is one entry of the audit log. It never holds a secret, a connect token, a challenge
// or signedPasskeyData.
type Event struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	CreatedAt    time.Time      `json:"createdAt"`
	ProjectID    string         `json:"projectID"`
	UserID       string         `json:"userID,omitempty"`
	CredentialID string         `json:"credentialID,omitempty"`
	RequestID    string         `json:"requestID,omitempty"`
	ClientIP     string         `json:"clientIP,omitempty"`
	UserAgent    string         `json:"userAgent,omitempty"`
	Details      map[string]any `json:"details"`
}

// RequestInfo describes the HTTP request on whose behalf the broker acts, for the audit log.
type RequestInfo struct {
	RequestID string
	ClientIP  string
	UserAgent string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying ri, which the events written under ctx record. Values
// are cleaned (valid UTF-8, no control characters) and cut: the request ID and client IP to
// 64 bytes, the user agent, which the client chooses, to 256 (real ones are shorter).
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	ri.RequestID = cleanText(ri.RequestID, 64)
	ri.ClientIP = cleanText(ri.ClientIP, 64)
	ri.UserAgent = cleanText(ri.UserAgent, 256)
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

func requestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}

// cleanText makes s valid UTF-8 without control characters, at most max bytes long (cut at
// a character boundary, so that what the database stores is bounded whatever the script).
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// maxEventCredentialID is the longest credential ID an event records as it is: 86
// characters, the base64url of 64 bytes, the most that passkey providers use (16 to 64
// bytes). WebAuthn allows up to 1,023 bytes, so an unknown credential can carry 1,364
// characters of the client's choosing; a longer ID is recorded as eventCredentialID makes it.
const maxEventCredentialID = 86

// eventCredentialID is id as events record it: id itself up to maxEventCredentialID
// characters, otherwise "sha256:" and the base64url SHA-256 of id (50 characters), the same
// for every event of one ID and computable from a passkey's ID.
func eventCredentialID(id string) string {
	if len(id) <= maxEventCredentialID {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return "sha256:" + base64.RawURLEncoding.EncodeToString(h[:])
}

// eventClock orders the events one process writes: by millisecond, then by a sequence number
// that starts at a random value in each millisecond and increases within it. The clock never
// goes back, even if the wall clock does.
type eventClock struct {
	mu  sync.Mutex
	ms  int64
	seq int64
}

func (c *eventClock) next(now time.Time) (int64, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := ms(now); m > c.ms {
		r, err := randomBytes(8)
		if err != nil {
			return 0, 0, err
		}
		c.ms, c.seq = m, int64(binary.BigEndian.Uint64(r)>>2) // room for 2^62 increments
		return c.ms, c.seq, nil
	}
	c.seq++
	return c.ms, c.seq, nil
}

// record writes evs for the project in tx, stamped with the broker's clock and the request
// information of ctx, credential IDs longer than maxEventCredentialID hashed. Writing events
// in the transaction of the change they record means that a rolled-back change leaves no
// event and a committed one always has its events.
func (b *Broker) record(ctx context.Context, tx *sqlstore.Tx, projectID string, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	rows, err := b.eventRows(ctx, projectID, evs...)
	if err != nil {
		return err
	}
	return tx.InsertEvents(ctx, rows...)
}

// eventRows are evs as rows of the audit log, stamped with the time, the request of ctx and
// an ID each.
func (b *Broker) eventRows(ctx context.Context, projectID string, evs ...Event) ([]sqlstore.Event, error) {
	ri := requestInfoFrom(ctx)
	rows := make([]sqlstore.Event, 0, len(evs))
	for _, ev := range evs {
		id, err := newID("evt-")
		if err != nil {
			return nil, err
		}
		at, seq, err := b.events.next(b.Now())
		if err != nil {
			return nil, err
		}
		rows = append(rows, sqlstore.Event{ProjectID: projectID, ID: id, CreatedAt: at, Seq: seq, Type: ev.Type,
			UserID: nullable(ev.UserID), CredentialID: nullable(eventCredentialID(ev.CredentialID)), RequestID: ri.RequestID,
			ClientIP: ri.ClientIP, UserAgent: ri.UserAgent, Details: ev.Details})
	}
	return rows, nil
}

// recordAlone writes evs in a transaction of their own. It is for failures that change
// nothing, such as a finish that did not verify: their event is the request's only write. It
// is written even when the client has gone, and a store failure loses it silently.
func (b *Broker) recordAlone(ctx context.Context, projectID string, evs ...Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = b.store.InTx(ctx, func(tx *sqlstore.Tx) error { return b.record(ctx, tx, projectID, evs...) })
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// eventSubject is the user and credential a failed ceremony concerned, as far as known.
type eventSubject struct {
	UserID       string
	CredentialID string
}

// counterRegressionError is the ErrVerificationFailed of a login whose signature counter did
// not increase, as a cloned authenticator's would not.
type counterRegressionError struct {
	detail           *DetailError
	received, stored int64
}

func (e *counterRegressionError) Error() string { return e.detail.Error() }
func (e *counterRegressionError) Unwrap() error { return e.detail }

func counterRegression(received, stored int64) error {
	return &counterRegressionError{
		detail: &DetailError{Kind: ErrVerificationFailed, Detail: fmt.Sprintf(
			"signature counter went backwards (%d after %d): possibly a cloned authenticator", received, stored)},
		received: received, stored: stored,
	}
}

// failureKind names how a ceremony's finish failed, or "" for errors that are not the
// ceremony's (the store's, for one), which the audit log does not record.
func failureKind(err error) string {
	var (
		cr *counterRegressionError
		uc *UnknownCredentialError
	)
	switch {
	case errors.As(err, &cr):
		return "counter_regression"
	case errors.As(err, &uc):
		return "unknown_credential"
	case errors.Is(err, ErrVerificationFailed):
		return "verification_failed"
	case errors.Is(err, ErrInvalidConnectToken):
		return "invalid_connect_token"
	case errors.Is(err, ErrCeremonyNotFound):
		return "ceremony_not_found"
	case errors.Is(err, ErrAlreadyExists):
		return "already_registered"
	}
	return ""
}

// failureReason is the first clause of err's client-safe detail: go-webauthn's summary of the
// check that failed, without its developer information (which may quote the challenge).
func failureReason(err error) string {
	reason, _, _ := strings.Cut(Detail(err), ": ")
	return cleanText(reason, 200)
}

// ceremonyFailed records, in a transaction of its own, that the finish of cer failed with err
// (nothing if err is nil or not the ceremony's failure). It counts the failure against the
// ceremony, which closes after MaxFailedFinishes, and writes a ceremony.failed event for the
// first failure and for the one that closes it (the others are only counted), and a
// passkey.counter_regression event for every counter that went backwards.
func (b *Broker) ceremonyFailed(ctx context.Context, cer sqlstore.Ceremony, who eventSubject, err error) {
	kind := failureKind(err)
	if err == nil || kind == "" || kind == "ceremony_not_found" {
		// Not found is a replay or a lost race: the ceremony is spent, nothing to count.
		return
	}
	if who.UserID == "" {
		who.UserID = deref(cer.UserID)
	}
	if len(who.CredentialID) > 1400 { // longer than any credential ID: do not keep garbage
		who.CredentialID = ""
	}
	details := map[string]any{"ceremonyID": cer.ID, "kind": cer.Kind, "failure": kind}
	if r := failureReason(err); r != "" {
		details["reason"] = r
	}
	if cer.ConnectTokenID != nil {
		details["connectTokenID"] = *cer.ConnectTokenID
	}
	var regression *Event
	if cr := (*counterRegressionError)(nil); errors.As(err, &cr) {
		regression = &Event{Type: EventCounterRegression, UserID: who.UserID, CredentialID: who.CredentialID,
			Details: map[string]any{"ceremonyID": cer.ID, "signCount": cr.received, "storedSignCount": cr.stored}}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		var (
			failures int64
			ferr     error
		)
		failures, ferr = tx.CountFailedFinish(ctx, cer.ProjectID, outcomeKey(cer.ID), cer.ExpiresAt)
		if ferr != nil {
			return ferr
		}
		var evs []Event
		if failures <= 1 || failures == MaxFailedFinishes {
			if failures > 1 {
				details["failures"], details["closed"] = failures, true
			}
			evs = append(evs, Event{Type: EventCeremonyFailed, UserID: who.UserID, CredentialID: who.CredentialID, Details: details})
		}
		if regression != nil {
			evs = append(evs, *regression)
		}
		return b.record(ctx, tx, cer.ProjectID, evs...)
	})
}

// EventQuery selects a page of the audit log: the events after a cursor, optionally of one
// type or one user.
type EventQuery struct {
	// After is the nextCursor of an earlier page; "" starts at the oldest event.
	After string
	// Limit is the page size: 0 for 50, at most 100.
	Limit  int
	Type   string
	UserID string
}

// EventPage is one page of the audit log, oldest first.
type EventPage struct {
	Events []Event `json:"events"`
	// NextCursor is where the next read starts: the position of the last event returned, or
	// the query's own cursor when there was none.
	NextCursor string `json:"nextCursor"`
	// HasMore says that more events are ready to be read now.
	HasMore bool `json:"hasMore"`
}

func eventCursor(r sqlstore.Event) string {
	return encodeCursor("e", strconv.FormatInt(r.CreatedAt, 10), strconv.FormatInt(r.Seq, 10), r.ID)
}

// Events returns the project's events in the log's order (time, then the order in which each
// process wrote them), after q.After, leaving out those younger than EventFeedDelay. Errors:
// *ValidationError for a bad cursor, limit, type or user ID.
func (b *Broker) Events(ctx context.Context, projectID string, q EventQuery) (EventPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return EventPage{}, err
	}
	f := sqlstore.EventFilter{ProjectID: projectID, Until: ms(b.Now().Add(-EventFeedDelay)), Limit: limit + 1}
	if q.After != "" {
		parts, err := decodeCursor("after", "e", q.After, 3)
		if err != nil {
			return EventPage{}, err
		}
		at, err1 := strconv.ParseInt(parts[0], 10, 64)
		seq, err2 := strconv.ParseInt(parts[1], 10, 64)
		if err1 != nil || err2 != nil {
			return EventPage{}, &ValidationError{"after", "is not a cursor of this list"}
		}
		f.AfterCreatedAt, f.AfterSeq, f.After = at, seq, parts[2]
	}
	if q.Type != "" {
		if !slices.Contains(EventTypes(), q.Type) {
			return EventPage{}, &ValidationError{"type", "must be one of " + strings.Join(EventTypes(), ", ")}
		}
		f.Type = q.Type
	}
	if q.UserID != "" {
		if !validKey(q.UserID) {
			return EventPage{}, &ValidationError{"userID", "must be a user ID"}
		}
		f.UserID = q.UserID
	}
	rows, err := b.store.Events(ctx, f)
	if err != nil {
		return EventPage{}, err
	}
	page := EventPage{Events: []Event{}, NextCursor: q.After}
	if len(rows) > limit {
		rows, page.HasMore = rows[:limit], true
	}
	for _, r := range rows {
		ev := Event{ID: r.ID, Type: r.Type, CreatedAt: fromMS(r.CreatedAt), ProjectID: projectID,
			UserID: deref(r.UserID), CredentialID: deref(r.CredentialID),
			RequestID: r.RequestID, ClientIP: r.ClientIP, UserAgent: r.UserAgent, Details: r.Details}
		page.Events = append(page.Events, ev)
		page.NextCursor = eventCursor(r)
	}
	return page, nil
}

// tokenEvent is an event about connect token t, of the user userID if known.
func tokenEvent(typ string, t sqlstore.ConnectToken, userID string) Event {
	return Event{Type: typ, UserID: userID, Details: map[string]any{
		"connectTokenID": t.ID, "tokenType": t.Type, "identifier": t.Identifier}}
}

// ceremonyEvent is an event about ceremony id.
func ceremonyEvent(typ, id string, r sqlstore.Ceremony) Event {
	d := map[string]any{"ceremonyID": id, "kind": r.Kind}
	if typ == EventCeremonyStarted {
		d["conditional"] = r.Conditional
	}
	if r.ConnectTokenID != nil {
		d["connectTokenID"] = *r.ConnectTokenID
	}
	return Event{Type: typ, UserID: deref(r.UserID), Details: d}
}

// finishedEvents are the events of a ceremony that finished with passkey credentialID of
// userID: its connect token consumed, the ceremony finished, and what it did to the passkey.
func finishedEvents(cer sqlstore.Ceremony, userID, credentialID string, passkey Event) []Event {
	var evs []Event
	if cer.ConnectTokenID != nil {
		evs = append(evs, Event{Type: EventConnectTokenConsumed, UserID: userID,
			Details: map[string]any{"connectTokenID": *cer.ConnectTokenID}})
	}
	finished := ceremonyEvent(EventCeremonyFinished, cer.ID, cer)
	finished.UserID, finished.CredentialID = userID, credentialID
	passkey.UserID, passkey.CredentialID = userID, credentialID
	return append(evs, finished, passkey)
}

// verificationEvent records the outcome v of verifying signedPasskeyData with claims c (the
// zero Claims when they did not verify): the result and reason, never the token.
func verificationEvent(v Verification, c signeddata.Claims) Event {
	typ := EventSignedDataRejected
	if v.Result == ResultSuccess {
		typ = EventSignedDataVerified
	}
	d := map[string]any{"result": v.Result}
	if v.Reason != "" {
		d["reason"] = v.Reason
	}
	if c.ID != "" {
		d["jti"], d["ceremonyID"] = c.ID, c.ProcessID
	}
	return Event{Type: typ, UserID: v.UserID, CredentialID: v.CredentialID, Details: d}
}

// DefaultEventRetention is how long `latchkey serve` keeps audit events unless told otherwise.
const DefaultEventRetention = 90 * 24 * time.Hour

// EventSweep is what one DeleteOldEvents did.
type EventSweep struct {
	Deleted int64 // events removed
	Batches int   // delete statements run
	// Done says that no project has events older than the cutoff left: false when the time
	// budget ran out first.
	Done bool
}

// DeleteOldEvents deletes the events of every project created before before, in rounds that
// delete a batch of at most batch events of each project in turn, until every project's last
// batch came back short or budget has passed (on the broker's clock; one round always runs),
// so that no project waits behind another's backlog. Replicas may run it at once: each batch
// is statements of its own, and an event deleted by one is skipped by the others.
func (b *Broker) DeleteOldEvents(ctx context.Context, before time.Time, batch int, budget time.Duration) (EventSweep, error) {
	var r EventSweep
	if batch < 1 {
		return r, fmt.Errorf("broker: DeleteOldEvents: batch %d is less than 1", batch)
	}
	start := b.Now()
	projects, err := b.store.Projects(ctx)
	if err != nil {
		return r, err
	}
	left := make([]string, 0, len(projects))
	for _, p := range projects {
		left = append(left, p.ID)
	}
	for len(left) > 0 {
		more := left[:0]
		for _, id := range left {
			n, err := b.store.DeleteEventsBefore(ctx, id, ms(before), batch)
			r.Deleted += n
			r.Batches++
			if err != nil {
				return r, err
			}
			if n >= int64(batch) {
				more = append(more, id)
			}
		}
		left = more
		if len(left) > 0 && b.Now().Sub(start) >= budget {
			return r, nil
		}
	}
	r.Done = true
	return r, nil
}

// personalDetails are the keys of event details that may hold personal data, which erasing a
// user's events removes: identifiers (connect_token.*, user.created; user.renamed's from and
// to) and passkey labels, which people name after themselves (passkey.added's label,
// passkey.relabelled's from and to). Every other key holds IDs, counts, flags or outcomes.
var personalDetails = []string{"identifier", "from", "to", "label"}

// withoutPersonal returns d without personalDetails, and whether it had any.
func withoutPersonal(d sqlstore.Object) (sqlstore.Object, bool) {
	out, changed := sqlstore.Object{}, false
	for k, v := range d {
		if slices.Contains(personalDetails, k) {
			changed = true
			continue
		}
		out[k] = v
	}
	return out, changed
}

// eraseUserEvents erases, in tx, the personal data that the project's events hold about the
// person behind user u, and returns how many events it changed. Every event of u loses its
// client IP, user agent and personalDetails. So do the events without a user that can be tied
// to u: connect token events naming an identifier that u had (its identifier, and those of
// its user.created and user.renamed events), from tokens minted before u existed or before
// token events named their user; and the ceremony.started of each of u's ceremonies that
// began without a user (usernameless), found by its ceremonyID among the starts of the
// MaxCeremonyLifetime before u's first event about it (and a minute either side for the
// replicas' clocks). Each event keeps its type, time, IDs and the rest of its details.
func (b *Broker) eraseUserEvents(ctx context.Context, tx *sqlstore.Tx, projectID string, u User) (int, error) {
	identifiers := []string{u.Identifier}
	ceremonies := map[string]int64{} // ceremony ID -> the time of u's first event about it; -1: started by u
	erased := 0
	err := eachEvent(ctx, tx, sqlstore.EventFilter{ProjectID: projectID, UserID: u.ID}, func(ev sqlstore.Event) error {
		for _, k := range []string{"identifier", "from", "to"} {
			if s, ok := ev.Details[k].(string); ok && (k == "identifier" || ev.Type == EventUserRenamed) && !slices.Contains(identifiers, s) {
				identifiers = append(identifiers, s)
			}
		}
		if id, ok := ev.Details["ceremonyID"].(string); ok {
			if ev.Type == EventCeremonyStarted {
				ceremonies[id] = -1
			} else if _, seen := ceremonies[id]; !seen {
				ceremonies[id] = ev.CreatedAt
			}
		}
		details, changed := withoutPersonal(ev.Details)
		if changed {
			ev.Details = details
			if err := tx.ScrubEvent(ctx, ev); err != nil {
				return err
			}
		}
		if changed || ev.ClientIP != "" || ev.UserAgent != "" {
			erased++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if _, err := tx.ClearUserRequestInfo(ctx, projectID, u.ID); err != nil {
		return 0, err
	}
	scrub := func(match func(sqlstore.Event) bool) func(sqlstore.Event) error {
		return func(ev sqlstore.Event) error {
			if !match(ev) {
				return nil
			}
			ev.Details, _ = withoutPersonal(ev.Details)
			erased++
			return tx.ScrubEvent(ctx, ev)
		}
	}
	for _, identifier := range identifiers {
		quoted, err := json.Marshal(identifier)
		if err != nil {
			return 0, err
		}
		for _, typ := range []string{EventConnectTokenMinted, EventConnectTokenConsumed} {
			f := sqlstore.EventFilter{ProjectID: projectID, Type: typ, NoUser: true, DetailsContain: `"identifier":` + string(quoted)}
			// LIKE ignores the case of ASCII letters on SQLite: the details decide.
			if err := eachEvent(ctx, tx, f, scrub(func(ev sqlstore.Event) bool { return ev.Details["identifier"] == identifier })); err != nil {
				return 0, err
			}
		}
	}
	for id, at := range ceremonies {
		if at < 0 {
			continue
		}
		quoted, err := json.Marshal(id)
		if err != nil {
			return 0, err
		}
		f := sqlstore.EventFilter{ProjectID: projectID, Type: EventCeremonyStarted, NoUser: true, DetailsContain: `"ceremonyID":` + string(quoted),
			Since: at - (MaxCeremonyLifetime + time.Minute).Milliseconds(), Until: at + time.Minute.Milliseconds()}
		if err := eachEvent(ctx, tx, f, scrub(func(ev sqlstore.Event) bool { return ev.Details["ceremonyID"] == id })); err != nil {
			return 0, err
		}
	}
	return erased, nil
}

// eachEvent calls fn with every event that f selects (f.Until 0: up to any time), in the
// log's order, reading pages of 500.
func eachEvent(ctx context.Context, tx *sqlstore.Tx, f sqlstore.EventFilter, fn func(sqlstore.Event) error) error {
	if f.Until == 0 {
		f.Until = math.MaxInt64
	}
	f.Limit = 500
	for {
		evs, err := tx.Events(ctx, f)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if len(evs) < f.Limit {
			return nil
		}
		last := evs[len(evs)-1]
		f.After, f.AfterCreatedAt, f.AfterSeq = last.ID, last.CreatedAt, last.Seq
	}
}
