package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleAppCommand runs `latchkey example-app` next to `latchkey serve` on one database,
// as compose.yaml does: it creates a project of its own on first run, and its server reaches
// the broker at --backend-url to mint connect tokens for a signed-up user.
func TestExampleAppCommand(t *testing.T) {
	s := startServe(t, "sqlite", "http://localhost:8080")
	appPort := freePort(t)
	dir := t.TempDir()
	appOrigin := fmt.Sprintf("http://localhost:%d", appPort)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"example-app", "--listen", fmt.Sprintf("127.0.0.1:%d", appPort), "--broker-url", "http://localhost:1",
			"--backend-url", s.URL, "--origin", appOrigin, "--dir", dir}, getenvFrom(s.env), strings.NewReader(""), out, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("example-app returned %v after cancellation", err)
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Example app:"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("example-app not up after 20 s: %q", out.String())
		}
	}
	var st devState
	raw, err := os.ReadFile(filepath.Join(dir, "project.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil || st.ProjectID == s.ProjectID || !strings.HasPrefix(st.ProjectID, "prj-") {
		t.Fatalf("project.json = %q, %v, want a project of the app's own", raw, err)
	}
	listed, _, err := runCmd(t, s.env, "project", "list")
	if err != nil || !strings.Contains(listed, st.ProjectID) || !strings.Contains(listed, appOrigin) {
		t.Fatalf("project list = %q, %v, want the app's project with origin %s", listed, err, appOrigin)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	app := fmt.Sprintf("http://127.0.0.1:%d", appPort)
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", app+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/api/signup", `{"name":"Jane Doe","email":"jane@example.com","password":"correct horse battery"}`); code != 201 {
		t.Fatalf("sign-up = %d %s", code, body)
	}
	code, body := post("/api/connect-token", `{"type":"passkey-append"}`)
	if code != 200 || !strings.Contains(body, `"connectToken":"ctk1_`) {
		t.Fatalf("connect-token through the app = %d %s, want a connect token minted by the broker", code, body)
	}
}
