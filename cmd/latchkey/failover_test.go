package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// pgBin returns the directory of PostgreSQL's server binaries (initdb, pg_ctl,
// pg_basebackup): LATCHKEY_TEST_PG_BIN, or the newest /usr/lib/postgresql/*/bin.
func pgBin(t *testing.T) string {
	t.Helper()
	dirs := []string{os.Getenv("LATCHKEY_TEST_PG_BIN")}
	if dirs[0] == "" {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(found, func(i, j int) bool { // newest major version first
			vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(found[i])))
			vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(found[j])))
			return vi > vj
		})
		dirs = found
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_basebackup")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d
			}
		}
	}
	brokertest.Require(t, "no PostgreSQL server binaries (initdb, pg_basebackup): install postgresql or set LATCHKEY_TEST_PG_BIN")
	return ""
}

// pgCluster is a set of PostgreSQL servers of a test's own, in a temporary directory owned by
// the postgres user (PostgreSQL refuses to run as root), on ports from 5440 to 5449.
type pgCluster struct {
	t     *testing.T
	bin   string
	dir   string
	ports map[int]bool
	uid   int
	gid   int
}

func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	c := &pgCluster{t: t, bin: pgBin(t), ports: map[int]bool{}, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			brokertest.Require(t, "running as root without a postgres user to run PostgreSQL as")
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if _, err := exec.LookPath("runuser"); err != nil {
			brokertest.Require(t, "running as root without runuser")
		}
	}
	dir, err := os.MkdirTemp("", "latchkey-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if c.uid >= 0 {
		if err := os.Chown(dir, c.uid, c.gid); err != nil {
			t.Fatal(err)
		}
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	return c
}

// run runs a PostgreSQL binary as the postgres user.
func (c *pgCluster) run(name string, args ...string) (string, error) {
	bin := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.uid >= 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *pgCluster) must(name string, args ...string) string {
	c.t.Helper()
	out, err := c.run(name, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// port returns a free port from 5440 to 5449 that this cluster does not use yet.
func (c *pgCluster) port() int {
	c.t.Helper()
	for p := 5440; p <= 5449; p++ {
		if c.ports[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		c.ports[p] = true
		return p
	}
	c.t.Fatal("no free port from 5440 to 5449 for a PostgreSQL server of the test's own")
	return 0
}

// pgNode is one server of a pgCluster.
type pgNode struct {
	c    *pgCluster
	name string
	dir  string
	port int
}

func (n *pgNode) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.port) }

func (n *pgNode) url(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", n.addr(), db)
}

// configure appends settings to the node's postgresql.conf.
func (n *pgNode) configure(settings ...string) {
	n.c.t.Helper()
	f, err := os.OpenFile(filepath.Join(n.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		n.c.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + strings.Join(settings, "\n") + "\n"); err != nil {
		n.c.t.Fatal(err)
	}
}

func (n *pgNode) start() {
	n.c.t.Helper()
	n.c.must("pg_ctl", "-D", n.dir, "-l", filepath.Join(n.c.dir, n.name+".log"), "-w", "-t", "30", "start")
	n.c.t.Cleanup(func() { _, _ = n.c.run("pg_ctl", "-D", n.dir, "-m", "immediate", "stop") })
}

// primary creates, configures and starts a primary server.
func (c *pgCluster) primary(name string) *pgNode {
	c.t.Helper()
	n := &pgNode{c: c, name: name, dir: filepath.Join(c.dir, name), port: c.port()}
	c.must("initdb", "-D", n.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	n.configure(
		fmt.Sprintf("port = %d", n.port),
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("unix_socket_directories = '%s'", c.dir),
		"max_connections = 60",
		"shared_buffers = 16MB",
		"synchronous_commit = on",
	)
	n.start()
	return n
}

// standby clones primary with pg_basebackup -R and starts it as a streaming standby whose
// application_name is name.
func (c *pgCluster) standby(name string, primary *pgNode) *pgNode {
	c.t.Helper()
	n := &pgNode{c: c, name: name, dir: filepath.Join(c.dir, name), port: c.port()}
	c.must("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres",
		"-D", n.dir, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")
	n.configure(fmt.Sprintf("port = %d", n.port))
	// -R wrote primary_conninfo to postgresql.auto.conf; a later line there wins, and names
	// the standby for synchronous_standby_names.
	f, err := os.OpenFile(filepath.Join(n.dir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	fmt.Fprintf(f, "primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=%s'\n", primary.port, name)
	f.Close()
	n.start()
	return n
}

// writerProxy stands in for what operators put between the broker and a primary with its
// standby: a virtual IP that a failover manager moves, or HAProxy checking which node accepts
// writes. Every 100 ms it asks each node whether it is in recovery, sends new connections to
// the one that is not, and cuts the connections to a node once it is no longer that one (as
// HAProxy's on-marked-down shutdown-sessions). With no writable node it refuses connections.
type writerProxy struct {
	addr     string
	nodes    []string
	mu       sync.Mutex
	target   string
	conns    map[net.Conn]string
	switches []proxySwitch
	ln       net.Listener
	done     chan struct{}
}

type proxySwitch struct {
	at     time.Time
	target string
}

func newWriterProxy(t *testing.T, nodes ...string) *writerProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &writerProxy{addr: ln.Addr().String(), nodes: nodes, conns: map[net.Conn]string{}, ln: ln, done: make(chan struct{})}
	dbs := make([]*sql.DB, len(nodes))
	for i, n := range nodes {
		dbs[i], err = sql.Open("postgres", "postgres://postgres@"+n+"/postgres?sslmode=disable&connect_timeout=1")
		if err != nil {
			t.Fatal(err)
		}
		dbs[i].SetMaxOpenConns(1)
	}
	go p.check(dbs)
	go p.accept()
	t.Cleanup(func() {
		close(p.done)
		ln.Close()
		p.setTarget("")
		for _, db := range dbs {
			db.Close()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); p.current() == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the proxy found no writable PostgreSQL node in 10 s")
		}
	}
	return p
}

func (p *writerProxy) current() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

func (p *writerProxy) check(dbs []*sql.DB) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		writable := ""
		for i, db := range dbs {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			var inRecovery bool
			err := db.QueryRowContext(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery)
			cancel()
			if err == nil && !inRecovery {
				writable = p.nodes[i]
				break
			}
		}
		p.setTarget(writable)
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
	}
}

// setTarget routes new connections to target and cuts those to any other node.
func (p *writerProxy) setTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if target == p.target {
		return
	}
	p.target = target
	p.switches = append(p.switches, proxySwitch{time.Now(), target})
	for c, n := range p.conns {
		if n != target {
			c.Close()
			delete(p.conns, c)
		}
	}
}

func (p *writerProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		target := p.current()
		if target == "" {
			c.Close()
			continue
		}
		b, err := net.DialTimeout("tcp", target, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.target != target { // switched while dialling
			p.mu.Unlock()
			c.Close()
			b.Close()
			continue
		}
		p.conns[c], p.conns[b] = target, target
		p.mu.Unlock()
		go func() { _, _ = io.Copy(b, c); b.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, b); c.Close(); b.Close() }()
	}
}

// answer is one request of a run: when it was sent and when it ended, what it was, and how it came back.
type answer struct {
	sent   time.Time
	at     time.Time
	op     string
	status int // 0: no answer
	// bad says why the answer breaks the contract ("" if it does not).
	bad string
}

// recorder sends the requests of a run and keeps every answer.
type recorder struct {
	mu      sync.Mutex
	answers []answer
}

// post sends a JSON POST and decodes a 200 answer into out. Every other answer must be 503
// unavailable with Retry-After in the contract's envelope.
func (r *recorder) post(op, url, body string, out any, origin, auth string) int {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	a := answer{op: op, sent: time.Now()}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.bad = err.Error()
	} else {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status = resp.StatusCode
		switch resp.StatusCode {
		case 200:
			if err := json.Unmarshal(raw, out); err != nil {
				a.bad = "undecodable 200: " + err.Error()
			}
		case 503:
			var env envelope
			_ = json.Unmarshal(raw, &env)
			if env.HTTPStatusCode != 503 || env.Error.Type != "unavailable" || resp.Header.Get("Retry-After") == "" {
				a.bad = fmt.Sprintf("503 without the unavailable envelope and Retry-After: %q, Retry-After %q", raw, resp.Header.Get("Retry-After"))
			}
		default:
			a.bad = fmt.Sprintf("%d %s", resp.StatusCode, raw)
		}
	}
	a.at = time.Now()
	r.mu.Lock()
	r.answers = append(r.answers, a)
	r.mu.Unlock()
	return a.status
}

// TestPostgresFailover runs appends, logins and verifications through `latchkey serve` on a
// PostgreSQL primary with a synchronous streaming standby, stops the primary hard in the
// middle, promotes the standby, and lets a proxy that routes to the writable node move the
// traffic. Every request answered with success is on the new primary afterwards, every
// failure in between is 503 unavailable with Retry-After, and the broker recovers without a
// restart.
func TestPostgresFailover(t *testing.T) {
	c := newPGCluster(t)
	primary := c.primary("primary")
	c.must("psql", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres", "-qc", "CREATE DATABASE latchkey")
	standby := c.standby("standby", primary)
	t.Logf("primary on %s, standby on %s", primary.addr(), standby.addr())
	// Synchronous from here on: a commit returns once the standby has flushed it.
	c.must("psql", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres", "-q",
		"-c", "ALTER SYSTEM SET synchronous_standby_names = 'standby'", "-c", "SELECT pg_reload_conf()")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := c.run("psql", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres", "-qAtc",
			"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")
		if strings.TrimSpace(out) == "sync" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby is not a synchronous standby after 20 s (sync_state %q)", out)
		}
	}

	px := newWriterProxy(t, primary.addr(), standby.addr())
	const origin = "http://localhost:8080"
	env := map[string]string{
		"LATCHKEY_DATABASE_URL":          viaProxy(t, primary.url("latchkey"), px.addr),
		"LATCHKEY_SECRET_KEY":            brokertest.SecretKey,
		"LATCHKEY_RATE_LIMIT_IP":         "off", // one client IP drives the whole run
		"LATCHKEY_RATE_LIMIT_IDENTIFIER": "off",
	}
	var created struct{ ProjectID, APISecret string }
	created.ProjectID, created.APISecret = createProject(t, env, "Failover", "localhost", origin)
	s := serveOn(t, env, created.ProjectID, created.APISecret)
	backendAuth := basic(s.ProjectID, s.Secret)

	// A replica whose connections reach the standby (behind a load balancer that checks only
	// that PostgreSQL answers, or one that has not noticed a switch yet) is refused every
	// write: "read-only transaction" (25006) for a statement, "cannot set transaction
	// read-write mode during recovery" (0A000) for a transaction. Both are unavailable (503
	// with Retry-After, worth a retry), never a 500.
	stale := newProxy(t, primary.addr())
	staleEnv := maps.Clone(env)
	staleEnv["LATCHKEY_DATABASE_URL"] = viaProxy(t, primary.url("latchkey"), stale.addr)
	s2 := serveOn(t, staleEnv, created.ProjectID, created.APISecret)
	stale.cut()
	stale.backend = standby.addr()
	stale.restore(t)
	{
		auth := softauthn.NewAuthenticator("localhost", origin)
		s.appendPasskey(t, auth, origin, "user-42")
		tok := s.login(t, auth, origin, "user-42")
		var rec recorder
		var out struct{}
		appendToken := s.mint(t, "passkey-append", "user-44")
		// The standby has flushed the token (synchronous commit) but may not have replayed
		// it yet; a read there before it has would find no token (401), not the refused write.
		lsn := strings.TrimSpace(c.must("psql", "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres", "-qAtc", "SELECT pg_current_wal_lsn()"))
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			out, _ := c.run("psql", "-h", "127.0.0.1", "-p", strconv.Itoa(standby.port), "-U", "postgres", "-qAtc",
				fmt.Sprintf("SELECT pg_last_wal_replay_lsn() >= '%s'::pg_lsn", lsn))
			if strings.TrimSpace(out) == "t" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the standby has not replayed %s after 20 s (%q)", lsn, out)
			}
		}
		rec.post("connectTokens", s2.URL+"/v2/connectTokens", `{"type":"passkey-append","data":{"identifier":"user-43","displayName":"U"}}`, &out, "", backendAuth)
		rec.post("append/start", s2.frontend("append/start"), fmt.Sprintf(`{"connectToken":%q}`, appendToken), &out, origin, "")
		rec.post("verifySignedData", s2.URL+"/v2/passkey/verifySignedData", fmt.Sprintf(`{"signedPasskeyData":%q,"username":"user-42"}`, tok), &out, "", backendAuth)
		for _, a := range rec.answers {
			if a.status != 503 || a.bad != "" {
				t.Errorf("%s on a replica that reaches the standby = %d %s, want 503 unavailable with Retry-After", a.op, a.status, a.bad)
			}
		}
		if s.verifyOnline(t, tok, "user-42") != "success" {
			t.Error("a token refused (503) on the stale replica does not verify on the primary")
		}
	}
	if err := s2.stop(); err != nil {
		t.Fatal(err)
	}

	var (
		rec       recorder
		mu        sync.Mutex
		appended  []string // credential IDs whose append/finish returned 200
		unknown   []string // credential IDs whose append/finish returned 503: outcome unknown
		verified  []string // tokens whose verifySignedData returned success
		okAppends atomic.Int64
		promoted  atomic.Bool
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const workers, afterWanted = 4, 5
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			auth := softauthn.NewAuthenticator("localhost", origin)
			after := 0 // this worker's appends once the standby is promoted
			for i := 0; ctx.Err() == nil && after < afterWanted; i++ {
				user := fmt.Sprintf("user-%d-%d", w, i)
				// Append: mint a connect token (backend API), start, create, finish.
				var tok struct{ Secret string }
				if rec.post("connectTokens", s.URL+"/v2/connectTokens", fmt.Sprintf(`{"type":"passkey-append","data":{"identifier":%q,"displayName":"U"}}`, user), &tok, "", backendAuth) != 200 {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				var st started
				if rec.post("append/start", s.frontend("append/start"), fmt.Sprintf(`{"connectToken":%q}`, tok.Secret), &st, origin, "") != 200 {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				cred, err := auth.Create(st.PublicKey)
				if err != nil {
					t.Errorf("softauthn Create: %v", err)
					return
				}
				credID := b64url(auth.Creds[len(auth.Creds)-1].ID)
				var fin struct {
					Passkey struct{ ID string } `json:"passkey"`
				}
				body, _ := json.Marshal(map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(cred)})
				if rec.post("append/finish", s.frontend("append/finish"), string(body), &fin, origin, "") != 200 {
					mu.Lock()
					unknown = append(unknown, credID)
					mu.Unlock()
					auth.Creds = auth.Creds[:len(auth.Creds)-1] // maybe not registered: do not use it
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				appended = append(appended, fin.Passkey.ID)
				mu.Unlock()
				okAppends.Add(1)
				if promoted.Load() {
					after++
				}
				// Sign in by identifier, and every other round without one; verify each result.
				for _, identifier := range []string{user, ""}[:1+i%2] {
					body := `{}`
					if identifier != "" {
						body = fmt.Sprintf(`{"identifier":%q}`, identifier)
					}
					if rec.post("login/start", s.frontend("login/start"), body, &st, origin, "") != 200 {
						break
					}
					assertion, err := auth.Get(st.PublicKey)
					if err != nil {
						t.Errorf("softauthn Get: %v", err)
						return
					}
					var login struct{ SignedPasskeyData, Username string }
					body2, _ := json.Marshal(map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(assertion)})
					if rec.post("login/finish", s.frontend("login/finish"), string(body2), &login, origin, "") != 200 {
						break
					}
					var v struct{ VerificationResult string }
					vb, _ := json.Marshal(map[string]string{"signedPasskeyData": login.SignedPasskeyData, "username": login.Username})
					if rec.post("verifySignedData", s.URL+"/v2/passkey/verifySignedData", string(vb), &v, "", backendAuth) != 200 {
						break
					}
					if v.VerificationResult != "success" {
						t.Errorf("verifySignedData of a fresh token = %s, want success", v.VerificationResult)
						return
					}
					mu.Lock()
					verified = append(verified, login.SignedPasskeyData)
					mu.Unlock()
				}
			}
		}()
	}

	// Let the run get going, then stop the primary hard, as a crash would.
	for deadline := time.Now().Add(30 * time.Second); okAppends.Load() < 20; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("only %d appends succeeded in 30 s before the failover", okAppends.Load())
		}
	}
	c.must("pg_ctl", "-D", primary.dir, "-m", "immediate", "stop")
	killed := time.Now() // the primary is gone (pg_ctl waited for it)
	// An operator (or a failover manager) notices and promotes the standby.
	time.Sleep(500 * time.Millisecond)
	promoting := time.Now()
	c.must("pg_ctl", "-D", standby.dir, "-w", "-t", "30", "promote")
	promotedAt := time.Now()
	promoted.Store(true)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the run did not finish within 60 s: the broker did not recover (%d appends)", okAppends.Load())
	}

	// Figures around the switch.
	var switchedAt time.Time
	px.mu.Lock()
	for _, sw := range px.switches {
		if sw.target == standby.addr() {
			switchedAt = sw.at
		}
	}
	px.mu.Unlock()
	var before, during, after, failedDuring, bad int
	var recovered time.Time
	rec.mu.Lock()
	sort.Slice(rec.answers, func(i, j int) bool { return rec.answers[i].at.Before(rec.answers[j].at) })
	for _, a := range rec.answers {
		if a.bad != "" {
			bad++
			t.Errorf("%s at kill%+v: %s", a.op, a.at.Sub(killed).Round(time.Millisecond), a.bad)
		}
		if recovered.IsZero() && a.sent.After(killed) && a.status == 200 && a.op != "login/start" {
			// (login/start without an identifier needs no database.)
			recovered = a.at
			t.Logf("first success after the kill: %s sent %v after it", a.op, a.sent.Sub(killed))
		}
	}
	for _, a := range rec.answers {
		switch {
		case a.at.Before(killed):
			before++
		case a.at.Before(recovered):
			during++
			if a.status != 200 {
				failedDuring++
			}
		default:
			after++
		}
	}
	total := len(rec.answers)
	rec.mu.Unlock()
	t.Logf("requests: %d before the kill, %d from the kill to the first success after it (%d failed, all 503 with Retry-After), %d after; %d appends and %d verifications succeeded, %d append/finish answered 503",
		before, during, failedDuring, after, len(appended), len(verified), len(unknown))
	t.Logf("time to recover: %v from the kill to the first success on the new primary (promotion begun %v after the kill, took %v; proxy switched %v after the kill)",
		recovered.Sub(killed).Round(time.Millisecond), promoting.Sub(killed).Round(time.Millisecond), promotedAt.Sub(promoting).Round(time.Millisecond), switchedAt.Sub(killed).Round(time.Millisecond))
	if bad > 0 || total == 0 {
		t.Fatalf("%d of %d answers broke the contract", bad, total)
	}
	if recovered.IsZero() || switchedAt.IsZero() || failedDuring == 0 {
		t.Fatalf("no failover was seen: recovered %v, proxy switched %v, %d failures during the switch", recovered, switchedAt, failedDuring)
	}
	if strings.Contains(s.Logs.String(), `"status":500`) {
		t.Fatalf("the broker answered 500:\n%s", s.Logs.String())
	}

	// Everything acknowledged is on the new primary: read it there directly.
	db := sqlx.MustOpen("postgres", standby.url("latchkey"))
	defer db.Close()
	for _, id := range appended {
		var n int
		if err := db.Get(&n, `SELECT COUNT(*) FROM passkeys WHERE credential_id = $1`, id); err != nil || n != 1 {
			t.Errorf("passkey %s, appended with success, is not on the new primary (%d, %v)", id, n, err)
		}
	}
	present := 0
	for _, id := range unknown {
		var n int
		if err := db.Get(&n, `SELECT COUNT(*) FROM passkeys WHERE credential_id = $1`, id); err == nil && n == 1 {
			present++
		}
	}
	t.Logf("of the %d append/finish answered 503, %d were committed all the same (their outcome was unknown to the broker)", len(unknown), present)
	// And every verified token is refused as a replay by the broker on the new primary.
	for _, tok := range verified {
		var v struct{ VerificationResult string }
		body, _ := json.Marshal(map[string]string{"signedPasskeyData": tok, "username": tokenUser(t, tok)})
		if code := rec.post("verifySignedData", s.URL+"/v2/passkey/verifySignedData", string(body), &v, "", backendAuth); code != 200 || v.VerificationResult != "invalid_challenge" {
			t.Errorf("a token verified with success verifies again on the new primary as %d %s, want invalid_challenge: its ID was lost", code, v.VerificationResult)
		}
	}
	if code := probe(s.URL + "/readyz"); code != 200 {
		t.Errorf("/readyz after the failover = %d, want 200", code)
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// commitCutter forwards PostgreSQL connections and, once armed, cuts the first connection that
// sends COMMIT after a statement containing match: PostgreSQL receives the COMMIT and
// commits, and the broker never learns it (the connection is lost during COMMIT).
type commitCutter struct {
	addr    string
	backend string
	match   string
	armed   atomic.Bool
	cut     atomic.Int64
}

func newCommitCutter(t *testing.T, backend, match string) *commitCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &commitCutter{addr: ln.Addr().String(), backend: backend, match: match}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(c, b); c.Close() }()
			go p.forward(c, b)
		}
	}()
	return p
}

// forward copies the client's messages to the server one by one (the startup message has
// no type byte; the others are a type byte and a length that counts itself), keeping the
// statements the connection parsed, and cuts both ends after a COMMIT that ends a
// transaction which ran a matching statement.
func (p *commitCutter) forward(c, b net.Conn) {
	defer c.Close()
	defer b.Close()
	read := func(n int) ([]byte, error) {
		buf := make([]byte, n)
		_, err := io.ReadFull(c, buf)
		return buf, err
	}
	head, err := read(4)
	if err != nil {
		return
	}
	rest, err := read(int(binary.BigEndian.Uint32(head)) - 4)
	if err != nil {
		return
	}
	if _, err := b.Write(append(head, rest...)); err != nil {
		return
	}
	parsed := map[string]string{} // statement name -> query
	matched := false
	for {
		head, err := read(5)
		if err != nil {
			return
		}
		body, err := read(int(binary.BigEndian.Uint32(head[1:])) - 4)
		if err != nil {
			return
		}
		cstr := func(b []byte) (string, []byte) {
			i := bytes.IndexByte(b, 0)
			if i < 0 {
				return string(b), nil
			}
			return string(b[:i]), b[i+1:]
		}
		commit := false
		switch head[0] {
		case 'P': // Parse: name, query
			name, r := cstr(body)
			parsed[name], _ = cstr(r)
		case 'B': // Bind: portal, statement
			_, r := cstr(body)
			name, _ := cstr(r)
			matched = matched || strings.Contains(parsed[name], p.match)
		case 'Q': // simple query
			q, _ := cstr(body)
			matched = matched || strings.Contains(q, p.match)
			q = strings.ToUpper(strings.TrimSpace(q))
			commit = strings.HasPrefix(q, "COMMIT")
			if strings.HasPrefix(q, "ROLLBACK") {
				matched = false
			}
		}
		if commit && matched && p.armed.CompareAndSwap(true, false) {
			// The broker's end goes first, so that no answer reaches it; then the server
			// gets the COMMIT, and a moment to read it before its end closes too.
			p.cut.Add(1)
			c.Close()
			_, _ = b.Write(append(head, body...))
			time.Sleep(50 * time.Millisecond)
			return
		}
		if _, err := b.Write(append(head, body...)); err != nil {
			return
		}
		if commit {
			matched = false
		}
	}
}

// TestCommitOutcomeUnknown loses the connection to PostgreSQL while the COMMIT of an append
// is under way: the commit happens, but the broker cannot know it, so it must not answer
// success; it answers 503 unavailable with Retry-After, and a client that repeats the finish
// is told the ceremony is spent (410), never given a second passkey.
func TestCommitOutcomeUnknown(t *testing.T) {
	const origin = "http://localhost:8080"
	dbURL := brokertest.DatabaseURL(t, "postgres")
	cutter := newCommitCutter(t, pgHost(t, dbURL), "INSERT INTO passkeys")
	env := map[string]string{"LATCHKEY_DATABASE_URL": viaProxy(t, dbURL, cutter.addr), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
	var created struct{ ProjectID, APISecret string }
	created.ProjectID, created.APISecret = createProject(t, env, "C", "localhost", origin)
	s := serveOn(t, env, created.ProjectID, created.APISecret)
	auth := softauthn.NewAuthenticator("localhost", origin)
	s.appendPasskey(t, auth, origin, "user-41") // statements prepared, the pool warm

	var st started
	if code := call(t, "POST", s.frontend("append/start"), map[string]string{"connectToken": s.mint(t, "passkey-append", "user-42")}, &st, "Origin", origin); code != 200 {
		t.Fatalf("append/start = %d", code)
	}
	cred, err := auth.Create(st.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	credID := b64url(auth.Creds[len(auth.Creds)-1].ID)
	body, _ := json.Marshal(map[string]any{"ceremonyID": st.CeremonyID, "credential": json.RawMessage(cred)})
	finish := func() (int, string, envelope) {
		req, _ := http.NewRequest("POST", s.frontend("append/finish"), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env envelope
		_ = json.NewDecoder(resp.Body).Decode(&env)
		return resp.StatusCode, resp.Header.Get("Retry-After"), env
	}
	cutter.armed.Store(true)
	code, retryAfter, envl := finish()
	if cutter.cut.Load() != 1 {
		t.Fatalf("the connection was not cut during the append's COMMIT (answer %d)", code)
	}
	if code != 503 || retryAfter == "" || envl.Error.Type != "unavailable" {
		t.Fatalf("append/finish whose COMMIT lost its connection = %d %+v (Retry-After %q), want 503 unavailable with Retry-After", code, envl, retryAfter)
	}
	// The commit did happen: the passkey is there although the broker did not say so.
	db := sqlx.MustOpen("postgres", dbURL)
	defer db.Close()
	n := 0
	for deadline := time.Now().Add(5 * time.Second); n == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := db.Get(&n, `SELECT COUNT(*) FROM passkeys WHERE credential_id = $1`, credID); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("the cut COMMIT left %d passkeys, want 1 (PostgreSQL received the COMMIT)", n)
	}
	// Repeating the finish cannot register it twice: the ceremony is spent.
	if code, _, envl := finish(); code != 410 {
		t.Fatalf("append/finish repeated after the unknown outcome = %d %+v, want 410", code, envl)
	}
}
