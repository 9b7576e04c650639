package sqlstore

// Internal tests of what the PostgreSQL connection does: they look at the store's own
// server sessions, which the package's API does not show.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// TestPrepareModes: Config.Prepare on a direct connection (auto prepares; off leaves no named
// statement in the session) and through PgBouncer in transaction pooling, where auto must
// find the pooler and not prepare.
func TestPrepareModes(t *testing.T) {
	for _, tt := range []struct {
		dialect, mode string
		want          bool
	}{
		{"postgres", "", true},
		{"postgres", PrepareAuto, true},
		{"postgres", PrepareOn, true},
		{"postgres", PrepareOff, false},
		{sqlstoretest.PgBouncer, PrepareAuto, false},
		{sqlstoretest.PgBouncer, PrepareOff, false},
	} {
		t.Run(tt.dialect+"/"+tt.mode, func(t *testing.T) {
			ctx := t.Context()
			// One connection, so that the test's own queries below run in the store's session.
			s, err := Open(ctx, sqlstoretest.DatabaseURL(t, tt.dialect), Config{MaxConns: 1, Prepare: tt.mode})
			if err != nil {
				t.Fatalf("Open(Prepare %q) = %v", tt.mode, err)
			}
			defer s.Close()
			if got := s.Prepared(); got != tt.want {
				t.Fatalf("Open(Prepare %q).Prepared() = %v, want %v", tt.mode, got, tt.want)
			}
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate() = %v", err)
			}
			if _, err := s.UserByID(ctx, "p", "u"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("UserByID() = %v, want ErrNotFound", err)
			}
			err = s.InTx(ctx, func(tx *Tx) error {
				_, err := tx.PasskeysOf(ctx, "p", "u")
				return err
			})
			if err != nil {
				t.Fatalf("InTx(PasskeysOf) = %v", err)
			}
			if tt.dialect != "postgres" {
				return // the session below would be any of PgBouncer's (see TestBehindPgBouncer)
			}
			var named int
			if err := s.db.GetContext(ctx, &named, `SELECT COUNT(*) FROM pg_prepared_statements`); err != nil {
				t.Fatal(err)
			}
			if got := named > 0; got != tt.want {
				t.Errorf("Prepare %q: %d named statements in the store's session, want some: %v", tt.mode, named, tt.want)
			}
		})
	}
	t.Run("unknown mode", func(t *testing.T) {
		if s, err := Open(t.Context(), sqlstoretest.DatabaseURL(t, "postgres"), Config{Prepare: "sometimes"}); err == nil {
			s.Close()
			t.Fatal(`Open(Prepare "sometimes") = a store, want an error`)
		}
	})
}

// TestStatementTimeout: a statement that outlives Config.StatementTimeout fails with
// ErrUnavailable, and PostgreSQL stops running it (the cancel request reaches it through
// PgBouncer too); the store works on.
func TestStatementTimeout(t *testing.T) {
	for _, d := range []string{"postgres", sqlstoretest.PgBouncer} {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, err := Open(ctx, sqlstoretest.DatabaseURL(t, d), Config{StatementTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			defer s.Close()
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			tag := "sleeper_" + hex.EncodeToString(b)
			var slept string
			err = s.get(ctx, &slept, `SELECT pg_sleep(30)::text AS `+tag)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("a 30 s statement with a 300 ms timeout = %v, want ErrUnavailable", err)
			}
			direct, err := sqlx.Open("postgres", os.Getenv("LATCHKEY_TEST_DATABASE_URL"))
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close()
			deadline := time.Now().Add(10 * time.Second)
			for {
				var running int
				if err := direct.Get(&running, `SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, tag); err != nil {
					t.Fatal(err)
				}
				if running == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("PostgreSQL still runs the statement 10 s after its timeout: the cancel request did not reach it")
				}
				time.Sleep(50 * time.Millisecond)
			}
			var one int
			if err := s.get(ctx, &one, `SELECT 1`); err != nil || one != 1 {
				t.Fatalf("after the timeout, SELECT 1 = %d, %v", one, err)
			}
		})
	}
}
