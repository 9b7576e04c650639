package sqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// TestCeremonyOutcomes: a sealed ceremony finishes once; failed finishes are counted, a
// finished ceremony counts none, and one that failed maxFailures times cannot finish.
func TestCeremonyOutcomes(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		const max = 3

		t.Run("finish once", func(t *testing.T) {
			ok, err := s.FinishSealedCeremony(ctx, "pa", "k-once", t0+1000, max)
			if err != nil || !ok {
				t.Fatalf("FinishSealedCeremony(first) = %v, %v; want true", ok, err)
			}
			ok, err = s.FinishSealedCeremony(ctx, "pa", "k-once", t0+1000, max)
			if err != nil || ok {
				t.Errorf("FinishSealedCeremony(again) = %v, %v; want false", ok, err)
			}
			n, err := s.CountFailedFinish(ctx, "pa", "k-once", t0+1000)
			if err != nil || n != 0 {
				t.Errorf("CountFailedFinish(finished) = %d, %v; want 0 (not counted)", n, err)
			}
			o, err := s.CeremonyOutcome(ctx, "pa", "k-once", t0+1000)
			if err != nil || !o.Finished || o.Failures != 0 || o.ExpiresAt != t0+1000 {
				t.Errorf("CeremonyOutcome(k-once) = %+v, %v", o, err)
			}
			// Another project's ceremony with the same key is another row.
			if ok, err := s.FinishSealedCeremony(ctx, "pb", "k-once", t0+1000, max); err != nil || !ok {
				t.Errorf("FinishSealedCeremony(other project) = %v, %v; want true", ok, err)
			}
		})

		t.Run("failures close it", func(t *testing.T) {
			for want := int64(1); want <= max; want++ {
				n, err := s.CountFailedFinish(ctx, "pa", "k-fail", t0+1000)
				if err != nil || n != want {
					t.Fatalf("CountFailedFinish #%d = %d, %v", want, n, err)
				}
			}
			ok, err := s.FinishSealedCeremony(ctx, "pa", "k-fail", t0+1000, max)
			if err != nil || ok {
				t.Errorf("FinishSealedCeremony(after %d failures) = %v, %v; want false", max, ok, err)
			}
			// Fewer failures than the cap still let it finish.
			if _, err := s.CountFailedFinish(ctx, "pa", "k-some", t0+1000); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.FinishSealedCeremony(ctx, "pa", "k-some", t0+1000, max); err != nil || !ok {
				t.Errorf("FinishSealedCeremony(after 1 failure) = %v, %v; want true", ok, err)
			}
			_, err = s.CeremonyOutcome(ctx, "pa", "k-none", t0+1000)
			checkErr(t, "CeremonyOutcome(unknown)", err, sqlstore.ErrNotFound)
		})

		t.Run("concurrent finishes: one wins", func(t *testing.T) {
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				wins int
			)
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ok bool
					err := s.InTx(context.Background(), func(tx *sqlstore.Tx) error {
						var err error
						ok, err = tx.FinishSealedCeremony(ctx, "pa", "k-race", t0+1000, max)
						return err
					})
					if err != nil {
						t.Errorf("FinishSealedCeremony(race) = %v", err)
					}
					mu.Lock()
					defer mu.Unlock()
					if ok {
						wins++
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Errorf("%d concurrent finishes won, want 1", wins)
			}
		})

		t.Run("concurrent failures: each counted", func(t *testing.T) {
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.InTx(context.Background(), func(tx *sqlstore.Tx) error {
						_, err := tx.CountFailedFinish(ctx, "pa", "k-fails", t0+1000)
						return err
					})
					if err != nil {
						t.Errorf("CountFailedFinish(race) = %v", err)
					}
				}()
			}
			wg.Wait()
			if o, err := s.CeremonyOutcome(ctx, "pa", "k-fails", t0+1000); err != nil || o.Failures != 20 {
				t.Errorf("CeremonyOutcome after 20 concurrent failures = %+v, %v; want 20 failures", o, err)
			}
		})

		t.Run("expired outcomes are swept", func(t *testing.T) {
			before, _ := s.CountRows(ctx, "ceremony_outcomes")
			if _, err := s.CountFailedFinish(ctx, "pa", "k-old", t0-1); err != nil {
				t.Fatal(err)
			}
			n, err := s.DeleteExpired(ctx, t0, 100)
			if err != nil || n != 1 {
				t.Errorf("DeleteExpired() = %d, %v; want the one expired outcome", n, err)
			}
			if after, _ := s.CountRows(ctx, "ceremony_outcomes"); after != before {
				t.Errorf("ceremony_outcomes rows %d after the sweep, want %d", after, before)
			}
		})
	})
}
