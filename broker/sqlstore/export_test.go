package sqlstore

// QueuedTx returns how many transactions wait for the SQLite writer goroutine (0 on
// PostgreSQL), for tests that line up a batch.
func QueuedTx(s *Store) int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.pending)
}
