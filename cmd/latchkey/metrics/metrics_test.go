package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/webhook"
)

func TestSwept(t *testing.T) {
	m := New()
	m.Swept(broker.SweepResult{Deleted: 1500, Batches: 2, Backlog: 700}, nil)
	m.Swept(broker.SweepResult{Deleted: 3}, errors.New("store unavailable"))
	m.EventsSwept(broker.EventSweep{Deleted: 42, Batches: 1, Done: true}, nil)
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"expired rows deleted", testutil.ToFloat64(m.expiredDeleted), 1503},
		{"backlog (kept from the last sweep that worked)", testutil.ToFloat64(m.expiredBacklog), 700},
		{"events deleted", testutil.ToFloat64(m.eventsDeleted), 42},
		{"expired sweep errors", testutil.ToFloat64(m.sweepErrors.WithLabelValues("expired")), 1},
		{"events sweep errors", testutil.ToFloat64(m.sweepErrors.WithLabelValues("events")), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if testutil.ToFloat64(m.sweepLast) == 0 {
		t.Errorf("sweep last success = 0, want the time of the first sweep")
	}
}

func TestStatusLabel(t *testing.T) {
	for in, want := range map[int]string{200: "200", 429: "429", 599: "599", 99: "other", 600: "other", 0: "other"} {
		if got := statusLabel(in); got != want {
			t.Errorf("statusLabel(%d) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkObserveLogin is what the metrics add to one login over HTTP: two requests
// (start and finish) and a verification, a ceremony started and finished, and a dozen
// queries. Compare with BenchmarkLogin in broker (about a millisecond).
func BenchmarkObserveLogin(b *testing.B) {
	m := New()
	const project = "prj-0123456789abcdef"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.CeremonyStarted(project, "login")
			m.Request("POST", "/v2/projects/:projectID/connect/login/start", 200, time.Millisecond)
			m.CeremonyFinished(project, "login")
			m.Request("POST", "/v2/projects/:projectID/connect/login/finish", 200, time.Millisecond)
			m.SignedDataVerified(project, broker.ResultSuccess)
			m.Request("POST", "/v2/passkey/verifySignedData", 200, time.Millisecond)
			for range 12 {
				m.ObserveQuery(sqlstore.OpRead, 100*time.Microsecond)
			}
		}
	})
}

func TestWebhookAttempted(t *testing.T) {
	m := New()
	m.WebhookAttempted("prj-a", webhook.ResultSuccess, 20*time.Millisecond)
	m.WebhookAttempted("prj-a", webhook.ResultHTTPError, time.Second)
	m.WebhookAttempted("prj-a", webhook.ResultHTTPError, time.Second)
	m.WebhookAttempted("prj-b", webhook.ResultTimeout, 10*time.Second)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"prj-a success", testutil.ToFloat64(m.webhookAttempts.WithLabelValues("prj-a", "success")), 1},
		{"prj-a http_error", testutil.ToFloat64(m.webhookAttempts.WithLabelValues("prj-a", "http_error")), 2},
		{"prj-b timeout", testutil.ToFloat64(m.webhookAttempts.WithLabelValues("prj-b", "timeout")), 1},
		{"prj-b success", testutil.ToFloat64(m.webhookAttempts.WithLabelValues("prj-b", "success")), 0},
	} {
		if c.got != c.want {
			t.Errorf("latchkey_webhook_attempts_total{%s} = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.webhookDuration); n != len(webhook.Results) {
		t.Errorf("latchkey_webhook_attempt_duration_seconds has %d series, want one per result (%d)", n, len(webhook.Results))
	}
}
