package web_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/broker/webhook"
	"github.com/latchkey/latchkey/web"
)

// testClock is a clock for the rate limits that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newLimitedEnv is newEnv with rate limits on a test clock.
func newLimitedEnv(t testing.TB, dialect string, l web.Limits) (*env, *testClock) {
	t.Helper()
	f := brokertest.New(t, dialect)
	c := &testClock{now: time.Unix(1_800_000_000, 0)}
	h := web.New(f.Broker, slog.New(slog.NewTextHandler(io.Discard, nil)), web.WithLimits(l), web.WithClock(c.Now))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{f: f, h: h, srv: srv, auth: softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)}
	e.api = validate(t, e)
	return e, c
}

// from sends a request through the handler as if from the peer address remote.
func (e *env) from(remote, method, path, body string, headers map[string]string) response {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return serve(e.h, req)
}

func assertRateLimited(t *testing.T, r response, retryAfter string) {
	t.Helper()
	assertError(t, r, http.StatusTooManyRequests, "rate_limited")
	if got := r.Header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
}

func TestFrontendRateLimitPerIP(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e, clock := newLimitedEnv(t, dialect, web.Limits{FrontendPerIP: web.Rate{Burst: 3, Per: time.Minute}})
		path := e.frontPath("login/start")
		origin := map[string]string{"Origin": brokertest.Origin}
		for i := range 3 {
			e.from("192.0.2.1:1000", http.MethodPost, path, `{}`, origin).wantStatus(t, http.StatusOK)
			_ = i
		}
		before := e.f.Snapshot(t)
		r := e.from("192.0.2.1:1001", http.MethodPost, path, `{}`, origin)
		assertRateLimited(t, r, "20") // 3 a minute: one every 20 s
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != brokertest.Origin {
			t.Errorf("429 Access-Control-Allow-Origin = %q, want %s so that the page can read it", got, brokertest.Origin)
		}
		if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
			t.Errorf("429 does not expose Retry-After to the page: %q", r.Header.Get("Access-Control-Expose-Headers"))
		}
		// Every frontend route and the preflight count against the same address.
		for _, op := range []string{"login/finish", "append/start", "append/finish", "manage/list", "manage/delete"} {
			assertRateLimited(t, e.from("192.0.2.1:1002", http.MethodPost, e.frontPath(op), `{}`, origin), "20")
		}
		if r := e.from("192.0.2.1:1002", http.MethodOptions, path, "", origin); r.Status != http.StatusTooManyRequests {
			t.Errorf("preflight over the limit: status %d, want 429", r.Status)
		}
		if diff := e.f.Snapshot(t); diff != before {
			t.Error("refused requests changed the store")
		}
		// Another address, the backend API and the JWKS are not affected.
		e.from("192.0.2.2:1000", http.MethodPost, path, `{}`, origin).wantStatus(t, http.StatusOK)
		e.from("192.0.2.1:1000", http.MethodGet, e.jwksPath(), "", nil).wantStatus(t, http.StatusOK)
		e.from("192.0.2.1:1000", http.MethodPost, "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"}}`, e.basic()).wantStatus(t, http.StatusOK)
		// The bucket refills: one request per 20 s.
		clock.Advance(19 * time.Second)
		assertRateLimited(t, e.from("192.0.2.1:1000", http.MethodPost, path, `{}`, origin), "1")
		clock.Advance(time.Second)
		e.from("192.0.2.1:1000", http.MethodPost, path, `{}`, origin).wantStatus(t, http.StatusOK)
		assertRateLimited(t, e.from("192.0.2.1:1000", http.MethodPost, path, `{}`, origin), "20")

		t.Run("IPv6 by /64", func(t *testing.T) {
			for i := range 3 {
				e.from(fmt.Sprintf("[2001:db8:1:2::%x]:1000", i+1), http.MethodPost, path, `{}`, origin).wantStatus(t, http.StatusOK)
			}
			assertRateLimited(t, e.from("[2001:db8:1:2:ffff::9]:1000", http.MethodPost, path, `{}`, origin), "20")
			e.from("[2001:db8:1:3::1]:1000", http.MethodPost, path, `{}`, origin).wantStatus(t, http.StatusOK)
		})
	})
}

func TestTrustedProxies(t *testing.T) {
	proxies, err := web.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	limits := web.Limits{FrontendPerIP: web.Rate{Burst: 1, Per: time.Minute}, TrustedProxies: proxies}
	e, _ := newLimitedEnv(t, "sqlite", limits)
	path := e.frontPath("login/start")
	xff := func(v string) map[string]string { return map[string]string{"X-Forwarded-For": v} }
	// Behind the trusted proxy, clients are told apart by the address the proxy appended.
	e.from("10.0.0.5:1000", http.MethodPost, path, `{}`, xff("203.0.113.1")).wantStatus(t, http.StatusOK)
	e.from("10.0.0.5:1000", http.MethodPost, path, `{}`, xff("203.0.113.2")).wantStatus(t, http.StatusOK)
	assertRateLimited(t, e.from("10.0.0.6:1000", http.MethodPost, path, `{}`, xff("203.0.113.1")), "60")
	// A client cannot pick its address by writing the header itself: hops left of the last
	// untrusted one are ignored, and an untrusted peer's header is ignored entirely.
	assertRateLimited(t, e.from("10.0.0.5:1000", http.MethodPost, path, `{}`, xff("198.51.100.99, 203.0.113.1")), "60")
	e.from("198.51.100.7:1000", http.MethodPost, path, `{}`, xff("203.0.113.3")).wantStatus(t, http.StatusOK)
	assertRateLimited(t, e.from("198.51.100.7:1000", http.MethodPost, path, `{}`, xff("203.0.113.4")), "60")
	// Without configured proxies, the header is never believed.
	plain, _ := newLimitedEnv(t, "sqlite", web.Limits{FrontendPerIP: web.Rate{Burst: 1, Per: time.Minute}})
	plain.from("10.0.0.5:1000", http.MethodPost, plain.frontPath("login/start"), `{}`, xff("203.0.113.1")).wantStatus(t, http.StatusOK)
	assertRateLimited(t, plain.from("10.0.0.5:1000", http.MethodPost, plain.frontPath("login/start"), `{}`, xff("203.0.113.2")), "60")
}

func TestLoginRateLimitPerIdentifier(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e, clock := newLimitedEnv(t, dialect, web.Limits{LoginPerIdentifier: web.Rate{Burst: 2, Per: time.Minute}})
		e.register(t, "alice")
		path := e.frontPath("login/start")
		for i, identifier := range []string{"alice", "nobody"} {
			// From different addresses: the limit follows the identifier.
			e.from(fmt.Sprintf("192.0.2.%d:1", 10*i+1), http.MethodPost, path, `{"identifier":"`+identifier+`"}`, nil).wantStatus(t, http.StatusOK)
			e.from(fmt.Sprintf("192.0.2.%d:1", 10*i+2), http.MethodPost, path, `{"identifier":"`+identifier+`"}`, nil).wantStatus(t, http.StatusOK)
			before := e.f.Snapshot(t)
			assertRateLimited(t, e.from(fmt.Sprintf("192.0.2.%d:1", 10*i+3), http.MethodPost, path, `{"identifier":"`+identifier+`"}`, nil), "30")
			if e.f.Snapshot(t) != before {
				t.Errorf("a refused login/start for %s changed the store", identifier)
			}
		}
		// Other identifiers, other projects and usernameless logins are not affected.
		e.from("192.0.2.1:1", http.MethodPost, path, `{"identifier":"bob"}`, nil).wantStatus(t, http.StatusOK)
		for range 5 {
			e.from("192.0.2.1:1", http.MethodPost, path, `{}`, nil).wantStatus(t, http.StatusOK)
		}
		other, _ := e.f.AddProject(t, brokertest.RPID, brokertest.Origin)
		e.from("192.0.2.1:1", http.MethodPost, "/v2/projects/"+other.ID+"/connect/login/start", `{"identifier":"alice"}`, nil).wantStatus(t, http.StatusOK)
		clock.Advance(30 * time.Second)
		e.from("192.0.2.1:1", http.MethodPost, path, `{"identifier":"alice"}`, nil).wantStatus(t, http.StatusOK)
	})
}

func TestFailedAuthRateLimit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e, clock := newLimitedEnv(t, dialect, web.Limits{FailedAuthPerIP: web.Rate{Burst: 2, Per: time.Minute}})
		mint := `{"type":"passkey-list","data":{"identifier":"u"}}`
		wrong := map[string]string{"Authorization": basicAuth(e.f.Project.ID, "lks_wrong")}
		attacker, backend := "198.51.100.66:1", "192.0.2.10:1"
		// Successes do not count.
		for range 5 {
			e.from(attacker, http.MethodPost, "/v2/connectTokens", mint, e.basic()).wantStatus(t, http.StatusOK)
		}
		for range 2 {
			assertError(t, e.from(attacker, http.MethodPost, "/v2/connectTokens", mint, wrong), http.StatusUnauthorized, "login_error")
		}
		// Now the attacker's wrong secrets are answered 429, but the secret is still checked
		// first: the right one from the same address (a backend behind the same NAT) is
		// never refused. The backend on its own address is not affected either.
		before := e.f.Snapshot(t)
		assertRateLimited(t, e.from(attacker, http.MethodPost, "/v2/connectTokens", mint, wrong), "30")
		assertRateLimited(t, e.from(attacker, http.MethodGet, "/v2/connectTokens/ctk-000000000000000000000000", "", wrong), "30")
		if e.f.Snapshot(t) != before {
			t.Error("refused requests changed the store")
		}
		e.from(attacker, http.MethodPost, "/v2/connectTokens", mint, e.basic()).wantStatus(t, http.StatusOK)
		assertError(t, e.from(attacker, http.MethodGet, "/v2/connectTokens/ctk-000000000000000000000000", "", e.basic()), http.StatusNotFound, "not_found")
		assertRateLimited(t, e.from(attacker, http.MethodPost, "/v2/connectTokens", mint, wrong), "30")
		e.from(backend, http.MethodPost, "/v2/connectTokens", mint, e.basic()).wantStatus(t, http.StatusOK)
		// The count is per project: the attacker may still fail against another project.
		other, otherSecret := e.f.AddProject(t, "other.example", "https://other.example")
		assertError(t, e.from(attacker, http.MethodPost, "/v2/connectTokens", mint,
			map[string]string{"Authorization": basicAuth(other.ID, "lks_wrong")}), http.StatusUnauthorized, "login_error")
		e.from(attacker, http.MethodPost, "/v2/connectTokens", mint,
			map[string]string{"Authorization": basicAuth(other.ID, otherSecret)}).wantStatus(t, http.StatusOK)
		clock.Advance(30 * time.Second)
		e.from(attacker, http.MethodPost, "/v2/connectTokens", mint, e.basic()).wantStatus(t, http.StatusOK)
	})
}

func TestPendingCeremonyCapAnswers429(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnvWith(t, dialect, &broker.Config{MaxPendingCeremonies: 2})
		e.register(t, "user-9") // finished: takes no place
		for _, user := range []string{"user-1", "user-2"} {
			e.front(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", user)}).wantStatus(t, http.StatusOK)
		}
		tok := e.token(t, "passkey-append", "user-42")
		login := e.token(t, "passkey-login", "user-9")
		before := e.f.Snapshot(t)
		assertRateLimited(t, e.front(t, "append/start", map[string]any{"connectToken": tok}), "5")
		assertRateLimited(t, e.front(t, "login/start", map[string]any{"loginConnectToken": login}), "5")
		if e.f.Snapshot(t) != before {
			t.Error("refused starts changed the store")
		}
		// Logins without a connect token store nothing and are never refused for the cap.
		e.front(t, "login/start", `{}`).wantStatus(t, http.StatusOK)
	})
}

// TestSecurityHeadersOnEveryResponse checks the headers that every answer carries, pages and
// scripts included: a strict CSP, no framing, no sniffing, no referrer.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t, "sqlite")
	for _, tc := range []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		contentType              string
	}{
		{"healthz", http.MethodGet, "/healthz", "", nil, 200, "application/json"},
		{"JWKS", http.MethodGet, e.jwksPath(), "", nil, 200, "application/json"},
		{"SDK script", http.MethodGet, "/web/latchkey.js", "", nil, 200, "text/javascript; charset=utf-8"},
		{"components script", http.MethodGet, "/web/latchkey-components.js", "", nil, 200, "text/javascript; charset=utf-8"},
		{"missing asset", http.MethodGet, "/web/nope.js", "", nil, 404, "application/json"},
		{"home page", http.MethodGet, "/", "", nil, 200, "text/html; charset=utf-8"},
		{"unknown route", http.MethodGet, "/nothing", "", nil, 404, "application/json"},
		{"login/start", http.MethodPost, e.frontPath("login/start"), `{}`, nil, 200, "application/json"},
		{"invalid_json", http.MethodPost, e.frontPath("login/start"), `{`, nil, 400, "application/json"},
		{"backend", http.MethodPost, "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"}}`, e.basic(), 200, "application/json"},
		{"login_error", http.MethodPost, "/v2/connectTokens", `{}`, nil, 401, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.from("192.0.2.1:1", tc.method, tc.path, tc.body, tc.headers)
			r.wantStatus(t, tc.status)
			for k, want := range map[string]string{
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
				"X-Frame-Options":         "DENY",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.contentType) {
				t.Errorf("Content-Type = %q, want %s", got, tc.contentType)
			}
			if strings.HasPrefix(tc.path, "/v2/connectTokens") || strings.Contains(tc.path, "/connect/") {
				if got := r.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("API answer Cache-Control = %q, want no-store", got)
				}
			}
		})
	}
}

// TestJSONDeliberately checks the decisions on bodies that JSON parsers disagree about:
// duplicate keys (also differing only in case, which Go's decoder matches to one field),
// invalid UTF-8 and deep nesting are refused as invalid_json; unknown fields are ignored.
func TestJSONDeliberately(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		for _, tc := range []struct{ name, op, body string }{
			{"duplicate key", "login/start", `{"identifier":"alice","identifier":"mallory"}`},
			{"duplicate key differing in case", "login/start", `{"identifier":"alice","IDENTIFIER":"mallory"}`},
			{"duplicate key in the credential", "login/finish", `{"ceremonyID":"cer-1","credential":{"id":"a","id":"b"}}`},
			{"duplicate ceremonyID", "append/finish", `{"ceremonyID":"cer-1","ceremonyId":"cer-2","credential":{}}`},
			{"invalid UTF-8", "login/start", "{\"identifier\":\"al\xffice\"}"},
			{"overlong UTF-8 encoding", "login/start", "{\"identifier\":\"\xc0\xaf\"}"},
			{"UTF-16 surrogate encoded in UTF-8", "login/start", "{\"identifier\":\"\xed\xa0\x80\"}"},
			{"nested 33 deep", "login/start", `{"x":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assertError(t, e.front(t, tc.op, tc.body), http.StatusBadRequest, "invalid_json")
			})
		}
		t.Run("backend duplicate keys", func(t *testing.T) {
			r := e.backend(t, http.MethodPost, "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u","identifier":"v"}}`)
			assertError(t, r, http.StatusBadRequest, "invalid_json")
		})
		t.Run("charset", func(t *testing.T) {
			path := e.frontPath("login/start")
			for _, ct := range []string{"application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json;charset=\"Utf-8\""} {
				e.doJSON(t, http.MethodPost, path, `{}`, map[string]string{"Origin": brokertest.Origin, "Content-Type": ct}).wantStatus(t, http.StatusOK)
			}
			// A body in another charset would be read as UTF-8 and mean something else.
			for _, ct := range []string{"application/json; charset=utf-16", "application/json; charset=latin1", "application/json; charset=us-ascii"} {
				r := e.doJSON(t, http.MethodPost, path, `{}`, map[string]string{"Origin": brokertest.Origin, "Content-Type": ct})
				assertError(t, r, http.StatusBadRequest, "invalid_json")
			}
		})
		t.Run("duplicate keys in clientDataJSON", func(t *testing.T) {
			// The body is sound; the clientDataJSON inside it is not.
			cd := base64.RawURLEncoding.EncodeToString([]byte(`{"type":"webauthn.get","challenge":"AAAA","origin":"https://evil.example","origin":"http://localhost:8080"}`))
			body := `{"ceremonyID":"cer-1","credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"` + cd + `","authenticatorData":"AAAA","signature":"AAAA"}}}`
			assertValidation(t, e.front(t, "login/finish", body), "credential.response.clientDataJSON")
		})
		t.Run("unknown fields are ignored", func(t *testing.T) {
			e.front(t, "login/start", `{"conditional":true,"hint":"future","nested":{"a":[1,{"b":2}]}}`).wantStatus(t, http.StatusOK)
			e.backend(t, http.MethodPost, "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u","extra":1},"future":true}`).wantStatus(t, http.StatusOK)
		})
	})
}

// TestLoginStartDoesNotTellUnknownFromPasskeyless checks that login/start answers an unknown
// identifier and a known one without passkeys the same, byte for byte, and in about the same
// time. Both run the same two queries (the user, then the passkeys of the user ID found, or
// of "" for nobody), so any difference is noise. The medians of many interleaved samples are
// compared with a generous band, 0.5 to 2: on a busy two-core machine single requests vary
// several-fold, but medians of a few hundred interleaved samples stay within some tens of
// percent of each other, while extra work on one path of the size that makes enumeration
// practical (a password hash, a remote call, a write) moves the ratio far outside it.
func TestLoginStartDoesNotTellUnknownFromPasskeyless(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register(t, "alice")
		e.mint(t, "passkey-append", "bob") // bob exists, without a passkey
		path := e.frontPath("login/start")
		ask := func(identifier string) (response, time.Duration) {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"identifier":"`+identifier+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", brokertest.Origin)
			start := time.Now()
			r := serve(e.h, req)
			return r, time.Since(start)
		}
		norm := func(r response) string {
			h := r.Header.Clone()
			h.Del("X-Request-ID")
			h.Del("Date")
			return fmt.Sprintf("%d %v %s", r.Status, h, r.Body)
		}
		unknown, _ := ask("nobody")
		known, _ := ask("bob")
		if norm(unknown) != norm(known) || !bytes.Equal(unknown.Body, []byte(`{"fallback":{"reason":"no_passkey"}}`+"\n")) {
			t.Fatalf("login/start differs:\nunknown:   %s\nno passkey: %s", norm(unknown), norm(known))
		}
		for range 50 { // warm up both paths
			ask("nobody")
			ask("bob")
		}
		const samples = 400
		var times [2][]time.Duration
		for range samples {
			order := []int{0, 1}
			if rand.IntN(2) == 1 {
				order = []int{1, 0}
			}
			for _, i := range order {
				r, d := ask([]string{"nobody", "bob"}[i])
				if norm(r) != norm(unknown) {
					t.Fatalf("login/start answered %s, want %s", norm(r), norm(unknown))
				}
				times[i] = append(times[i], d)
			}
		}
		median := func(ds []time.Duration) time.Duration {
			s := slices.Clone(ds)
			slices.Sort(s)
			return s[len(s)/2]
		}
		mu, mk := median(times[0]), median(times[1])
		ratio := float64(mk) / float64(mu)
		t.Logf("login/start median: unknown identifier %v, known without passkeys %v, ratio %.2f", mu, mk, ratio)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("median latency of login/start: unknown %v, known without passkeys %v (ratio %.2f), want a ratio within 0.5 to 2", mu, mk, ratio)
		}
	})
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// secretForms returns the ways a secret could be written down: as it is, its random part,
// and that part as hex and base64.
func secretForms(secret string) []string {
	forms := []string{secret}
	if _, body, ok := strings.Cut(secret, "_"); ok {
		forms = append(forms, body)
		if raw, err := base64.RawURLEncoding.DecodeString(body); err == nil {
			forms = append(forms, bytesForms(raw)...)
		}
	}
	return forms
}

// bytesForms returns raw bytes as text in the encodings a store or log might use.
func bytesForms(raw []byte) []string {
	return []string{string(raw), hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw),
		fmt.Sprint(raw)}
}

// signingKeyForms opens each signing key of the store with the test secret key, as a thief
// holding both would, and returns the forms of its private material: the PKCS#8 DER and
// the private scalar.
func signingKeyForms(t *testing.T, e *env) (forms []string, kids []string) {
	t.Helper()
	key, err := broker.ParseSecretKey(brokertest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	db := openRaw(t, e.f.Store.Dialect(), e.f.URL)
	rows, err := db.Query(`SELECT id, project_id, private_key FROM signing_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var kid, pid, sealed string
		if err := rows.Scan(&kid, &pid, &sealed); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(sealed)
		if err != nil || len(raw) < aead.NonceSize() {
			t.Fatalf("signing key %s: sealed value %q is not base64url", kid, sealed)
		}
		der, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte("latchkey signing key "+pid+"/"+kid))
		if err != nil {
			t.Fatalf("signing key %s does not open with the test secret key: %v", kid, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		d, err := priv.(*ecdsa.PrivateKey).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		forms = append(forms, bytesForms(der)...)
		forms = append(forms, bytesForms(d)...)
		forms = append(forms, priv.(*ecdsa.PrivateKey).D.String())
		kids = append(kids, kid)
	}
	return forms, kids
}

// dumpEverything returns every row of every table of the store as text, byte values as
// their text, so that a search sees what a stolen dump holds.
func dumpEverything(t *testing.T, e *env) (string, []string) {
	t.Helper()
	db := openRaw(t, e.f.Store.Dialect(), e.f.URL)
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if e.f.Store.Dialect() == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	sort.Strings(tables)
	var sb strings.Builder
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			sb.WriteString(table + ":")
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(&sb, " %v", v)
			}
			sb.WriteString("\n")
		}
		rows.Close()
		// The store's own dump of the tables it knows must agree.
		if dump, err := e.f.Store.DumpTable(t.Context(), table); err == nil {
			sb.WriteString(dump)
		}
	}
	return sb.String(), tables
}

// TestDatabaseDumpHoldsNoSecret fills a store with everything the broker keeps and reads
// every table back, as a thief with a copy of the database would: no API secret, connect
// token, signedPasskeyData or signing key is in it, only their hashes, the public halves and
// the sealed private keys.
func TestDatabaseDumpHoldsNoSecret(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ctx := t.Context()
		var secrets []string // everything that must not be in the dump
		apiSecrets := []string{e.f.APISecret}
		_, second, err := e.f.Broker.AddSecret(ctx, e.f.Project.ID)
		if err != nil {
			t.Fatal(err)
		}
		apiSecrets = append(apiSecrets, second)
		other, otherSecret := e.f.AddProject(t, "other.example", "https://other.example")
		apiSecrets = append(apiSecrets, otherSecret)
		if _, err := e.f.Broker.RotateKey(ctx, e.f.Project.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.f.Broker.RotateKeyIn(ctx, other.ID, 0); err != nil {
			t.Fatal(err)
		}
		var tokens []string
		for _, typ := range []string{"passkey-append", "passkey-list", "passkey-delete", "passkey-login"} {
			tokens = append(tokens, e.token(t, typ, "user-42"))
		}
		_, pk := e.register(t, "user-42") // a consumed append token and a passkey
		spd := e.login(t, "user-42")      // a login that signs
		signed := spd.str(t, "signedPasskeyData")
		e.backend(t, http.MethodPost, "/v2/passkeys/verifySignedData", map[string]any{"signedPasskeyData": signed}).wantStatus(t, http.StatusOK)
		unverified := e.login(t, "").str(t, "signedPasskeyData")
		e.front(t, "manage/list", map[string]any{"connectToken": tokens[1]}).wantStatus(t, http.StatusOK)
		pending := e.front(t, "append/start", map[string]any{"connectToken": tokens[0]}) // left unfinished
		e.front(t, "login/start", map[string]any{"identifier": "user-42"}).wantStatus(t, http.StatusOK)
		loginStart := e.front(t, "login/start", map[string]any{"loginConnectToken": tokens[3]})
		loginStart.wantStatus(t, http.StatusOK)
		hook := e.backend(t, http.MethodPost, "/v2/webhooks", map[string]any{"url": "https://hooks.example.com/latchkey"})
		hook.wantStatus(t, http.StatusCreated)
		whsec := hook.str(t, "secret")
		whKey, err := webhook.ParseSecret(whsec)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secretForms(whsec)...)
		secrets = append(secrets, strings.TrimPrefix(whsec, "whsec_"))
		secrets = append(secrets, bytesForms(whKey)...)
		for _, s := range apiSecrets {
			secrets = append(secrets, secretForms(s)...)
		}
		for _, s := range tokens {
			secrets = append(secrets, secretForms(s)...)
		}
		secrets = append(secrets, signed, unverified, strings.Split(signed, ".")[2], strings.Split(unverified, ".")[2])
		secrets = append(secrets, brokertest.SecretKey)
		rawKey, _ := broker.ParseSecretKey(brokertest.SecretKey)
		secrets = append(secrets, bytesForms(rawKey)...)
		keyForms, kids := signingKeyForms(t, e)
		if len(kids) != 4 {
			t.Fatalf("found %d signing keys, want 4", len(kids))
		}
		secrets = append(secrets, keyForms...)

		dump, tables := dumpEverything(t, e)
		for _, want := range []string{"projects", "api_secrets", "users", "passkeys", "ceremonies", "connect_tokens", "signing_keys", "verified_tokens", "webhook_endpoints"} {
			if !slices.Contains(tables, want) {
				t.Errorf("the dump has no table %s (tables: %v)", want, tables)
			}
		}
		for _, s := range secrets {
			if len(s) >= 16 && strings.Contains(dump, s) {
				t.Errorf("the database dump contains a secret: %.24q...", s)
			}
		}
		// The dump is the real thing: it holds the hashes, key IDs and public data.
		hashOf := func(s string) string { return hex.EncodeToString(sha256Sum(s)) }
		for _, s := range append(append([]string{}, apiSecrets...), tokens...) {
			if !strings.Contains(dump, hashOf(s)) {
				t.Errorf("the dump lacks the hash of a secret; is the search looking at the data?")
			}
		}
		for _, want := range append(kids, pk["id"].(string), pending.str(t, "ceremonyID"), loginStart.str(t, "ceremonyID"), "user-42", hook.str(t, "id")) {
			if !strings.Contains(dump, want) {
				t.Errorf("the dump lacks %q", want)
			}
		}
		t.Logf("searched %d bytes of %d tables for %d secret forms", len(dump), len(tables), len(secrets))
	})
}

// TestLogsHoldNoSecret runs every operation, successful and failing, with the log captured at
// debug level, and searches the log for every secret, token, challenge and signedPasskeyData
// the run handled.
func TestLogsHoldNoSecret(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		f := brokertest.New(t, dialect)
		var log lockedBuffer
		limits := web.Limits{FrontendPerIP: web.Rate{Burst: 1000, Per: time.Minute}, LoginPerIdentifier: web.Rate{Burst: 3, Per: time.Minute},
			FailedAuthPerIP: web.Rate{Burst: 1, Per: time.Minute}}
		h := web.New(f.Broker, slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})), web.WithLimits(limits))
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		e := &env{f: f, h: h, srv: srv, auth: softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)}

		var secrets []string
		keep := func(r response, paths ...string) response {
			for _, p := range paths {
				if s, ok := r.get(p).(string); ok && s != "" {
					secrets = append(secrets, s)
				}
			}
			return r
		}
		secrets = append(secrets, e.f.APISecret, e.basic()["Authorization"], strings.TrimPrefix(e.basic()["Authorization"], "Basic "))
		token := func(typ, identifier string) string {
			return keep(e.mint(t, typ, identifier), "secret").str(t, "secret")
		}
		// Append, with the challenge of its options.
		start := keep(e.front(t, "append/start", map[string]any{"connectToken": token("passkey-append", "user-42")}), "publicKey.challenge")
		cred, err := e.auth.Create(softauthn.PublicKeyOf(start.Body))
		if err != nil {
			t.Fatal(err)
		}
		e.front(t, "append/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)}).wantStatus(t, http.StatusOK)
		// Logins of every kind.
		for _, body := range []map[string]any{{"identifier": "user-42"}, {}, {"loginConnectToken": token("passkey-login", "user-42")}, {"conditional": true}} {
			ls := keep(e.front(t, "login/start", body), "publicKey.challenge")
			assertion, err := e.auth.Get(softauthn.PublicKeyOf(ls.Body))
			if err != nil {
				t.Fatal(err)
			}
			fin := keep(e.front(t, "login/finish", map[string]any{"ceremonyID": ls.str(t, "ceremonyID"), "credential": json.RawMessage(assertion)}), "signedPasskeyData")
			fin.wantStatus(t, http.StatusOK)
			spd := fin.str(t, "signedPasskeyData")
			e.backend(t, http.MethodPost, "/v2/passkeys/verifySignedData", map[string]any{"signedPasskeyData": spd}).wantStatus(t, http.StatusOK)
			e.backend(t, http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{"signedPasskeyData": spd, "username": "someone"}).wantStatus(t, http.StatusOK)
		}
		// Management, and failures that carry secrets in their requests.
		e.front(t, "manage/list", map[string]any{"connectToken": token("passkey-list", "user-42")}).wantStatus(t, http.StatusOK)
		listTok := token("passkey-list", "user-42")
		assertError(t, e.front(t, "manage/delete", map[string]any{"connectToken": listTok, "credentialID": "AAAA"}), http.StatusUnauthorized, "invalid_connect_token")
		assertError(t, e.front(t, "append/start", `{"connectToken":"`+listTok+`","connectToken":"x"}`), http.StatusBadRequest, "invalid_json")
		assertError(t, e.front(t, "append/start", `{"connectToken":"`+listTok+`"`), http.StatusBadRequest, "invalid_json")
		assertError(t, e.front(t, "append/start", map[string]any{"connectToken": listTok + "x"}), http.StatusUnauthorized, "invalid_connect_token")
		ls := keep(e.front(t, "login/start", map[string]any{"identifier": "user-42"}), "publicKey.challenge")
		assertion, _ := e.auth.Get(softauthn.PublicKeyOf(ls.Body))
		bad := softauthn.Tamper(assertion, "signature", func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
		assertError(t, e.front(t, "login/finish", map[string]any{"ceremonyID": ls.str(t, "ceremonyID"), "credential": json.RawMessage(bad)}), http.StatusBadRequest, "verification_failed")
		for range 3 {
			e.front(t, "login/start", map[string]any{"identifier": "user-42"})
		}
		wrong := "lks_" + strings.Repeat("A", 43)
		secrets = append(secrets, wrong)
		for range 2 {
			e.doJSON(t, http.MethodPost, "/v2/connectTokens", `{}`, map[string]string{"Authorization": basicAuth(e.f.Project.ID, wrong)})
		}
		e.backend(t, http.MethodPost, "/v2/connectTokens", map[string]any{"type": "passkey-list", "data": map[string]any{"identifier": strings.Repeat("x", 300)}})

		logged := log.String()
		for _, want := range []string{`"status":200`, `"status":400`, `"status":401`, `"status":429`, "/login/finish", "verification_failed"} {
			if !strings.Contains(logged, want) {
				t.Errorf("the log lacks %s: is it capturing the run?", want)
			}
		}
		n := 0
		for _, s := range secrets {
			for _, form := range secretForms(s) {
				if len(form) < 16 {
					continue
				}
				n++
				if strings.Contains(logged, form) {
					t.Errorf("the log contains a secret, token, challenge or signedPasskeyData: %.24q...", form)
				}
			}
		}
		t.Logf("searched %d log lines for %d secret forms", strings.Count(logged, "\n"), n)
	})
}
