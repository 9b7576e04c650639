package sqlstore

import "context"

// QueuedTx returns how many transactions wait for the SQLite writer goroutine (0 on
// PostgreSQL), for tests that line up a batch.
func QueuedTx(s *Store) int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.pending)
}

// CheckpointCounts returns how many checkpoints the SQLite checkpointer has run without the
// write lock (copies) and with it (restarts).
func CheckpointCounts(s *Store) (copies, restarts int64) {
	return s.ckpt.copies.Load(), s.ckpt.restarts.Load()
}

// HoldWrites takes this process's SQLite write lock, as a batch does, until release.
func HoldWrites(s *Store) (release func()) {
	s.writing <- struct{}{}
	return func() { <-s.writing }
}

// WakeCheckpointer asks the SQLite checkpointer for a checkpoint.
func WakeCheckpointer(s *Store) {
	select {
	case s.ckpt.wake <- struct{}{}:
	default:
	}
}

// ExecInTx runs a statement in tx, for tests that need one no method of the store runs.
func ExecInTx(ctx context.Context, tx *Tx, query string, args ...any) error {
	_, err := tx.on().ExecContext(ctx, tx.s.db.Rebind(query), args...)
	return err
}
