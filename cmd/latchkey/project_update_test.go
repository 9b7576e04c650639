package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
)

func TestProjectUpdate(t *testing.T) {
	env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
	out, _, err := runCmd(t, env, "project", "create", "--name", "Shop", "--rp-id", "shop.example", "--origin", "https://shop.example", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ProjectID string }
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	pid := created.ProjectID
	if out, _, err = runCmd(t, env, "project", "list"); err != nil || !strings.Contains(out, "POLICY") ||
		!strings.Contains(out, "uv=preferred rk=preferred algs=ES256,EdDSA,RS256 attestation=none usernameless=true token-max=3600s ceremony=300s") {
		t.Fatalf("project list = %v, %q; want the default policy", err, out)
	}

	out, _, err = runCmd(t, env, "project", "update", "--project", pid, "--user-verification", "required", "--algorithms", "es256, EdDSA",
		"--aaguid-deny", "ADCE0002-35BC-C60A-648B-0B25F1F05503", "--usernameless=false", "--connect-token-max-lifetime", "2m",
		"--ceremony-lifetime", "90s", "--attestation", "direct")
	want := "uv=required rk=preferred algs=ES256,EdDSA attestation=direct aaguid-deny=adce0002-35bc-c60a-648b-0b25f1f05503 usernameless=false token-max=120s ceremony=90s"
	if err != nil || out != "updated "+pid+": "+want+"\n" {
		t.Fatalf("project update = %v, %q; want %q", err, out, want)
	}
	// Flags not given keep their values.
	if out, _, err = runCmd(t, env, "project", "update", "--project", pid, "--resident-key", "required"); err != nil ||
		!strings.Contains(out, "uv=required rk=required algs=ES256,EdDSA") {
		t.Fatalf("second project update = %v, %q; want the earlier changes kept", err, out)
	}
	if out, _, err = runCmd(t, env, "project", "update", "--project", pid, "--aaguid-deny", ""); err != nil || strings.Contains(out, "aaguid-deny") {
		t.Fatalf("clearing the deny list = %v, %q", err, out)
	}
	out, _, err = runCmd(t, env, "project", "list", "--json")
	var listed []broker.Project
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 {
		t.Fatalf("project list --json = %v, %q", err, out)
	}
	wantPolicy := broker.Policy{UserVerification: "required", ResidentKey: "required", Algorithms: []int64{-7, -8}, Attestation: "direct",
		AAGUIDAllow: []string{}, AAGUIDDeny: []string{}, ConnectTokenMaxLifetimeInSeconds: 120, CeremonyLifetimeInSeconds: 90}
	if diff := cmp.Diff(wantPolicy, listed[0].Policy); diff != "" {
		t.Errorf("policy in project list --json (-want +got):\n%s", diff)
	}
	if !regexp.MustCompile(`"userVerification":"required"`).MatchString(out) {
		t.Errorf("project list --json = %s, want the policy's JSON names", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--project is required"},
		{[]string{"--project", pid, "--user-verification", "discouraged"}, "--user-verification must be preferred or required"},
		{[]string{"--project", pid, "--resident-key", "maybe"}, "--resident-key"},
		{[]string{"--project", pid, "--algorithms", "ES999"}, `unknown algorithm "ES999"`},
		{[]string{"--project", pid, "--algorithms", ""}, "--algorithms needs at least one algorithm"},
		{[]string{"--project", pid, "--attestation", "enterprise"}, "--attestation"},
		{[]string{"--project", pid, "--aaguid-allow", "apple"}, "--aaguid-allow"},
		{[]string{"--project", pid, "--aaguid-allow", "fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "--aaguid-deny", "adce0002-35bc-c60a-648b-0b25f1f05503"}, "cannot be set together"},
		{[]string{"--project", pid, "--usernameless", "perhaps"}, "--usernameless"},
		{[]string{"--project", pid, "--ceremony-lifetime", "10s"}, "--ceremony-lifetime (seconds) must be between 30 and 300"},
		{[]string{"--project", pid, "--ceremony-lifetime", "90500ms"}, "whole seconds"},
		{[]string{"--project", pid, "--connect-token-max-lifetime", "2h"}, "--connect-token-max-lifetime (seconds) must be between 1 and 3600"},
	} {
		_, _, err := runCmd(t, env, append([]string{"project", "update"}, tc.args...)...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("project update %q = %v, want a one-line usage error containing %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := runCmd(t, env, "project", "update", "--project", "prj-000000000000000000000000", "--user-verification", "required"); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("project update of an unknown project = %v, want ErrNotFound", err)
	}
	// The refused updates changed nothing.
	out, _, _ = runCmd(t, env, "project", "list", "--json")
	listed = nil
	if json.Unmarshal([]byte(out), &listed) != nil || !cmp.Equal(wantPolicy, listed[0].Policy) {
		t.Errorf("after refused updates the policy is %s", out)
	}
	if out, _, err := runCmd(t, env, "project", "update", "--help"); err != nil || !strings.Contains(out, "-user-verification") {
		t.Errorf("project update --help = %v, %q", err, out)
	}
}

func TestServeLimitFlags(t *testing.T) {
	dbURL := brokertest.DatabaseURL(t, "sqlite")
	env := map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad IP rate", nil, []string{"--rate-limit-ip", "lots"}, "--rate-limit-ip"},
		{"bad identifier rate in the environment", map[string]string{"LATCHKEY_RATE_LIMIT_IDENTIFIER": "10/fortnight"}, nil, "--rate-limit-identifier"},
		{"bad auth rate", nil, []string{"--rate-limit-auth-failures", "0/1m"}, "--rate-limit-auth-failures"},
		{"bad unknown-project rate", map[string]string{"LATCHKEY_RATE_LIMIT_UNKNOWN_PROJECTS": "many"}, nil, "--rate-limit-unknown-projects"},
		{"bad trusted proxy", map[string]string{"LATCHKEY_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"}, nil, "--trusted-proxies"},
		{"negative ceremony cap", nil, []string{"--max-pending-ceremonies", "-1"}, "--max-pending-ceremonies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tc.env {
				e[k] = v
			}
			_, _, err := runCmd(t, e, append([]string{"serve"}, tc.args...)...)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve %q = %v, want a usage error about %s", tc.args, err, tc.want)
			}
		})
	}
	out, _, _ := runCmd(t, nil, "serve", "--help")
	for _, flag := range []string{"-rate-limit-ip", "LATCHKEY_RATE_LIMIT_IP", "-rate-limit-identifier", "-rate-limit-auth-failures",
		"-rate-limit-unknown-projects", "LATCHKEY_RATE_LIMIT_UNKNOWN_PROJECTS",
		"-trusted-proxies", "LATCHKEY_TRUSTED_PROXIES", "-max-pending-ceremonies", "300/1m0s"} {
		if !strings.Contains(out, flag) {
			t.Errorf("serve --help does not mention %s", flag)
		}
	}

	// A running server applies the limits it was given.
	s := startServe(t, "sqlite", "http://localhost:3000")
	_ = s.stop()
	limited := map[string]string{"LATCHKEY_DATABASE_URL": s.env["LATCHKEY_DATABASE_URL"], "LATCHKEY_SECRET_KEY": brokertest.SecretKey,
		"LATCHKEY_RATE_LIMIT_IP": "3/1m", "LATCHKEY_MAX_PENDING_CEREMONIES": "2"}
	srv := serveOn(t, limited, s.ProjectID, s.Secret)
	// Logins without a connect token are not stored and take no place under the cap; appends
	// (and token-bound logins) are.
	var tokens []string
	for i := range 4 {
		tokens = append(tokens, srv.mint(t, "passkey-append", fmt.Sprint("user-", i)))
	}
	post := func(body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/projects/"+srv.ProjectID+"/connect/append/start", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	var got []string
	for i := range 4 {
		res, body := post(fmt.Sprintf(`{"connectToken":%q}`, tokens[i]))
		typ := ""
		if res.StatusCode != 200 {
			var env struct {
				Error struct{ Type string } `json:"error"`
			}
			_ = json.Unmarshal([]byte(body), &env)
			// The wait of the per-IP bucket is 20 s less the time since the third request,
			// rounded up: 20 unless the machine took a third of a second between them.
			ra := res.Header.Get("Retry-After")
			if ra == "19" {
				ra = "20"
			}
			typ = env.Error.Type + " Retry-After " + ra
		}
		got = append(got, fmt.Sprint(res.StatusCode, " ", typ))
	}
	// Two ceremonies fill the cap (429, 5 s), the fourth request is over the per-IP rate (one
	// request every 20 s).
	want := []string{"200 ", "200 ", "429 rate_limited Retry-After 5", "429 rate_limited Retry-After 20"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("append/start answers (-want +got):\n%s", diff)
	}
}
