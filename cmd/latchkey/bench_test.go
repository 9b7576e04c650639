package main

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/cmd/latchkey/loadgen"
)

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
		{"unknown target", []string{"--target", "keycloak"}, `--target "keycloak"`},
		{"peer target with a Latchkey project", []string{"--target", "hanko-passkey-server", "--tenant", "8d7e7c1e-9a51-4f0e-8e43-6b7c3f0e2a11", "--api-key", "k"}, "not --project"},
		{"peer target without a tenant", []string{"--target", "hanko-passkey-server", "--api-key", "k"}, "--tenant"},
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
func benchJSON(t *testing.T, s *server, args ...string) (loadgen.Report, string, error) {
	t.Helper()
	args = append([]string{"bench", "--url", s.URL, "--project", s.ProjectID, "--secret", s.Secret, "--origin", "http://localhost:8080", "--json"}, args...)
	out, stderr, err := runCmd(t, nil, args...)
	var rep loadgen.Report
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
			logins := rep.Scenarios[loadgen.ScenarioLogin].Count + rep.Scenarios[loadgen.ScenarioUsernameless].Count
			if f, v := rep.Steps[loadgen.StepLoginFinish].Count, rep.Steps[loadgen.StepVerifyOnline].Count; f != logins || v != logins {
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
			seed, err := loadgen.ReadSeedFile(seedFile)
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

// TestBenchWarmupAndPostgresCPU runs --warmup before the measured iterations and reports
// the CPU of the PostgreSQL backends serving the broker's database (--pg-database), which
// needs the server on this machine (as in CI).
func TestBenchWarmupAndPostgresCPU(t *testing.T) {
	if !slices.Contains(brokertest.Dialects(t), "postgres") {
		brokertest.Require(t, "LATCHKEY_TEST_DATABASE_URL is not set: --pg-database needs PostgreSQL")
		return
	}
	// One client IP and four users: the limits would refuse some of the logins.
	s := startServeWith(t, "postgres", "http://localhost:8080", map[string]string{"LATCHKEY_RATE_LIMIT_IP": "off", "LATCHKEY_RATE_LIMIT_IDENTIFIER": "off"})
	u, err := url.Parse(s.env["LATCHKEY_DATABASE_URL"])
	if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		brokertest.Require(t, "PostgreSQL is not on this machine: --pg-database reads its processes in /proc")
		return
	}
	database := strings.TrimPrefix(u.Path, "/")
	rep, stderr, err := benchJSON(t, s, "--scenario", "login", "--count", "30", "--workers", "2", "--users", "4",
		"--warmup", "300ms", "--pg-database", database, "--progress", "0")
	if err != nil || rep.Iterations != 30 || rep.Errors != 0 {
		t.Fatalf("bench --warmup --pg-database = %v: %d iterations, errors %v\n%s", err, rep.Iterations, rep.ErrorsByType, stderr)
	}
	if !regexp.MustCompile(`warm-up: [1-9][0-9]* iterations in 300ms, 0 errors`).MatchString(stderr) {
		t.Errorf("bench --warmup stderr lacks the warm-up line:\n%s", stderr)
	}
	d := rep.Database
	if d == nil || d.Database != database || d.Backends < 1 || d.AllCPUSeconds < d.CPUSeconds {
		t.Errorf("bench --pg-database %s: database report %+v, want its backends (at least one) and all >= backends", database, d)
	}
	if _, _, err := runCmd(t, nil, "bench", "--url", s.URL, "--project", s.ProjectID, "--secret", s.Secret, "--warmup", "-1s"); !errors.Is(err, errUsage) {
		t.Errorf("bench --warmup -1s = %v, want a usage error", err)
	}
}
