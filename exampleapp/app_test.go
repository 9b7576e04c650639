package exampleapp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"
)

func TestMain(m *testing.M) {
	bcryptCost = bcrypt.MinCost
	os.Exit(m.Run())
}

const (
	fakeProjectID = "prj-fake"
	fakeSecret    = "sec-fake"
)

// fakeBroker answers the two backend endpoints the app calls, as Latchkey would.
type fakeBroker struct {
	*httptest.Server
	mu       sync.Mutex
	minted   []map[string]any // connect token requests
	verified map[string]bool  // signedPasskeyData already verified (single use)
	// tokens maps a signedPasskeyData to the username it was issued for.
	tokens map[string]string
	// down makes every request fail with 503.
	down bool
	// passwordLogins is the sum of the password logins reported.
	passwordLogins int
}

func newFakeBroker(t *testing.T) *fakeBroker {
	t.Helper()
	f := &fakeBroker{verified: map[string]bool{}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/connectTokens", func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(w, r) {
			return
		}
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.minted = append(f.minted, req)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"id": "ctk-1", "tokenType": req["type"], "data": req["data"],
			"connectTokenStatus": "initial", "expires": time.Now().Add(5 * time.Minute).Unix(), "secret": "ctk1_secret"})
	})
	mux.HandleFunc("POST /v2/passkeys/verifySignedData", func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(w, r) {
			return
		}
		var req struct{ SignedPasskeyData string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		defer f.mu.Unlock()
		username, ok := f.tokens[req.SignedPasskeyData]
		switch {
		case !ok:
			writeJSON(w, http.StatusOK, map[string]string{"verificationResult": "invalid_signature", "reason": "bad signature"})
		case f.verified[req.SignedPasskeyData]:
			writeJSON(w, http.StatusOK, map[string]string{"verificationResult": "invalid_challenge", "reason": "already verified"})
		default:
			f.verified[req.SignedPasskeyData] = true
			writeJSON(w, http.StatusOK, map[string]string{"verificationResult": "success", "userID": "usr-1",
				"username": username, "credentialID": "cred-1"})
		}
	})
	mux.HandleFunc("POST /v2/analytics/passwordLogins", func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(w, r) {
			return
		}
		var req struct{ Count int }
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.passwordLogins += req.Count
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]int{"recorded": req.Count})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeBroker) authorized(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"httpStatusCode": 503, "message": "unavailable", "error": map[string]string{"type": "unavailable"}})
		return false
	}
	if p, s, ok := r.BasicAuth(); !ok || p != fakeProjectID || s != fakeSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"httpStatusCode": 401, "message": "login error", "error": map[string]string{"type": "login_error"}})
		return false
	}
	return true
}

// testApp is the app on a real SQLite in a temporary directory, behind an httptest server.
type testApp struct {
	*App
	srv    *httptest.Server
	broker *fakeBroker
	clock  time.Time
}

func newTestApp(t *testing.T) *testApp {
	t.Helper()
	fb := newFakeBroker(t)
	a, err := New(context.Background(), Config{BrokerURL: fb.URL, ProjectID: fakeProjectID, APISecret: fakeSecret, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	ta := &testApp{App: a, broker: fb, clock: time.Now()}
	a.now = func() time.Time { return ta.clock }
	ta.srv = httptest.NewServer(a)
	t.Cleanup(ta.srv.Close)
	return ta
}

// client returns an HTTP client with its own cookie jar that does not follow redirects.
func (ta *testApp) client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// call sends a JSON request and returns the status and decoded body.
func (ta *testApp) call(t *testing.T, c *http.Client, method, path string, body any, headers ...string) (int, map[string]any, *http.Response) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, ta.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp
}

func (ta *testApp) signUp(t *testing.T, c *http.Client, name, email, password string) {
	t.Helper()
	if st, body, _ := ta.call(t, c, "POST", "/api/signup", map[string]string{"name": name, "email": email, "password": password}); st != http.StatusCreated {
		t.Fatalf("sign-up of %s = %d %v, want 201", email, st, body)
	}
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestSignUpValidation(t *testing.T) {
	ta := newTestApp(t)
	ta.signUp(t, ta.client(t), "Taken", "taken@example.com", "correct horse")
	tests := []struct {
		name                  string
		user, email, password string
		wantStatus            int
		wantError, wantField  string
	}{
		{"ok", "Jane Doe", "Jane@Example.com ", "correct horse", 201, "", ""},
		{"no name", " ", "a@example.com", "correct horse", 400, "validation_error", "name"},
		{"long name", strings.Repeat("n", 101), "a@example.com", "correct horse", 400, "validation_error", "name"},
		{"no email", "Jane", "", "correct horse", 400, "validation_error", "email"},
		{"not an email", "Jane", "jane", "correct horse", 400, "validation_error", "email"},
		{"email with a name", "Jane", "Jane <jane@example.com>", "correct horse", 400, "validation_error", "email"},
		{"email without a domain dot", "Jane", "jane@localhost", "correct horse", 400, "validation_error", "email"},
		{"short password", "Jane", "b@example.com", "1234567", 400, "validation_error", "password"},
		{"password over 72 bytes", "Jane", "b@example.com", strings.Repeat("é", 37), 400, "validation_error", "password"},
		{"email taken, other case", "Jane", "TAKEN@example.com", "correct horse", 409, "email_taken", "email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body, resp := ta.call(t, ta.client(t), "POST", "/api/signup", map[string]string{"name": tc.user, "email": tc.email, "password": tc.password})
			if st != tc.wantStatus {
				t.Fatalf("sign-up = %d %v, want %d", st, body, tc.wantStatus)
			}
			if tc.wantError == "" {
				if got := body["user"].(map[string]any)["email"]; got != "jane@example.com" {
					t.Errorf("email = %v, want it normalised to jane@example.com", got)
				}
				if cookie(resp, accessCookie) == nil || cookie(resp, refreshCookie) == nil {
					t.Errorf("sign-up set cookies %v, want both session cookies", resp.Cookies())
				}
				return
			}
			if body["error"] != tc.wantError || body["field"] != tc.wantField || body["message"] == "" {
				t.Errorf("sign-up body = %v, want error %q on field %q with a message", body, tc.wantError, tc.wantField)
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("a refused sign-up set cookies %v", resp.Cookies())
			}
		})
	}
}

func TestSignInWrongPassword(t *testing.T) {
	ta := newTestApp(t)
	ta.signUp(t, ta.client(t), "Jane", "jane@example.com", "correct horse")
	tests := []struct {
		name, email, password string
		want                  int
	}{
		{"right", "jane@example.com", "correct horse", 200},
		{"email in another case", "JANE@example.com", "correct horse", 200},
		{"wrong password", "jane@example.com", "correct horsE", 401},
		{"unknown email", "john@example.com", "correct horse", 401},
		{"empty password", "jane@example.com", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ta.client(t)
			st, body, _ := ta.call(t, c, "POST", "/api/signin", map[string]string{"email": tc.email, "password": tc.password})
			if st != tc.want {
				t.Fatalf("sign-in = %d %v, want %d", st, body, tc.want)
			}
			meStatus, me, _ := ta.call(t, c, "GET", "/api/me", nil)
			if tc.want != 200 {
				if body["error"] != "invalid_credentials" {
					t.Errorf("error = %v, want invalid_credentials (the same for a wrong email and a wrong password)", body["error"])
				}
				if meStatus != http.StatusUnauthorized {
					t.Errorf("/api/me after a refused sign-in = %d, want 401", meStatus)
				}
				return
			}
			if meStatus != 200 || me["method"] != methodPassword {
				t.Errorf("/api/me = %d %v, want 200 with method password", meStatus, me)
			}
		})
	}
}

// TestPasswordLoginsReported: each password sign-in, and only a successful one, is reported
// to the broker's analytics; a broker that is down does not stop the sign-in.
func TestPasswordLoginsReported(t *testing.T) {
	ta := newTestApp(t)
	ta.signUp(t, ta.client(t), "Jane", "jane@example.com", "correct horse")
	for _, pw := range []string{"correct horse", "wrong", "correct horse"} {
		ta.call(t, ta.client(t), "POST", "/api/signin", map[string]string{"email": "jane@example.com", "password": pw})
	}
	ta.reports.Wait() // the reports are sent in the background
	ta.broker.mu.Lock()
	ta.broker.down = true
	ta.broker.mu.Unlock()
	if st, body, _ := ta.call(t, ta.client(t), "POST", "/api/signin", map[string]string{"email": "jane@example.com", "password": "correct horse"}); st != http.StatusOK {
		t.Errorf("sign-in with the broker down = %d %v, want 200", st, body)
	}
	ta.reports.Wait()
	ta.broker.mu.Lock()
	defer ta.broker.mu.Unlock()
	if ta.broker.passwordLogins != 2 {
		t.Errorf("password logins reported = %d, want 2 (the sign-up and the refused sign-in are not logins)", ta.broker.passwordLogins)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	ta := newTestApp(t)
	ta.signUp(t, ta.client(t), "Jane", "jane@example.com", "correct horse")
	for _, https := range []bool{false, true} {
		var headers []string
		if https {
			headers = []string{"X-Forwarded-Proto", "https"}
		}
		_, _, resp := ta.call(t, ta.client(t), "POST", "/api/signin", map[string]string{"email": "jane@example.com", "password": "correct horse"}, headers...)
		for name, maxAge := range map[string]int{accessCookie: 15 * 60, refreshCookie: 30 * 24 * 3600} {
			c := cookie(resp, name)
			if c == nil {
				t.Fatalf("no %s cookie in %v", name, resp.Cookies())
			}
			got := []any{c.HttpOnly, c.SameSite, c.Path, c.MaxAge, c.Secure}
			want := []any{true, http.SameSiteLaxMode, "/", maxAge, https}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("https=%v: %s [HttpOnly SameSite Path MaxAge Secure] (-want +got):\n%s", https, name, diff)
			}
		}
	}
}

func TestRefreshAfterSignOutRefused(t *testing.T) {
	ta := newTestApp(t)
	c := ta.client(t)
	ta.signUp(t, c, "Jane", "jane@example.com", "correct horse")
	u, _ := url.Parse(ta.srv.URL)
	var oldRefresh *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == refreshCookie {
			oldRefresh = ck
		}
	}
	if oldRefresh == nil {
		t.Fatal("no refresh cookie after sign-up")
	}
	onlyRefresh := func() *http.Client {
		c := ta.client(t)
		c.Jar.SetCookies(u, []*http.Cookie{{Name: refreshCookie, Value: oldRefresh.Value, Path: "/"}})
		return c
	}

	if st, body, resp := ta.call(t, onlyRefresh(), "POST", "/api/refresh", nil); st != 200 || cookie(resp, accessCookie) == nil {
		t.Fatalf("refresh before sign-out = %d %v, want 200 and a new access cookie", st, body)
	}
	// Past the access token's lifetime, the refresh cookie alone keeps the session.
	ta.clock = ta.clock.Add(16 * time.Minute)
	if st, me, _ := ta.call(t, c, "GET", "/api/me", nil); st != 200 || me["method"] != methodPassword {
		t.Fatalf("/api/me after the access token expired = %d %v, want 200 (refreshed)", st, me)
	}

	// Signing out (here from the first browser) ends the session everywhere.
	if st, body, resp := ta.call(t, c, "POST", "/api/signout", nil); st != 200 || cookie(resp, refreshCookie).MaxAge >= 0 {
		t.Fatalf("sign-out = %d %v, want 200 and the cookies cleared", st, body)
	}
	if st, body, _ := ta.call(t, onlyRefresh(), "POST", "/api/refresh", nil); st != http.StatusUnauthorized || body["error"] != "signed_out" {
		t.Errorf("refresh with a pre-sign-out token = %d %v, want 401 signed_out", st, body)
	}
	if st, _, _ := ta.call(t, onlyRefresh(), "GET", "/api/me", nil); st != http.StatusUnauthorized {
		t.Errorf("/api/me with a pre-sign-out refresh token = %d, want 401", st)
	}
	if st, _, resp := ta.call(t, ta.client(t), "GET", "/profile", nil); st != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next=%2Fprofile" {
		t.Errorf("/profile signed out = %d to %q, want 303 to /signin?next=%%2Fprofile", st, resp.Header.Get("Location"))
	}
	// A new sign-in works again.
	if st, _, _ := ta.call(t, c, "POST", "/api/signin", map[string]string{"email": "jane@example.com", "password": "correct horse"}); st != 200 {
		t.Errorf("sign-in after sign-out = %d, want 200", st)
	}
}

func TestForgedSessionRefused(t *testing.T) {
	ta := newTestApp(t)
	other := newTestApp(t) // another app with another session key
	c := other.client(t)
	other.signUp(t, c, "Jane", "jane@example.com", "correct horse")
	ta.signUp(t, ta.client(t), "Jane", "jane@example.com", "correct horse")
	u, _ := url.Parse(other.srv.URL)
	forged := ta.client(t)
	tu, _ := url.Parse(ta.srv.URL)
	forged.Jar.SetCookies(tu, c.Jar.Cookies(u))
	if st, _, _ := ta.call(t, forged, "GET", "/api/me", nil); st != http.StatusUnauthorized {
		t.Errorf("/api/me with another app's tokens = %d, want 401", st)
	}
}

func TestConnectToken(t *testing.T) {
	ta := newTestApp(t)
	c := ta.client(t)
	if st, _, _ := ta.call(t, c, "POST", "/api/connect-token", map[string]string{"type": "passkey-append"}); st != http.StatusUnauthorized {
		t.Errorf("connect token signed out = %d, want 401", st)
	}
	ta.signUp(t, c, "Jane Doe", "jane@example.com", "correct horse")
	for _, typ := range []string{"passkey-append", "passkey-list", "passkey-delete", "list"} {
		st, body, _ := ta.call(t, c, "POST", "/api/connect-token", map[string]string{"type": typ})
		if st != 200 || body["connectToken"] != "ctk1_secret" {
			t.Errorf("connect token %s = %d %v, want 200 with the broker's secret", typ, st, body)
		}
	}
	want := map[string]any{"type": "passkey-list", "maxLifetimeInSeconds": float64(300),
		"data": map[string]any{"identifier": "jane@example.com", "displayName": "Jane Doe"}}
	ta.broker.mu.Lock()
	minted := ta.broker.minted[1]
	ta.broker.mu.Unlock()
	if diff := cmp.Diff(want, minted); diff != "" {
		t.Errorf("request to POST /v2/connectTokens (-want +got):\n%s", diff)
	}
	if st, body, _ := ta.call(t, c, "POST", "/api/connect-token", map[string]string{"type": "passkey-login"}); st != 400 {
		t.Errorf("connect token of type passkey-login = %d %v, want 400 (pages only get append, list, delete)", st, body)
	}
	ta.broker.mu.Lock()
	ta.broker.down = true
	ta.broker.mu.Unlock()
	if st, body, _ := ta.call(t, c, "POST", "/api/connect-token", map[string]string{"type": "passkey-list"}); st != http.StatusBadGateway || body["error"] != "passkeys_unavailable" {
		t.Errorf("connect token with the broker down = %d %v, want 502 passkeys_unavailable", st, body)
	}
}

func TestPasskeyLogin(t *testing.T) {
	ta := newTestApp(t)
	ta.signUp(t, ta.client(t), "Jane", "jane@example.com", "correct horse")
	ta.broker.mu.Lock()
	ta.broker.tokens["good"] = "jane@example.com"
	ta.broker.tokens["ghost"] = "ghost@example.com"
	ta.broker.mu.Unlock()

	tests := []struct {
		name, spd  string
		wantStatus int
		wantError  string
	}{
		{"missing", "", 400, "validation_error"},
		{"bad signature", "forged", 401, "passkey_not_verified"},
		{"verified", "good", 200, ""},
		{"replayed", "good", 401, "passkey_not_verified"},
		{"user deleted from the app", "ghost", 401, "unknown_user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ta.client(t)
			st, body, resp := ta.call(t, c, "POST", "/api/passkey-login", map[string]string{"signedPasskeyData": tc.spd})
			if st != tc.wantStatus || (tc.wantError != "" && body["error"] != tc.wantError) {
				t.Fatalf("passkey login = %d %v, want %d %s", st, body, tc.wantStatus, tc.wantError)
			}
			meStatus, me, _ := ta.call(t, c, "GET", "/api/me", nil)
			if tc.wantError != "" {
				if len(resp.Cookies()) != 0 || meStatus != http.StatusUnauthorized {
					t.Errorf("refused passkey login set cookies %v; /api/me = %d, want none and 401", resp.Cookies(), meStatus)
				}
				return
			}
			if meStatus != 200 || me["method"] != methodPasskey || me["user"].(map[string]any)["email"] != "jane@example.com" {
				t.Errorf("/api/me = %d %v, want jane@example.com signed in by passkey", meStatus, me)
			}
		})
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	ta := newTestApp(t)
	ta.signUp(t, ta.client(t), "Jane", "jane@example.com", "correct horse")
	creds := map[string]string{"email": "jane@example.com", "password": "correct horse"}
	if st, _, _ := ta.call(t, ta.client(t), "POST", "/api/signin", creds, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); st != http.StatusForbidden {
		t.Errorf("cross-site sign-in = %d, want 403", st)
	}
	if st, _, _ := ta.call(t, ta.client(t), "POST", "/api/signin", creds, "Sec-Fetch-Site", "same-origin"); st != 200 {
		t.Errorf("same-origin sign-in = %d, want 200", st)
	}
}

func TestPages(t *testing.T) {
	ta := newTestApp(t)
	get := func(c *http.Client, path string) (int, string, *http.Response) {
		t.Helper()
		resp, err := c.Get(ta.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp
	}
	c := ta.client(t)
	st, body, resp := get(c, "/signin?next=//evil.example")
	if st != 200 {
		t.Fatalf("GET /signin = %d", st)
	}
	for _, want := range []string{`autocomplete="username webauthn"`, ta.broker.URL + `/web/latchkey-components.js`,
		`<latchkey-login id="login" project-id="` + fakeProjectID + `" broker-url="` + ta.broker.URL + `">`} {
		if !strings.Contains(body, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	if strings.Contains(body, "evil.example") {
		t.Errorf("sign-in page carries an off-site next URL")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self' 'nonce-") || !strings.Contains(csp, ta.broker.URL) {
		t.Errorf("Content-Security-Policy = %q, want scripts from self, the nonce and the broker", csp)
	}
	if st, _, resp := get(c, "/"); st != http.StatusSeeOther || resp.Header.Get("Location") != "/signin" {
		t.Errorf("GET / signed out = %d %s, want 303 to /signin", st, resp.Header.Get("Location"))
	}
	ta.signUp(t, c, "Élodie", "elodie@example.com", "correct horse")
	for _, page := range []string{"/welcome", "/profile"} {
		if st, body, _ := get(c, page); st != 200 || !strings.Contains(body, "Élodie") {
			t.Errorf("GET %s signed in = %d, want 200 with the user's name", page, st)
		}
	}
	if _, body, _ := get(c, "/profile"); !strings.Contains(body, `<div class="avatar" aria-hidden="true">É</div>`) {
		t.Errorf("profile avatar does not show the first letter of a non-ASCII name")
	}
	if st, _, resp := get(c, "/signin"); st != http.StatusSeeOther || resp.Header.Get("Location") != "/profile" {
		t.Errorf("GET /signin signed in = %d %s, want 303 to /profile", st, resp.Header.Get("Location"))
	}
	if st, _, _ := get(c, "/assets/app.js"); st != 200 {
		t.Errorf("GET /assets/app.js = %d", st)
	}
}

func TestRunServesAndStops(t *testing.T) {
	fb := newFakeBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{Listen: "127.0.0.1:0", BrokerURL: fb.URL, ProjectID: fakeProjectID, APISecret: fakeSecret, DataDir: t.TempDir()},
			func(addr string) { addrc <- addr })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not start listening within 10 s")
	}
	resp, err := http.Get("http://" + addr + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /signin = %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of cancel")
	}
}
