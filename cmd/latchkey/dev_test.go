package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDev runs `latchkey dev` twice on one directory: the first run creates the store, the
// secret key and the dev project and prints the API secret; the second reuses all of them.
func TestDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".latchkey")
	var projectID string
	for round := 1; round <= 2; round++ {
		port, appPort := freePort(t), freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"dev", "--dir", dir, "--listen", fmt.Sprintf("localhost:%d", port), "--app-listen", fmt.Sprintf("localhost:%d", appPort)},
				getenvFrom(nil), strings.NewReader(""), out, io.Discard)
		}()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "Example app:") || probe(fmt.Sprintf("http://localhost:%d/healthz", port)) != 200 {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("round %d: dev not up after 20 s; printed %q", round, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code := probe(fmt.Sprintf("http://localhost:%d/", appPort)); code != 200 {
			t.Errorf("round %d: the example app answered %d", round, code)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("round %d: dev returned %v after cancellation", round, err)
		}
		printed := out.String()
		m := regexp.MustCompile(`Project ID:  (prj-\w+)`).FindStringSubmatch(printed)
		if m == nil || !strings.Contains(printed, fmt.Sprintf("http://localhost:%d", port)) {
			t.Fatalf("round %d: dev printed %q, want the URL and project ID", round, printed)
		}
		var st devState
		raw, err := os.ReadFile(filepath.Join(dir, "dev.json"))
		if err != nil || json.Unmarshal(raw, &st) != nil {
			t.Fatalf("round %d: reading dev.json: %v", round, err)
		}
		switch round {
		case 1:
			projectID = m[1]
			if !strings.Contains(printed, "API secret:  "+st.APISecret) || !strings.HasPrefix(st.APISecret, "lks_") {
				t.Fatalf("first run printed %q, want the API secret %q", printed, st.APISecret)
			}
			for _, f := range []string{"dev.json", "secret.key", "latchkey.db", "latchkey.db-wal", "latchkey.db-shm"} {
				info, err := os.Stat(filepath.Join(dir, f))
				if strings.Contains(f, "-") && os.IsNotExist(err) {
					continue // SQLite removes its WAL files on a clean close
				}
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if info.Mode().Perm()&0o077 != 0 {
					t.Fatalf("%s has mode %v, want a file only its owner reads", f, info.Mode())
				}
			}
		case 2:
			if m[1] != projectID || st.ProjectID != projectID || strings.Contains(printed, st.APISecret) {
				t.Fatalf("second run printed %q, want project %s again and no secret", printed, projectID)
			}
		}
	}
}
