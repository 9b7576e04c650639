package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
)

func TestProjectRollout(t *testing.T) {
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
	if out, _, err = runCmd(t, env, "project", "rollout", "--project", pid); err != nil ||
		out != pid+": login=on append=on manage=on decline-period=720h0m0s\n" {
		t.Fatalf("project rollout (show) = %v, %q; want everything on", err, out)
	}
	out, _, err = runCmd(t, env, "project", "rollout", "--project", pid, "--login", "off", "--append", "12.5%",
		"--allow", "ann@shop.example, bob@shop.example", "--deny", "eve@shop.example", "--require", "platformAuthenticator,os:macos",
		"--decline-period", "24h")
	want := pid + ": login=off append=12.5% manage=on allow=2 deny=1 require=platformAuthenticator,os:macos decline-period=24h0m0s\n" +
		"allow: ann@shop.example,bob@shop.example\ndeny: eve@shop.example\n"
	if err != nil || out != want {
		t.Fatalf("project rollout = %v, %q; want %q", err, out, want)
	}
	// Flags not given keep their values; "" clears a list.
	if out, _, err = runCmd(t, env, "project", "rollout", "--project", pid, "--login", "on", "--deny", ""); err != nil ||
		!strings.HasPrefix(out, pid+": login=on append=12.5% manage=on allow=2 require=") {
		t.Fatalf("second project rollout = %v, %q", err, out)
	}
	if out, _, err = runCmd(t, env, "project", "list"); err != nil || !strings.Contains(out, "ROLLOUT") || !strings.Contains(out, "login=on append=12.5%") {
		t.Fatalf("project list = %v, %q; want the rollout", err, out)
	}
	out, _, err = runCmd(t, env, "project", "list", "--json")
	var listed []struct {
		ID      string         `json:"id"`
		Rollout broker.Rollout `json:"rollout"`
	}
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0].Rollout.Append != 1250 || len(listed[0].Rollout.Allow) != 2 {
		t.Fatalf("project list --json = %v, %q", err, out)
	}
	for _, args := range [][]string{
		{"--login", "half"}, {"--append", "101%"}, {"--require", "os:beos"}, {"--decline-period", "1m"}, {"--allow", "a\x01b"}, {},
	} {
		full := append([]string{"project", "rollout"}, args...)
		if len(args) > 0 {
			full = append(full, "--project", pid)
		}
		if _, _, err := runCmd(t, env, full...); !errors.Is(err, errUsage) {
			t.Errorf("latchkey %s = %v, want a usage error", strings.Join(full, " "), err)
		}
	}
	if _, _, err := runCmd(t, env, "project", "rollout", "--project", "prj-000000000000000000000000", "--login", "off"); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("project rollout of an unknown project = %v, want not found", err)
	}
}
