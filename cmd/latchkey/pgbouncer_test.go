package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// TestBehindPgBouncer runs `latchkey migrate` and `latchkey serve`, with their defaults,
// against a database reached through PgBouncer in transaction pooling (every other PgBouncer
// setting at its default, ignore_startup_parameters included), and drives the flows that
// broke there: appends, logins by identifier, usernameless, conditional and token-bound,
// an unknown credential, a foreign origin, replays, and 50 concurrent finishes of one
// ceremony. No answer may be a 5xx, and no named statement may be left on any of
// PgBouncer's server connections.
func TestBehindPgBouncer(t *testing.T) {
	dbURL := sqlstoretest.PgBouncerDatabaseURL(t)
	// As an operator would write it: the store must choose lib/pq's settings itself.
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("binary_parameters")
	u.RawQuery = q.Encode()
	env := map[string]string{"LATCHKEY_DATABASE_URL": u.String(), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}

	if out, stderr, err := runCmd(t, env, "migrate"); err != nil || !strings.HasPrefix(out, "applied ") {
		t.Fatalf("latchkey migrate through PgBouncer = %v, %q, %q", err, out, stderr)
	}
	const origin = "http://localhost:8080"
	var created struct{ ProjectID, APISecret string }
	created.ProjectID, created.APISecret = createProject(t, env, "Pooled", "localhost", origin)
	s := serveOn(t, env, created.ProjectID, created.APISecret)
	if !strings.Contains(s.Logs.String(), `"prepared_statements":false`) {
		t.Errorf("serve through PgBouncer did not turn prepared statements off (LATCHKEY_DB_PREPARE=auto); its log:\n%s", s.Logs.String())
	}
	c := &pooledClient{s: s, origin: origin, codes: map[int]int{}}
	auth := softauthn.NewAuthenticator("localhost", origin)

	credID := s.appendPasskey(t, auth, origin, "user-42")
	token := s.login(t, auth, origin, "user-42")
	if got := s.verifyOnline(t, token, "user-42"); got != "success" {
		t.Fatalf("verifySignedData = %s, want success", got)
	}
	if got := s.verifyOnline(t, token, "user-42"); got != "invalid_challenge" {
		t.Fatalf("verifySignedData of a verified token = %s, want invalid_challenge", got)
	}
	s.login(t, auth, origin, "") // usernameless

	t.Run("conditional login", func(t *testing.T) {
		st := c.start(t, map[string]any{"conditional": true})
		if code, body := c.finish(t, st.CeremonyID, c.assert(t, auth, st)); code != 200 || body["signedPasskeyData"] == nil {
			t.Fatalf("conditional login/finish = %d, %v", code, body)
		}
	})
	t.Run("token-bound login", func(t *testing.T) {
		st := c.start(t, map[string]any{"loginConnectToken": s.mint(t, "passkey-login", "user-42")})
		if code, body := c.finish(t, st.CeremonyID, c.assert(t, auth, st)); code != 200 || body["username"] != "user-42" {
			t.Fatalf("token-bound login/finish = %d, %v", code, body)
		}
	})
	t.Run("unknown credential", func(t *testing.T) {
		st := c.start(t, map[string]any{})
		assertion, err := auth.Assert(st.PublicKey, softauthn.NewCredential())
		if err != nil {
			t.Fatal(err)
		}
		if code, body := c.finish(t, st.CeremonyID, assertion); code != 404 || errType(body) != "unknown_credential" {
			t.Fatalf("login/finish with a credential the broker does not know = %d, %v, want 404 unknown_credential", code, body)
		}
	})
	t.Run("foreign origin", func(t *testing.T) {
		if code, body := c.post(t, "login/start", map[string]any{}, "https://evil.example"); code != 403 || errType(body) != "forbidden_origin" {
			t.Fatalf("login/start from a foreign origin = %d, %v, want 403 forbidden_origin", code, body)
		}
		// An assertion signed for a foreign origin fails and leaves the ceremony open.
		st := c.start(t, map[string]any{"identifier": "user-42"})
		evil := softauthn.NewAuthenticator("localhost", "https://evil.example")
		evil.Import(auth, credID)
		if code, body := c.finish(t, st.CeremonyID, c.assert(t, evil, st)); code != 400 || errType(body) != "verification_failed" {
			t.Fatalf("login/finish of an assertion for a foreign origin = %d, %v, want 400 verification_failed", code, body)
		}
		if code, body := c.finish(t, st.CeremonyID, c.assert(t, auth, st)); code != 200 {
			t.Fatalf("login/finish after a failed attempt = %d, %v, want 200", code, body)
		}
	})
	t.Run("50 concurrent finishes", func(t *testing.T) {
		st := c.start(t, map[string]any{"identifier": "user-42"})
		assertion := c.assert(t, auth, st)
		const n = 50
		count := concurrentStatuses(n, func(int) int {
			code, _ := c.finish(t, st.CeremonyID, assertion)
			return code
		})
		if count[200] != 1 || count[410] != n-1 {
			t.Fatalf("50 concurrent finishes of one ceremony gave %v, want one 200 and 49 410", count)
		}
	})

	c.mu.Lock()
	for code, n := range c.codes {
		if code >= 500 {
			t.Errorf("%d answers with status %d through PgBouncer, want none", n, code)
		}
	}
	c.mu.Unlock()
	if _, stderr, err := runCmd(t, nil, "healthcheck", "--url", s.URL+"/readyz"); err != nil {
		t.Fatalf("healthcheck after the flows: %v %s", err, stderr)
	}
	checkNoNamedStatements(t, dbURL)
}

// pooledClient posts to the frontend API of s and counts the answers by status.
type pooledClient struct {
	s      *server
	origin string
	mu     sync.Mutex
	codes  map[int]int
}

func (c *pooledClient) post(t *testing.T, path string, body any, origin string) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.s.frontend(path), bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	c.mu.Lock()
	c.codes[resp.StatusCode]++
	c.mu.Unlock()
	return resp.StatusCode, out
}

func (c *pooledClient) start(t *testing.T, body map[string]any) started {
	t.Helper()
	code, out := c.post(t, "login/start", body, c.origin)
	raw, _ := json.Marshal(out)
	var st started
	if err := json.Unmarshal(raw, &st); code != 200 || err != nil || st.CeremonyID == "" {
		t.Fatalf("login/start %v = %d, %v", body, code, out)
	}
	return st
}

func (c *pooledClient) assert(t *testing.T, a *softauthn.Authenticator, st started) []byte {
	t.Helper()
	assertion, err := a.Get(st.PublicKey)
	if err != nil {
		t.Fatalf("the authenticator's get: %v", err)
	}
	return assertion
}

func (c *pooledClient) finish(t *testing.T, ceremonyID string, assertion []byte) (int, map[string]any) {
	t.Helper()
	return c.post(t, "login/finish", map[string]any{"ceremonyID": ceremonyID, "credential": json.RawMessage(assertion)}, c.origin)
}

func errType(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	typ, _ := e["type"].(string)
	return typ
}

// checkNoNamedStatements holds one transaction through PgBouncer on every server connection
// PgBouncer has open to the database of dbURL (as PostgreSQL lists them) and checks that none
// holds a prepared statement.
func checkNoNamedStatements(t *testing.T, dbURL string) {
	t.Helper()
	direct, err := sqlx.Open("postgres", os.Getenv("LATCHKEY_TEST_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	u, _ := url.Parse(dbURL)
	var backends []int
	if err := direct.Select(&backends, `SELECT pid FROM pg_stat_activity WHERE datname = $1 ORDER BY pid`, strings.TrimPrefix(u.Path, "/")); err != nil {
		t.Fatal(err)
	}
	if len(backends) == 0 {
		t.Fatal("PostgreSQL lists no connection of PgBouncer's to the test database")
	}
	pooled, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pooled.Close()
	var seen []int
	for range backends {
		tx, err := pooled.Beginx()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var row struct {
			PID   int `db:"pid"`
			Named int `db:"named"`
		}
		if err := tx.Get(&row, `SELECT pg_backend_pid() AS pid, (SELECT COUNT(*) FROM pg_prepared_statements) AS named`); err != nil {
			t.Fatal(err)
		}
		if row.Named != 0 {
			t.Errorf("server connection %d holds %d prepared statements, want none", row.PID, row.Named)
		}
		seen = append(seen, row.PID)
	}
	slices.Sort(seen)
	if fmt.Sprint(seen) != fmt.Sprint(backends) {
		t.Errorf("looked at server connections %v, want every one PostgreSQL lists, %v", seen, backends)
	}
}
