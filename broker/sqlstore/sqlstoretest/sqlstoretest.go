// Package sqlstoretest gives tests a fresh, empty database of either dialect: an SQLite file
// in t.TempDir(), or a schema of its own on the PostgreSQL server named by
// LATCHKEY_TEST_DATABASE_URL, or (test dialect "pgbouncer") a database of its own on that
// server reached through the PgBouncer of LATCHKEY_TEST_PGBOUNCER_URL in transaction pooling.
// With LATCHKEY_TEST_REQUIRE=1 (as in CI) a test that cannot get one fails instead of
// skipping.
package sqlstoretest

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver, for creating test schemas
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

// PgBouncer is the test dialect of PostgreSQL reached through PgBouncer in transaction
// pooling (LATCHKEY_TEST_PGBOUNCER_URL); its stores are of dialect sqlstore.Postgres.
const PgBouncer = "pgbouncer"

// Dialects returns the store dialects to test: always "sqlite", and "postgres" when
// LATCHKEY_TEST_DATABASE_URL is set (or required). LATCHKEY_TEST_DIALECTS, a comma-separated
// list, names them instead; it is how "pgbouncer" is chosen (CI runs chosen suites a second
// time with LATCHKEY_TEST_DIALECTS=pgbouncer).
func Dialects(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv("LATCHKEY_TEST_DIALECTS"); v != "" {
		ds := strings.Split(v, ",")
		for _, d := range ds {
			if !slices.Contains([]string{"sqlite", "postgres", PgBouncer}, d) {
				t.Fatalf("LATCHKEY_TEST_DIALECTS=%q: unknown dialect %q (want sqlite, postgres or pgbouncer)", v, d)
			}
		}
		return ds
	}
	if os.Getenv("LATCHKEY_TEST_DATABASE_URL") != "" || os.Getenv("LATCHKEY_TEST_REQUIRE") == "1" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// StoreDialect returns the dialect a store opened on a database of the test dialect d reports:
// sqlstore.Postgres for "pgbouncer", d otherwise.
func StoreDialect(d string) string {
	if d == PgBouncer {
		return "postgres"
	}
	return d
}

// DatabaseURL returns the URL of a fresh, empty database of dialect for this test, removed
// when the test ends: an SQLite file in t.TempDir(), a new schema on the PostgreSQL server of
// LATCHKEY_TEST_DATABASE_URL, or for "pgbouncer" a new database on that server reached
// through LATCHKEY_TEST_PGBOUNCER_URL (see PgBouncerDatabaseURL).
func DatabaseURL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	case PgBouncer:
		return PgBouncerDatabaseURL(t)
	}
	base := baseURL(t)
	schema := scratch(t, base, "SCHEMA", "CASCADE", "creating schema")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing LATCHKEY_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// baseURL returns LATCHKEY_TEST_DATABASE_URL, skipping (or failing) the test without it.
func baseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("LATCHKEY_TEST_DATABASE_URL")
	if base == "" {
		Require(t, "LATCHKEY_TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
	}
	return base
}

// PgBouncerDatabaseURL returns the URL, through the PgBouncer of LATCHKEY_TEST_PGBOUNCER_URL,
// of a fresh, empty database of this test's own on the PostgreSQL server of
// LATCHKEY_TEST_DATABASE_URL, dropped when the test ends.
//
// A schema of its own, as DatabaseURL gives on a direct connection, would need search_path
// as a startup parameter, which PgBouncer refuses; so the test gets a database instead
// (created and dropped on the direct connection, whose role needs CREATEDB), which PgBouncer
// reaches through a wildcard entry ("* = host=... port=..."). The URL asks lib/pq for
// binary_parameters=yes, so that the tests' own queries beside the store (with arguments, on
// an *sql.DB) take one round trip rather than two, which transaction pooling may split
// between two server connections.
func PgBouncerDatabaseURL(t testing.TB) string {
	t.Helper()
	bouncer := os.Getenv("LATCHKEY_TEST_PGBOUNCER_URL")
	if bouncer == "" {
		Require(t, "LATCHKEY_TEST_PGBOUNCER_URL is not set: tests through PgBouncer skipped")
	}
	// FORCE ends PgBouncer's server connections to it.
	name := scratch(t, baseURL(t), "DATABASE", "WITH (FORCE)", "creating database (its role needs CREATEDB)")
	u, err := url.Parse(bouncer)
	if err != nil {
		t.Fatalf("parsing LATCHKEY_TEST_PGBOUNCER_URL: %v", err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Set("binary_parameters", "yes")
	u.RawQuery = q.Encode()
	return u.String()
}

// scratch creates a schema or database (kind) with a random name on the server of base, drops
// it (with dropOption) when the test ends, and returns its name.
func scratch(t testing.TB, base, kind, dropOption, doing string) string {
	t.Helper()
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		t.Fatalf("opening %s: %v", redact(base), err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE ` + kind + ` ` + name); err != nil {
		t.Fatalf("%s on %s: %v", doing, redact(base), err)
	}
	t.Cleanup(func() {
		if db, err := sqlx.Open("postgres", base); err == nil {
			if _, err := db.Exec(`DROP ` + kind + ` ` + name + ` ` + dropOption); err != nil {
				t.Logf("dropping test %s %s: %v", strings.ToLower(kind), name, err)
			}
			db.Close()
		}
	})
	return name
}

func redact(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return "the database URL"
}
