package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
)

// Checkpoints on SQLite.
//
// A checkpoint copies the WAL's pages into the database file and syncs both files: two
// fsync(2) calls, which on a real disk take a millisecond or more each. SQLite's automatic
// checkpoint runs inside the commit that crosses 1,000 pages of WAL, under the write lock, so
// that every write waits for those syncs, and with them every request that writes; under load
// the CPU then idled about 15 % of the time (BENCHMARKS.md).
//
// Here the store's checkpointer goroutine does the copying instead, on a connection of its
// own, while the writer goes on: each batch counts the pages its commit wrote to the WAL, and
// every walCheckpointPages of them wake the checkpointer for a passive checkpoint. That alone
// would let the WAL grow without end, since SQLite starts it over only when a write begins
// after a checkpoint that copied all of it, which never happens while writes go on during
// each checkpoint (a WAL of 38 GB after ten minutes, TestSQLiteWALStaysBounded). So once the
// WAL holds walRestartPages pages, the checkpointer takes the write lock for a last
// checkpoint of the few pages written since its previous one, which also waits (at most
// restartWait) for the readers that began before it, and the next write starts the WAL over.
// The syncs under the write lock come once per walRestartPages pages instead of once per
// 1,000.
//
// SQLite's own automatic checkpoint stays on, at walAutoCheckpointPages, above the restart
// point: it only acts if the checkpointer falls behind, and for the writes made outside a
// batch, which are not counted.
const (
	walCheckpointPages     = 1000
	walRestartPages        = 2000
	walAutoCheckpointPages = 4000
)

// checkpointer runs the store's SQLite checkpoints on a goroutine of its own.
type checkpointer struct {
	db       *sqlx.DB      // one connection, for checkpoints only
	pages    int           // pages written to the WAL since the last wake-up; under Store.writing
	wake     chan struct{} // buffered 1
	quit     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
	// copies counts the checkpoints run without the write lock, restarts those run with it
	// so that the next write starts the WAL over.
	copies, restarts atomic.Int64
}

// startCheckpointer opens the checkpointer's connection to the database at dsn, whose busy
// timeout is restartWait, and starts it.
func (s *Store) startCheckpointer(dsn string) error {
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("opening sqlite database: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	s.ckpt = &checkpointer{db: db, wake: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
	go s.checkpointLoop(s.ckpt)
	return nil
}

// stopCheckpointer stops the checkpointer, if any, and closes its connection. It may be
// called more than once.
func (s *Store) stopCheckpointer() {
	c := s.ckpt
	if c == nil {
		return
	}
	c.stopOnce.Do(func() {
		close(c.quit)
		<-c.stopped
		c.db.Close()
	})
}

// wrotePages counts pages written to the WAL by a batch's commit, on conn, and wakes the
// checkpointer every walCheckpointPages; the caller holds s.writing.
func (s *Store) wrotePages(conn *sqlx.Conn) {
	c := s.ckpt
	if c == nil {
		return
	}
	_ = conn.Raw(func(dc any) error {
		if st, ok := dc.(sqlite.DBStatus); ok {
			if n, _, err := st.Status(sqlite.DBStatusCacheWrite, true); err == nil {
				c.pages += n
			}
		}
		return nil
	})
	if c.pages < walCheckpointPages {
		return
	}
	c.pages = 0
	select {
	case c.wake <- struct{}{}:
	default: // a checkpoint is due already
	}
}

// checkpointLoop is the checkpointer goroutine: a passive checkpoint whenever a batch asks,
// and, once the WAL is long, a last one under the write lock.
func (s *Store) checkpointLoop(c *checkpointer) {
	defer close(c.stopped)
	for {
		select {
		case <-c.quit:
			return
		case <-c.wake:
		}
		walPages, err := c.checkpoint()
		c.copies.Add(1)
		if err != nil || walPages < walRestartPages {
			continue
		}
		select {
		case s.writing <- struct{}{}:
		case <-c.quit:
			return
		}
		_ = c.restart()
		c.restarts.Add(1)
		<-s.writing
	}
}

// restartWait bounds how long the checkpoint under the write lock waits for readers: it is
// the busy timeout of the checkpointer's connection, on which only that checkpoint ever
// waits (a passive one never calls SQLite's busy handler).
const restartWait = 50 * time.Millisecond

// restart runs the checkpoint under the write lock: a RESTART checkpoint, which copies what
// is left of the WAL and then waits, at most restartWait, for the readers that began before
// it to end, so that the next write starts the WAL over. A passive one left that to chance:
// a reader that began just before it and had not ended when the next write came (on a busy
// machine, one waiting for a CPU) kept the WAL growing until the next attempt, 1,000 pages
// later.
func (c *checkpointer) restart() error {
	var busy, walPages, copied int
	return c.db.QueryRowxContext(context.Background(), `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &walPages, &copied)
}

// checkpoint runs a passive checkpoint and returns how many pages the WAL holds.
func (c *checkpointer) checkpoint() (walPages int, err error) {
	var busy, copied int
	err = c.db.QueryRowxContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &walPages, &copied)
	return walPages, err
}
