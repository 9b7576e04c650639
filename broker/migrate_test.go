package broker_test

import (
	"context"
	"io/fs"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/migrations"
)

// TestConcurrentMigrate starts several stores on one empty database at once, as replicas
// starting together do: every Migrate succeeds and the schema is applied exactly once.
func TestConcurrentMigrate(t *testing.T) {
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			url := brokertest.DatabaseURL(t, d)
			const replicas = 4
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				errs    = make([]error, replicas)
				applied = make([]int, replicas)
			)
			for i := range replicas {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := broker.OpenStore(ctx, url)
					if err != nil {
						errs[i] = err
						return
					}
					defer s.Close()
					<-start
					applied[i], errs[i] = s.Migrate(ctx)
				}()
			}
			close(start)
			wg.Wait()
			total := 0
			for i, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: Migrate() = %v", i, err)
				}
				total += applied[i]
			}
			files, err := fs.Glob(migrations.FS, d+"/*.sql")
			if err != nil || len(files) == 0 {
				t.Fatalf("no embedded migrations for %s: %v", d, err)
			}
			if total != len(files) {
				t.Fatalf("migrations applied %d times in all, want each of the %d once", total, len(files))
			}
			s, err := broker.OpenStore(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n, err := s.CountRows(ctx, "projects"); err != nil || n != 0 {
				t.Fatalf("CountRows(projects) = %d, %v, want an empty, working schema", n, err)
			}
		})
	}
}
