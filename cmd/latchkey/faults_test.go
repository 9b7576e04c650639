package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// proxy forwards TCP connections to a backend until it is cut; it lets a test take the
// database away from a running server and give it back.
type proxy struct {
	addr    string
	backend string
	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]bool
}

func newProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	p := &proxy{backend: backend, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[b] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
}

// cut closes the listener and every forwarded connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// restore listens again on the same address.
func (p *proxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("re-listening on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// viaProxy returns dbURL with its host replaced by addr.
func viaProxy(t *testing.T, dbURL, addr string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

func pgHost(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		return u.Hostname() + ":5432"
	}
	return u.Host
}

// TestDatabaseOutage takes the database away from a running server: requests get 503
// unavailable with Retry-After (never a 500, never a crash), /readyz turns unready, and once
// the database is back the server recovers by itself.
func TestDatabaseOutage(t *testing.T) {
	const origin = "http://localhost:8080"
	dbURL := brokertest.DatabaseURL(t, "postgres")
	px := newProxy(t, pgHost(t, dbURL))
	env := map[string]string{"LATCHKEY_DATABASE_URL": viaProxy(t, dbURL, px.addr), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
	var created struct{ ProjectID, APISecret string }
	created.ProjectID, created.APISecret = createProject(t, env, "F", "localhost", origin)
	s := serveOn(t, env, created.ProjectID, created.APISecret)
	auth := softauthn.NewAuthenticator("localhost", origin)
	s.appendPasskey(t, auth, origin, "user-42")

	px.cut()
	for _, path := range []string{s.frontend("login/start"), s.URL + "/v2/connectTokens"} {
		var env envelope
		req := map[string]string{"identifier": "user-42"}
		code := call(t, "POST", path, req, &env, "Origin", origin, "Authorization", basic(created.ProjectID, created.APISecret))
		if code != http.StatusServiceUnavailable || env.Error.Type != "unavailable" || env.HTTPStatusCode != 503 {
			t.Fatalf("POST %s during the outage = %d %+v, want 503 unavailable", path, code, env)
		}
	}
	// (A usernameless login/start needs no database: its ceremony is sealed into its ID.)
	resp, err := http.Post(s.frontend("login/start"), "application/json", strings.NewReader(`{"identifier":"user-42"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("during the outage: %d, Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code := call(t, "GET", s.URL+"/readyz", nil, nil); code != 503 {
		t.Fatalf("/readyz during the outage = %d, want 503", code)
	}
	if code := call(t, "GET", s.URL+"/healthz", nil, nil); code != 200 {
		t.Fatalf("/healthz during the outage = %d, want 200 (the process is alive)", code)
	}

	px.restore(t)
	deadline := time.Now().Add(15 * time.Second)
	for call(t, "GET", s.URL+"/readyz", nil, nil) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not ready 15 s after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if tok := s.login(t, auth, origin, "user-42"); s.verifyOnline(t, tok, "user-42") != "success" {
		t.Fatal("login after the outage did not verify")
	}
	if strings.Contains(s.Logs.String(), `"status":500`) {
		t.Fatalf("the server answered 500 during the outage:\n%s", s.Logs.String())
	}
}

type envelope struct {
	HTTPStatusCode int `json:"httpStatusCode"`
	Error          struct {
		Type string `json:"type"`
	} `json:"error"`
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// TestPostgresRestart restarts the PostgreSQL server (a cluster of its own, named by
// LATCHKEY_TEST_PG_RESTART) in the middle of a run of ceremonies: the broker recovers without
// a restart, and every ceremony that returned success is in the database afterwards.
func TestPostgresRestart(t *testing.T) {
	restart := os.Getenv("LATCHKEY_TEST_PG_RESTART")
	dbBase := os.Getenv("LATCHKEY_TEST_PG_RESTART_DATABASE_URL")
	if restart == "" || dbBase == "" {
		brokertest.Require(t, "LATCHKEY_TEST_PG_RESTART (a command that restarts a PostgreSQL cluster of the test's own) and LATCHKEY_TEST_PG_RESTART_DATABASE_URL are not set")
	}
	t.Setenv("LATCHKEY_TEST_DATABASE_URL", dbBase)
	const origin = "http://localhost:8080"
	// One client IP drives the whole run, as a load test does: no per-IP limit.
	s := startServeWith(t, "postgres", origin, map[string]string{"LATCHKEY_RATE_LIMIT_IP": "off", "LATCHKEY_RATE_LIMIT_IDENTIFIER": "off"})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu        sync.Mutex
		appended  []string // credential IDs whose append/finish returned 200
		verified  []string // tokens whose verifySignedData returned success
		failures  atomic.Int64
		restarted atomic.Bool
		// afterRestart counts appends that succeeded once the restart command returned.
		afterRestart atomic.Int64
		wg           sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			auth := softauthn.NewAuthenticator("localhost", origin)
			mine := 0 // this worker's appends after the restart
			for i := 0; ctx.Err() == nil && mine < 5; i++ {
				user := fmt.Sprintf("user-%d-%d", w, i)
				if id, ok := tryAppend(s, auth, origin, user); ok {
					mu.Lock()
					appended = append(appended, id)
					mu.Unlock()
					if restarted.Load() {
						afterRestart.Add(1)
						mine++
					}
				} else {
					failures.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if tok, ok := tryLogin(s, auth, origin, user); ok {
					if res, ok := tryVerify(s, tok, user); ok && res == "success" {
						mu.Lock()
						verified = append(verified, tok)
						mu.Unlock()
					}
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	cmd := exec.Command("sh", "-c", restart)
	if out, err := cmd.CombinedOutput(); err != nil {
		cancel()
		wg.Wait()
		t.Fatalf("%s: %v\n%s", restart, err, out)
	}
	restarted.Store(true)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the run did not finish within 60 s of the restart")
	}
	t.Logf("%d appends (%d after the restart) and %d verifications succeeded; %d appends failed around the restart",
		len(appended), afterRestart.Load(), len(verified), failures.Load())
	if len(appended) == 0 || len(verified) == 0 || afterRestart.Load() < 4*5 {
		t.Fatal("the broker did not recover: no append succeeded after the restart")
	}

	// The server recovered by itself, and nothing that succeeded was lost.
	db := sqlx.MustOpen("postgres", s.env["LATCHKEY_DATABASE_URL"])
	defer db.Close()
	for _, id := range appended {
		var n int
		if err := db.Get(&n, `SELECT COUNT(*) FROM passkeys WHERE credential_id = $1`, id); err != nil || n != 1 {
			t.Fatalf("passkey %s, appended with success, is not in the database (%d, %v)", id, n, err)
		}
	}
	for _, tok := range verified {
		if got := s.verifyOnline(t, tok, tokenUser(t, tok)); got != "invalid_challenge" {
			t.Fatalf("a token verified before the restart verifies again as %s: its jti was lost", got)
		}
	}
}

func tokenUser(t *testing.T, tok string) string {
	t.Helper()
	var c struct {
		Username string `json:"username"`
	}
	raw, _ := decodeSegment(strings.Split(tok, ".")[1])
	_ = json.Unmarshal(raw, &c)
	return c.Username
}

// tryAppend, tryLogin and tryVerify run one step and report failure instead of failing the
// test: around a fault, failures are expected; lost successes are not.
func tryAppend(s *server, auth *softauthn.Authenticator, origin, user string) (string, bool) {
	var tok struct{ Secret string }
	if postJSON(s.URL+"/v2/connectTokens", fmt.Sprintf(`{"type":"passkey-append","data":{"identifier":%q,"displayName":"U"}}`, user), &tok, "", basic(s.ProjectID, s.Secret)) != 200 {
		return "", false
	}
	var st started
	if postJSON(s.frontend("append/start"), fmt.Sprintf(`{"connectToken":%q}`, tok.Secret), &st, origin, "") != 200 {
		return "", false
	}
	cred, err := auth.Create(st.PublicKey)
	if err != nil {
		return "", false
	}
	var fin struct {
		Passkey struct{ ID string } `json:"passkey"`
	}
	body, _ := json.Marshal(map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(cred)})
	if postJSON(s.frontend("append/finish"), string(body), &fin, origin, "") != 200 {
		auth.Creds = auth.Creds[:len(auth.Creds)-1] // not registered: forget it
		return "", false
	}
	return fin.Passkey.ID, true
}

func tryLogin(s *server, auth *softauthn.Authenticator, origin, user string) (string, bool) {
	var st started
	if postJSON(s.frontend("login/start"), fmt.Sprintf(`{"identifier":%q}`, user), &st, origin, "") != 200 || st.CeremonyID == "" {
		return "", false
	}
	assertion, err := auth.Get(st.PublicKey)
	if err != nil {
		return "", false
	}
	var fin struct{ SignedPasskeyData string }
	body, _ := json.Marshal(map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(assertion)})
	if postJSON(s.frontend("login/finish"), string(body), &fin, origin, "") != 200 {
		return "", false
	}
	return fin.SignedPasskeyData, true
}

func tryVerify(s *server, tok, user string) (string, bool) {
	var v struct{ VerificationResult string }
	body, _ := json.Marshal(map[string]string{"signedPasskeyData": tok, "username": user})
	if postJSON(s.URL+"/v2/passkey/verifySignedData", string(body), &v, "", basic(s.ProjectID, s.Secret)) != 200 {
		return "", false
	}
	return v.VerificationResult, true
}

func postJSON(url, body string, out any, origin, auth string) int {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestKillReplica kills a `latchkey serve` process with SIGKILL in the middle of a run of
// appends: afterwards the database holds no half-written change (every consumed append token
// has exactly its passkey, and no finished ceremony is left behind).
func TestKillReplica(t *testing.T) {
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			const origin = "http://localhost:8080"
			bin := filepath.Join(t.TempDir(), "latchkey")
			if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			dbURL := brokertest.DatabaseURL(t, d)
			env := map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
			var created struct{ ProjectID, APISecret string }
			created.ProjectID, created.APISecret = createProject(t, env, "K", "localhost", origin)
			port := freePort(t)
			cmd := exec.Command(bin, "serve")
			cmd.Env = append(os.Environ(), "LATCHKEY_DATABASE_URL="+dbURL, "LATCHKEY_SECRET_KEY="+brokertest.SecretKey, "LATCHKEY_ALLOW_INSECURE_KEY=1", fmt.Sprintf("LATCHKEY_LISTEN=127.0.0.1:%d", port),
				"LATCHKEY_RATE_LIMIT_IP=off") // one client IP drives the whole run
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			s := &server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), ProjectID: created.ProjectID, Secret: created.APISecret}
			for deadline := time.Now().Add(20 * time.Second); probe(s.URL+"/readyz") != 200; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the replica did not become ready")
				}
			}

			var ok atomic.Int64
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					auth := softauthn.NewAuthenticator("localhost", origin)
					for i := range 200 {
						if _, good := tryAppend(s, auth, origin, fmt.Sprintf("user-%d-%d", w, i)); good {
							ok.Add(1)
						} else if ok.Load() > 0 {
							return // the replica is gone
						}
					}
				}()
			}
			for deadline := time.Now().Add(30 * time.Second); ok.Load() < 30; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					wg.Wait()
					t.Fatalf("only %d appends succeeded in 30 s", ok.Load())
				}
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			_ = cmd.Wait()

			db := openRaw(t, d, dbURL)
			var passkeys, consumed, stale int
			mustGet(t, db, &passkeys, `SELECT COUNT(*) FROM passkeys`)
			mustGet(t, db, &consumed, `SELECT COUNT(*) FROM connect_tokens WHERE type = 'passkey-append' AND consumed_at IS NOT NULL`)
			mustGet(t, db, &stale, `SELECT COUNT(*) FROM ceremonies c JOIN connect_tokens t ON t.id = c.connect_token_id WHERE t.consumed_at IS NOT NULL`)
			t.Logf("killed after %d successful appends; the database holds %d passkeys, %d consumed append tokens", ok.Load(), passkeys, consumed)
			if passkeys != consumed || stale != 0 || int64(passkeys) < ok.Load() {
				t.Fatalf("after SIGKILL: %d passkeys, %d consumed append tokens, %d finished ceremonies left, %d successes reported: want passkeys = consumed tokens >= successes and no finished ceremony left",
					passkeys, consumed, stale, ok.Load())
			}
		})
	}
}

func openRaw(t *testing.T, dialect, dbURL string) *sqlx.DB {
	t.Helper()
	driver, dsn := "postgres", dbURL
	if dialect == "sqlite" {
		driver, dsn = "sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:")
	}
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustGet(t *testing.T, db *sqlx.DB, dest any, q string) {
	t.Helper()
	if err := db.Get(dest, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// probe returns the status of a GET, or 0 when nothing answers.
func probe(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
