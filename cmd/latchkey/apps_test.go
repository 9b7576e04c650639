package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
)

const (
	cliFP1 = "D2:E1:A6:6F:8C:00:55:97:9F:30:2F:3D:79:A9:5D:78:85:1F:C5:21:5A:7F:81:B3:BF:60:22:71:EF:6F:60:24"
	cliFP2 = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"
)

// staticSite serves the files of dir at /.well-known/<name> as application/json, as a site
// that hosts the output of `project well-known` does, on a loopback port.
func staticSite(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/.well-known/")
		body, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "http://localhost:" + port
}

// TestNativeAppCommands drives project app add/list/remove, project well-known and doctor
// through run, on each dialect.
func TestNativeAppCommands(t *testing.T) {
	for _, dialect := range brokertest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, dialect), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
			out, _, err := runCmd(t, env, "project", "create", "--name", "Shop", "--rp-id", "localhost", "--origin", "http://localhost:3000",
				"--passkey-enroll-url", "https://localhost/passkeys/new", "--json")
			if err != nil {
				t.Fatal(err)
			}
			var created struct{ ProjectID string }
			if err := json.Unmarshal([]byte(out), &created); err != nil {
				t.Fatalf("project create --json = %q", out)
			}
			pid := created.ProjectID
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"project", "app", "add", "--project", pid, "--android", "com.example.shop", "--sha256", cliFP1[:59]}, "--sha256"},
				{[]string{"project", "app", "add", "--project", pid, "--android", "com.example.shop"}, "--sha256 needs at least one"},
				{[]string{"project", "app", "add", "--project", pid, "--ios", "abc.com.example"}, "--ios"},
				{[]string{"project", "app", "remove", "--project", pid}, "--app is required"},
				{[]string{"project", "app", "list"}, "--project is required"},
				{[]string{"project", "update", "--project", pid, "--passkey-manage-url", "http://shop.example/x"}, "--passkey-manage-url"},
				{[]string{"doctor", "--project", pid, "--site", "http://localhost:1"}, "must be https"},
			} {
				if _, _, err := runCmd(t, env, tc.args...); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("run(%q) = %v, want a usage error containing %q", tc.args, err, tc.want)
				}
			}
			out, _, err = runCmd(t, env, "project", "app", "add", "--project", pid, "--android", "com.example.shop", "--sha256", cliFP1, "--sha256", strings.ToLower(cliFP2))
			if err != nil || !strings.Contains(out, "android:apk-key-hash:0uGmb4wAVZefMC89ealdeIUfxSFaf4Gzv2Aice9vYCQ") {
				t.Fatalf("project app add --android = %v, %q", err, out)
			}
			androidID := regexp.MustCompile(`added (app-\w+)`).FindStringSubmatch(out)[1]
			if out, _, err = runCmd(t, env, "project", "app", "add", "--project", pid, "--ios", "ABCDE12345.com.example.shop"); err != nil || !strings.Contains(out, "https://localhost") {
				t.Fatalf("project app add --ios = %v, %q", err, out)
			}
			out, _, err = runCmd(t, env, "project", "app", "list", "--project", pid, "--json")
			var apps []broker.App
			if err != nil || json.Unmarshal([]byte(out), &apps) != nil || len(apps) != 2 || len(apps[0].Fingerprints) != 2 || apps[0].Fingerprints[1] != cliFP2 {
				t.Fatalf("project app list --json = %v, %q", err, out)
			}
			if out, _, err = runCmd(t, env, "project", "update", "--project", pid, "--passkey-manage-url", "https://localhost/account"); err != nil || !strings.Contains(out, `manage "https://localhost/account"`) {
				t.Fatalf("project update --passkey-manage-url = %v, %q", err, out)
			}

			dir := t.TempDir()
			if out, _, err = runCmd(t, env, "project", "well-known", "--project", pid, "--out", dir); err != nil || strings.Count(out, "wrote ") != 4 {
				t.Fatalf("project well-known = %v, %q", err, out)
			}
			var links []broker.AssetLink
			raw, _ := os.ReadFile(filepath.Join(dir, "assetlinks.json"))
			if json.Unmarshal(raw, &links) != nil || len(links) != 1 || links[0].Target.PackageName != "com.example.shop" {
				t.Fatalf("assetlinks.json = %s", raw)
			}
			raw, _ = os.ReadFile(filepath.Join(dir, "passkey-endpoints"))
			if !strings.Contains(string(raw), "https://localhost/passkeys/new") || !strings.Contains(string(raw), "https://localhost/account") {
				t.Fatalf("passkey-endpoints = %s", raw)
			}

			siteURL := staticSite(t, dir)
			out, _, err = runCmd(t, env, "doctor", "--project", pid, "--site", siteURL, "--allow-http-loopback")
			if err != nil || !strings.Contains(out, "No problems found") {
				t.Fatalf("doctor (site serves the files) = %v, %q", err, out)
			}
			// A file that goes missing and an app added after the files were written are problems.
			if err := os.Remove(filepath.Join(dir, "apple-app-site-association")); err != nil {
				t.Fatal(err)
			}
			if _, _, err = runCmd(t, env, "project", "app", "add", "--project", pid, "--android", "com.example.wallet", "--sha256", cliFP2); err != nil {
				t.Fatal(err)
			}
			out, _, err = runCmd(t, env, "doctor", "--project", pid, "--site", siteURL, "--allow-http-loopback", "--broker-url", "https://broker.example")
			if !errors.Is(err, errProblems) || strings.Count(out, "PROBLEM: ") != 2 || !strings.Contains(out, "apple-app-site-association is missing (404)") ||
				!strings.Contains(out, "com.example.wallet signed with "+cliFP2) ||
				!strings.Contains(out, "proxy_pass https://broker.example/v2/projects/"+pid+"/.well-known/apple-app-site-association;") {
				t.Fatalf("doctor (stale files) = %v, %q", err, out)
			}
			if _, _, err = runCmd(t, env, "project", "app", "remove", "--project", pid, "--app", androidID); err != nil {
				t.Fatal(err)
			}
			if _, _, err = runCmd(t, env, "project", "app", "remove", "--project", pid, "--app", androidID); !errors.Is(err, broker.ErrNotFound) {
				t.Errorf("removing a removed app = %v, want not found", err)
			}
			if _, _, err = runCmd(t, env, "doctor", "--project", "prj-unknown"); !errors.Is(err, broker.ErrNotFound) {
				t.Errorf("doctor for an unknown project = %v, want not found", err)
			}
		})
	}
}
