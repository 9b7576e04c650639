package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets a test run the real main in a child process (LATCHKEY_TEST_RUN_MAIN=1), to
// see its exit status and output as a shell does.
func TestMain(m *testing.M) {
	if os.Getenv("LATCHKEY_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// commands is every command and subcommand of the tool.
var commands = [][]string{
	{"dev"}, {"serve"}, {"migrate"},
	{"project"}, {"project", "create"}, {"project", "list"}, {"project", "update"}, {"project", "rollout"}, {"project", "add-secret"}, {"project", "revoke-secret"},
	{"project", "app"}, {"project", "app", "add"}, {"project", "app", "list"}, {"project", "app", "remove"}, {"project", "well-known"}, {"doctor"},
	{"keys"}, {"keys", "rotate"}, {"keys", "list"},
	{"healthcheck"}, {"example-app"}, {"bench"}, {"bench", "seed"}, {"aaguids"}, {"aaguids", "update"},
	{"analytics"},
}

// TestEveryCommandHelp runs --help, -h and an unknown flag on every command: help is printed
// once on stdout and is no error; an unknown flag is one line and a usage error (status 2).
func TestEveryCommandHelp(t *testing.T) {
	for _, cmd := range append([][]string{{}}, commands...) {
		name := strings.Join(append([]string{"latchkey"}, cmd...), " ")
		for _, help := range []string{"--help", "-h"} {
			t.Run(name+" "+help, func(t *testing.T) {
				out, errOut, err := runCmd(t, nil, append(append([]string{}, cmd...), help)...)
				if err != nil || strings.Count(out, "Usage:") != 1 || errOut != "" {
					t.Errorf("%s %s = %v, stdout %q, stderr %q; want the usage once on stdout and no error", name, help, err, out, errOut)
				}
				if !strings.Contains(out, "Usage: "+name) {
					t.Errorf("%s %s printed %q, want Usage: %s", name, help, out, name)
				}
			})
		}
		t.Run(name+" --nope", func(t *testing.T) {
			out, errOut, err := runCmd(t, nil, append(append([]string{}, cmd...), "--nope")...)
			if !errors.Is(err, errUsage) || strings.Contains(err.Error(), "\n") || out != "" || errOut != "" {
				t.Errorf("%s --nope = %v, stdout %q, stderr %q; want a one-line usage error and nothing printed", name, err, out, errOut)
			}
		})
	}
}

// TestExitStatus runs the binary's main: --help exits 0 with the usage once, an unknown flag
// exits 2 with one line on stderr.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		args       []string
		wantStatus int
		wantOut    string // in stdout
		wantLines  int    // of stderr
	}{
		{[]string{"serve", "--help"}, 0, "Usage: latchkey serve", 0},
		{[]string{"project", "--help"}, 0, "Usage: latchkey project", 0},
		{[]string{"keys", "--help"}, 0, "Usage: latchkey keys", 0},
		{[]string{"serve", "--nope"}, 2, "", 1},
		{[]string{"project", "update", "--nope"}, 2, "", 1},
	}
	for _, tt := range tests {
		cmd := exec.Command(os.Args[0], tt.args...)
		cmd.Env = append(os.Environ(), "LATCHKEY_TEST_RUN_MAIN=1")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			status = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(stderr.String(), "\n")
		if status != tt.wantStatus || !strings.Contains(stdout.String(), tt.wantOut) || lines != tt.wantLines ||
			(tt.wantOut != "" && strings.Count(stdout.String(), "Usage:") != 1) {
			t.Errorf("latchkey %q: status %d, stdout %q, stderr %q; want status %d, %q once in stdout, %d line(s) on stderr",
				tt.args, status, stdout.String(), stderr.String(), tt.wantStatus, tt.wantOut, tt.wantLines)
		}
	}
}
