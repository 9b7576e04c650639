package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker/brokertest"
)

// startDev runs `latchkey dev` with args until the test ends and returns what it printed so
// far once the broker and the example app are up.
func startDev(t *testing.T, args ...string) (printed func() string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"dev"}, args...), getenvFrom(nil), strings.NewReader(""), out, io.Discard)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("dev returned %v after cancellation", err)
			}
		}
	}
	t.Cleanup(stop)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Example app:"); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("dev stopped: %v; printed %q", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev not up after 20 s; printed %q", out.String())
		}
	}
	return out.String, stop
}

// preflight sends the CORS preflight of login/start from origin and returns the status.
func preflight(t *testing.T, brokerURL, projectID, origin string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, brokerURL+"/v2/projects/"+projectID+"/connect/login/start", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestDevFollowsPorts moves the example app (and the broker) to other ports on a second run
// of `latchkey dev` over the same directory: the dev project must allow the new origins, or
// every passkey action of the example app fails its CORS preflight with 403.
func TestDevFollowsPorts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".latchkey")
	port1, app1 := freePort(t), freePort(t)
	_, stop := startDev(t, "--dir", dir, "--listen", fmt.Sprintf("localhost:%d", port1), "--app-listen", fmt.Sprintf("localhost:%d", app1))
	stop()

	port2, app2 := freePort(t), freePort(t)
	printed, _ := startDev(t, "--dir", dir, "--listen", fmt.Sprintf("localhost:%d", port2), "--app-listen", fmt.Sprintf("localhost:%d", app2))
	var st devState
	if raw, err := os.ReadFile(filepath.Join(dir, "dev.json")); err != nil || json.Unmarshal(raw, &st) != nil {
		t.Fatalf("reading dev.json: %v", err)
	}
	brokerURL := fmt.Sprintf("http://localhost:%d", port2)
	for _, origin := range []string{fmt.Sprintf("http://localhost:%d", app2), brokerURL, fmt.Sprintf("http://localhost:%d", app1)} {
		if code := preflight(t, brokerURL, st.ProjectID, origin); code != http.StatusNoContent {
			t.Errorf("preflight from %s = %d, want 204: the dev project does not allow the example app's origin", origin, code)
		}
	}
	if code := preflight(t, brokerURL, st.ProjectID, "http://localhost:1"); code != http.StatusForbidden {
		t.Errorf("preflight from an origin dev was never given = %d, want 403", code)
	}
	if want := fmt.Sprintf("Origins:     http://localhost:%d http://localhost:%d http://localhost:%d http://localhost:%d", port1, app1, port2, app2); !strings.Contains(printed(), want) {
		t.Errorf("dev printed %q, want %q", printed(), want)
	}
	res, err := http.Get(brokerURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), fmt.Sprintf(`href="http://localhost:%d"`, app2)) {
		t.Errorf("GET / = %d, %s; want a page linking the example app", res.StatusCode, page)
	}
}

// TestDevBusyPort runs `latchkey dev` on a taken port: it says which port and which flag.
func TestDevBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	for _, tt := range []struct {
		flag string
		args []string
	}{
		{"--listen", []string{"--listen", fmt.Sprintf("localhost:%d", busy), "--app-listen", fmt.Sprintf("localhost:%d", freePort(t))}},
		{"--app-listen", []string{"--listen", fmt.Sprintf("localhost:%d", freePort(t)), "--app-listen", fmt.Sprintf("localhost:%d", busy)}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, errOut := &syncBuffer{}, &syncBuffer{}
		err := run(ctx, append([]string{"dev", "--dir", t.TempDir()}, tt.args...), getenvFrom(nil), strings.NewReader(""), out, errOut)
		cancel()
		want := fmt.Sprintf("port %d is already in use", busy)
		if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.flag+" localhost:PORT") {
			t.Errorf("dev on a busy port (%s) = %v; want an error with %q and %q", tt.flag, err, want, tt.flag)
		}
	}
}

// TestProjectUpdateOrigins changes a project's origins and RP name from the command line.
func TestProjectUpdateOrigins(t *testing.T) {
	env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
	out, _, err := runCmd(t, env, "project", "create", "--name", "Shop", "--rp-id", "shop.example", "--origin", "https://shop.example", "--json")
	var created struct{ ProjectID string }
	if err != nil || json.Unmarshal([]byte(out), &created) != nil {
		t.Fatalf("project create = %v, %q", err, out)
	}
	pid := created.ProjectID
	out, _, err = runCmd(t, env, "project", "update", "--project", pid, "--add-origin", "https://www.shop.example",
		"--add-origin", "https://app.shop.example:8443", "--rp-name", "Shop Inc.")
	if err != nil || !strings.Contains(out, "origins: https://shop.example https://www.shop.example https://app.shop.example:8443\nRP name: Shop Inc.\n") {
		t.Fatalf("project update --add-origin --rp-name = %v, %q", err, out)
	}
	out, _, err = runCmd(t, env, "project", "update", "--project", pid, "--remove-origin", "https://shop.example", "--user-verification", "required")
	if err != nil || !strings.Contains(out, "origins: https://www.shop.example https://app.shop.example:8443\n") || !strings.Contains(out, "uv=required") {
		t.Fatalf("project update --remove-origin --user-verification = %v, %q", err, out)
	}
	if out, _, err = runCmd(t, env, "project", "list"); err != nil || !strings.Contains(out, "https://www.shop.example https://app.shop.example:8443") || strings.Contains(out, "https://shop.example ") {
		t.Fatalf("project list = %v, %q", err, out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--add-origin", "https://evil.example"}, "--add-origin"},
		{[]string{"--remove-origin", "https://nope.shop.example"}, "--remove-origin"},
		{[]string{"--remove-origin", "https://www.shop.example", "--remove-origin", "https://app.shop.example:8443"}, "no origin"},
	} {
		_, _, err := runCmd(t, env, append([]string{"project", "update", "--project", pid}, tt.args...)...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("project update %q = %v, want a usage error with %q", tt.args, err, tt.want)
		}
	}
}
