package sqlstore

// Internal test of migration 10 on a database that has rows: it applies the migrations
// before it, writes what a running broker had written, then migrates.

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// TestExpiryFirstKeysMigration: the outcomes and verified jtis written before migration 10
// are still there after it, still single use (a finished ceremony cannot finish again, a
// verified jti cannot be verified again), and the sweep still removes the expired ones.
func TestExpiryFirstKeysMigration(t *testing.T) {
	const t0 = int64(1_800_000_000_000)
	for _, d := range sqlstoretest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, sqlstoretest.DatabaseURL(t, d), Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			ms, err := dialectMigrations(s.dialect) // d may be "pgbouncer", a PostgreSQL behind the pooler
			if err != nil {
				t.Fatal(err)
			}
			before := 0
			for _, m := range ms {
				if m.version >= "0010" {
					break
				}
				if _, err := s.applyMigration(ctx, m); err != nil {
					t.Fatalf("migration %s: %v", m.version, err)
				}
				before++
			}
			if before != 9 {
				t.Fatalf("applied %d migrations before 0010, want 9", before)
			}
			for _, q := range []string{
				`INSERT INTO ceremony_outcomes (project_id, ceremony_key, finished, failures, expires_at) VALUES ('pa', 'k-done', TRUE, 0, ` + itoa(t0+60_000) + `)`,
				`INSERT INTO ceremony_outcomes (project_id, ceremony_key, finished, failures, expires_at) VALUES ('pa', 'k-failing', FALSE, 2, ` + itoa(t0+60_000) + `)`,
				`INSERT INTO ceremony_outcomes (project_id, ceremony_key, finished, failures, expires_at) VALUES ('pa', 'k-old', TRUE, 0, ` + itoa(t0-1) + `)`,
				`INSERT INTO verified_tokens (project_id, jti, verified_at, expires_at) VALUES ('pa', 'spd-1', ` + itoa(t0) + `, ` + itoa(t0+60_000) + `)`,
				`INSERT INTO verified_tokens (project_id, jti, verified_at, expires_at) VALUES ('pa', 'spd-old', ` + itoa(t0-10) + `, ` + itoa(t0-1) + `)`,
			} {
				if _, err := s.db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if n, err := s.Migrate(ctx); err != nil || n != len(ms)-before {
				t.Fatalf("Migrate() = %d, %v; want %d applied", n, err, len(ms)-before)
			}

			if ok, err := s.FinishSealedCeremony(ctx, "pa", "k-done", t0+60_000, 3); err != nil || ok {
				t.Errorf("FinishSealedCeremony(finished before the migration) = %v, %v; want false", ok, err)
			}
			if n, err := s.CountFailedFinish(ctx, "pa", "k-failing", t0+60_000); err != nil || n != 3 {
				t.Errorf("CountFailedFinish(2 failures before the migration) = %d, %v; want 3", n, err)
			}
			if ok, err := s.FinishSealedCeremony(ctx, "pa", "k-failing", t0+60_000, 3); err != nil || ok {
				t.Errorf("FinishSealedCeremony(closed by its failures) = %v, %v; want false", ok, err)
			}
			if o, err := s.CeremonyOutcome(ctx, "pa", "k-done", t0+60_000); err != nil || !o.Finished {
				t.Errorf("CeremonyOutcome(k-done) = %+v, %v; want it finished", o, err)
			}
			err = s.InsertVerifiedToken(ctx, VerifiedToken{ProjectID: "pa", JTI: "spd-1", VerifiedAt: t0 + 5, ExpiresAt: t0 + 60_000})
			if !errors.Is(err, ErrAlreadyExists) {
				t.Errorf("InsertVerifiedToken(verified before the migration) = %v, want ErrAlreadyExists", err)
			}
			if n, err := s.DeleteExpired(ctx, t0, 100); err != nil || n != 2 {
				t.Errorf("DeleteExpired() = %d, %v; want the 2 expired rows", n, err)
			}
			if n, err := s.ExpiredBacklog(ctx, t0); err != nil || n != 0 {
				t.Errorf("ExpiredBacklog() after the sweep = %d, %v; want 0", n, err)
			}
		})
	}
}

func itoa(n int64) string { return fmt.Sprint(n) }
