// Package brokertest provides what tests of Latchkey share: a fresh store per test (SQLite
// in a temporary directory, or a schema of its own on the PostgreSQL server named by
// LATCHKEY_TEST_DATABASE_URL), a broker with a development project, and headless Chromium.
// The software authenticator the tests sign with is package softauthn.
package brokertest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// Require skips the test with reason, or fails it when LATCHKEY_TEST_REQUIRE=1 (as in CI),
// where nothing may be skipped.
func Require(t testing.TB, reason string) {
	t.Helper()
	sqlstoretest.Require(t, reason)
}

// Dialects returns the store dialects to test: always "sqlite", and "postgres" when
// LATCHKEY_TEST_DATABASE_URL is set (or required).
func Dialects(t testing.TB) []string {
	t.Helper()
	return sqlstoretest.Dialects(t)
}

// DatabaseURL returns the URL of a fresh, empty database of dialect for this test (see
// sqlstoretest.DatabaseURL).
func DatabaseURL(t testing.TB, dialect string) string {
	t.Helper()
	return sqlstoretest.DatabaseURL(t, dialect)
}

// SecretKey is a fixed LATCHKEY_SECRET_KEY for tests.
const SecretKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// Fixture is a migrated store, a broker over it and one project with an API secret.
type Fixture struct {
	URL       string
	Store     *sqlstore.Store
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

// New returns a Fixture on a fresh database of dialect, closed when the test ends. Its store
// prepares statements as LATCHKEY_TEST_DB_PREPARE says (sqlstore.Config.Prepare; unset:
// auto), so that benchmarks can compare the modes.
func New(t testing.TB, dialect string) *Fixture {
	t.Helper()
	ctx := context.Background()
	dbURL := DatabaseURL(t, dialect)
	store, err := sqlstore.Open(ctx, dbURL, sqlstore.Config{Prepare: os.Getenv("LATCHKEY_TEST_DB_PREPARE")})
	if err != nil {
		t.Fatalf("sqlstore.Open(%s): %v", dialect, err)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	f := &Fixture{URL: dbURL, Store: store}
	f.Broker = f.NewBroker(t, broker.Config{})
	p, secret, err := f.Broker.CreateProject(ctx, broker.NewProject{Name: "Test", RPID: RPID, RPName: "Test RP",
		Origins: []string{Origin, "http://localhost:3000"}})
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	f.Project, f.APISecret = p, secret
	return f
}

// NewBroker returns another broker over the fixture's store, built with cfg and, unless cfg
// has one, the fixture's secret key; for tests that need other limits or a clock of their
// own.
func (f *Fixture) NewBroker(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	if cfg.SecretKey == nil {
		key, err := broker.ParseSecretKey(SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.SecretKey = key
	}
	b, err := broker.New(f.Store, cfg)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	return b
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
