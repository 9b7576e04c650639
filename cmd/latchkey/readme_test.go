package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker/brokertest"
)

// readmeSnippets returns the ```sh blocks of README's section titled title.
func readmeSnippets(t *testing.T, title string) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README has no section %q", title)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("README's section %q has no sh block", title)
	}
	return out
}

// TestReadmeQuickStart runs README's "Try it with curl" block as a reader pastes it, whole,
// into a shell in a fresh directory. `go run ./cmd/latchkey` runs this test binary's main
// instead, and the port is a free one rather than 8080 (which may be in use here); nothing
// else of the block changes. The block must wait for the broker by itself.
func TestReadmeQuickStart(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			brokertest.Require(t, tool+" is not installed: README's quick start needs it")
		}
	}
	snippets := readmeSnippets(t, "Try it with curl")
	if len(snippets) != 1 || !strings.Contains(snippets[0], "go run ./cmd/latchkey dev &") {
		t.Fatalf("README's curl section = %q, want one block that starts the broker", snippets)
	}
	// The port is free when freePort returns, but anything on the machine may take it before
	// the broker binds it (CI runs other packages' tests beside this one): the block is then
	// run again on another port, at most three times in all.
	for attempt := 1; ; attempt++ {
		out, log, err := runQuickStart(t, snippets[0], freePort(t))
		if err != nil && strings.Contains(log, "already in use") && attempt < 3 {
			t.Logf("attempt %d: the port was taken before the broker bound it; again on another", attempt)
			continue
		}
		if err != nil {
			t.Fatalf("README's curl block: %v\nstdout %s\nthe broker's stderr %s", err, out, log)
		}
		for _, want := range []string{`"secret":"ctk1_`, `"tokenType":"passkey-append"`, `"keys":[{`} {
			if !strings.Contains(out, want) {
				t.Errorf("README's curl block printed %q (the broker's stderr %q), want %s", out, log, want)
			}
		}
		return
	}
}

// runQuickStart runs README's curl block script with the broker on port, in a fresh
// directory, and returns what the block printed, what the broker printed on stderr, and the
// error of the shell (nil when the block ended by itself).
func runQuickStart(t *testing.T, script string, port int) (stdout, brokerStderr string, err error) {
	t.Helper()
	script = strings.ReplaceAll(script, "localhost:8080", fmt.Sprintf("localhost:%d", port))
	logPath := filepath.Join(t.TempDir(), "broker.stderr")
	// go run ./cmd/latchkey ARGS: this binary's main, on the free port, without the example
	// app, after the two seconds or more that go run takes to build it. A broker that exits
	// with an error ends the whole block at once (kill 0: its process group), rather than
	// leaving the block's loop to wait for it.
	prelude := fmt.Sprintf(`go() {
  [ "$1 $2" = "run ./cmd/latchkey" ] || { echo "unexpected: go $*" >&2; return 99; }
  shift 2
  sleep 2
  LATCHKEY_TEST_RUN_MAIN=1 %q "$@" --listen localhost:%d --app-listen= 2>>%q || { echo "the broker exited: $?" >>%q; kill -TERM 0; }
}
`, os.Args[0], port, logPath, logPath)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", prelude+script)
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	// The block leaves the broker running in the background, as it would in a terminal.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The broker is stopped before t.TempDir removes its directory.
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }()
	err = cmd.Wait()
	if err != nil && strings.Contains(err.Error(), "WaitDelay") {
		err = nil
	}
	raw, _ := os.ReadFile(logPath)
	return out.String(), string(raw) + stderr.String(), err
}
