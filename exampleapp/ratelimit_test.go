package exampleapp

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSignInRateLimit sends 30 wrong passwords for one account from one address: the
// guesser is stopped with 429 and a message that says what to do, even when it finally
// has the password; other accounts, other addresses and the passage of time are not
// affected.
func TestSignInRateLimit(t *testing.T) {
	ta := newTestApp(t)
	ta.signUp(t, ta.client(t), "Jane", "jane@example.com", "correct horse")
	ta.signUp(t, ta.client(t), "John", "john@example.com", "battery staple")
	wrong := map[string]string{"email": "jane@example.com", "password": "wrong horse"}
	var statuses []int
	for range 30 {
		st, _, _ := ta.call(t, ta.client(t), "POST", "/api/signin", wrong)
		statuses = append(statuses, st)
	}
	want := make([]int, 30)
	for i := range want {
		want[i] = http.StatusUnauthorized
		if i >= passwordFailures {
			want[i] = http.StatusTooManyRequests
		}
	}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("30 wrong passwords answered %v, want %d×401 then 429", statuses, passwordFailures)
	}
	st, body, resp := ta.call(t, ta.client(t), "POST", "/api/signin", map[string]string{"email": "JANE@example.com ", "password": "correct horse"})
	if st != http.StatusTooManyRequests || body["error"] != "rate_limited" || !strings.Contains(body["message"].(string), "passkey") {
		t.Errorf("right password after the limit (email in another case) = %d %v, want 429 rate_limited suggesting a passkey", st, body)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "90" { // 10 per 15 minutes: one every 90 s
		t.Errorf("Retry-After = %q, want 90", ra)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("a refused sign-in set cookies %v", resp.Cookies())
	}
	// Another account from the same address signs in.
	if st, body, _ := ta.call(t, ta.client(t), "POST", "/api/signin", map[string]string{"email": "john@example.com", "password": "battery staple"}); st != 200 {
		t.Errorf("another account's sign-in = %d %v, want 200", st, body)
	}
	// The account's owner from another address signs in (the test server sees one address:
	// this calls the handler directly).
	req := jsonRequest(t, "POST", "/api/signin", `{"email":"jane@example.com","password":"correct horse"}`)
	req.RemoteAddr = "198.51.100.7:4444"
	if rec := serveApp(ta.App, req); rec.Code != 200 {
		t.Errorf("sign-in from another address = %d %s, want 200", rec.Code, rec.Body)
	}
	// One attempt comes back every 90 s; successes cost nothing.
	ta.clock = ta.clock.Add(90 * time.Second)
	for range 3 {
		if st, body, _ := ta.call(t, ta.client(t), "POST", "/api/signin", map[string]string{"email": "jane@example.com", "password": "correct horse"}); st != 200 {
			t.Fatalf("sign-in after 90 s = %d %v, want 200", st, body)
		}
	}
	if st, _, _ := ta.call(t, ta.client(t), "POST", "/api/signin", wrong); st != http.StatusUnauthorized {
		t.Errorf("wrong password after 90 s = %d, want 401 (one attempt refilled)", st)
	}
	if st, _, _ := ta.call(t, ta.client(t), "POST", "/api/signin", wrong); st != http.StatusTooManyRequests {
		t.Errorf("second wrong password after 90 s = %d, want 429", st)
	}
}

// TestConnectTokenRateLimit asks for connect tokens as fast as a script would: after the
// per-user budget the app answers 429 without calling the broker.
func TestConnectTokenRateLimit(t *testing.T) {
	ta := newTestApp(t)
	jane, john := ta.client(t), ta.client(t)
	ta.signUp(t, jane, "Jane", "jane@example.com", "correct horse")
	ta.signUp(t, john, "John", "john@example.com", "battery staple")
	counts := map[int]int{}
	for range 300 {
		st, body, resp := ta.call(t, jane, "POST", "/api/connect-token", map[string]string{"type": "passkey-list"})
		counts[st]++
		if st == http.StatusTooManyRequests && (body["error"] != "rate_limited" || body["message"] == "" || resp.Header.Get("Retry-After") != "3") {
			t.Fatalf("429 = %v, Retry-After %q; want rate_limited with a message and Retry-After 3", body, resp.Header.Get("Retry-After"))
		}
	}
	if counts[200] != connectTokens || counts[429] != 300-connectTokens {
		t.Fatalf("300 connect tokens for one user answered %v, want %d×200 and the rest 429", counts, connectTokens)
	}
	ta.broker.mu.Lock()
	minted := len(ta.broker.minted)
	ta.broker.mu.Unlock()
	if minted != connectTokens {
		t.Errorf("the broker minted %d tokens, want %d", minted, connectTokens)
	}
	if st, _, _ := ta.call(t, john, "POST", "/api/connect-token", map[string]string{"type": "passkey-list"}); st != 200 {
		t.Errorf("another user's connect token = %d, want 200", st)
	}
	ta.clock = ta.clock.Add(3 * time.Second)
	if st, _, _ := ta.call(t, jane, "POST", "/api/connect-token", map[string]string{"type": "passkey-append"}); st != 200 {
		t.Errorf("connect token 3 s later = %d, want 200", st)
	}
}

// jsonRequest is a same-origin JSON request for calling the app's handler directly.
func jsonRequest(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req
}

func serveApp(a *App, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec
}
