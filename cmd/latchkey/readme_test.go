package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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
	port := freePort(t)
	script := strings.ReplaceAll(snippets[0], "localhost:8080", fmt.Sprintf("localhost:%d", port))
	// go run ./cmd/latchkey ARGS: this binary's main, on the free port, without the example
	// app, after the two seconds or more that go run takes to build it.
	prelude := fmt.Sprintf(`go() {
  [ "$1 $2" = "run ./cmd/latchkey" ] || { echo "unexpected: go $*" >&2; return 99; }
  shift 2
  sleep 2
  LATCHKEY_TEST_RUN_MAIN=1 %q "$@" --listen localhost:%d --app-listen= 2>/dev/null
}
`, os.Args[0], port)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", prelude+script)
	cmd.Dir = t.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The block leaves the broker running in the background, as it would in a terminal.
	cmd.WaitDelay = time.Second
	err := cmd.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }()
	err = cmd.Wait()
	out := stdout.String()
	if err != nil && !strings.Contains(err.Error(), "WaitDelay") {
		t.Fatalf("README's curl block: %v\nstdout %s\nstderr %s", err, out, stderr.String())
	}
	for _, want := range []string{`"secret":"ctk1_`, `"tokenType":"passkey-append"`, `"keys":[{`} {
		if !strings.Contains(out, want) {
			t.Errorf("README's curl block printed %q (stderr %q), want %s", out, stderr.String(), want)
		}
	}
}
