package broker_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/webhook"
)

// receiver is a webhook receiver for tests: it checks each delivery's signature with the
// endpoint's secret and answers with the status that status returns for the n-th request.
type receiver struct {
	t      *testing.T
	mu     sync.Mutex
	key    []byte
	got    []broker.WebhookPayload
	ids    []string
	bad    int // deliveries whose signature did not verify
	status func(n int) int
	srv    *httptest.Server
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{t: t, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ts, _ := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
		r.mu.Lock()
		defer r.mu.Unlock()
		n := len(r.ids)
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
		if req.Header.Get("webhook-signature") != webhook.Sign(r.key, req.Header.Get("webhook-id"), time.Unix(ts, 0), body) {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		code := http.StatusNoContent
		if r.status != nil {
			code = r.status(n)
		}
		if code < 300 {
			var p broker.WebhookPayload
			if err := json.Unmarshal(body, &p); err != nil {
				r.t.Errorf("delivery body %s: %v", body, err)
			}
			r.got = append(r.got, p)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(t *testing.T, secret string) {
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.key = key
	r.mu.Unlock()
}

func (r *receiver) delivered() []broker.WebhookPayload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]broker.WebhookPayload(nil), r.got...)
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// webhookEnv returns e with a broker that allows private webhook URLs (the receiver is on
// loopback) on e's clock, an endpoint of e's project at r, and a worker.
func webhookEnv(t *testing.T, e *env, r *receiver, events ...string) (broker.Webhook, *broker.WebhookWorker) {
	t.Helper()
	e.Broker = e.NewBroker(t, broker.Config{Now: e.clock.Now, WebhookAllowPrivate: true})
	w, secret, err := e.Broker.AddWebhook(e.ctx, e.pid, broker.NewWebhook{URL: r.srv.URL + "/hook", Events: events})
	if err != nil {
		t.Fatalf("AddWebhook() = %v", err)
	}
	r.setSecret(t, secret)
	worker, err := e.Broker.NewWebhookWorker(broker.WebhookWorkerConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return w, worker
}

func types(ps []broker.WebhookPayload) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Type)
	}
	return out
}

// TestWebhookDelivery: an endpoint receives the events of its types written after it was
// added, signed, in the log's order, once each, after WebhookFeedDelay and not before.
func TestWebhookDelivery(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		r := newReceiver(t, nil)
		e.clock.Advance(time.Second) // events before the endpoint: not sent
		_, worker := webhookEnv(t, e, r)
		e.clock.Advance(time.Millisecond)
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		e.clock.Advance(time.Millisecond)
		e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		e.clock.Advance(time.Millisecond)
		b := newAuthenticator()
		e.register(t, b, "bob")
		// Not yet: the events are younger than WebhookFeedDelay.
		if n, err := worker.RunOnce(e.ctx); err != nil || n != 0 {
			t.Fatalf("RunOnce(at once) = %d, %v; want 0", n, err)
		}
		e.clock.Advance(broker.WebhookFeedDelay)
		if n, err := worker.RunOnce(e.ctx); err != nil || n != 3 {
			t.Fatalf("RunOnce() = %d, %v; want 3", n, err)
		}
		got := r.delivered()
		if diff := cmp.Diff([]string{"passkey.added", "passkey.used", "passkey.added"}, types(got)); diff != "" {
			t.Errorf("delivered types (-want +got):\n%s", diff)
		}
		if got[0].Data.CredentialID != pk.ID || got[0].Data.ProjectID != e.pid || got[0].Data.UserID == "" || got[0].Data.UserID != got[1].Data.UserID ||
			got[2].Data.UserID == got[0].Data.UserID || got[0].Data.EventID == "" {
			t.Errorf("delivered data = %+v", got)
		}
		if _, err := time.Parse(time.RFC3339Nano, got[0].Timestamp); err != nil {
			t.Errorf("timestamp %q: %v", got[0].Timestamp, err)
		}
		if r.bad != 0 {
			t.Errorf("%d deliveries did not verify", r.bad)
		}
		// Nothing twice.
		e.clock.Advance(time.Minute)
		if n, err := worker.RunOnce(e.ctx); err != nil || n != 0 || r.requests() != 3 {
			t.Errorf("RunOnce(again) = %d, %v, %d requests in all; want 0 and 3", n, err, r.requests())
		}
	})
}

// TestWebhookEventTypes: an endpoint gets only its types; connect_token.* asks for the three
// connect token events; unknown types and URLs the guard refuses are validation errors.
func TestWebhookEventTypes(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		r := newReceiver(t, nil)
		w, worker := webhookEnv(t, e, r, "connect_token.*", "user.deleted")
		if diff := cmp.Diff([]string{"connect_token.consumed", "connect_token.minted", "connect_token.revoked", "user.deleted"}, w.Events); diff != "" {
			t.Errorf("AddWebhook events (-want +got):\n%s", diff)
		}
		e.clock.Advance(time.Millisecond)
		e.register(t, newAuthenticator(), "carol")
		e.clock.Advance(broker.WebhookFeedDelay)
		if _, err := worker.RunOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"connect_token.minted", "connect_token.consumed"}, types(r.delivered())); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}

		for _, in := range []broker.NewWebhook{
			{URL: r.srv.URL, Events: []string{"passkey.relabelled"}},
			{URL: r.srv.URL, Events: []string{"nope"}},
		} {
			_, _, err := e.Broker.AddWebhook(e.ctx, e.pid, in)
			wantValidation(t, "AddWebhook(bad events)", err, "events")
		}
		strict := e.NewBroker(t, broker.Config{Now: e.clock.Now})
		for _, u := range []string{r.srv.URL, "https://localhost/x", "https://10.1.2.3/x", "not a url"} {
			_, _, err := strict.AddWebhook(e.ctx, e.pid, broker.NewWebhook{URL: u})
			wantValidation(t, "AddWebhook("+u+") without private addresses", err, "url")
		}
		if _, _, err := strict.AddWebhook(e.ctx, "prj-000000000000000000000000", broker.NewWebhook{URL: "https://hooks.example.com/x"}); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("AddWebhook(unknown project) = %v, want ErrNotFound", err)
		}
		// Removed: nothing more is sent, and its attempts go with it.
		if err := e.Broker.RemoveWebhook(e.ctx, e.pid, w.ID); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "RemoveWebhook(again)", e.Broker.RemoveWebhook(e.ctx, e.pid, w.ID), broker.ErrNotFound)
		e.mint(t, "passkey-append", "dave")
		e.clock.Advance(broker.WebhookFeedDelay)
		if n, err := worker.RunOnce(e.ctx); err != nil || n != 0 {
			t.Errorf("RunOnce(after remove) = %d, %v; want 0", n, err)
		}
		if n, _ := e.Store.CountRows(e.ctx, "webhook_attempts"); n != 0 {
			t.Errorf("webhook_attempts after remove = %d rows, want 0", n)
		}
	})
}

// TestWebhookBackoff: a receiver that answers 500 gets the message again after 5 s, 10 s,
// 20 s, ... as recorded in the store (the endpoint's next attempt and each attempt's), not
// earlier; once it answers 2xx the rest follow in order.
func TestWebhookBackoff(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		const failing = 7
		r := newReceiver(t, func(n int) int {
			if n < failing {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		w, worker := webhookEnv(t, e, r)
		e.clock.Advance(time.Millisecond)
		a := newAuthenticator()
		e.register(t, a, "alice")
		e.clock.Advance(time.Millisecond)
		e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		e.clock.Advance(broker.WebhookFeedDelay)
		for i := 1; i <= failing; i++ {
			at := e.clock.Now()
			if n, err := worker.RunOnce(e.ctx); err != nil || n != 0 {
				t.Fatalf("RunOnce(failure %d) = %d, %v", i, n, err)
			}
			got, err := e.Broker.Webhook(e.ctx, e.pid, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := at.Add(broker.WebhookBackoff(int64(i)))
			if got.Failures != int64(i) || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(want) {
				t.Fatalf("after failure %d: failures %d, next attempt %v; want %d, %v", i, got.Failures, got.NextAttemptAt, i, want)
			}
			// Not due a millisecond early.
			e.clock.Advance(broker.WebhookBackoff(int64(i)) - time.Millisecond)
			if _, err := worker.RunOnce(e.ctx); err != nil || r.requests() != i {
				t.Fatalf("RunOnce(before the backoff of failure %d) made %d requests, %v; want %d", i, r.requests(), err, i)
			}
			e.clock.Advance(time.Millisecond)
		}
		if n, err := worker.RunOnce(e.ctx); err != nil || n != 2 {
			t.Fatalf("RunOnce(receiver back) = %d, %v; want 2", n, err)
		}
		if diff := cmp.Diff([]string{"passkey.added", "passkey.used"}, types(r.delivered())); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		page, err := e.Broker.WebhookAttempts(e.ctx, e.pid, w.ID, broker.Page{})
		if err != nil || len(page.Deliveries) != failing+2 {
			t.Fatalf("WebhookAttempts = %d, %v; want %d", len(page.Deliveries), err, failing+2)
		}
		// Newest first: two successes, then the failures from the last to the first.
		for i, a := range page.Deliveries[2:] {
			n := int64(failing - i)
			if a.Result != webhook.ResultHTTPError || a.StatusCode != 500 || a.Attempt != n || a.NextAttemptAt == nil ||
				a.NextAttemptAt.Sub(a.AttemptedAt) != broker.WebhookBackoff(n) || a.EventType != "passkey.added" {
				t.Errorf("attempt %d = %+v; want http_error 500 retried after %s", n, a, broker.WebhookBackoff(n))
			}
		}
		for _, a := range page.Deliveries[:2] {
			if a.Result != webhook.ResultSuccess || a.NextAttemptAt != nil || a.Attempt != 1 && a.EventType == "passkey.used" {
				t.Errorf("successful attempt = %+v", a)
			}
		}
		if got, _ := e.Broker.Webhook(e.ctx, e.pid, w.ID); got.Failures != 0 || got.NextAttemptAt != nil || got.Status != "enabled" {
			t.Errorf("after success: %+v", got)
		}
		// Paging.
		first, err := e.Broker.WebhookAttempts(e.ctx, e.pid, w.ID, broker.Page{Limit: 4})
		if err != nil || len(first.Deliveries) != 4 || first.NextCursor == "" {
			t.Fatalf("WebhookAttempts(limit 4) = %d, %q, %v", len(first.Deliveries), first.NextCursor, err)
		}
		rest, err := e.Broker.WebhookAttempts(e.ctx, e.pid, w.ID, broker.Page{Cursor: first.NextCursor, Limit: 100})
		if err != nil || len(rest.Deliveries) != failing+2-4 || rest.Deliveries[0].ID == first.Deliveries[3].ID {
			t.Errorf("WebhookAttempts(next page) = %d, %v", len(rest.Deliveries), err)
		}
	})
}

// TestWebhookBackoffSchedule: the waits double from 5 s up to an hour, and an endpoint is
// retried for more than 24 hours before it can be disabled.
func TestWebhookBackoffSchedule(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		320 * time.Second, 640 * time.Second, 1280 * time.Second, 2560 * time.Second, time.Hour, time.Hour}
	for i, w := range want {
		if got := broker.WebhookBackoff(int64(i + 1)); got != w {
			t.Errorf("WebhookBackoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := broker.WebhookBackoff(1000); got != time.Hour {
		t.Errorf("WebhookBackoff(1000) = %s, want 1h", got)
	}
	if broker.WebhookDisableAfter < 24*time.Hour {
		t.Errorf("WebhookDisableAfter = %s, want at least 24h of retries", broker.WebhookDisableAfter)
	}
}

// TestWebhookDisabled: an endpoint whose every attempt fails is retried until it has failed
// for WebhookDisableAfter, then disabled with a webhook.disabled event, and not tried again.
func TestWebhookDisabled(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		r := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
		w, worker := webhookEnv(t, e, r)
		e.clock.Advance(time.Millisecond)
		e.register(t, newAuthenticator(), "alice")
		e.clock.Advance(broker.WebhookFeedDelay)
		start := e.clock.Now()
		attempts := 0
		for {
			if _, err := worker.RunOnce(e.ctx); err != nil {
				t.Fatal(err)
			}
			attempts++
			if r.requests() != attempts {
				t.Fatalf("after %d passes the receiver got %d requests", attempts, r.requests())
			}
			got, err := e.Broker.Webhook(e.ctx, e.pid, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status == "disabled" {
				if got.DisabledAt == nil || got.DisabledAt.Sub(start) < broker.WebhookDisableAfter || got.NextAttemptAt != nil {
					t.Errorf("disabled endpoint = %+v; want it disabled after failing for %s from %v", got, broker.WebhookDisableAfter, start)
				}
				break
			}
			if attempts > 500 {
				t.Fatalf("not disabled after %d attempts over %s", attempts, e.clock.Now().Sub(start))
			}
			e.clock.Advance(got.NextAttemptAt.Sub(e.clock.Now()))
		}
		// 11 waits of 5 s to 2560 s (about 85 minutes), then hourly until 5 days have passed.
		if attempts < 120 || attempts > 130 {
			t.Errorf("disabled after %d attempts, want about 11 + 5*24 - 1", attempts)
		}
		evs, err := e.Broker.Events(e.ctx, e.pid, broker.EventQuery{Type: broker.EventWebhookDisabled})
		if err == nil && len(evs.Events) == 0 { // the feed holds back young events: look later
			e.clock.Advance(broker.EventFeedDelay)
			evs, err = e.Broker.Events(e.ctx, e.pid, broker.EventQuery{Type: broker.EventWebhookDisabled})
		}
		if err != nil || len(evs.Events) != 1 || evs.Events[0].Details["webhookID"] != w.ID {
			t.Fatalf("webhook.disabled events = %+v, %v; want one for %s", evs.Events, err, w.ID)
		}
		e.clock.Advance(24 * time.Hour)
		if _, err := worker.RunOnce(e.ctx); err != nil || r.requests() != attempts {
			t.Errorf("RunOnce(disabled) made %d requests in all, %v; want still %d", r.requests(), err, attempts)
		}
	})
}

// TestWebhookLease: while one worker is sending an endpoint's message, another worker
// (another replica) sends nothing to that endpoint.
func TestWebhookLease(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		r := newReceiver(t, nil)
		inner := r.srv.Config.Handler
		r.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			once.Do(func() { close(entered); <-release })
			inner.ServeHTTP(w, req)
		})
		w, _ := webhookEnv(t, e, r)
		// The first worker's request waits in the handler until the second worker's pass is
		// over: its timeout (real time) must outlast that pass on a slow, busy machine.
		first, err := e.Broker.NewWebhookWorker(broker.WebhookWorkerConfig{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		second, err := e.Broker.NewWebhookWorker(broker.WebhookWorkerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Millisecond)
		e.register(t, newAuthenticator(), "alice")
		e.clock.Advance(broker.WebhookFeedDelay)
		done := make(chan int)
		go func() {
			n, err := first.RunOnce(e.ctx)
			if err != nil {
				t.Error(err)
			}
			done <- n
		}()
		<-entered
		if n, err := second.RunOnce(e.ctx); err != nil || n != 0 {
			t.Errorf("second worker's RunOnce while the first sends = %d, %v; want 0", n, err)
		}
		close(release)
		if n := <-done; n != 1 {
			t.Errorf("first worker delivered %d, want 1", n)
		}
		if n, err := second.RunOnce(e.ctx); err != nil || n != 0 || r.requests() != 1 {
			t.Errorf("second worker afterwards = %d, %v, %d requests; want 0 and 1", n, err, r.requests())
		}
		_ = w
	})
}
