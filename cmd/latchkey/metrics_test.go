package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// sample is one line of the Prometheus text format: a series and its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	// metricName finds the metric names a PromQL expression queries: Latchkey's own and the
	// Go runtime and process collectors'.
	metricName = regexp.MustCompile(`\b(?:latchkey|go|process)_[a-zA-Z0-9_:]+`)
)

// scrape reads /metrics from addr in the Prometheus text format.
func scrape(t *testing.T, addr string) []sample {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %q, %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	var out []sample
	for line := range strings.SplitSeq(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("/metrics line %q does not parse", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out
}

// value returns the value of the series name with exactly labels, and whether it exists.
func value(samples []sample, name string, labels map[string]string) (float64, bool) {
	for _, s := range samples {
		if s.name == name && len(s.labels) == len(labels) {
			match := true
			for k, v := range labels {
				match = match && s.labels[k] == v
			}
			if match {
				return s.value, true
			}
		}
	}
	return 0, false
}

// TestMetrics drives `latchkey serve --metrics-listen` through appends, logins, a replayed
// finish, verifications, rate limits and requests for projects that do not exist, then checks
// what /metrics says, that no label value came from the hostile requests, and that the
// dashboard and alert rules in deploy/ query only metrics that the server serves.
func TestMetrics(t *testing.T) {
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			const origin = "http://localhost:8080"
			metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			s := startServeWith(t, d, origin, map[string]string{
				"LATCHKEY_METRICS_LISTEN":        metricsAddr,
				"LATCHKEY_RATE_LIMIT_IDENTIFIER": "3/1h",
			})
			auth := softauthn.NewAuthenticator("localhost", origin)
			s.appendPasskey(t, auth, origin, "user-42")
			token := s.login(t, auth, origin, "user-42")
			if got := s.verifyOnline(t, token, "user-42"); got != "success" {
				t.Fatalf("first verifySignedData = %s, want success", got)
			}
			if got := s.verifyOnline(t, token, "user-42"); got != "invalid_challenge" {
				t.Fatalf("second verifySignedData = %s, want invalid_challenge", got)
			}

			// A usernameless login whose finish is replayed: the replay fails as
			// ceremony_not_found.
			var start struct {
				CeremonyID string          `json:"ceremonyID"`
				PublicKey  json.RawMessage `json:"publicKey"`
			}
			if code := call(t, "POST", s.frontend("login/start"), map[string]any{}, &start, "Origin", origin); code != 200 {
				t.Fatalf("login/start = %d", code)
			}
			assertion, err := auth.Get(start.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			fin := map[string]any{"ceremonyID": start.CeremonyID, "credential": json.RawMessage(assertion)}
			if code := call(t, "POST", s.frontend("login/finish"), fin, nil, "Origin", origin); code != 200 {
				t.Fatalf("login/finish = %d", code)
			}
			if code := call(t, "POST", s.frontend("login/finish"), fin, nil, "Origin", origin); code == 200 {
				t.Fatalf("replayed login/finish = %d, want a failure", code)
			}

			// The identifier's limit (3 an hour; one used above) refuses the third start.
			codes := []int{}
			for range 3 {
				codes = append(codes, call(t, "POST", s.frontend("login/start"), map[string]any{"identifier": "user-42"}, nil, "Origin", origin))
			}
			if want := []int{200, 200, 429}; !slices.Equal(codes, want) {
				t.Fatalf("login/start by identifier = %v, want %v", codes, want)
			}

			// Hostile requests: project IDs and paths that do not exist, and an odd method.
			// They must not become label values. The unknown-projects limit (30 a minute per
			// IP) refuses the last of the 36 unknown projects.
			var hostile []string
			for i := range 48 {
				b := make([]byte, 8)
				rand.Read(b)
				r := hex.EncodeToString(b)
				hostile = append(hostile, r)
				url := s.URL + "/v2/projects/prj-" + r + "/connect/login/start"
				if i%4 == 3 {
					url = s.URL + "/x" + r + "/v2/projects/" + r
				}
				call(t, "POST", url, map[string]any{"identifier": "user-" + r}, nil, "Origin", origin)
			}
			req, _ := http.NewRequest("X"+strings.ToUpper(hostile[0][:6]), s.frontend("login/start"), nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}

			if code := call(t, "GET", s.URL+"/metrics", nil, nil); code != http.StatusNotFound {
				t.Errorf("GET /metrics on the API listener = %d, want 404 (metrics have a listener of their own)", code)
			}
			samples := scrape(t, metricsAddr)
			P := s.ProjectID
			for _, c := range []struct {
				name   string
				labels map[string]string
				min    float64
			}{
				{"latchkey_ceremonies_started_total", map[string]string{"project_id": P, "kind": "append"}, 1},
				{"latchkey_ceremonies_started_total", map[string]string{"project_id": P, "kind": "login"}, 4},
				{"latchkey_ceremonies_finished_total", map[string]string{"project_id": P, "kind": "append"}, 1},
				{"latchkey_ceremonies_finished_total", map[string]string{"project_id": P, "kind": "login"}, 2},
				{"latchkey_ceremonies_failed_total", map[string]string{"project_id": P, "kind": "login", "reason": "ceremony_not_found"}, 1},
				{"latchkey_connect_tokens_minted_total", map[string]string{"project_id": P, "type": "passkey-append"}, 1},
				{"latchkey_connect_tokens_consumed_total", map[string]string{"project_id": P, "type": "passkey-append"}, 1},
				{"latchkey_signed_data_verifications_total", map[string]string{"project_id": P, "result": "success"}, 1},
				{"latchkey_signed_data_verifications_total", map[string]string{"project_id": P, "result": "invalid_challenge"}, 1},
				{"latchkey_rate_limited_total", map[string]string{"limiter": "login_per_identifier"}, 1},
				{"latchkey_rate_limited_total", map[string]string{"limiter": "unknown_projects_per_ip"}, 1},
				{"latchkey_http_requests_total", map[string]string{"method": "POST", "route": "/v2/projects/:projectID/connect/login/start", "status": "200"}, 4},
				{"latchkey_http_requests_total", map[string]string{"method": "POST", "route": "/v2/projects/:projectID/connect/login/start", "status": "429"}, 2},
				{"latchkey_http_requests_total", map[string]string{"method": "POST", "route": "/v2/connectTokens", "status": "200"}, 1},
				{"latchkey_http_request_duration_seconds_count", map[string]string{"method": "POST", "route": "/v2/projects/:projectID/connect/login/finish"}, 3},
				{"latchkey_db_query_duration_seconds_count", map[string]string{"op": "read"}, 1},
				{"latchkey_db_query_duration_seconds_count", map[string]string{"op": "write"}, 1},
				{"latchkey_db_query_duration_seconds_count", map[string]string{"op": "tx"}, 1},
				{"latchkey_db_max_open_connections", map[string]string{}, 1},
				{"latchkey_db_open_connections", map[string]string{}, 1},
				{"go_goroutines", map[string]string{}, 1},
				{"process_cpu_seconds_total", map[string]string{}, 0},
			} {
				got, ok := value(samples, c.name, c.labels)
				if !ok || got < c.min {
					t.Errorf("%s%v = %v (present %v), want at least %v", c.name, c.labels, got, ok, c.min)
				}
			}
			if got, _ := value(samples, "latchkey_ceremonies_finished_total", map[string]string{"project_id": P, "kind": "login"}); got != 2 {
				t.Errorf("login finishes = %v, want 2 (the replay is a failure)", got)
			}

			// No label value of a Latchkey series comes from the hostile requests: project_id
			// is the one project's, routes are patterns or "unmatched", methods a fixed set.
			routes := map[string]bool{}
			for _, sm := range samples {
				if !strings.HasPrefix(sm.name, "latchkey_") {
					continue
				}
				for k, v := range sm.labels {
					for _, h := range hostile {
						if strings.Contains(v, h) || strings.Contains(v, strings.ToUpper(h[:6])) {
							t.Errorf("%s has label %s=%q from a hostile request", sm.name, k, v)
						}
					}
					switch k {
					case "project_id":
						if v != P {
							t.Errorf("%s has project_id %q, want only %q", sm.name, v, P)
						}
					case "route":
						routes[v] = true
					case "method":
						if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, v) {
							t.Errorf("%s has method %q", sm.name, v)
						}
					}
				}
			}
			if !routes["unmatched"] {
				t.Errorf("routes %v: want the unmatched requests under \"unmatched\"", routes)
			}
			odd := 0.0
			for _, sm := range samples {
				if sm.name == "latchkey_http_requests_total" && sm.labels["method"] == "other" {
					odd += sm.value
				}
			}
			if odd != 1 {
				t.Errorf("requests with an odd method = %v, want 1 under method \"other\"", odd)
			}

			// The dashboard and the alert rules query only metrics this server serves.
			served := map[string]bool{}
			for _, sm := range samples {
				served[sm.name] = true
			}
			for _, file := range []string{"../../deploy/grafana/latchkey.json", "../../deploy/prometheus/alerts.yml"} {
				names := queriedMetrics(t, file)
				if len(names) < 10 {
					t.Fatalf("%s queries %d metrics (%v): the extraction is broken", file, len(names), names)
				}
				for _, n := range names {
					if !served[n] {
						t.Errorf("%s queries %s, which /metrics does not serve", file, n)
					}
				}
			}
		})
	}
}

func TestMetricsListenFlag(t *testing.T) {
	env := map[string]string{
		"LATCHKEY_DATABASE_URL":       brokertest.DatabaseURL(t, "sqlite"),
		"LATCHKEY_SECRET_KEY":         brokertest.SecretKey,
		"LATCHKEY_ALLOW_INSECURE_KEY": "1",
		"LATCHKEY_LISTEN":             "127.0.0.1:0",
		"LATCHKEY_METRICS_LISTEN":     "localhost",
	}
	if _, _, err := runCmd(t, env, "serve"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--metrics-listen") {
		t.Errorf("serve with LATCHKEY_METRICS_LISTEN=localhost = %v, want a usage error naming --metrics-listen", err)
	}
	stdout, stderr, err := runCmd(t, env, "serve", "--help")
	if help := stdout + stderr; err != nil || !strings.Contains(help, "-metrics-listen") || !strings.Contains(help, "LATCHKEY_METRICS_LISTEN") {
		t.Errorf("serve --help = %v, %q: want --metrics-listen and its variable", err, help)
	}
}

// queriedMetrics returns the metric names the PromQL of a dashboard (its targets' expr and
// its variables' query, from the parsed JSON) or of an alert rules file names.
func queriedMetrics(t *testing.T, file string) []string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	if strings.HasSuffix(file, ".json") {
		var dash struct {
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
			Templating struct {
				List []struct{ Query any }
			}
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, p := range dash.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", file, p.Title)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
		}
		for _, v := range dash.Templating.List {
			if q, ok := v.Query.(string); ok {
				exprs = append(exprs, q)
			}
		}
	} else {
		exprs = []string{string(raw)} // promtool checks the rules' syntax in CI
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range exprs {
		for _, n := range metricName.FindAllString(e, -1) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}
