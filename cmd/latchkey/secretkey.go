package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/broker"
)

// publishedKeys are the SHA-256 digests of the secret keys that Latchkey's repository
// publishes, which protect nothing: whoever has the repository can open signing keys sealed
// with them.
var publishedKeys = map[string]string{
	// compose.yaml's default until issue 12 (base64 of "local-trial-only-not-a-secret!!!").
	"7c459479768265688c2ed43c875c2f328912c4ab0d0f0f892fcfe6d387b7b74f": "the former compose.yaml default",
	// brokertest.SecretKey, the tests' key (base64 of "0123456789abcdef0123456789abcdef").
	"3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9": "the test suite's key",
}

// published names the published key that s (LATCHKEY_SECRET_KEY in any base64) is, or "".
func published(s string) string {
	key, err := broker.ParseSecretKey(s)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(key)
	return publishedKeys[hex.EncodeToString(sum[:])]
}

// withSecretKeyFile returns getenv, except that an unset LATCHKEY_SECRET_KEY reads as the
// content of the file LATCHKEY_SECRET_KEY_FILE names, if it exists: so every command in a
// container that keeps its key in a file (compose.yaml) opens the same store.
func withSecretKeyFile(getenv func(string) string) func(string) string {
	return func(name string) string {
		v := getenv(name)
		if name != "LATCHKEY_SECRET_KEY" || v != "" || getenv("LATCHKEY_SECRET_KEY_FILE") == "" {
			return v
		}
		raw, err := os.ReadFile(getenv("LATCHKEY_SECRET_KEY_FILE"))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(raw))
	}
}

// secretKeyFlags are where serve and example-app find the secret key besides --secret-key:
// a file that holds it, created on first start, and the escape hatch for the tests' key.
type secretKeyFlags struct {
	file           string
	allowPublished bool
}

func (f *secretKeyFlags) register(fs *flag.FlagSet, e env, serve bool) {
	fs.StringVar(&f.file, "secret-key-file", e.getenv("LATCHKEY_SECRET_KEY_FILE"),
		"file that holds the secret key, used when --secret-key is not given; created with a new random key (mode 0600) when it does not exist (env LATCHKEY_SECRET_KEY_FILE)")
	if serve {
		allow, _ := strconv.ParseBool(e.getenv("LATCHKEY_ALLOW_INSECURE_KEY"))
		fs.BoolVar(&f.allowPublished, "allow-insecure-key", allow,
			"for tests only: accept a secret key that Latchkey's repository publishes, such as its tests' key (env LATCHKEY_ALLOW_INSECURE_KEY)")
	}
}

// use completes *key, the value of --secret-key: when it is empty and a key file is named,
// the file's key, after creating the file with a new random key if it does not exist. With
// refusePublished (serve), a key that the repository publishes is a usage error unless
// --allow-insecure-key is given.
func (f *secretKeyFlags) use(name string, e env, key *string, refusePublished bool) error {
	if *key == "" && f.file != "" {
		k, created, err := readOrCreateKey(f.file)
		if err != nil {
			return fmt.Errorf("%s: --secret-key-file: %w", name, err)
		}
		if created {
			slog.New(slog.NewJSONHandler(e.stderr, nil)).Warn("generated a new secret key; back it up: it encrypts the signing keys",
				slog.String("file", f.file))
		}
		*key = k
	}
	if which := published(*key); which != "" && refusePublished && !f.allowPublished {
		return usagef("%s: the secret key is %s, published in Latchkey's repository: anyone can open signing keys sealed with it. "+
			"Generate one (openssl rand -base64 32), or give none and name a --secret-key-file to keep a generated one", name, which)
	}
	return nil
}

// readOrCreateKey returns the key kept in path, first writing a new random key there
// (mode 0600, in a directory made 0700) if the file does not exist; created says whether it
// did.
func readOrCreateKey(path string) (key string, created bool, err error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(raw)), false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	k, err := broker.NewSecretKey()
	if err != nil {
		return "", false, err
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first: use theirs
		k, _, err := readOrCreateKey(path)
		return k, false, err
	}
	if err != nil {
		return "", false, err
	}
	if _, err := file.WriteString(k + "\n"); err != nil {
		file.Close()
		return "", false, err
	}
	return k, true, file.Close()
}
