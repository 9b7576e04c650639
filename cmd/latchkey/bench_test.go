package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/sqlstore"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", []time.Duration{ms(7)}, 50, ms(7)},
		{"one sample p99", []time.Duration{ms(7)}, 99, ms(7)},
		{"two samples p50", []time.Duration{ms(10), ms(20)}, 50, ms(10)},
		{"two samples p90", []time.Duration{ms(10), ms(20)}, 90, ms(20)},
		{"1..100 p50", hundred, 50, ms(50)},
		{"1..100 p90", hundred, 90, ms(90)},
		{"1..100 p99", hundred, 99, ms(99)},
		{"1..100 p100", hundred, 100, ms(100)},
		{"1..100 p0.1 is the first", hundred, 0.1, ms(1)},
		{"1..100 p99.5 rounds up", hundred, 99.5, ms(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d samples, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	// Unsorted input, 1000 samples of 1..1000 ms over 2 s.
	var samples []time.Duration
	for i := 1000; i >= 1; i-- {
		samples = append(samples, ms(i))
	}
	got := summarize(samples, 2*time.Second)
	want := latency{Count: 1000, Rate: 500, P50: 500, P90: 900, P99: 990, Max: 1000}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarize() mismatch (-want +got):\n%s", diff)
	}
	if samples[0] != ms(1000) {
		t.Errorf("summarize() reordered its input")
	}
	if got := summarize(nil, time.Second); got != (latency{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestPickFollowsTheMix(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	const draws = 200000
	counts := map[string]int{}
	for range draws {
		counts[pick(mixes["mixed"], r)]++
	}
	for _, w := range mixes["mixed"] {
		share := float64(counts[w.scenario]) / draws * 100
		if share < float64(w.weight)-0.5 || share > float64(w.weight)+0.5 {
			t.Errorf("mixed: %s drawn %.2f%% of the time, want %d%% ± 0.5", w.scenario, share, w.weight)
		}
	}
	if len(counts) != 4 {
		t.Errorf("mixed drew %v, want the four scenarios", counts)
	}
	for _, name := range []string{scenarioAppend, scenarioLogin, scenarioUsernameless, scenarioVerifyOffline} {
		for range 100 {
			if got := pick(mixes[name], r); got != name {
				t.Fatalf("pick(%s) = %s", name, got)
			}
		}
	}
}

func TestNeedsUsers(t *testing.T) {
	for name, want := range map[string]bool{"append": false, "login": true, "login-usernameless": true, "verify-offline": true, "mixed": true} {
		if got := needsUsers(mixes[name]); got != want {
			t.Errorf("needsUsers(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestSlope(t *testing.T) {
	tests := []struct {
		name   string
		xs, ys []float64
		want   float64
	}{
		{"flat", []float64{0, 1, 2, 3}, []float64{30, 30, 30, 30}, 0},
		{"growing 2 per unit", []float64{0, 1, 2, 3}, []float64{10, 12, 14, 16}, 2},
		{"noisy flat", []float64{0, 1, 2, 3}, []float64{30, 31, 30, 31}, 0.2},
		{"one point", []float64{1}, []float64{5}, 0},
		{"no spread in x", []float64{1, 1}, []float64{5, 6}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slope(tt.xs, tt.ys); got < tt.want-1e-9 || got > tt.want+1e-9 {
				t.Errorf("slope(%v, %v) = %v, want %v", tt.xs, tt.ys, got, tt.want)
			}
		})
	}
}

func TestParseProc(t *testing.T) {
	// Field 2 holds a command name with a space and a parenthesis; utime 250 and stime 50
	// ticks are fields 14 and 15.
	stat := "4242 (lat key) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 8 0 100 1000000 2000 18446744073709551615\n"
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStatCPU() = %v, %v, want 3s", cpu, err)
	}
	if _, err := parseStatCPU("4242 (short) S 1"); err == nil {
		t.Errorf("parseStatCPU(truncated) succeeded")
	}
	status := "Name:\tlatchkey\nVmPeak:\t  900000 kB\nVmRSS:\t   40960 kB\nThreads:\t8\n"
	rss, err := parseStatusRSS(status)
	if err != nil || rss != 40<<20 {
		t.Errorf("parseStatusRSS() = %d, %v, want %d", rss, err, 40<<20)
	}
	if _, err := parseStatusRSS("Name:\tx\n"); err == nil {
		t.Errorf("parseStatusRSS(no VmRSS) succeeded")
	}
	// And the real thing, for this process.
	s, err := readProc(os.Getpid())
	if err != nil || s.rss <= 0 {
		t.Errorf("readProc(self) = %+v, %v, want a resident size", s, err)
	}
}

func TestSeedDerivation(t *testing.T) {
	seed := &benchSeed{Version: 1, ProjectID: "prj-x", Prefix: "bench-abc-", Seed: strings.Repeat("ab", 32), Users: 3}
	a, err := seed.user(2)
	if err != nil {
		t.Fatalf("user(2) = %v", err)
	}
	b, _ := seed.user(2)
	c, _ := seed.user(1)
	if a.identifier != "bench-abc-2" || len(a.credID) != 16 || len(a.handle) != 32 {
		t.Errorf("user(2) = %q, credential %d bytes, handle %d bytes", a.identifier, len(a.credID), len(a.handle))
	}
	if !a.key.Equal(b.key) || string(a.credID) != string(b.credID) || string(a.handle) != string(b.handle) {
		t.Errorf("user(2) derived twice differs")
	}
	if a.key.Equal(c.key) || string(a.credID) == string(c.credID) || string(a.handle) == string(c.handle) {
		t.Errorf("user(2) and user(1) share key material")
	}
	if _, err := seed.user(3); err == nil {
		t.Errorf("user(3) of a seed of 3 succeeded")
	}
	// A COSE key always has 32-byte coordinates: 10 + 32 + 3 + 32 bytes.
	for i := range 3 {
		u, _ := seed.user(i)
		if k := coseKey(&u.key.PublicKey); len(k) != 77 {
			t.Errorf("coseKey(user %d) is %d bytes, want 77", i, len(k))
		}
	}

	path := filepath.Join(t.TempDir(), "seed.json")
	if err := writeSeed(path, seed); err != nil {
		t.Fatal(err)
	}
	got, err := readSeed(path)
	if err != nil {
		t.Fatalf("readSeed() = %v", err)
	}
	if diff := cmp.Diff(seed, got); diff != "" {
		t.Errorf("readSeed(writeSeed()) mismatch (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("seed file mode = %v, %v, want 0600 (it holds private keys)", fi.Mode(), err)
	}
	if err := os.WriteFile(path, []byte(`{"version":1,"seed":"00"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readSeed(path); err == nil {
		t.Errorf("readSeed(short seed) succeeded")
	}
}

func TestSeedUsersWritesAPrefixInOrder(t *testing.T) {
	derive := func(from, to int) ([]broker.SeedUser, error) {
		out := make([]broker.SeedUser, 0, to-from)
		for i := from; i < to; i++ {
			out = append(out, broker.SeedUser{Identifier: strconv.Itoa(i)})
		}
		return out, nil
	}
	t.Run("all", func(t *testing.T) {
		var written []string
		var reported []int
		seed := &benchSeed{}
		err := seedUsers(context.Background(), 25, 10, derive, func(b []broker.SeedUser) error {
			for _, u := range b {
				written = append(written, u.Identifier)
			}
			return nil
		}, func(done int) { reported = append(reported, done) }, seed)
		if err != nil {
			t.Fatalf("seedUsers() = %v", err)
		}
		for i, id := range written {
			if id != strconv.Itoa(i) {
				t.Fatalf("seedUsers wrote %v, want 0..24 in order", written)
			}
		}
		if len(written) != 25 || seed.Users != 25 {
			t.Errorf("seedUsers wrote %d users, seed.Users = %d, want 25", len(written), seed.Users)
		}
		if diff := cmp.Diff([]int{10, 20, 25}, reported); diff != "" {
			t.Errorf("progress mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("a failed batch", func(t *testing.T) {
		seed := &benchSeed{}
		boom := errors.New("boom")
		err := seedUsers(context.Background(), 100, 10, derive, func(b []broker.SeedUser) error {
			if b[0].Identifier == "30" {
				return boom
			}
			return nil
		}, func(int) {}, seed)
		if !errors.Is(err, boom) || seed.Users != 30 {
			t.Errorf("seedUsers() = %v with seed.Users %d, want boom and 30 (the stored prefix)", err, seed.Users)
		}
	})
}

func TestBenchUsage(t *testing.T) {
	base := []string{"bench", "--url", "http://127.0.0.1:1", "--project", "prj-x", "--secret", "lks_x"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"duration and count", []string{"--duration", "1s", "--count", "3"}, "not both"},
		{"unknown scenario", []string{"--scenario", "logout"}, `--scenario "logout"`},
		{"no workers", []string{"--workers", "0"}, "--workers"},
		{"bad url", []string{"--url", "localhost:8080"}, "--url"},
		{"negative count", []string{"--count", "-1"}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, nil, append(base, tt.args...)...)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("bench %v = %v, want a usage error with %q", tt.args, err, tt.want)
			}
		})
	}
	if _, _, err := runCmd(t, nil, "bench", "--project", "prj-x"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--secret") {
		t.Errorf("bench without secret = %v, want a usage error", err)
	}
	if _, _, err := runCmd(t, nil, "bench", "seed", "--users", "5"); !errors.Is(err, errUsage) {
		t.Errorf("bench seed without project = %v, want a usage error", err)
	}
	if out, _, err := runCmd(t, nil, "bench", "--help"); err != nil || !strings.Contains(out, "-scenario") {
		t.Errorf("bench --help = %v, %q", err, out)
	}
}

// benchJSON runs bench with args and --json against s and decodes the report.
func benchJSON(t *testing.T, s *server, args ...string) (benchReport, string, error) {
	t.Helper()
	args = append([]string{"bench", "--url", s.URL, "--project", s.ProjectID, "--secret", s.Secret, "--origin", "http://localhost:8080", "--json"}, args...)
	out, stderr, err := runCmd(t, nil, args...)
	var rep benchReport
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("bench %v printed %q (%v); stderr:\n%s", args, out, jerr, stderr)
	}
	return rep, stderr, err
}

func TestBenchAgainstABroker(t *testing.T) {
	for _, dialect := range brokertest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			s := startServe(t, dialect, "http://localhost:8080")
			// The broker runs in this process, so --pid is this process.
			rep, stderr, err := benchJSON(t, s, "--scenario", "mixed", "--count", "60", "--workers", "4", "--users", "6",
				"--pid", strconv.Itoa(os.Getpid()), "--progress", "1ms")
			if err != nil {
				t.Fatalf("bench = %v, report %+v\nstderr:\n%s", err, rep, stderr)
			}
			if rep.Iterations != 60 || rep.Errors != 0 || len(rep.ErrorsByType) != 0 || rep.Users != 6 {
				t.Errorf("bench report: %d iterations, %d errors %v, %d users; want 60, 0, 6", rep.Iterations, rep.Errors, rep.ErrorsByType, rep.Users)
			}
			n := 0
			for name, l := range rep.Scenarios {
				n += l.Count
				if l.Count > 0 && (l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max) {
					t.Errorf("scenario %s: percentiles out of order: %+v", name, l)
				}
			}
			if n < 60 {
				t.Errorf("scenarios count %d iterations, want at least 60: %v", n, rep.Scenarios)
			}
			// Every login finished and was verified online exactly once.
			logins := rep.Scenarios[scenarioLogin].Count + rep.Scenarios[scenarioUsernameless].Count
			if f, v := rep.Steps[stepLoginFinish].Count, rep.Steps[stepVerifyOnline].Count; f != logins || v != logins {
				t.Errorf("%d logins, but %d login/finish and %d verifySignedData", logins, f, v)
			}
			if rep.Broker == nil || rep.Broker.PID != os.Getpid() || rep.Broker.RSSMaxMiB <= 0 {
				t.Errorf("bench --pid: broker report %+v, want this process's memory", rep.Broker)
			}
			if !strings.Contains(stderr, "seeded 6 users over HTTP") || !strings.Contains(stderr, "iterations") {
				t.Errorf("bench stderr lacks the seeding and progress lines:\n%s", stderr)
			}
		})
	}
}

func TestBenchCountsErrorsAndFails(t *testing.T) {
	s := startServe(t, "sqlite", "http://localhost:8080")
	s.Secret = "lks_" + strings.Repeat("A", 43) // not the project's
	rep, _, err := benchJSON(t, s, "--scenario", "append", "--count", "5", "--workers", "2")
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "5 of 5 iterations failed") {
		t.Errorf("bench with a wrong secret = %v, want a run error", err)
	}
	if diff := cmp.Diff(map[string]int{"mint: 401 login_error": 5}, rep.ErrorsByType); diff != "" || rep.Errors != 5 || rep.Iterations != 0 {
		t.Errorf("bench with a wrong secret: %d errors, %d iterations, by type (-want +got):\n%s", rep.Errors, rep.Iterations, diff)
	}

	// A login whose passkey the broker refuses (wrong origin) is counted as that step's error.
	s = startServe(t, "sqlite", "http://localhost:8080")
	args := []string{"bench", "--url", s.URL, "--project", s.ProjectID, "--secret", s.Secret, "--json", "--count", "4", "--workers", "1", "--users", "1"}
	out, _, err := runCmd(t, nil, append(args, "--origin", "http://localhost:9999")...)
	if err == nil {
		t.Fatalf("bench from a forbidden origin succeeded: %s", out)
	}
	if !strings.Contains(err.Error(), "seeding users over HTTP") || !strings.Contains(err.Error(), "append/start: 403 forbidden_origin") {
		t.Errorf("bench from a forbidden origin = %v, want the seeding to fail with 403 forbidden_origin", err)
	}
}

func TestBenchSeedThenLogin(t *testing.T) {
	for _, dialect := range brokertest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			s := startServe(t, dialect, "http://localhost:8080")
			seedFile := filepath.Join(t.TempDir(), "seed.json")
			out, stderr, err := runCmd(t, s.env, "bench", "seed", "--project", s.ProjectID, "--users", "250", "--batch", "100", "--seed-file", seedFile)
			if err != nil || !strings.Contains(out, "seeded 250 users") {
				t.Fatalf("bench seed = %v, %q\n%s", err, out, stderr)
			}
			seed, err := readSeed(seedFile)
			if err != nil || seed.Users != 250 || seed.ProjectID != s.ProjectID || seed.RPID != "localhost" {
				t.Fatalf("seed file = %+v, %v", seed, err)
			}
			store, err := sqlstore.Open(t.Context(), s.env["LATCHKEY_DATABASE_URL"], sqlstore.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			if n, err := store.CountRows(t.Context(), "passkeys"); err != nil || n != 250 {
				t.Errorf("passkeys after seeding 250 = %d, %v", n, err)
			}
			for _, scenario := range []string{"login", "login-usernameless"} {
				rep, stderr, err := benchJSON(t, s, "--seed-file", seedFile, "--scenario", scenario, "--count", "40", "--workers", "4")
				if err != nil || rep.Iterations != 40 || rep.Users != 250 {
					t.Errorf("bench --seed-file --scenario %s = %v: %d iterations, %d users, errors %v\n%s", scenario, err, rep.Iterations, rep.Users, rep.ErrorsByType, stderr)
				}
			}
			// The first N users of the seed, and a seed of another project refused.
			if rep, _, err := benchJSON(t, s, "--seed-file", seedFile, "--users", "3", "--count", "6"); err != nil || rep.Users != 3 {
				t.Errorf("bench --seed-file --users 3 = %v, %d users", err, rep.Users)
			}
			_, _, err = runCmd(t, nil, "bench", "--url", s.URL, "--project", "prj-other", "--secret", s.Secret, "--seed-file", seedFile)
			if !errors.Is(err, errUsage) {
				t.Errorf("bench --seed-file of another project = %v, want a usage error", err)
			}
			// Seeding again adds users under another prefix.
			if _, stderr, err := runCmd(t, s.env, "bench", "seed", "--project", s.ProjectID, "--users", "10", "--seed-file", seedFile+"2"); err != nil {
				t.Errorf("second bench seed = %v\n%s", err, stderr)
			}
			if _, _, err := runCmd(t, s.env, "bench", "seed", "--project", "prj-000000000000000000000000", "--users", "10", "--seed-file", seedFile+"3"); !errors.Is(err, broker.ErrNotFound) {
				t.Errorf("bench seed of an unknown project = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestPprofFlag(t *testing.T) {
	port := freePort(t)
	env := map[string]string{
		"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"),
		"LATCHKEY_SECRET_KEY":   brokertest.SecretKey,
		"LATCHKEY_PPROF":        fmt.Sprintf("127.0.0.1:%d", port),
	}
	out, stderr, err := runCmd(t, env, "project", "create", "--name", "Pprof", "--rp-id", "localhost", "--origin", "http://localhost:8080", "--json")
	if err != nil {
		t.Fatalf("project create: %v\n%s", err, stderr)
	}
	var created struct{ ProjectID, APISecret string }
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	serveOn(t, env, created.ProjectID, created.APISecret)
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", port)
	if code := call(t, "GET", url+"goroutine?debug=1", nil, nil); code != 200 {
		t.Errorf("GET %sgoroutine = %d, want 200", url, code)
	}
	if code := call(t, "GET", url+"cmdline", nil, nil); code == 200 {
		t.Errorf("GET %scmdline = 200, want it not served (the command line may hold the secret key)", url)
	}
}
