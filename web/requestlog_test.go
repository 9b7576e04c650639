package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/web"
)

// TestRequestLogHasClientIP checks that each request line names the client address, the
// one the rate limits count against: the peer, or behind a trusted proxy the address the
// proxy saw.
func TestRequestLogHasClientIP(t *testing.T) {
	proxies, err := web.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	f := brokertest.New(t, "sqlite")
	var log lockedBuffer
	h := web.New(f.Broker, slog.New(slog.NewJSONHandler(&log, nil)), web.WithLimits(web.Limits{TrustedProxies: proxies}))
	for _, tc := range []struct {
		name, peer, xff, want string
	}{
		{"peer", "198.51.100.7:5555", "", "198.51.100.7"},
		{"untrusted peer's X-Forwarded-For is ignored", "198.51.100.7:5555", "203.0.113.9", "198.51.100.7"},
		{"behind a trusted proxy", "10.1.2.3:443", "192.0.2.200, 203.0.113.9", "203.0.113.9"},
		{"IPv6", "[2001:db8::42]:443", "", "2001:db8::42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			req.RemoteAddr = tc.peer
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			r := serve(h, req)
			id := r.Header.Get("X-Request-ID")
			var line map[string]any
			sc := bufio.NewScanner(strings.NewReader(log.String()))
			for sc.Scan() {
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "request" && m["request_id"] == id {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no request line for %s in the log:\n%s", id, log.String())
			}
			if got := line["client_ip"]; got != tc.want {
				t.Errorf("client_ip = %v, want %s (line %v)", got, tc.want, line)
			}
		})
	}
}

// TestClientGoneIsNotAServerError checks that a request whose client went away while the
// handler ran (its context cancelled, as net/http does when the connection closes) is logged
// as 499 at info level, not as a 500 error, and leaves the replica ready: a load balancer
// that drops connections of a killed replica's neighbours must not page anyone.
func TestClientGoneIsNotAServerError(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := brokertest.New(t, dialect)
		var log lockedBuffer
		h := web.New(f.Broker, slog.New(slog.NewJSONHandler(&log, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		body := `{"type":"passkey-append","data":{"identifier":"gone@example.com"}}`
		req := httptest.NewRequest(http.MethodPost, "/v2/connectTokens", strings.NewReader(body)).WithContext(ctx)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", basicAuth(f.Project.ID, f.APISecret))
		before := f.Counts(t)
		r := serve(h, req)
		if r.Status != 499 {
			t.Fatalf("status = %d, want 499; body %s", r.Status, r.Body)
		}
		var line map[string]any
		sc := bufio.NewScanner(strings.NewReader(log.String()))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "request" && m["path"] == "/v2/connectTokens" {
				line = m
			}
		}
		if line == nil {
			t.Fatalf("no request line in the log:\n%s", log.String())
		}
		if line["level"] != "INFO" || line["status"] != float64(499) {
			t.Errorf("request line = %v, want level INFO and status 499", line)
		}
		if got := f.Counts(t); !reflect.DeepEqual(got, before) {
			t.Errorf("the store changed: %v, was %v", got, before)
		}
		ready := serve(h, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		ready.wantStatus(t, http.StatusOK)
	})
}
