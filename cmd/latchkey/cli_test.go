package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/migrations"
)

func TestUsageErrors(t *testing.T) {
	dbURL := brokertest.DatabaseURL(t, "sqlite")
	// The tests' key is published: serve refuses it without LATCHKEY_ALLOW_INSECURE_KEY.
	env := map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_SECRET_KEY": brokertest.SecretKey, "LATCHKEY_ALLOW_INSECURE_KEY": "1"}
	testKey := map[string]string{"LATCHKEY_SECRET_KEY": brokertest.SecretKey, "LATCHKEY_ALLOW_INSECURE_KEY": "1"}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(testKey)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // in the error
	}{
		{"no command", env, nil, "no command"},
		{"unknown command", env, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", env, []string{"serve", "--nope"}, "flag provided but not defined: -nope"},
		{"stray argument", env, []string{"migrate", "extra"}, `unexpected argument "extra"`},
		{"bad listen address", env, []string{"serve", "--listen", "8080"}, `--listen "8080" is not host:port`},
		{"serve without secret key", map[string]string{"LATCHKEY_DATABASE_URL": dbURL}, []string{"serve"}, "LATCHKEY_SECRET_KEY is required"},
		{"serve with malformed secret key", map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_SECRET_KEY": "c2hvcnQ="}, []string{"serve"}, "must be 32 random bytes"},
		{"serve without database", with(), []string{"serve"}, "LATCHKEY_DATABASE_URL is required"},
		{"unsupported database", with("LATCHKEY_DATABASE_URL", "mysql://x"), []string{"serve"}, "must start with sqlite: or postgres://"},
		{"bad pool size", with("LATCHKEY_DATABASE_URL", dbURL, "LATCHKEY_DB_MAX_CONNS", "many"), []string{"serve"}, "LATCHKEY_DB_MAX_CONNS"},
		{"bad statement timeout", with("LATCHKEY_DATABASE_URL", dbURL, "LATCHKEY_DB_STATEMENT_TIMEOUT", "5"), []string{"serve"}, "LATCHKEY_DB_STATEMENT_TIMEOUT"},
		{"bad prepare mode", with("LATCHKEY_DATABASE_URL", dbURL, "LATCHKEY_DB_PREPARE", "sometimes"), []string{"serve"}, `LATCHKEY_DB_PREPARE) = "sometimes": want auto, on or off`},
		{"bad prepare flag", env, []string{"migrate", "--db-prepare", "yes"}, `--db-prepare (LATCHKEY_DB_PREPARE) = "yes"`},
		{"serve with the tests' published key", map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_SECRET_KEY": brokertest.SecretKey}, []string{"serve"}, "published in Latchkey's repository"},
		{"negative pool size flag", env, []string{"serve", "--db-max-conns", "-1"}, "must not be negative"},
		{"event retention in days", env, []string{"serve", "--event-retention", "90d"}, `--event-retention "90d": want a duration of at least 1h`},
		{"event retention under an hour", env, []string{"serve", "--event-retention", "30m"}, `--event-retention "30m"`},
		{"negative event retention", map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_SECRET_KEY": brokertest.SecretKey, "LATCHKEY_EVENT_RETENTION": "-1h"}, []string{"serve"}, `--event-retention "-1h"`},
		{"project without subcommand", env, []string{"project"}, "want create, list"},
		{"project create without rp id", env, []string{"project", "create", "--name", "x", "--origin", "https://x.example"}, "--rp-id"},
		{"project create with foreign origin", env, []string{"project", "create", "--name", "x", "--rp-id", "example.com", "--origin", "https://evil.example"}, "subdomain"},
		{"add-secret without project", env, []string{"project", "add-secret"}, "--project is required"},
		{"revoke-secret without secret", env, []string{"project", "revoke-secret", "--project", "prj-x"}, "--secret is required"},
		{"keys without subcommand", env, []string{"keys"}, "want rotate or list"},
		{"keys rotate without project", env, []string{"keys", "rotate"}, "--project is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, tt.env, tt.args...)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("run(%q) = %v, want a one-line usage error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"dev", "-h"}, {"migrate", "--help"},
		{"project", "create", "--help"}, {"project", "list", "--help"}, {"keys", "rotate", "--help"}} {
		out, _, err := runCmd(t, nil, args...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("run(%q) = %v, stdout %q, want usage and no error", args, err, out)
		}
	}
	out, _, _ := runCmd(t, nil, "serve", "--help")
	for _, flag := range []string{"-database-url", "-listen", "-public-url", "-secret-key", "LATCHKEY_DATABASE_URL", "-event-retention", "LATCHKEY_EVENT_RETENTION", `(default "2160h")`} {
		if !strings.Contains(out, flag) {
			t.Errorf("serve --help does not mention %s:\n%s", flag, out)
		}
	}
}

func TestAdminCommands(t *testing.T) {
	env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
	// SQLite applies every NNNN_name.sql and NNNN_name.sqlite.sql, not NNNN_name.postgres.sql.
	files, err := fs.Glob(migrations.FS, "*.sql")
	var migrationFiles []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".postgres.sql") {
			migrationFiles = append(migrationFiles, f)
		}
	}
	if err != nil || len(migrationFiles) == 0 {
		t.Fatalf("no embedded migrations: %v", err)
	}
	out, _, err := runCmd(t, env, "migrate")
	if want := fmt.Sprintf("applied %d migration(s)", len(migrationFiles)); err != nil || !strings.Contains(out, want) {
		t.Fatalf("migrate = %v, %q, want %q", err, out, want)
	}
	if out, _, err = runCmd(t, env, "migrate"); err != nil || !strings.Contains(out, "applied 0 migration(s)") {
		t.Fatalf("second migrate = %v, %q, want nothing applied", err, out)
	}
	out, _, err = runCmd(t, env, "project", "create", "--name", "Shop", "--rp-id", "shop.example", "--origin", "https://shop.example", "--origin", "https://www.shop.example")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Project ID: (prj-\w+)\nAPI secret: (lks_[\w-]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("project create printed %q", out)
	}
	projectID := m[1]
	if out, _, err = runCmd(t, env, "project", "list"); err != nil || !strings.Contains(out, projectID) || !strings.Contains(out, "https://www.shop.example") {
		t.Fatalf("project list = %v, %q", err, out)
	}
	if out, _, err = runCmd(t, env, "project", "list", "--json"); err != nil || !strings.Contains(out, `"rpID":"shop.example"`) {
		t.Fatalf("project list --json = %v, %q", err, out)
	}
	out, _, err = runCmd(t, env, "project", "add-secret", "--project", projectID)
	sm := regexp.MustCompile(`Secret ID:  (sec-\w+)`).FindStringSubmatch(out)
	if err != nil || sm == nil {
		t.Fatalf("add-secret = %v, %q", err, out)
	}
	if _, _, err = runCmd(t, env, "project", "revoke-secret", "--project", projectID, "--secret", sm[1]); err != nil {
		t.Fatalf("revoke-secret: %v", err)
	}
	if _, _, err = runCmd(t, env, "project", "revoke-secret", "--project", projectID, "--secret", sm[1]); err == nil {
		t.Fatal("revoking a revoked secret succeeded")
	}
	if _, _, err = runCmd(t, env, "project", "add-secret", "--project", "prj-unknown"); err == nil {
		t.Fatal("add-secret for an unknown project succeeded")
	}
	if out, _, err = runCmd(t, env, "keys", "rotate", "--project", projectID); err != nil || !strings.Contains(out, "published now, signs from") {
		t.Fatalf("keys rotate = %v, %q", err, out)
	}
	out, _, err = runCmd(t, env, "keys", "list", "--project", projectID)
	if err != nil || strings.Count(out, "true") != 3 { // old key: signing+published; new key: published
		t.Fatalf("keys list = %v, %q, want one signing key and two published", err, out)
	}
	wrongKey := map[string]string{"LATCHKEY_DATABASE_URL": env["LATCHKEY_DATABASE_URL"], "LATCHKEY_SECRET_KEY": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="}
	for _, args := range [][]string{{"keys", "rotate", "--project", projectID}, {"serve"},
		{"project", "create", "--name", "x", "--rp-id", "x.example", "--origin", "https://x.example"}} {
		if _, _, err = runCmd(t, wrongKey, args...); !errors.Is(err, broker.ErrWrongSecretKey) {
			t.Fatalf("run(%q) with another secret key = %v, want ErrWrongSecretKey", args, err)
		}
	}
	if out, _, _ = runCmd(t, env, "keys", "list", "--project", projectID); strings.Count(out, "\n") != 3 {
		t.Fatalf("keys list after refused commands = %q, want the same two keys", out)
	}
}
