package sqlstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// TestSQLiteBatchesWriteOnOneConnection: every SQLite write transaction, inline or in a
// queued batch, runs on the one connection the writer holds (writerConn), so that its page
// cache stays valid between writes, while reads go on on the pool's other connections. The
// writer's connection comes on top of Config.MaxConns: a pool of one still serves a read
// beside it.
func TestSQLiteBatchesWriteOnOneConnection(t *testing.T) {
	t.Run("default pool, readers on every connection", func(t *testing.T) { writeOnOneConnection(t, 0, 4) })
	t.Run("pool of one", func(t *testing.T) { writeOnOneConnection(t, 1, 1) })
}

func writeOnOneConnection(t *testing.T, maxConns, readers int) {
	ctx := context.Background()
	// A writer that held the pool's last connection would leave a read, or the migration,
	// waiting for ever: fail then, with every goroutine's stack, rather than at go test's
	// -timeout.
	watchdog := time.AfterFunc(time.Minute, func() {
		panic("TestSQLiteBatchesWriteOnOneConnection: no progress in a minute; is the writer's connection taken from the readers' pool?")
	})
	defer watchdog.Stop()
	s, err := Open(ctx, sqlstoretest.DatabaseURL(t, "sqlite"), Config{MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// A temporary table is seen only by the connection that created it: each transaction
	// adds a row to the one of its connection.
	mark := func(tx *Tx) error {
		if _, err := tx.on().ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS writer_mark (n INTEGER)`); err != nil {
			return err
		}
		_, err := tx.on().ExecContext(ctx, `INSERT INTO writer_mark VALUES (1)`)
		return err
	}
	const writers, each = 8, 25
	// Every reader must complete a read while the writes go on: the writers go past their
	// share until each has (a write phase that ended before a reader got a CPU proved
	// nothing, and failed on a loaded machine). A read that can never complete trips the
	// watchdog.
	var readDuring atomic.Int64 // readers that have completed a read during the writes
	stop := make(chan struct{})
	var rg sync.WaitGroup
	readErrs := make(chan error, readers)
	for range readers { // readers throughout, which take the pool's connections
		rg.Add(1)
		go func() {
			defer rg.Done()
			counted := false
			for {
				select {
				case <-stop:
					return
				default:
				}
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := s.APISecrets(rctx, "prj-none") // a read that gives up with its context
				cancel()
				if err != nil {
					readErrs <- err
					return
				}
				if !counted {
					counted = true
					readDuring.Add(1)
				}
			}
		}()
	}
	var marks atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each || readDuring.Load() < int64(readers); i++ {
				if err := s.InTx(ctx, mark); err != nil {
					t.Errorf("InTx() = %v", err)
					return
				}
				marks.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	close(readErrs)
	for err := range readErrs {
		t.Errorf("reads beside the writes: %v", err)
	}
	var n int
	err = s.InTx(ctx, func(tx *Tx) error {
		return sqlx.GetContext(ctx, tx.on(), &n, `SELECT COUNT(*) FROM writer_mark`)
	})
	if err != nil || int64(n) != marks.Load() {
		t.Errorf("the last write's connection saw %d of the %d writes' marks (%v); want every write on one connection", n, marks.Load(), err)
	}
}
