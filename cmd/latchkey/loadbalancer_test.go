package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

// replica is one `latchkey serve` process, which a test may kill and start again on the same
// port.
type replica struct {
	t    *testing.T
	bin  string
	env  []string
	port int
	cmd  *exec.Cmd
	logs *syncBuffer
}

func (r *replica) url() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }

func (r *replica) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "serve")
	r.cmd.Env = append(os.Environ(), r.env...)
	r.cmd.Env = append(r.cmd.Env, fmt.Sprintf("LATCHKEY_LISTEN=127.0.0.1:%d", r.port))
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, r.logs
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); probe(r.url()+"/readyz") != 200; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("replica on port %d not ready in 20 s:\n%s", r.port, r.logs.String())
		}
	}
}

func (r *replica) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_ = r.cmd.Wait()
}

// lbClient sends requests through the load balancer the way a client should: a connection
// error or a 502, 503 or 504 is retried (after a short pause; the broker's Retry-After of
// 5 s is longer than this test wants to wait), and every other answer is final.
type lbClient struct {
	mu        sync.Mutex
	requests  int
	retryable map[string]int // retried errors by kind
	bad       []string       // answers a client could not have expected
	served    map[string]int // answers by replica (HAProxy's X-Replica header)
	errors    []string       // the connection errors
}

// result is the outcome of one request after its retries.
type result struct {
	status  int
	retried bool // an earlier attempt failed in a way that may have changed the store
	body    []byte
	replica string
}

func (c *lbClient) do(method, url, body string, origin, auth string) result {
	var res result
	for attempt := 0; attempt < 50; attempt++ {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, url, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		c.mu.Lock()
		c.requests++
		kind := ""
		if err != nil {
			kind = "connection error"
			c.errors = append(c.errors, fmt.Sprintf("%s %s at %s: %v", method, url[strings.LastIndex(url, "/"):], time.Now().Format("15:04:05.000"), err))
		} else {
			res.body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			res.status, res.replica = resp.StatusCode, resp.Header.Get("X-Replica")
			c.served[res.replica]++
			switch resp.StatusCode {
			case 502, 503, 504:
				kind = fmt.Sprint(resp.StatusCode)
				if resp.StatusCode == 503 && res.replica != "" { // the broker's own 503
					var env envelope
					_ = json.Unmarshal(res.body, &env)
					if env.Error.Type != "unavailable" || resp.Header.Get("Retry-After") == "" {
						c.bad = append(c.bad, fmt.Sprintf("%s %s: 503 without envelope or Retry-After: %s", method, url, res.body))
					}
				}
			}
		}
		if kind != "" {
			c.retryable[kind]++
		}
		c.mu.Unlock()
		if kind == "" {
			return res
		}
		res.retried = true
		time.Sleep(100 * time.Millisecond)
	}
	c.mu.Lock()
	c.bad = append(c.bad, fmt.Sprintf("%s %s: still failing after 50 attempts", method, url))
	c.mu.Unlock()
	return res
}

// expect200 decodes a 200 into out. Any other answer is a failure of the step: a 4xx is
// expected after a retried error (the first attempt may have done the work: a finished
// ceremony is gone, a consumed token is spent); anything else is a contract violation.
func (c *lbClient) expect200(step string, r result, out any) bool {
	if r.status == 200 {
		if out != nil {
			if err := json.Unmarshal(r.body, out); err != nil {
				c.fail("%s: decoding %q: %v", step, r.body, err)
				return false
			}
		}
		return true
	}
	switch {
	case r.status >= 500 || r.status == 0 || r.status == 429:
		c.fail("%s = %d %s", step, r.status, r.body)
	case !r.retried:
		c.fail("%s = %d %s with no earlier failure", step, r.status, r.body)
	}
	return false
}

func (c *lbClient) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, fmt.Sprintf(format, args...))
}

// TestThreeReplicasBehindHAProxy runs three `latchkey serve` processes on one PostgreSQL
// database behind Debian's HAProxy (round robin, health checks on /readyz) and a mixed run of
// appends, logins with and without an identifier, verifications, listings and deletions
// while one replica is killed and started again: clients see only errors worth a retry,
// nothing acknowledged is lost, single use holds across replicas, and the per-identifier
// rate limit is per replica, as README says.
func TestThreeReplicasBehindHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		haproxy, err = exec.LookPath("/usr/sbin/haproxy") // not on every user's PATH
	}
	if err != nil {
		brokertest.Require(t, "haproxy is not installed (apt-get install haproxy)")
	}
	dbURL := brokertest.DatabaseURL(t, "postgres")
	const origin = "http://localhost:8080"
	dir := t.TempDir()
	bin := filepath.Join(dir, "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, stderr, err := runCmd(t, map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_SECRET_KEY": brokertest.SecretKey},
		"project", "create", "--name", "LB", "--rp-id", "localhost", "--origin", origin, "--json")
	if err != nil {
		t.Fatalf("project create: %v\n%s", err, stderr)
	}
	var created struct{ ProjectID, APISecret string }
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	env := []string{"LATCHKEY_DATABASE_URL=" + dbURL, "LATCHKEY_SECRET_KEY=" + brokertest.SecretKey, "LATCHKEY_ALLOW_INSECURE_KEY=1",
		"LATCHKEY_RATE_LIMIT_IP=off",          // every request comes from 127.0.0.1
		"LATCHKEY_RATE_LIMIT_IDENTIFIER=5/1h"} // small, to see whose bucket a login/start spends
	replicas := make([]*replica, 3)
	for i := range replicas {
		replicas[i] = &replica{t: t, bin: bin, env: env, port: freePort(t), logs: &syncBuffer{}}
		replicas[i].start()
		defer replicas[i].kill()
	}

	// HAProxy: round robin over the three, checking /readyz every 200 ms; a replica is down
	// after 2 failed checks and its connections are cut. Only connection failures are
	// retried (on another replica): a request that reached a replica is never sent twice.
	lbPort := freePort(t)
	cfg := fmt.Sprintf(`global
  maxconn 512
  log stderr format raw local0 info
defaults
  mode http
  log global
  option httplog
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch 1
frontend latchkey
  bind 127.0.0.1:%d
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 200ms fastinter 100ms downinter 200ms fall 2 rise 2 on-marked-down shutdown-sessions
  http-response set-header X-Replica %%[srv_name]
`, lbPort)
	for i, r := range replicas {
		cfg += fmt.Sprintf("  server r%d 127.0.0.1:%d check\n", i+1, r.port)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	hlogs := &syncBuffer{}
	hp := exec.Command(haproxy, "-db", "-f", cfgPath)
	hp.Stdout, hp.Stderr = hlogs, hlogs
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hp.Process.Kill(); _ = hp.Wait() }()
	lb := &server{URL: fmt.Sprintf("http://127.0.0.1:%d", lbPort), ProjectID: created.ProjectID, Secret: created.APISecret}
	backendAuth := basic(lb.ProjectID, lb.Secret)
	// Wait until HAProxy sends to all three.
	for deadline, seen := time.Now().Add(20*time.Second), map[string]bool{}; len(seen) < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy does not reach all three replicas in 20 s (reached %v):\n%s", seen, hlogs.String())
		}
		if resp, err := http.Get(lb.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				seen[resp.Header.Get("X-Replica")] = true
			}
		}
	}

	c := &lbClient{retryable: map[string]int{}, served: map[string]int{}}
	type passkey struct{ id, userID string }
	var (
		mu        sync.Mutex
		kept      []passkey // appended with success and not deleted
		deleted   []passkey // deleted with success
		verified  []string  // tokens verified with success
		okAppends atomic.Int64
		restarted atomic.Bool
		wg        sync.WaitGroup
	)
	stop := make(chan struct{})
	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			auth := softauthn.NewAuthenticator("localhost", origin)
			// A second device, for a user's second passkey (the first one refuses: its
			// credential is excluded).
			second := softauthn.NewAuthenticator("localhost", origin)
			appendOne := func(auth *softauthn.Authenticator, user string) (string, bool) {
				var tok struct{ Secret string }
				r := c.do("POST", lb.URL+"/v2/connectTokens", fmt.Sprintf(`{"type":"passkey-append","data":{"identifier":%q,"displayName":"U"}}`, user), "", backendAuth)
				if !c.expect200("connectTokens", r, &tok) {
					return "", false
				}
				var st started
				if !c.expect200("append/start", c.do("POST", lb.frontend("append/start"), fmt.Sprintf(`{"connectToken":%q}`, tok.Secret), origin, ""), &st) {
					return "", false
				}
				cred, err := auth.Create(st.PublicKey)
				if err != nil {
					c.fail("softauthn Create: %v", err)
					return "", false
				}
				body, _ := json.Marshal(map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(cred)})
				var fin struct {
					Passkey struct{ ID string } `json:"passkey"`
				}
				if !c.expect200("append/finish", c.do("POST", lb.frontend("append/finish"), string(body), origin, ""), &fin) {
					auth.Creds = auth.Creds[:len(auth.Creds)-1]
					return "", false
				}
				okAppends.Add(1)
				return fin.Passkey.ID, true
			}
			// login signs in (by identifier, or without one) and verifies the result.
			login := func(identifier string) (userID string, ok bool) {
				body := `{}`
				if identifier != "" {
					body = fmt.Sprintf(`{"identifier":%q}`, identifier)
				}
				var st started
				if !c.expect200("login/start", c.do("POST", lb.frontend("login/start"), body, origin, ""), &st) {
					return "", false
				}
				assertion, err := auth.Get(st.PublicKey)
				if err != nil {
					c.fail("softauthn Get: %v", err)
					return "", false
				}
				fb, _ := json.Marshal(map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(assertion)})
				var fin struct{ SignedPasskeyData, Username string }
				if !c.expect200("login/finish", c.do("POST", lb.frontend("login/finish"), string(fb), origin, ""), &fin) {
					return "", false
				}
				vb, _ := json.Marshal(map[string]string{"signedPasskeyData": fin.SignedPasskeyData, "username": fin.Username})
				var v struct{ VerificationResult, UserID string }
				r := c.do("POST", lb.URL+"/v2/passkey/verifySignedData", string(vb), "", backendAuth)
				if !c.expect200("verifySignedData", r, &v) {
					return "", false
				}
				if v.VerificationResult != "success" {
					if !r.retried { // after a retry, an earlier attempt may have spent the token
						c.fail("verifySignedData of a fresh token = %s", v.VerificationResult)
					}
					return "", false
				}
				mu.Lock()
				verified = append(verified, fin.SignedPasskeyData)
				mu.Unlock()
				return v.UserID, true
			}
			after := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				user := fmt.Sprintf("lb-%d-%d", w, i)
				id, ok := appendOne(auth, user)
				if !ok {
					continue
				}
				if restarted.Load() {
					after++
				}
				userID, ok := login(user)
				if !ok {
					// The passkey is in, whatever became of the login.
					mu.Lock()
					kept = append(kept, passkey{id: id})
					mu.Unlock()
					continue
				}
				mu.Lock()
				kept = append(kept, passkey{id, userID})
				mu.Unlock()
				if i%2 == 1 {
					login("")
				}
				if i%3 == 2 {
					// A second passkey, listed, then deleted.
					id2, ok := appendOne(second, user)
					if !ok {
						continue
					}
					var list struct {
						Passkeys []struct{ ID string } `json:"passkeys"`
					}
					if !c.expect200("list passkeys", c.do("GET", lb.URL+"/v2/users/"+userID+"/passkeys", "", "", backendAuth), &list) {
						mu.Lock()
						kept = append(kept, passkey{id2, userID})
						mu.Unlock()
						continue
					}
					got := map[string]bool{}
					for _, p := range list.Passkeys {
						got[p.ID] = true
					}
					if !got[id] || !got[id2] || len(list.Passkeys) != 2 {
						c.fail("passkeys of %s = %v, want %s and %s", userID, got, id, id2)
					}
					r := c.do("DELETE", lb.URL+"/v2/passkeys/"+id2, "", "", backendAuth)
					mu.Lock()
					switch {
					case r.status == 200 || r.status == 204:
						deleted = append(deleted, passkey{id2, userID})
					case r.retried && r.status == 404: // an earlier attempt deleted it
					default:
						c.bad = append(c.bad, fmt.Sprintf("DELETE passkey = %d %s", r.status, r.body))
						kept = append(kept, passkey{id2, userID})
					}
					mu.Unlock()
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(45 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("waiting for %s: timed out; %d appends so far; bad answers: %v", what, okAppends.Load(), c.bad)
			}
		}
	}
	waitFor("20 appends", func() bool { return okAppends.Load() >= 20 })
	victim := replicas[1]
	victim.kill()
	killed := time.Now()
	t.Logf("killed r2 at %s after %d appends", killed.Format("15:04:05.000"), okAppends.Load())
	time.Sleep(time.Second)
	victim.start()
	restarted.Store(true)
	c.mu.Lock()
	servedBefore := c.served["r2"]
	c.mu.Unlock()
	t.Logf("r2 ready again %v after the kill", time.Since(killed).Round(time.Millisecond))
	atRestart := okAppends.Load()
	waitFor("HAProxy to use r2 again and 20 more appends", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.served["r2"] > servedBefore+10 && okAppends.Load() >= atRestart+20
	})
	close(stop)
	wg.Wait()

	canceled := 0
	for _, r := range replicas {
		canceled += strings.Count(r.logs.String(), `"error":"context canceled"`)
	}
	c.mu.Lock()
	t.Logf("replicas logged %d requests abandoned by their client (context canceled); connection errors: %v", canceled, c.errors)
	t.Logf("mixed run: %d requests, %d appends, %d verifications, %d deletions; retried errors %v; answers by replica %v",
		c.requests, okAppends.Load(), len(verified), len(deleted), c.retryable, c.served)
	for _, b := range c.bad {
		t.Errorf("a client could not have expected: %s", b)
	}
	c.mu.Unlock()
	// No replica answered 500. (A request whose client went away before the answer is
	// logged as a 500 with error "context canceled"; no client receives it.)
	for i, r := range replicas {
		var real []string
		for _, l := range strings.Split(grepLines(r.logs.String(), `"status":500`), "\n") {
			if l != "" && !strings.Contains(l, `"error":"context canceled"`) {
				real = append(real, l)
			}
		}
		if len(real) > 0 {
			t.Errorf("replica r%d answered 500:\n%s\nHAProxy:\n%s", i+1, strings.Join(real, "\n"), hlogs.String())
		}
	}

	// Nothing acknowledged is lost: kept passkeys are in, deleted ones are gone, verified
	// tokens are refused as replays.
	db := sqlx.MustOpen("postgres", dbURL)
	defer db.Close()
	count := func(id string) int {
		var n int
		if err := db.Get(&n, `SELECT COUNT(*) FROM passkeys WHERE credential_id = $1`, id); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, p := range kept {
		if count(p.id) != 1 {
			t.Errorf("passkey %s, appended with success, is not in the database", p.id)
		}
	}
	for _, p := range deleted {
		if count(p.id) != 0 {
			t.Errorf("passkey %s, deleted with success, is in the database", p.id)
		}
	}
	for _, tok := range verified {
		r := c.do("POST", lb.URL+"/v2/passkey/verifySignedData", fmt.Sprintf(`{"signedPasskeyData":%q,"username":%q}`, tok, tokenUser(t, tok)), "", backendAuth)
		var v struct{ VerificationResult string }
		if !c.expect200("verifySignedData again", r, &v) || v.VerificationResult != "invalid_challenge" {
			t.Errorf("a token verified with success verifies again as %d %s, want invalid_challenge", r.status, v.VerificationResult)
		}
	}

	// Single use across replicas: one token verified at once on two replicas, and one
	// ceremony finished at once on all three, succeed once each.
	auth := softauthn.NewAuthenticator("localhost", origin)
	a := &server{URL: replicas[0].url(), ProjectID: lb.ProjectID, Secret: lb.Secret}
	a.appendPasskey(t, auth, origin, "user-42")
	tok := a.login(t, auth, origin, "user-42")
	results := make([]string, 2)
	var vg sync.WaitGroup
	for i, r := range []*replica{replicas[1], replicas[2]} {
		vg.Add(1)
		go func() {
			defer vg.Done()
			s := &server{URL: r.url(), ProjectID: lb.ProjectID, Secret: lb.Secret}
			results[i] = s.verifyOnline(t, tok, "user-42")
		}()
	}
	vg.Wait()
	if !(results[0] == "success" && results[1] == "invalid_challenge" || results[0] == "invalid_challenge" && results[1] == "success") {
		t.Errorf("one token verified at once on r2 and r3 = %v, want one success and one invalid_challenge", results)
	}
	st := a.loginStart(t, origin, "user-42")
	assertion, err := auth.Get(st.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	codes := make([]int, 9)
	for i := range codes {
		vg.Add(1)
		go func() {
			defer vg.Done()
			s := &server{URL: replicas[i%3].url(), ProjectID: lb.ProjectID}
			codes[i], _ = s.loginFinish(t, origin, st.CeremonyID, assertion)
		}()
	}
	vg.Wait()
	byCode := map[int]int{}
	for _, code := range codes {
		byCode[code]++
	}
	if byCode[200] != 1 || byCode[410] != len(codes)-1 {
		t.Errorf("one ceremony finished 9 times at once over three replicas gave %v, want one 200 and 8 410", byCode)
	}

	// Rate limits are per replica: 30 login/start for one identifier through round robin get
	// 5 (the limit) from each replica's bucket, then 429 with Retry-After.
	a.appendPasskey(t, auth, origin, "user-rl")
	ok, limited := map[string]int{}, map[string]int{}
	for range 30 {
		req, _ := http.NewRequest("POST", lb.frontend("login/start"), strings.NewReader(`{"identifier":"user-rl"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == 200:
			ok[resp.Header.Get("X-Replica")]++
		case resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "":
			limited[resp.Header.Get("X-Replica")]++
		default:
			t.Fatalf("login/start = %d (Retry-After %q), want 200 or 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	t.Logf("30 login/start for one identifier through HAProxy: 200 by replica %v, 429 by replica %v", ok, limited)
	for _, name := range []string{"r1", "r2", "r3"} {
		if ok[name] != 5 {
			t.Errorf("replica %s let %d login/start through for one identifier, want its own bucket of 5 (200 %v, 429 %v)", name, ok[name], ok, limited)
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
