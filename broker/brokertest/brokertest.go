// Package brokertest provides what tests of Latchkey share: a fresh store per test (SQLite
// in a temporary directory, or a schema of its own on the PostgreSQL server named by
// LATCHKEY_TEST_DATABASE_URL), a broker with a development project, and headless Chromium.
// The software authenticator the tests sign with is package softauthn.
package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver, for creating test schemas

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// Require skips the test with reason, or fails it when LATCHKEY_TEST_REQUIRE=1 (as in CI),
// where nothing may be skipped.
func Require(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("LATCHKEY_TEST_REQUIRE") == "1" {
		t.Fatalf("required by LATCHKEY_TEST_REQUIRE=1 but unavailable: %s", reason)
	}
	t.Skip(reason)
}

// Dialects returns the store dialects to test: always "sqlite", and "postgres" when
// LATCHKEY_TEST_DATABASE_URL is set (or required).
func Dialects(t testing.TB) []string {
	t.Helper()
	if os.Getenv("LATCHKEY_TEST_DATABASE_URL") != "" || os.Getenv("LATCHKEY_TEST_REQUIRE") == "1" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// DatabaseURL returns the URL of a fresh, empty database of dialect for this test, removed
// when the test ends: an SQLite file in t.TempDir(), or a new schema on the PostgreSQL server
// of LATCHKEY_TEST_DATABASE_URL.
func DatabaseURL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == "sqlite" {
		return "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	}
	base := os.Getenv("LATCHKEY_TEST_DATABASE_URL")
	if base == "" {
		Require(t, "LATCHKEY_TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
	}
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		t.Fatalf("opening %s: %v", redact(base), err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("creating schema on %s: %v", redact(base), err)
	}
	t.Cleanup(func() {
		if db, err := sqlx.Open("postgres", base); err == nil {
			_, _ = db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing LATCHKEY_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return "the database URL"
}

// SecretKey is a fixed LATCHKEY_SECRET_KEY for tests.
const SecretKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// Fixture is a migrated store, a broker over it and one project with an API secret.
type Fixture struct {
	URL       string
	Store     *broker.Store
	Broker    *broker.Broker
	Project   broker.Project
	APISecret string
}

// Origin and RPID of the fixture's project; RPID is the one softauthn's forged
// authenticator data is for.
const (
	RPID   = softauthn.DefaultRPID
	Origin = "http://localhost:8080"
)

// New returns a Fixture on a fresh database of dialect, closed when the test ends.
func New(t testing.TB, dialect string) *Fixture {
	t.Helper()
	ctx := context.Background()
	dbURL := DatabaseURL(t, dialect)
	store, err := broker.OpenStore(ctx, dbURL)
	if err != nil {
		t.Fatalf("OpenStore(%s): %v", dialect, err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	key, err := broker.ParseSecretKey(SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(store, key)
	if err != nil {
		t.Fatal(err)
	}
	p, secret, err := b.CreateProject(ctx, broker.NewProject{Name: "Test", RPID: RPID, RPName: "Test RP",
		Origins: []string{Origin, "http://localhost:3000"}})
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	return &Fixture{URL: dbURL, Store: store, Broker: b, Project: p, APISecret: secret}
}

// AddProject creates another project on the fixture's broker, for cross-project tests.
func (f *Fixture) AddProject(t testing.TB, rpID string, origins ...string) (broker.Project, string) {
	t.Helper()
	p, secret, err := f.Broker.CreateProject(context.Background(), broker.NewProject{Name: "Other " + rpID, RPID: rpID, Origins: origins})
	if err != nil {
		t.Fatalf("CreateProject(%s): %v", rpID, err)
	}
	return p, secret
}

// Counts returns the number of rows in each table of the store, to show that a failed
// request wrote nothing.
func (f *Fixture) Counts(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"projects", "api_secrets", "users", "passkeys", "ceremonies", "connect_tokens", "signing_keys", "verified_tokens"} {
		n, err := f.Store.CountRows(context.Background(), table)
		if err != nil {
			t.Fatalf("counting %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// Snapshot returns every row of the mutable tables as text, to show that a failed request
// changed nothing (not only that it added no row).
func (f *Fixture) Snapshot(t testing.TB) string {
	t.Helper()
	var sb strings.Builder
	for _, table := range []string{"users", "passkeys", "ceremonies", "connect_tokens", "verified_tokens", "signing_keys", "api_secrets"} {
		rows, err := f.Store.DumpTable(context.Background(), table)
		if err != nil {
			t.Fatalf("dumping %s: %v", table, err)
		}
		sb.WriteString(table + ":\n" + rows)
	}
	return sb.String()
}
