package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/web"
)

// TestAnalyticsReport: the frontend report endpoint counts the fixed events, refuses other
// names, reasons, large bodies and other origins in the contract's envelope without writing,
// needs no connect token, and is limited per client IP like the other frontend routes.
func TestAnalyticsReport(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e, _ := newLimitedEnv(t, dialect, web.Limits{FrontendPerIP: web.Rate{Burst: 12, Per: time.Minute}})
		origin := map[string]string{"Origin": brokertest.Origin}
		path := e.frontPath("analytics")
		const ip = "192.0.2.7:1000"

		before := e.f.Snapshot(t)
		for _, c := range []struct {
			body   string
			status int
			typ    string
		}{
			{`{"event": "append.offer_clicked"}`, http.StatusBadRequest, "validation_error"},
			{`{"event": "login.fallback"}`, http.StatusBadRequest, "validation_error"},
			{`{"event": "login.fallback", "reason": "bored"}`, http.StatusBadRequest, "validation_error"},
			{`{"event": "login.cancelled", "reason": "no_passkey"}`, http.StatusBadRequest, "validation_error"},
			{`{}`, http.StatusBadRequest, "validation_error"},
			{`{"event": 7}`, http.StatusBadRequest, "validation_error"},
			{`{"event": "login.cancelled", "connectToken": "` + strings.Repeat("x", web.MaxReportBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, "payload_too_large"},
			{`not json`, http.StatusBadRequest, "invalid_json"},
		} {
			assertError(t, e.from(ip, http.MethodPost, path, c.body, origin), c.status, c.typ)
		}
		assertError(t, e.from(ip, http.MethodPost, path, `{"event": "login.cancelled"}`, map[string]string{"Origin": "https://evil.example"}),
			http.StatusForbidden, "forbidden_origin")
		assertError(t, e.from(ip, http.MethodPost, "/v2/projects/prj-000000000000000000000000/connect/analytics", `{"event": "login.cancelled"}`, origin),
			http.StatusNotFound, "not_found")
		if after := e.f.Snapshot(t); after != before {
			t.Error("refused reports changed the store")
		}

		// Counted, with or without a connect token (ignored), from a browser or a native app.
		e.from(ip, http.MethodPost, path, `{"event": "login.fallback", "reason": "unknown_credential", "connectToken": "ctk1_whatever"}`, origin).wantStatus(t, http.StatusNoContent)
		r := e.from(ip, http.MethodPost, path, `{"event": "append.offer_shown"}`, nil)
		r.wantStatus(t, http.StatusNoContent)

		// 12 a minute per IP, all used above: the 13th is refused and counts nothing;
		// another address is not refused.
		assertRateLimited(t, e.from(ip, http.MethodPost, path, `{"event": "append.offer_shown"}`, origin), "5")
		e.from("198.51.100.1:1000", http.MethodPost, path, `{"event": "append.offer_shown"}`, origin).wantStatus(t, http.StatusNoContent)

		a := e.backend(t, http.MethodGet, "/v2/analytics?bucket=hour", nil)
		a.wantStatus(t, http.StatusOK)
		if got := a.get("totals.appendOffersShown"); got != 2.0 {
			t.Errorf("totals.appendOffersShown = %v, want 2", got)
		}
		if got := a.get("totals.fallbacks.unknown_credential"); got != 1.0 {
			t.Errorf("totals.fallbacks.unknown_credential = %v, want 1", got)
		}
	})
}

// TestAnalyticsAPI: the figures and the password-login reports over HTTP, their parameter
// validation in the contract's envelope, and the project scoping of Basic authentication.
func TestAnalyticsAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register(t, "alice")
		e.login(t, "alice")
		e.login(t, "")
		e.backend(t, http.MethodPost, "/v2/analytics/passwordLogins", map[string]any{}).wantStatus(t, http.StatusOK)
		e.backend(t, http.MethodPost, "/v2/analytics/passwordLogins", map[string]any{"count": 2, "at": time.Now().Add(-time.Minute).Format(time.RFC3339)}).wantStatus(t, http.StatusOK)

		a := e.backend(t, http.MethodGet, "/v2/analytics", nil)
		a.wantStatus(t, http.StatusOK)
		for path, want := range map[string]any{
			"bucket": "day", "totals.users": 1.0, "totals.usersWithPasskey": 1.0, "totals.passkeysAdded": 1.0,
			"totals.passkeyLogins.identifier": 1.0, "totals.passkeyLogins.usernameless": 1.0, "totals.passwordLogins": 3.0,
			"totals.passkeyShare": 0.4, "totals.appendConversion": nil, "passkeys.total": 1.0,
		} {
			if got := a.get(path); got != want {
				t.Errorf("GET /v2/analytics: %s = %v, want %v", path, got, want)
			}
		}
		if n := len(a.get("buckets").([]any)); n != 30 {
			t.Errorf("GET /v2/analytics: %d buckets, want 30 days", n)
		}

		for _, c := range []struct{ query, field string }{
			{"bucket=week", "bucket"},
			{"bucket=", "bucket"},
			{"from=yesterday", "from"},
			{"to=2026-13-01T00:00:00Z", "to"},
			{"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"},
			{"from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
			{"bucket=hour&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "from"},
		} {
			assertValidation(t, e.backend(t, http.MethodGet, "/v2/analytics?"+c.query, nil), c.field)
		}
		before := e.f.Snapshot(t)
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"count": 0}, "count"},
			{map[string]any{"count": 100001}, "count"},
			{map[string]any{"count": "3"}, "count"},
			{map[string]any{"at": "now"}, "at"},
			{map[string]any{"at": time.Now().Add(-9 * 24 * time.Hour).Format(time.RFC3339)}, "at"},
		} {
			assertValidation(t, e.backend(t, http.MethodPost, "/v2/analytics/passwordLogins", c.body), c.field)
		}
		if after := e.f.Snapshot(t); after != before {
			t.Error("refused password-login reports changed the store")
		}

		// Without credentials, or with another project's: nothing of this project.
		assertError(t, e.doJSON(t, http.MethodGet, "/v2/analytics", nil, nil), http.StatusUnauthorized, "login_error")
		p, secret := e.f.AddProject(t, brokertest.RPID, brokertest.Origin)
		o := e.doJSON(t, http.MethodGet, "/v2/analytics", nil, map[string]string{"Authorization": basicAuth(p.ID, secret)})
		o.wantStatus(t, http.StatusOK)
		if got := o.get("totals.passkeyLogins.identifier"); got != 0.0 {
			t.Errorf("another project's analytics: identifier logins = %v, want 0", got)
		}
	})
}
