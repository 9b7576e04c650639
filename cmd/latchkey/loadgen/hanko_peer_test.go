//go:build peer

// This test drives a real Hanko passkey server, which is built outside this repository and
// cannot be built in CI, so it is behind the "peer" build tag and not part of `go test ./...`
// (where it could only be skipped):
//
//	LATCHKEY_TEST_PEER_URL=http://127.0.0.1:18100 LATCHKEY_TEST_PEER_TENANT=... LATCHKEY_TEST_PEER_API_KEY=... \
//	  go test -tags peer -run TestAgainstHankoPasskeyServer ./cmd/latchkey/loadgen

package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/broker/softauthn"
)

// TestAgainstHankoPasskeyServer drives a running Hanko passkey server (the peer of
// BENCHMARKS.md) through every scenario of the peer target. It is opt-in (the "peer" build
// tag, see the top of this file) and needs LATCHKEY_TEST_PEER_URL (its public API, e.g.
// http://127.0.0.1:18100), LATCHKEY_TEST_PEER_TENANT and LATCHKEY_TEST_PEER_API_KEY set:
// the peer is AGPL-licensed third-party code that this repository neither vendors nor
// builds, so CI has no peer to run. The tenant must have RP ID localhost and origin
// http://localhost:8080.
func TestAgainstHankoPasskeyServer(t *testing.T) {
	url := os.Getenv("LATCHKEY_TEST_PEER_URL")
	if url == "" {
		t.Fatal("LATCHKEY_TEST_PEER_URL is not set: give the URL, tenant and API key of a running Hanko passkey server")
	}
	cfg := Config{Target: TargetHanko, URL: url, Tenant: os.Getenv("LATCHKEY_TEST_PEER_TENANT"),
		APIKey: os.Getenv("LATCHKEY_TEST_PEER_API_KEY"), Origin: "http://localhost:8080",
		Workers: 3, Users: 4, Count: 12, JSON: true, Sample: time.Second}
	ctx := context.Background()
	for _, scenario := range []string{ScenarioLogin, ScenarioUsernameless, ScenarioAppend} {
		t.Run(scenario, func(t *testing.T) {
			cfg := cfg
			cfg.Scenario = scenario
			cfg.Warmup = 100 * time.Millisecond
			var out, stderr bytes.Buffer
			if err := Run(ctx, cfg, &out, &stderr); err != nil {
				t.Fatalf("Run(%s) = %v\n%s", scenario, err, stderr.String())
			}
			var rep Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("report %q: %v", out.String(), err)
			}
			if rep.Iterations != 12 || rep.Errors != 0 || rep.Scenarios[scenario].Count != 12 {
				t.Errorf("%s: %d iterations, %d errors (%v), %d %s; want 12, 0", scenario, rep.Iterations, rep.Errors, rep.ErrorsByType, rep.Scenarios[scenario].Count, scenario)
			}
			steps := []string{StepPeerLoginInit, StepPeerLoginFinal, StepPeerVerifyJWT}
			if scenario == ScenarioAppend {
				steps = []string{StepPeerRegisterInit, StepPeerRegisterFinal}
			}
			for _, s := range steps {
				if rep.Steps[s].Count != 12 {
					t.Errorf("%s: step %s ran %d times, want 12", scenario, s, rep.Steps[s].Count)
				}
			}
		})
	}

	// What the peer refuses, the driver reports as failures.
	c := newHankoClient(cfg)
	u, err := c.appendUser(ctx, nil, "peer-test")
	if err != nil {
		t.Fatalf("appendUser() = %v", err)
	}
	tok, err := c.login(ctx, nil, u, true)
	if err != nil {
		t.Fatalf("login() = %v", err)
	}
	if err := c.verify(ctx, tok, "localhost", uuid.NewString(), "x"); err == nil {
		t.Errorf("verify(the token, another user) succeeded")
	}
	stranger := *u
	stranger.cred.Key = softauthn.NewES256Key()
	stranger.cred.ID = u.cred.ID // the same credential, signed with another key
	if _, err := c.login(ctx, nil, &stranger, true); err == nil || !strings.Contains(err.Error(), StepPeerLoginFinal) {
		t.Errorf("login() with another key for the same credential ID = %v, want a failed %s", err, StepPeerLoginFinal)
	}
	bad := newHankoClient(Config{URL: cfg.URL, Tenant: cfg.Tenant, APIKey: "not-the-key", Origin: cfg.Origin, Workers: 1})
	if _, err := bad.login(ctx, nil, u, true); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("login() with a wrong API key = %v, want a 401 at %s", err, StepPeerLoginInit)
	}
}
