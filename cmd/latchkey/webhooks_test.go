package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// nodeReceiver is testdata/webhooks/receiver.js: a webhook receiver on loopback that checks
// every delivery with the npm standardwebhooks library.
type nodeReceiver struct {
	URL   string
	stdin io.WriteCloser
	mu    sync.Mutex
	lines []receivedLine
	bad   []receivedLine
	held  chan receivedLine
}

type receivedLine struct {
	OK     bool   `json:"ok"`
	Held   bool   `json:"held"`
	Failed bool   `json:"failed"` // answered 500 on purpose
	ID     string `json:"id"`
	Type   string `json:"type"`
	UserID string `json:"userID"`
	Error  string `json:"error"`
}

// startReceiver starts the Node receiver; hold makes it never answer its first request.
func startReceiver(t *testing.T, hold bool) *nodeReceiver {
	t.Helper()
	return startReceiverWith(t, hold, 0, 0)
}

// startReceiverWith is startReceiver whose receiver answers its first failFirst verified
// requests with 500, and each delivery delay late.
func startReceiverWith(t *testing.T, hold bool, failFirst int, delay time.Duration) *nodeReceiver {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		brokertest.Require(t, "node is not installed: the webhook tests need Node.js 18+")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "webhooks"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		brokertest.Require(t, "standardwebhooks is not installed: run npm ci --prefix cmd/latchkey/testdata/webhooks")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "receiver.js")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if hold {
		cmd.Env = append(cmd.Env, "HOLD_FIRST=1")
	}
	cmd.Env = append(cmd.Env, fmt.Sprintf("FAIL_FIRST=%d", failFirst), fmt.Sprintf("DELAY_MS=%d", delay.Milliseconds()))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &nodeReceiver{held: make(chan receivedLine, 1)}
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l struct {
				receivedLine
				Listening int  `json:"listening"`
				Secret    bool `json:"secret"`
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				continue
			}
			switch {
			case l.Listening != 0:
				port <- l.Listening
			case l.Secret:
			case l.Held:
				r.held <- l.receivedLine
			case l.Failed:
			case l.OK:
				r.mu.Lock()
				r.lines = append(r.lines, l.receivedLine)
				r.mu.Unlock()
			default:
				r.mu.Lock()
				r.bad = append(r.bad, l.receivedLine)
				r.mu.Unlock()
			}
		}
	}()
	select {
	case p := <-port:
		r.URL = fmt.Sprintf("http://127.0.0.1:%d/hook", p)
	case <-time.After(20 * time.Second):
		t.Fatal("the receiver did not start within 20 s")
	}
	return r
}

func (r *nodeReceiver) setSecret(t *testing.T, secret string) {
	t.Helper()
	if _, err := io.WriteString(r.stdin, secret+"\n"); err != nil {
		t.Fatal(err)
	}
}

// received returns the verified deliveries so far (duplicates included) and the refused ones.
func (r *nodeReceiver) received() (ok, bad []receivedLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedLine(nil), r.lines...), append([]receivedLine(nil), r.bad...)
}

// waitFor waits until every one of ids was received (verified), or fails after 90 s.
func (r *nodeReceiver) waitFor(t *testing.T, ids []string) []receivedLine {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got, bad := r.received()
		if len(bad) > 0 {
			t.Fatalf("deliveries refused by the standardwebhooks verifier: %+v", bad)
		}
		seen := map[string]bool{}
		for _, l := range got {
			seen[l.ID] = true
		}
		missing := 0
		for _, id := range ids {
			if !seen[id] {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s, %d of %d events not delivered (got %d deliveries)", missing, len(ids), len(got))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// addWebhook adds an endpoint at url for the project with the CLI and returns its secret.
func addWebhook(t *testing.T, env map[string]string, projectID, url, events string) string {
	t.Helper()
	out, stderr, err := runCmd(t, env, "project", "webhook", "add", "--project", projectID, "--url", url, "--events", events, "--json")
	if err != nil {
		t.Fatalf("project webhook add: %v\n%s", err, stderr)
	}
	var w struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(out), &w); err != nil || !strings.HasPrefix(w.ID, "whk-") || !strings.HasPrefix(w.Secret, "whsec_") {
		t.Fatalf("project webhook add --json printed %q (%v)", out, err)
	}
	return w.Secret
}

// eventIDs returns the IDs of the project's events of types, in the log's order, read
// through the events API of s once they are all there (want of them).
func eventIDs(t *testing.T, s *server, types map[string]bool, want int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ids []string
		cursor := ""
		for {
			var page struct {
				Events []struct {
					ID   string `json:"id"`
					Type string `json:"type"`
				} `json:"events"`
				NextCursor string `json:"nextCursor"`
				HasMore    bool   `json:"hasMore"`
			}
			if code := call(t, "GET", s.URL+"/v2/events?limit=100&after="+cursor, nil, &page, "Authorization", basic(s.ProjectID, s.Secret)); code != 200 {
				t.Fatalf("GET /v2/events = %d", code)
			}
			for _, e := range page.Events {
				if types[e.Type] {
					ids = append(ids, e.ID)
				}
			}
			cursor = page.NextCursor
			if !page.HasMore {
				break
			}
		}
		if len(ids) >= want {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("the events API shows %d events of %v, want %d", len(ids), types, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var deliveredTypes = map[string]bool{"passkey.added": true, "passkey.used": true, "connect_token.minted": true, "connect_token.consumed": true}

const deliveredEvents = "passkey.added,passkey.used,connect_token.*"

// activity appends a passkey for each of users and signs each in twice, through the
// servers in turn: 5 delivered events per user (token minted and consumed, passkey added,
// two passkey.used).
func activity(t *testing.T, origin string, users []string, servers ...*server) {
	t.Helper()
	for i, u := range users {
		s := servers[i%len(servers)]
		auth := softauthn.NewAuthenticator("localhost", origin)
		s.appendPasskey(t, auth, origin, u)
		for _, via := range []*server{servers[(i+1)%len(servers)], s} {
			st := via.loginStart(t, origin, u)
			assertion, err := auth.Get(st.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if code, _ := via.loginFinish(t, origin, st.CeremonyID, assertion); code != 200 {
				t.Fatalf("login/finish for %s = %d", u, code)
			}
		}
	}
}

// firstDeliveries returns the IDs of lines in the order they first arrived.
func firstDeliveries(lines []receivedLine) (order []string, dups int) {
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l.ID] {
			dups++
			continue
		}
		seen[l.ID] = true
		order = append(order, l.ID)
	}
	return order, dups
}

// TestWebhooksNodeVerifier: `serve` delivers each event of the endpoint's types to a real
// receiver, whose standardwebhooks library accepts every signature, in the log's order (so
// in order per user), each once.
func TestWebhooksNodeVerifier(t *testing.T) {
	const origin = "http://localhost:8080"
	r := startReceiver(t, false)
	s := startServeWith(t, "sqlite", origin, map[string]string{"LATCHKEY_WEBHOOK_ALLOW_PRIVATE": "1"})
	r.setSecret(t, addWebhook(t, s.env, s.ProjectID, r.URL, deliveredEvents))
	users := []string{"alice", "bob", "carol"}
	activity(t, origin, users, s)
	want := eventIDs(t, s, deliveredTypes, 5*len(users))
	got := r.waitFor(t, want)
	order, dups := firstDeliveries(got)
	if strings.Join(order, " ") != strings.Join(want, " ") || dups != 0 {
		t.Errorf("delivered %v (%d duplicates), want each of %v once in that order", order, dups, want)
	}
	// Per user, in order: each user's passkey was added before it was used, twice.
	byUser := map[string][]string{}
	for _, l := range got {
		if l.UserID != "" && (l.Type == "passkey.added" || l.Type == "passkey.used") {
			byUser[l.UserID] = append(byUser[l.UserID], l.Type)
		}
	}
	if len(byUser) != len(users) {
		t.Errorf("deliveries name %d users, want %d", len(byUser), len(users))
	}
	for u, ts := range byUser {
		if want := "passkey.added passkey.used passkey.used"; strings.Join(ts, " ") != want {
			t.Errorf("user %s got %v, want %s", u, ts, want)
		}
	}
	// The attempts are visible through the CLI.
	out, _, err := runCmd(t, s.env, "project", "webhook", "list", "--project", s.ProjectID, "--json")
	var ws []struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Failures int    `json:"failures"`
	}
	if err != nil || json.Unmarshal([]byte(out), &ws) != nil || len(ws) != 1 || ws[0].Status != "enabled" || ws[0].Failures != 0 {
		t.Fatalf("project webhook list = %q, %v", out, err)
	}
	out, _, err = runCmd(t, s.env, "project", "webhook", "deliveries", "--project", s.ProjectID, "--id", ws[0].ID, "--limit", "100", "--json")
	var attempts []struct{ Result string }
	if err != nil || json.Unmarshal([]byte(out), &attempts) != nil || len(attempts) != len(want) {
		t.Fatalf("project webhook deliveries = %d attempts (%v), want %d", len(attempts), err, len(want))
	}
	for _, a := range attempts {
		if a.Result != "success" {
			t.Errorf("attempt result %q, want success", a.Result)
		}
	}
}

// TestWebhooksSurviveKill kills `latchkey serve` (SIGKILL) while the receiver holds a
// delivery unanswered, and starts it again: every event arrives, the interrupted one again.
func TestWebhooksSurviveKill(t *testing.T) {
	const origin = "http://localhost:8080"
	bin := filepath.Join(t.TempDir(), "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := startReceiver(t, true)
	env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_SECRET_KEY": brokertest.SecretKey,
		"LATCHKEY_WEBHOOK_ALLOW_PRIVATE": "1"}
	var created struct{ ProjectID, APISecret string }
	created.ProjectID, created.APISecret = createProject(t, env, "K", "localhost", origin)
	r.setSecret(t, addWebhook(t, env, created.ProjectID, r.URL, deliveredEvents))

	start := func() (*exec.Cmd, *server) {
		port := freePort(t)
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "LATCHKEY_ALLOW_INSECURE_KEY=1", fmt.Sprintf("LATCHKEY_LISTEN=127.0.0.1:%d", port), "LATCHKEY_WEBHOOK_TIMEOUT=2s")
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		s := &server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), ProjectID: created.ProjectID, Secret: created.APISecret, env: maps.Clone(env)}
		for deadline := time.Now().Add(20 * time.Second); probe(s.URL+"/readyz") != 200; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the replica did not become ready")
			}
		}
		return cmd, s
	}
	cmd, s := start()
	activity(t, origin, []string{"alice", "bob"}, s)
	var held receivedLine
	select {
	case held = <-r.held:
	case <-time.After(60 * time.Second):
		t.Fatal("no delivery reached the receiver within 60 s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	_, s = start()
	want := eventIDs(t, s, deliveredTypes, 10)
	got := r.waitFor(t, want)
	order, dups := firstDeliveries(got)
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("delivered after the restart %v, want %v in that order", order, want)
	}
	if order[0] != held.ID || dups != 0 {
		t.Errorf("the first answered delivery is %s (%d duplicates), want the interrupted %s and no duplicate", order[0], dups, held.ID)
	}
}

// TestWebhooksTwoReplicas runs two `serve` replicas on one PostgreSQL database with one
// endpoint: every event arrives, in order, and the leases keep duplicates to the bound of
// the normal case (no replica dies, no attempt outlives its lease): none. The receiver takes
// 100 ms a delivery, so that the 30 messages take 3 s and both replicas' passes (one a
// second each) find them waiting at once: without the lease they would send them twice.
func TestWebhooksTwoReplicas(t *testing.T) {
	const origin = "http://localhost:8080"
	r := startReceiverWith(t, false, 0, 100*time.Millisecond)
	a := startServeWith(t, "postgres", origin, map[string]string{"LATCHKEY_WEBHOOK_ALLOW_PRIVATE": "1"})
	b := serveOn(t, a.env, a.ProjectID, a.Secret)
	r.setSecret(t, addWebhook(t, a.env, a.ProjectID, r.URL, deliveredEvents))
	users := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
	activity(t, origin, users, a, b)
	want := eventIDs(t, b, deliveredTypes, 5*len(users))
	got := r.waitFor(t, want)
	order, dups := firstDeliveries(got)
	t.Logf("%d events, %d deliveries, %d duplicates", len(want), len(got), dups)
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("delivered %v, want %v in that order", order, want)
	}
	const bound = 0
	if dups > bound {
		t.Errorf("%d duplicate deliveries over two replicas, want at most %d", dups, bound)
	}
}

// TestProjectWebhookCLI: `project webhook` adds, lists and removes endpoints, and refuses
// what the SSRF guard refuses unless LATCHKEY_WEBHOOK_ALLOW_PRIVATE=1.
func TestProjectWebhookCLI(t *testing.T) {
	env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
	out, _, err := runCmd(t, env, "project", "create", "--name", "W", "--rp-id", "example.com", "--origin", "https://example.com", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ProjectID string }
	_ = json.Unmarshal([]byte(out), &created)
	p := created.ProjectID

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--project", p, "--url", "http://hooks.example.com/x"}, "https"},
		{[]string{"add", "--project", p, "--url", "https://localhost/x"}, "public"},
		{[]string{"add", "--project", p, "--url", "https://10.0.0.1/x"}, "public"},
		{[]string{"add", "--project", p, "--url", "https://hooks.example.com/x", "--events", "ceremony.started"}, "events"},
		{[]string{"add", "--project", p}, "--url is required"},
		{[]string{"add", "--project", "prj-000000000000000000000000", "--url", "https://hooks.example.com/x"}, "no project"},
		{[]string{"remove", "--project", p, "--id", "whk-000000000000000000000000"}, "has no webhook"},
		{[]string{"frobnicate"}, "unknown subcommand"},
	} {
		_, _, err := runCmd(t, env, append([]string{"project", "webhook"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("project webhook %v = %v, want an error about %q", tc.args, err, tc.want)
		}
	}
	if n := countWebhooks(t, env, p); n != 0 {
		t.Fatalf("after refused adds: %d endpoints, want 0", n)
	}

	out, _, err = runCmd(t, env, "project", "webhook", "add", "--project", p, "--url", "https://hooks.example.com/latchkey")
	if err != nil || !strings.Contains(out, "Webhook ID: whk-") || !strings.Contains(out, "Secret:     whsec_") ||
		!strings.Contains(out, "passkey.added,passkey.counter_regression,passkey.deleted,passkey.used,signed_passkey_data.rejected,user.deleted") {
		t.Fatalf("project webhook add = %q, %v", out, err)
	}
	id := strings.Fields(strings.SplitN(out, "\n", 2)[0])[2]
	out, _, err = runCmd(t, env, "project", "webhook", "list", "--project", p)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "enabled") || strings.Contains(out, "whsec_") {
		t.Errorf("project webhook list = %q, %v; want the endpoint, enabled, without its secret", out, err)
	}
	private := maps.Clone(env)
	private["LATCHKEY_WEBHOOK_ALLOW_PRIVATE"] = "1"
	if _, _, err := runCmd(t, private, "project", "webhook", "add", "--project", p, "--url", "http://127.0.0.1:9/hook"); err != nil {
		t.Errorf("project webhook add (http, loopback) with LATCHKEY_WEBHOOK_ALLOW_PRIVATE=1 = %v", err)
	}
	if out, _, err := runCmd(t, env, "project", "webhook", "remove", "--project", p, "--id", id); err != nil || !strings.Contains(out, "removed "+id) {
		t.Errorf("project webhook remove = %q, %v", out, err)
	}
	if n := countWebhooks(t, env, p); n != 1 {
		t.Errorf("after remove: %d endpoints, want 1", n)
	}
}

func countWebhooks(t *testing.T, env map[string]string, projectID string) int {
	t.Helper()
	out, _, err := runCmd(t, env, "project", "webhook", "list", "--project", projectID, "--json")
	var ws []any
	if err != nil || json.Unmarshal([]byte(out), &ws) != nil {
		t.Fatalf("project webhook list --json = %q, %v", out, err)
	}
	return len(ws)
}

// TestWebhooksBackoffNode: a receiver that answers its first two deliveries with 500 gets
// the message again after the backoff, as the attempts recorded in the store show (each
// failed attempt's next attempt is its time plus broker.WebhookBackoff, and the retry is
// not made before it), and then every message in order.
func TestWebhooksBackoffNode(t *testing.T) {
	const origin = "http://localhost:8080"
	r := startReceiverWith(t, false, 2, 0)
	s := startServeWith(t, "sqlite", origin, map[string]string{"LATCHKEY_WEBHOOK_ALLOW_PRIVATE": "1"})
	r.setSecret(t, addWebhook(t, s.env, s.ProjectID, r.URL, deliveredEvents))
	activity(t, origin, []string{"alice"}, s)
	want := eventIDs(t, s, deliveredTypes, 5)
	got := r.waitFor(t, want)
	if order, dups := firstDeliveries(got); strings.Join(order, " ") != strings.Join(want, " ") || dups != 0 {
		t.Errorf("delivered %v (%d duplicates), want %v", order, dups, want)
	}
	out, _, err := runCmd(t, s.env, "project", "webhook", "list", "--project", s.ProjectID, "--json")
	var ws []struct{ ID string }
	if err != nil || json.Unmarshal([]byte(out), &ws) != nil || len(ws) != 1 {
		t.Fatalf("project webhook list = %q, %v", out, err)
	}
	var page struct {
		Deliveries []struct {
			EventID       string     `json:"eventID"`
			Attempt       int64      `json:"attempt"`
			AttemptedAt   time.Time  `json:"attemptedAt"`
			Result        string     `json:"result"`
			StatusCode    int        `json:"statusCode"`
			NextAttemptAt *time.Time `json:"nextAttemptAt"`
		} `json:"deliveries"`
	}
	if code := call(t, "GET", s.URL+"/v2/webhooks/"+ws[0].ID+"/deliveries?limit=100", nil, &page, "Authorization", basic(s.ProjectID, s.Secret)); code != 200 {
		t.Fatalf("GET deliveries = %d", code)
	}
	d := page.Deliveries
	if len(d) != len(want)+2 {
		t.Fatalf("%d attempts recorded, want %d (two failures, then one per message)", len(d), len(want)+2)
	}
	// Newest first: the first message's attempts are the last three.
	first := d[len(d)-3:]
	slices.Reverse(first)
	for i, a := range first {
		if a.EventID != want[0] || a.Attempt != int64(i+1) {
			t.Errorf("attempt %d = %+v, want attempt %d at %s", i, a, i+1, want[0])
		}
	}
	for i, a := range first[:2] {
		if a.Result != "http_error" || a.StatusCode != 500 || a.NextAttemptAt == nil {
			t.Fatalf("attempt %d = %+v, want http_error 500 with a next attempt", i+1, a)
		}
		if gap := a.NextAttemptAt.Sub(a.AttemptedAt); gap != broker.WebhookBackoff(int64(i+1)) {
			t.Errorf("attempt %d: next attempt %s after it, want %s", i+1, gap, broker.WebhookBackoff(int64(i+1)))
		}
		if next := first[i+1].AttemptedAt; next.Before(*a.NextAttemptAt) {
			t.Errorf("attempt %d made at %v, before its due time %v", i+2, next, *a.NextAttemptAt)
		}
	}
	if first[2].Result != "success" || first[2].NextAttemptAt != nil {
		t.Errorf("third attempt = %+v, want success", first[2])
	}
}
