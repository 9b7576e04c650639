package main

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
)

// composeTrialKey is the secret key compose.yaml shipped as its default before issue 12.
const composeTrialKey = "bG9jYWwtdHJpYWwtb25seS1ub3QtYS1zZWNyZXQhISE="

// TestServeRefusesPublishedKeys starts serve with the keys this repository publishes: each
// is refused at once, in any base64 spelling, unless the tests' escape hatch is given.
func TestServeRefusesPublishedKeys(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(composeTrialKey)
	for _, tc := range []struct{ name, key string }{
		{"compose.yaml's former default", composeTrialKey},
		{"compose.yaml's former default, URL-safe without padding", base64.RawURLEncoding.EncodeToString(raw)},
		{"the tests' key", brokertest.SecretKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_SECRET_KEY": tc.key,
				"LATCHKEY_LISTEN": "127.0.0.1:0"}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve"}, getenvFrom(env), strings.NewReader(""), io.Discard, io.Discard)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "published in Latchkey's repository") {
				t.Fatalf("serve with %s = %v, want a usage error: the key is published", tc.name, err)
			}
		})
	}
	t.Run("escape hatch for tests", func(t *testing.T) {
		env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_SECRET_KEY": brokertest.SecretKey}
		s := serveOn(t, env, "", "") // serveOn sets LATCHKEY_ALLOW_INSECURE_KEY=1
		if err := s.stop(); err != nil {
			t.Fatalf("serve --allow-insecure-key: %v", err)
		}
	})
}

// TestComposeShipsNoKey checks that compose.yaml gives serve no fixed secret key, and keeps
// the generated one in a volume that both containers see.
func TestComposeShipsNoKey(t *testing.T) {
	raw, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(raw)
	if m := regexp.MustCompile(`LATCHKEY_SECRET_KEY:.*:-[^}\s]`).FindString(compose); m != "" {
		t.Errorf("compose.yaml gives LATCHKEY_SECRET_KEY a default: %s", m)
	}
	for _, k := range []string{composeTrialKey, brokertest.SecretKey} {
		if strings.Contains(compose, k) {
			t.Errorf("compose.yaml holds the published key %s", k)
		}
	}
	for _, want := range []string{"LATCHKEY_SECRET_KEY_FILE: /data/secret.key", "latchkeydata:/data", "LATCHKEY_SECRET_KEY_FILE: /broker/secret.key", "latchkeydata:/broker:ro"} {
		if !strings.Contains(compose, want) {
			t.Errorf("compose.yaml lacks %q", want)
		}
	}
}

// TestServeKeepsAGeneratedKey starts serve with no key and a key file that does not exist,
// as compose.yaml does on first start: serve generates the key, keeps it in the file (0600),
// administration commands and later starts use it, and a key given explicitly wins.
func TestServeKeepsAGeneratedKey(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "data", "secret.key")
	env := map[string]string{"LATCHKEY_DATABASE_URL": brokertest.DatabaseURL(t, "sqlite"), "LATCHKEY_SECRET_KEY_FILE": keyFile}
	s := serveOn(t, env, "", "")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Logs.String(), "generated a new secret key") {
		t.Errorf("serve did not say it generated a key:\n%s", s.Logs.String())
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("no key file after the first start: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(keyFile)
	if _, err := broker.ParseSecretKey(strings.TrimSpace(string(first))); err != nil {
		t.Fatalf("key file holds %q: %v", first, err)
	}

	// An administration command in the same container uses the file's key.
	if out, stderr, err := runCmd(t, env, "project", "create", "--name", "K", "--rp-id", "localhost", "--origin", "http://localhost:3000"); err != nil {
		t.Fatalf("project create with the key file: %v %s %s", err, out, stderr)
	}
	// A restart opens the keys sealed with it, and keeps the file.
	s = serveOn(t, env, "", "")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(keyFile); string(again) != string(first) || strings.Contains(s.Logs.String(), "generated") {
		t.Errorf("the second start changed the key file or generated a key")
	}
	// A key given explicitly wins over the file: here, another one, which the store refuses.
	other, _ := broker.NewSecretKey()
	env["LATCHKEY_SECRET_KEY"] = other
	if _, _, err := runCmd(t, env, "serve"); !errors.Is(err, broker.ErrWrongSecretKey) {
		t.Errorf("serve with another explicit key = %v, want ErrWrongSecretKey", err)
	}
}
