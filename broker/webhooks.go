package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/webhook"
)

// Signed webhooks: a project's endpoints receive its audit events of the types they chose, as
// Standard Webhooks messages (package webhook signs and sends them). The events are the
// outbox: each change writes its events in its own transaction, and an endpoint keeps a
// cursor into the log, so a committed change is delivered even if the process dies right
// after the commit. One replica at a time sends an endpoint's messages, holding its lease;
// they go one after the other in the log's order (so in order per user), each until it
// succeeds, with exponential backoff, and an endpoint that fails for WebhookDisableAfter is
// disabled, which a webhook.disabled event records.

// WebhookEventTypes are the event types an endpoint may receive; DefaultWebhookEventTypes
// those it receives when it names none. "connect_token.*" stands for the three
// connect_token types.
var (
	WebhookEventTypes = []string{EventPasskeyAdded, EventPasskeyDeleted, EventPasskeyUsed, EventUserDeleted,
		EventSignedDataRejected, EventCounterRegression, EventConnectTokenMinted, EventConnectTokenConsumed, EventConnectTokenRevoked}
	DefaultWebhookEventTypes = WebhookEventTypes[:6]
)

// Delivery timing.
const (
	// WebhookRetryBase is the wait after an endpoint's first failed attempt at a message;
	// each further failure doubles it, up to WebhookRetryMax.
	WebhookRetryBase = 5 * time.Second
	WebhookRetryMax  = time.Hour
	// WebhookDisableAfter is how long an endpoint may fail continuously (every attempt at its
	// next message failing) before it is disabled: 5 days, so that retries go on well past
	// the 24 hours a receiver's outage over a weekend may take.
	WebhookDisableAfter = 5 * 24 * time.Hour
	// WebhookFeedDelay is how old an event must be before it is sent. A transaction stamps
	// its events just before it commits; the cursor must never pass an event whose
	// transaction is yet to commit (see EventFeedDelay), and a message cannot be taken back,
	// so the margin is wider than the events API's.
	WebhookFeedDelay = 5 * time.Second
	// MaxWebhooksPerProject caps a project's endpoints.
	MaxWebhooksPerProject = 10
)

// WebhookBackoff is the wait after the failures-th consecutive failed attempt (from 1):
// WebhookRetryBase doubled failures-1 times, at most WebhookRetryMax.
func WebhookBackoff(failures int64) time.Duration {
	d := WebhookRetryBase
	for i := int64(1); i < failures && d < WebhookRetryMax; i++ {
		d *= 2
	}
	return min(d, WebhookRetryMax)
}

// Webhook is one endpoint of a project, as the management API shows it.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Status is "enabled" or "disabled" (after failing for WebhookDisableAfter).
	Status         string     `json:"status"`
	CreatedAt      time.Time  `json:"createdAt"`
	DisabledAt     *time.Time `json:"disabledAt"`
	DisabledReason string     `json:"disabledReason"`
	// Failures counts the failed attempts at the next message since the last success;
	// NextAttemptAt is when the next attempt is due while it is failing (null otherwise).
	Failures      int64      `json:"failures"`
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
}

// NewWebhook is what AddWebhook needs.
type NewWebhook struct {
	URL string `json:"url"`
	// Events are the event types to deliver (empty: DefaultWebhookEventTypes).
	Events []string `json:"events"`
}

func webhookFromRow(r sqlstore.WebhookEndpoint) Webhook {
	w := Webhook{ID: r.ID, URL: r.URL, Events: slices.Clone([]string(r.EventTypes)), Status: "enabled", CreatedAt: fromMS(r.CreatedAt),
		DisabledReason: r.DisabledReason, Failures: r.Failures}
	if r.DisabledAt != nil {
		t := fromMS(*r.DisabledAt)
		w.DisabledAt, w.Status = &t, "disabled"
	}
	if r.Failures > 0 && r.DisabledAt == nil {
		t := fromMS(r.NextAttemptAt)
		w.NextAttemptAt = &t
	}
	return w
}

// webhookEvents validates and expands the event types an endpoint asks for, and returns
// them sorted.
func webhookEvents(in []string) ([]string, error) {
	if len(in) == 0 {
		return slices.Sorted(slices.Values(DefaultWebhookEventTypes)), nil
	}
	if len(in) > 20 {
		return nil, &ValidationError{"events", "has too many entries"}
	}
	var out []string
	for _, t := range in {
		t = strings.TrimSpace(t)
		switch {
		case t == "connect_token.*":
			out = append(out, EventConnectTokenMinted, EventConnectTokenConsumed, EventConnectTokenRevoked)
		case slices.Contains(WebhookEventTypes, t):
			out = append(out, t)
		default:
			return nil, &ValidationError{"events", "must be among " + strings.Join(WebhookEventTypes, ", ") + " and connect_token.*"}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func webhookAAD(projectID, id string) string {
	return "latchkey webhook secret|" + projectID + "|" + id
}

// AddWebhook adds an endpoint to the project and returns it with its secret (whsec_..., shown
// once; stored sealed with the broker's secret key, since it signs). The URL must pass
// webhook.CheckURL (https to a public host unless Config.WebhookAllowPrivate). Messages start
// with the events written after it is added. Errors: *ValidationError, ErrNotFound for an
// unknown project, ErrNoSecretKey.
func (b *Broker) AddWebhook(ctx context.Context, projectID string, in NewWebhook) (Webhook, string, error) {
	u, err := webhook.CheckURL(strings.TrimSpace(in.URL), b.webhookAllowPrivate)
	if err != nil {
		return Webhook{}, "", &ValidationError{"url", strings.TrimPrefix(strings.TrimPrefix(err.Error(), webhook.ErrBlocked.Error()), ": ")}
	}
	events, err := webhookEvents(in.Events)
	if err != nil {
		return Webhook{}, "", err
	}
	if b.sealer == nil {
		return Webhook{}, "", ErrNoSecretKey
	}
	id, err := newID("whk-")
	if err != nil {
		return Webhook{}, "", err
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return Webhook{}, "", err
	}
	sealed, err := b.seal([]byte(secret), webhookAAD(projectID, id))
	if err != nil {
		return Webhook{}, "", err
	}
	now := ms(b.Now())
	row := sqlstore.WebhookEndpoint{ProjectID: projectID, ID: id, URL: u, EventTypes: events, SealedSecret: sealed, CreatedAt: now,
		CursorCreatedAt: now, CursorSeq: -1, NextAttemptAt: now}
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.RequireProject(ctx, projectID); err != nil {
			return err
		}
		existing, err := tx.WebhookEndpoints(ctx, projectID)
		if err != nil {
			return err
		}
		if len(existing) >= MaxWebhooksPerProject {
			return &ValidationError{"url", fmt.Sprintf("a project has at most %d webhook endpoints", MaxWebhooksPerProject)}
		}
		if err := tx.InsertWebhookEndpoint(ctx, row); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventWebhookAdded, Details: map[string]any{"webhookID": id, "events": events}})
	})
	if err != nil {
		return Webhook{}, "", err
	}
	return webhookFromRow(row), secret, nil
}

// Webhooks lists the project's endpoints, oldest first.
func (b *Broker) Webhooks(ctx context.Context, projectID string) ([]Webhook, error) {
	rows, err := b.store.WebhookEndpoints(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := make([]Webhook, 0, len(rows))
	for _, r := range rows {
		out = append(out, webhookFromRow(r))
	}
	return out, nil
}

// Webhook returns the project's endpoint id. Errors: ErrNotFound.
func (b *Broker) Webhook(ctx context.Context, projectID, id string) (Webhook, error) {
	if !validKey(id) {
		return Webhook{}, ErrNotFound
	}
	r, err := b.store.WebhookEndpoint(ctx, projectID, id)
	if err != nil {
		return Webhook{}, err
	}
	return webhookFromRow(r), nil
}

// RemoveWebhook removes the project's endpoint id and its delivery attempts; messages not
// yet delivered are not sent. Errors: ErrNotFound.
func (b *Broker) RemoveWebhook(ctx context.Context, projectID, id string) error {
	if !validKey(id) {
		return ErrNotFound
	}
	return b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.DeleteWebhookEndpoint(ctx, projectID, id); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventWebhookRemoved, Details: map[string]any{"webhookID": id}})
	})
}

// WebhookAttempt is one delivery attempt of a message to an endpoint.
type WebhookAttempt struct {
	ID          string    `json:"id"`
	EventID     string    `json:"eventID"` // also the message's webhook-id
	EventType   string    `json:"eventType"`
	Attempt     int64     `json:"attempt"` // 1 for the first attempt at the message
	AttemptedAt time.Time `json:"attemptedAt"`
	DurationMS  int64     `json:"durationMs"`
	// Result is one of webhook.Results: success, http_error, network_error, timeout, blocked.
	Result     string `json:"result"`
	StatusCode int64  `json:"statusCode"` // 0 without an answer
	Error      string `json:"error"`
	// NextAttemptAt is when the message is tried again after a failure (null after a
	// success, or when the endpoint was disabled).
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
}

// WebhookAttemptPage is a page of an endpoint's attempts, newest first.
type WebhookAttemptPage struct {
	Deliveries []WebhookAttempt `json:"deliveries"`
	NextCursor string           `json:"nextCursor,omitempty"`
}

// WebhookAttempts returns a page of the delivery attempts of the project's endpoint id,
// newest first. Errors: ErrNotFound, *ValidationError for a bad cursor or limit.
func (b *Broker) WebhookAttempts(ctx context.Context, projectID, id string, p Page) (WebhookAttemptPage, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return WebhookAttemptPage{}, err
	}
	before, beforeID := int64(1<<62), ""
	if p.Cursor != "" {
		parts, err := decodeCursor("cursor", "w", p.Cursor, 2)
		if err != nil {
			return WebhookAttemptPage{}, err
		}
		if before, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
			return WebhookAttemptPage{}, &ValidationError{"cursor", "is not a cursor of this list"}
		}
		beforeID = parts[1]
	}
	if _, err := b.Webhook(ctx, projectID, id); err != nil {
		return WebhookAttemptPage{}, err
	}
	rows, err := b.store.WebhookAttempts(ctx, projectID, id, before, beforeID, limit+1)
	if err != nil {
		return WebhookAttemptPage{}, err
	}
	out := WebhookAttemptPage{Deliveries: []WebhookAttempt{}}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		out.NextCursor = encodeCursor("w", strconv.FormatInt(last.AttemptedAt, 10), last.ID)
	}
	for _, r := range rows {
		a := WebhookAttempt{ID: r.ID, EventID: r.EventID, EventType: r.EventType, Attempt: r.Attempt, AttemptedAt: fromMS(r.AttemptedAt),
			DurationMS: r.DurationMS, Result: r.Result, StatusCode: r.StatusCode, Error: r.Error}
		if r.NextAttemptAt != nil {
			t := fromMS(*r.NextAttemptAt)
			a.NextAttemptAt = &t
		}
		out.Deliveries = append(out.Deliveries, a)
	}
	return out, nil
}

// WebhookPayload is the body of a message: the event's type, its time (RFC 3339) and its
// data. It leaves out the client's IP address and user agent.
type WebhookPayload struct {
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	Data      WebhookData `json:"data"`
}

// WebhookData is the data of a message.
type WebhookData struct {
	EventID      string         `json:"eventID"`
	ProjectID    string         `json:"projectID"`
	UserID       string         `json:"userID,omitempty"`
	CredentialID string         `json:"credentialID,omitempty"`
	RequestID    string         `json:"requestID,omitempty"`
	Details      map[string]any `json:"details"`
}

func webhookBody(ev sqlstore.Event) ([]byte, error) {
	d := map[string]any(ev.Details)
	if d == nil {
		d = map[string]any{}
	}
	return json.Marshal(WebhookPayload{Type: ev.Type, Timestamp: fromMS(ev.CreatedAt).Format(time.RFC3339Nano),
		Data: WebhookData{EventID: ev.ID, ProjectID: ev.ProjectID, UserID: deref(ev.UserID), CredentialID: deref(ev.CredentialID),
			RequestID: ev.RequestID, Details: d}})
}

// WebhookWorker sends the messages of every project's endpoints. Each replica runs one;
// their leases keep them from sending an endpoint's messages at the same time.
type WebhookWorker struct {
	b      *Broker
	client *webhook.Client
	owner  string
	lease  time.Duration
	batch  int
	log    *slog.Logger
	// observe, when set, is told of every attempt: the project, its result (one of
	// webhook.Results) and how long it took.
	observe func(projectID, result string, elapsed time.Duration)
	// afterProject and afterID are the key of the last endpoint the previous pass looked at,
	// where the next pass goes on (see RunOnce).
	afterProject, afterID string
}

// WebhookWorkerConfig is what NewWebhookWorker needs.
type WebhookWorkerConfig struct {
	// Timeout bounds each attempt (0: 10 s). An endpoint's lease lasts Timeout + 5 s and is
	// renewed before each message.
	Timeout time.Duration
	// Batch is how many messages of an endpoint one claim sends at most (0: 50).
	Batch int
	// Logger (nil: none).
	Logger *slog.Logger
	// Observe, when set, is told of every attempt (for metrics).
	Observe func(projectID, result string, elapsed time.Duration)
}

// NewWebhookWorker returns a worker of b with a lease token of its own. Its deliveries may
// go to private addresses only if b was configured with WebhookAllowPrivate.
func (b *Broker) NewWebhookWorker(cfg WebhookWorkerConfig) (*WebhookWorker, error) {
	owner, err := newID("wkr-")
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &WebhookWorker{b: b, client: webhook.NewClient(b.webhookAllowPrivate, cfg.Timeout), owner: owner,
		lease: cfg.Timeout + 5*time.Second, batch: cfg.Batch, log: cfg.Logger, observe: cfg.Observe}, nil
}

// Run calls RunOnce every interval until ctx ends, and once an hour removes the attempts
// older than 30 days.
func (w *WebhookWorker) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var pruned time.Time
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("webhooks", slog.String("error", err.Error()))
		}
		if now := w.b.Now(); now.Sub(pruned) >= time.Hour {
			pruned = now
			if _, err := w.b.store.DeleteWebhookAttemptsBefore(ctx, ms(now.Add(-30*24*time.Hour))); err != nil && ctx.Err() == nil {
				w.log.Warn("webhooks: pruning attempts", slog.String("error", err.Error()))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// webhookPass is how many endpoints one pass of RunOnce looks at, at most.
const webhookPass = 100

// RunOnce makes one pass: for each due endpoint (at most webhookPass, going on in key order
// from where the previous pass stopped, so that every endpoint has its turn however many
// there are) with messages waiting, it claims the lease and, if it got it, sends up to its
// batch of messages in order, stopping at the first failure. It returns how many messages
// it delivered. A worker's passes must not overlap.
func (w *WebhookWorker) RunOnce(ctx context.Context) (int, error) {
	now := w.b.Now()
	due, err := w.b.store.DueWebhookEndpoints(ctx, ms(now), w.afterProject, w.afterID, webhookPass)
	if err != nil {
		return 0, err
	}
	if len(due) < webhookPass {
		w.afterProject, w.afterID = "", "" // the end: the next pass starts over
	} else {
		w.afterProject, w.afterID = due[len(due)-1].ProjectID, due[len(due)-1].ID
	}
	sent := 0
	var errs []error
	for _, e := range due {
		if ctx.Err() != nil {
			break
		}
		evs, err := w.b.store.WebhookEventsAfter(ctx, e.ProjectID, e.CursorCreatedAt, e.CursorSeq, e.CursorID, e.EventTypes,
			ms(now.Add(-WebhookFeedDelay)), w.batch)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(evs) == 0 {
			continue
		}
		ok, err := w.b.store.ClaimWebhookEndpoint(ctx, e.ProjectID, e.ID, w.owner, ms(now), ms(now.Add(w.lease)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue // another replica has it
		}
		n, err := w.deliver(ctx, e, evs)
		sent += n
		if err != nil {
			errs = append(errs, fmt.Errorf("endpoint %s: %w", e.ID, err))
		}
	}
	return sent, errors.Join(errs...)
}

// deliver sends evs to endpoint e, whose lease the worker holds, in order until one fails,
// then frees the lease.
func (w *WebhookWorker) deliver(ctx context.Context, e sqlstore.WebhookEndpoint, evs []sqlstore.Event) (int, error) {
	b := w.b
	sealed, err := b.open(e.SealedSecret, webhookAAD(e.ProjectID, e.ID))
	var key []byte
	if err == nil {
		key, err = webhook.ParseSecret(string(sealed))
	}
	if err != nil {
		_ = b.store.ReleaseWebhookEndpoint(ctx, e.ProjectID, e.ID, w.owner, ms(b.Now().Add(WebhookRetryMax)))
		return 0, fmt.Errorf("opening the endpoint's secret: %w", err)
	}
	sent := 0
	failures, failingSince := e.Failures, e.FailingSince
	for _, ev := range evs {
		at := b.Now()
		if err := b.store.ExtendWebhookLease(ctx, e.ProjectID, e.ID, w.owner, ms(at.Add(w.lease))); err != nil {
			return sent, err // lost the lease, or the endpoint is gone: stop
		}
		body, err := webhookBody(ev)
		if err != nil {
			return sent, err
		}
		start := time.Now()
		out := w.client.Send(ctx, e.URL, key, webhook.Message{ID: ev.ID, At: at, Body: body})
		elapsed := time.Since(start)
		if w.observe != nil {
			w.observe(e.ProjectID, out.Result, elapsed)
		}
		attemptID, err := newID("wda-")
		if err != nil {
			return sent, err
		}
		a := sqlstore.WebhookAttempt{ProjectID: e.ProjectID, EndpointID: e.ID, ID: attemptID, EventID: ev.ID, EventType: ev.Type,
			Attempt: failures + 1, AttemptedAt: ms(at), DurationMS: elapsed.Milliseconds(), Result: out.Result,
			StatusCode: int64(out.StatusCode), Error: out.Error}
		// The attempt is recorded with the context's cancellation ignored: a message that was
		// sent is worth recording even when the worker is stopping.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if out.Result == webhook.ResultSuccess {
			err = b.store.InTx(wctx, func(tx *sqlstore.Tx) error {
				if err := tx.InsertWebhookAttempt(wctx, a); err != nil {
					return err
				}
				return tx.AdvanceWebhookCursor(wctx, e.ProjectID, e.ID, w.owner, ev.CreatedAt, ev.Seq, ev.ID, ms(at))
			})
			cancel()
			if err != nil {
				return sent, err
			}
			sent++
			failures, failingSince = 0, nil
			continue
		}
		failures++
		if failingSince == nil {
			failingSince = &a.AttemptedAt
		}
		next := ms(at.Add(WebhookBackoff(failures)))
		disable := at.Sub(fromMS(*failingSince)) >= WebhookDisableAfter
		if !disable {
			a.NextAttemptAt = &next
		}
		err = b.store.InTx(wctx, func(tx *sqlstore.Tx) error {
			if err := tx.InsertWebhookAttempt(wctx, a); err != nil {
				return err
			}
			if err := tx.WebhookFailed(wctx, e.ProjectID, e.ID, w.owner, failures, *failingSince, next); err != nil {
				return err
			}
			if !disable {
				return nil
			}
			reason := fmt.Sprintf("every attempt failed for %s (%d attempts; last: %s)", WebhookDisableAfter, failures, out.Result)
			if err := tx.DisableWebhookEndpoint(wctx, e.ProjectID, e.ID, ms(at), reason); err != nil {
				return err
			}
			return b.record(wctx, tx, e.ProjectID, Event{Type: EventWebhookDisabled, Details: map[string]any{
				"webhookID": e.ID, "failures": failures, "failingSince": fromMS(*failingSince).Format(time.RFC3339), "lastResult": out.Result}})
		})
		cancel()
		if disable && err == nil {
			w.log.Warn("webhook endpoint disabled", slog.String("project", e.ProjectID), slog.String("webhook", e.ID))
		}
		return sent, err
	}
	return sent, b.store.ReleaseWebhookEndpoint(ctx, e.ProjectID, e.ID, w.owner, ms(b.Now()))
}
