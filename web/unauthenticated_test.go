package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/web"
)

// newProxiedEnv is newLimitedEnv behind a trusted proxy on loopback, so that requests sent
// through the test server (and checked against openapi.yaml) come from the address in
// their X-Forwarded-For header.
func newProxiedEnv(t *testing.T, dialect string, l web.Limits) (*env, *testClock) {
	t.Helper()
	l.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	return newLimitedEnv(t, dialect, l)
}

// as sends a request through the test server from the client address ip.
func (e *env) as(t *testing.T, ip, method, path string, body any, headers map[string]string) response {
	t.Helper()
	h := map[string]string{"X-Forwarded-For": ip}
	for k, v := range headers {
		h[k] = v
	}
	return e.doJSON(t, method, path, body, h)
}

func unknownProjectID(i int) string { return fmt.Sprintf("prj-%024x", 0xdead0000+i) }

// TestValidSecretIsNeverLockedOut is the lockout of issue 12: a stranger who knows the
// (public) project ID sends 25 wrong secrets from the address the app's backend shares
// (a NAT, a proxy); the backend's right secret from that address must still work.
func TestValidSecretIsNeverLockedOut(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e, _ := newProxiedEnv(t, dialect, web.DefaultLimits())
		const shared = "198.51.100.66"
		mint := map[string]any{"type": "passkey-list", "data": map[string]any{"identifier": "u"}}
		wrong := map[string]string{"Authorization": basicAuth(e.f.Project.ID, "lks_wrong")}
		var statuses []int
		for range 25 {
			statuses = append(statuses, e.as(t, shared, http.MethodPost, "/v2/connectTokens", mint, wrong).Status)
		}
		if !slices.Contains(statuses, http.StatusTooManyRequests) {
			t.Errorf("25 wrong secrets answered %v, want 429 once the failure budget is spent", statuses)
		}
		e.as(t, shared, http.MethodPost, "/v2/connectTokens", mint, e.basic()).wantStatus(t, http.StatusOK)
		e.as(t, shared, http.MethodGet, "/v2/users", nil, e.basic()).wantStatus(t, http.StatusOK)
		assertError(t, e.as(t, shared, http.MethodPost, "/v2/connectTokens", mint, wrong), http.StatusTooManyRequests, "rate_limited")
	})
}

// TestUnauthenticatedRequestsAreLimitedFirst checks that requests without credentials that
// name projects at will (unknown projects on the frontend API, the JWKS, Basic
// authentication) meet a per-address limit before they reach the store.
func TestUnauthenticatedRequestsAreLimitedFirst(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e, clock := newProxiedEnv(t, dialect, web.Limits{
			FrontendPerIP:        web.Rate{Burst: 3, Per: time.Minute},
			FailedAuthPerIP:      web.Rate{Burst: 20, Per: time.Minute},
			UnknownProjectsPerIP: web.Rate{Burst: 3, Per: time.Minute},
		})
		mint := map[string]any{"type": "passkey-list", "data": map[string]any{"identifier": "u"}}
		origin := map[string]string{"Origin": brokertest.Origin}

		t.Run("frontend calls for unknown projects", func(t *testing.T) {
			const ip = "192.0.2.1"
			for i := range 3 {
				r := e.as(t, ip, http.MethodPost, "/v2/projects/"+unknownProjectID(i)+"/connect/login/start", `{}`, origin)
				assertError(t, r, http.StatusNotFound, "not_found")
			}
			for i := range 5 {
				r := e.as(t, ip, http.MethodPost, "/v2/projects/"+unknownProjectID(100+i)+"/connect/login/start", `{}`, origin)
				assertRateLimited(t, r, "20")
			}
		})
		t.Run("JWKS of unknown projects", func(t *testing.T) {
			const ip = "192.0.2.2"
			for i := range 3 {
				assertError(t, e.as(t, ip, http.MethodGet, "/v2/projects/"+unknownProjectID(200+i)+"/.well-known/jwks.json", nil, nil), http.StatusNotFound, "not_found")
			}
			for i := range 5 {
				assertRateLimited(t, e.as(t, ip, http.MethodGet, "/v2/projects/"+unknownProjectID(300+i)+"/.well-known/jwks.json", nil, nil), "20")
			}
			// The same unknown project again: answered from memory, and still counted.
			assertRateLimited(t, e.as(t, ip, http.MethodGet, "/v2/projects/"+unknownProjectID(200)+"/.well-known/jwks.json", nil, nil), "20")
		})
		t.Run("Basic authentication with random project IDs", func(t *testing.T) {
			const ip = "192.0.2.3"
			for i := range 3 {
				h := map[string]string{"Authorization": basicAuth(unknownProjectID(400+i), e.f.APISecret)}
				assertError(t, e.as(t, ip, http.MethodPost, "/v2/connectTokens", mint, h), http.StatusUnauthorized, "login_error")
			}
			for i := range 5 {
				h := map[string]string{"Authorization": basicAuth(unknownProjectID(500+i), e.f.APISecret)}
				assertRateLimited(t, e.as(t, ip, http.MethodPost, "/v2/connectTokens", mint, h), "20")
			}
			// A project this process knows is still served, with its right secret.
			e.as(t, "192.0.2.99", http.MethodGet, e.jwksPath(), nil, nil).wantStatus(t, http.StatusOK)
			e.as(t, ip, http.MethodPost, "/v2/connectTokens", mint, e.basic()).wantStatus(t, http.StatusOK)
			e.as(t, ip, http.MethodGet, e.jwksPath(), nil, nil).wantStatus(t, http.StatusOK)
			// The budget refills.
			clock.Advance(20 * time.Second)
			h := map[string]string{"Authorization": basicAuth(unknownProjectID(600), e.f.APISecret)}
			assertError(t, e.as(t, ip, http.MethodPost, "/v2/connectTokens", mint, h), http.StatusUnauthorized, "login_error")
		})
		t.Run("projects that exist cost nothing", func(t *testing.T) {
			// More projects than the budget, none known to the server yet: each lookup
			// finds its project and gives its token back.
			const ip = "192.0.2.4"
			for range 6 {
				p, secret := e.f.AddProject(t, "localhost", brokertest.Origin)
				e.as(t, ip, http.MethodGet, "/v2/projects/"+p.ID+"/.well-known/jwks.json", nil, nil).wantStatus(t, http.StatusOK)
				q, _ := e.f.AddProject(t, "localhost", brokertest.Origin)
				e.as(t, ip, http.MethodPost, "/v2/connectTokens", mint,
					map[string]string{"Authorization": basicAuth(q.ID, "lks_wrong")}).wantStatus(t, http.StatusUnauthorized)
				_ = secret
			}
			h := map[string]string{"Authorization": basicAuth(unknownProjectID(700), e.f.APISecret)}
			assertError(t, e.as(t, ip, http.MethodPost, "/v2/connectTokens", mint, h), http.StatusUnauthorized, "login_error")
		})
	})
}

// TestUnauthenticatedRequestsSpareTheStore closes the store under a running server: what
// requests without credentials ask again and again (a project's JWKS, unknown projects,
// readiness) is answered from memory, for a bounded time.
func TestUnauthenticatedRequestsSpareTheStore(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := brokertest.New(t, dialect)
		clock := &testClock{now: time.Unix(1_800_000_000, 0)}
		h := web.New(f.Broker, slog.New(slog.NewTextHandler(io.Discard, nil)), web.WithClock(clock.Now))
		get := func(method, path string, headers map[string]string) response {
			body := ""
			if method == http.MethodPost {
				body = `{}`
			}
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.RemoteAddr = "192.0.2.1:1000"
			req.Header.Set("Content-Type", "application/json")
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			return serve(h, req)
		}
		jwks := "/v2/projects/" + f.Project.ID + "/.well-known/jwks.json"
		missing := unknownProjectID(1)
		missingJWKS := "/v2/projects/" + missing + "/.well-known/jwks.json"
		missingFront := "/v2/projects/" + missing + "/connect/login/start"
		wrongProject := map[string]string{"Authorization": basicAuth(missing, f.APISecret)}
		want := []struct {
			name, method, path string
			headers            map[string]string
			status             int
		}{
			{"JWKS", http.MethodGet, jwks, nil, http.StatusOK},
			{"JWKS of an unknown project", http.MethodGet, missingJWKS, nil, http.StatusNotFound},
			{"frontend call for an unknown project", http.MethodPost, missingFront, nil, http.StatusNotFound},
			{"Basic authentication for an unknown project", http.MethodPost, "/v2/connectTokens", wrongProject, http.StatusUnauthorized},
			{"readyz", http.MethodGet, "/readyz", nil, http.StatusOK},
		}
		for _, w := range want {
			if r := get(w.method, w.path, w.headers); r.Status != w.status {
				t.Fatalf("%s before the store closed: %d %s, want %d", w.name, r.Status, r.Body, w.status)
			}
		}
		body := get(http.MethodGet, jwks, nil).Body

		f.Store.Close()
		for i := range 50 {
			for _, w := range want {
				if r := get(w.method, w.path, w.headers); r.Status != w.status {
					t.Fatalf("%s #%d with the store closed: %d %s, want %d from memory", w.name, i, r.Status, r.Body, w.status)
				}
			}
		}
		if r := get(http.MethodGet, jwks, nil); string(r.Body) != string(body) {
			t.Errorf("JWKS from memory = %s, want %s", r.Body, body)
		}
		if r := get(http.MethodGet, "/v2/projects/"+unknownProjectID(2)+"/.well-known/jwks.json", nil); r.Status < 500 {
			t.Fatalf("a new project ID with the store closed: %d, want 5xx (the store is really closed)", r.Status)
		}

		// Memory is brief: /readyz asks again after a second, the JWKS after a few, unknown
		// projects after broker.CacheTTL.
		clock.Advance(time.Second)
		assertError(t, get(http.MethodGet, "/readyz", nil), http.StatusServiceUnavailable, "unavailable")
		clock.Advance(broker.CacheTTL - time.Second)
		for _, w := range want {
			if r := get(w.method, w.path, w.headers); r.Status < 500 {
				t.Errorf("%s %s after CacheTTL with the store closed: %d, want 5xx (asked again)", w.method, w.path, r.Status)
			}
		}
	})
}

// TestJWKSFromMemoryPublishesNewKeys checks the JWKS served from memory against key
// rotation: a key rotated in through another process is published within broker.CacheTTL,
// and a key that this process signs with is published at once.
func TestJWKSFromMemoryPublishesNewKeys(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e, clock := newLimitedEnv(t, dialect, web.Limits{})
		ctx := context.Background()
		kids := func() string {
			t.Helper()
			r := e.doJSON(t, http.MethodGet, e.jwksPath(), nil, nil)
			r.wantStatus(t, http.StatusOK)
			return string(r.Body)
		}
		kids()
		next, err := e.f.Broker.RotateKey(ctx, e.f.Project.ID) // published now, signs later
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(broker.CacheTTL)
		if got := kids(); !strings.Contains(got, next.ID) {
			t.Errorf("JWKS %s lacks the rotated key %s after CacheTTL", got, next.ID)
		}

		e.register(t, "user-42")
		now, err := e.f.Broker.RotateKeyIn(ctx, e.f.Project.ID, 0) // signs now
		if err != nil {
			t.Fatal(err)
		}
		if got := kids(); strings.Contains(got, now.ID) {
			t.Logf("the JWKS already has %s (read after the rotation)", now.ID)
		}
		token := e.login(t, "user-42").str(t, "signedPasskeyData")
		if _, err := e.verifier().Verify(ctx, token); err != nil {
			t.Errorf("offline verification right after signing with a new key: %v", err)
		}
		if got := kids(); !strings.Contains(got, now.ID) {
			t.Errorf("JWKS %s lacks the key %s this server just signed with", got, now.ID)
		}
	})
}
