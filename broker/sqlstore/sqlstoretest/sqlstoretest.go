// Package sqlstoretest gives tests a fresh, empty database of either dialect: an SQLite file
// in t.TempDir(), or a schema of its own on the PostgreSQL server named by
// LATCHKEY_TEST_DATABASE_URL. With LATCHKEY_TEST_REQUIRE=1 (as in CI) a test that cannot get
// one fails instead of skipping.
package sqlstoretest

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
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
