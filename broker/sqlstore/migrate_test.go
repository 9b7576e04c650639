package sqlstore_test

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
	"github.com/latchkey/latchkey/migrations"
)

// migrationVersions returns the distinct NNNN_name versions of package migrations, whose
// files are NNNN_name.sql or NNNN_name.<dialect>.sql.
func migrationVersions(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("fs.Glob(migrations.FS, *.sql) = %v, %v, want the embedded migrations", names, err)
	}
	var versions []string
	for _, name := range names {
		version, _, _ := strings.Cut(strings.TrimSuffix(name, ".sql"), ".")
		if !slices.Contains(versions, version) {
			versions = append(versions, version)
		}
	}
	return versions
}

// TestConcurrentMigrate starts several stores on one empty database at once, as replicas
// starting together do: every Migrate succeeds and each migration is applied exactly once.
func TestConcurrentMigrate(t *testing.T) {
	versions := migrationVersions(t)
	for _, d := range sqlstoretest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			url := sqlstoretest.DatabaseURL(t, d)
			const replicas = 4
			stores := make([]*sqlstore.Store, replicas)
			for i := range stores {
				s, err := sqlstore.Open(ctx, url, sqlstore.Config{})
				if err != nil {
					t.Fatalf("replica %d: Open(%s) = %v", i, d, err)
				}
				t.Cleanup(func() { s.Close() })
				stores[i] = s
			}
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				errs    = make([]error, replicas)
				applied = make([]int, replicas)
			)
			for i, s := range stores {
				wg.Go(func() {
					<-start
					applied[i], errs[i] = s.Migrate(ctx)
				})
			}
			close(start)
			wg.Wait()
			total := 0
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: Migrate() = %v, want nil", i, err)
				}
				total += applied[i]
			}
			if total != len(versions) {
				t.Errorf("Migrate() by %d replicas applied %d migrations in all (%v), want each of the %d once", replicas, total, applied, len(versions))
			}
			var recorded []string
			if err := rawDB(t, url).Select(&recorded, `SELECT version FROM schema_migrations ORDER BY version`); err != nil {
				t.Fatalf("reading schema_migrations: %v", err)
			}
			if diff := cmp.Diff(versions, recorded); diff != "" {
				t.Errorf("schema_migrations mismatch (-want +got):\n%s", diff)
			}
			if n, err := stores[0].Migrate(ctx); err != nil || n != 0 {
				t.Errorf("Migrate() on a migrated database = %d, %v, want 0, nil", n, err)
			}
			for _, table := range sqlstore.Tables {
				if n, err := stores[replicas-1].CountRows(ctx, table); err != nil || n != 0 {
					t.Errorf("CountRows(%s) = %d, %v, want an empty, working schema", table, n, err)
				}
			}
		})
	}
}

// schema is what Store.Schema reports.
type schema struct {
	Tables  map[string][]sqlstore.Column
	Indexes []string
}

func readSchema(t *testing.T, s *sqlstore.Store) schema {
	t.Helper()
	tables, indexes, err := s.Schema(context.Background())
	if err != nil {
		t.Fatalf("Schema() on %s = %v", s.Dialect(), err)
	}
	return schema{tables, indexes}
}

// TestSchemasAgree migrates a fresh SQLite and a fresh PostgreSQL database and compares the
// schemas they end up with: tables, columns with their type and nullability, and indexes.
func TestSchemasAgree(t *testing.T) {
	if os.Getenv("LATCHKEY_TEST_DATABASE_URL") == "" { // whichever dialects LATCHKEY_TEST_DIALECTS names
		sqlstoretest.Require(t, "LATCHKEY_TEST_DATABASE_URL is not set: comparing the SQLite and PostgreSQL schemas needs PostgreSQL")
	}
	lite := readSchema(t, newStore(t, sqlstore.SQLite))
	pg := readSchema(t, newStore(t, sqlstore.Postgres))

	t.Run("every table", func(t *testing.T) {
		// So that two empty answers cannot agree.
		for _, table := range append(slices.Clone(sqlstore.Tables), "schema_migrations") {
			if len(lite.Tables[table]) == 0 || len(pg.Tables[table]) == 0 {
				t.Errorf("Schema(): table %s has %d columns on SQLite and %d on PostgreSQL, want it on both",
					table, len(lite.Tables[table]), len(pg.Tables[table]))
			}
		}
		if len(lite.Indexes) == 0 {
			t.Errorf("Schema() on SQLite reports no index, want the migrations' indexes")
		}
		for _, cols := range lite.Tables {
			for _, c := range cols {
				if !slices.Contains([]string{"text", "bigint", "boolean"}, c.Type) {
					t.Errorf("Schema() on SQLite: column %s has type %q, want text, bigint or boolean", c.Name, c.Type)
				}
			}
		}
	})

	t.Run("dialects agree", func(t *testing.T) {
		if diff := cmp.Diff(lite, pg); diff != "" {
			t.Errorf("Schema() mismatch between the dialects (-sqlite +postgres):\n%s", diff)
		}
	})

	// The comparison above must be able to fail: drift one dialect's schema by hand, as a
	// migration written for one dialect only would, and the schemas must differ.
	drifts := []struct {
		name, dialect, stmt string
	}{
		{"extra column on SQLite", sqlstore.SQLite, `ALTER TABLE projects ADD COLUMN drift TEXT`},
		{"extra column on PostgreSQL", sqlstore.Postgres, `ALTER TABLE passkeys ADD COLUMN drift BIGINT NOT NULL DEFAULT 0`},
		{"other type", sqlstore.Postgres, `ALTER TABLE users ALTER COLUMN created_at TYPE INTEGER`},
		{"other nullability", sqlstore.Postgres, `ALTER TABLE users ALTER COLUMN display_name DROP NOT NULL`},
		{"extra index", sqlstore.SQLite, `CREATE INDEX users_drift ON users (display_name)`},
		{"extra table", sqlstore.SQLite, `CREATE TABLE drift (id TEXT PRIMARY KEY)`},
	}
	for _, tt := range drifts {
		t.Run("drift is reported: "+tt.name, func(t *testing.T) {
			s, url := openStore(t, tt.dialect)
			rawExec(t, rawDB(t, url), tt.stmt)
			drifted := readSchema(t, s)
			want := lite
			if tt.dialect == sqlstore.SQLite {
				want = pg
			}
			if diff := cmp.Diff(want, drifted); diff == "" {
				t.Errorf("after %q on %s, Schema() compares equal to the other dialect's, want a difference", tt.stmt, tt.dialect)
			}
		})
	}
}

// TestSchemaIgnoresOtherSchemas: on PostgreSQL, Schema describes the store's own schema, even
// when another schema of the database has a constraint named like one of its indexes.
func TestSchemaIgnoresOtherSchemas(t *testing.T) {
	if os.Getenv("LATCHKEY_TEST_DATABASE_URL") == "" { // whichever dialects LATCHKEY_TEST_DIALECTS names
		sqlstoretest.Require(t, "LATCHKEY_TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
	}
	s := newStore(t, sqlstore.Postgres)
	before := readSchema(t, s)
	if !slices.Contains(before.Indexes, "users_created") {
		t.Fatalf("Schema() indexes = %v, want users_created among them", before.Indexes)
	}
	other := rawDB(t, sqlstoretest.DatabaseURL(t, sqlstore.Postgres))
	rawExec(t, other, `CREATE TABLE neighbour (a TEXT, b TEXT, CONSTRAINT users_created UNIQUE (a), CONSTRAINT passkeys_user PRIMARY KEY (b))`)
	if diff := cmp.Diff(before, readSchema(t, s)); diff != "" {
		t.Errorf("Schema() after another schema made constraints users_created and passkeys_user mismatch (-before +after):\n%s", diff)
	}
}
