package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/cmd/latchkey/metrics"
)

// TestSweepOnceMetrics: what sweepOnce deletes reaches /metrics (TestSwept checks the
// metrics' arithmetic alone, TestMetrics a server whose sweep has not run yet): the expired
// rows and old events it deleted, a backlog of 0, the time of the sweep, and a sweep error
// per job when the store fails.
func TestSweepOnceMetrics(t *testing.T) {
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			f := brokertest.New(t, d)
			ctx := t.Context()
			// Three connect tokens (rows that expire) and their events, with the project's
			// api_secret.added: four events.
			for _, id := range []string{"a", "b", "c"} {
				if _, err := f.Broker.MintConnectToken(ctx, f.Project.ID, broker.MintRequest{Type: "passkey-list",
					Data: broker.ConnectTokenData{Identifier: id}}); err != nil {
					t.Fatal(err)
				}
			}
			later := time.Now().Add(broker.DefaultEventRetention + 24*time.Hour)
			f.Broker.Now = func() time.Time { return later }
			m := metrics.New()
			srv := httptest.NewServer(m.Handler())
			t.Cleanup(srv.Close)
			addr := strings.TrimPrefix(srv.URL, "http://")
			log := slog.New(slog.NewTextHandler(io.Discard, nil))

			sweepOnce(ctx, f.Broker, log, broker.DefaultEventRetention, m)
			samples := scrape(t, addr)
			for _, c := range []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{"latchkey_expired_rows_deleted_total", map[string]string{}, 3},
				{"latchkey_expired_rows_backlog", map[string]string{}, 0},
				{"latchkey_events_deleted_total", map[string]string{}, 4},
			} {
				if got, ok := value(samples, c.name, c.labels); !ok || got != c.want {
					t.Errorf("after a sweep: %s = %v (present %v), want %v", c.name, got, ok, c.want)
				}
			}
			if got, _ := value(samples, "latchkey_sweep_last_success_timestamp_seconds", map[string]string{}); got < float64(time.Now().Add(-time.Minute).Unix()) {
				t.Errorf("latchkey_sweep_last_success_timestamp_seconds = %v, want the time of the sweep", got)
			}
			for _, job := range []string{"expired", "events"} {
				if got, _ := value(samples, "latchkey_sweep_errors_total", map[string]string{"job": job}); got != 0 {
					t.Errorf("sweep errors{job=%s} = %v after a sweep that worked, want 0", job, got)
				}
			}

			// A store that fails: each job counts an error, nothing more is deleted.
			f.Store.Close()
			sweepOnce(ctx, f.Broker, log, broker.DefaultEventRetention, m)
			samples = scrape(t, addr)
			for _, job := range []string{"expired", "events"} {
				if got, _ := value(samples, "latchkey_sweep_errors_total", map[string]string{"job": job}); got != 1 {
					t.Errorf("sweep errors{job=%s} = %v after a failed sweep, want 1", job, got)
				}
			}
			if got, _ := value(samples, "latchkey_expired_rows_deleted_total", map[string]string{}); got != 3 {
				t.Errorf("latchkey_expired_rows_deleted_total = %v after a failed sweep, want still 3", got)
			}
		})
	}
}
