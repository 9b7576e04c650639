package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// Group commit on SQLite.
//
// SQLite admits one writer at a time, and a good part of a write transaction's cost is its
// commit: every page it changed goes to the WAL, one write(2) each. So on SQLite, InTx does not
// run its function itself: it queues it for the store's writer goroutine, which runs every
// transaction waiting in the queue (up to maxBatch) in one SQLite transaction, each inside a
// savepoint of its own, and commits once. A function that fails is rolled back to its
// savepoint and the others go on; each caller learns its own outcome only after the commit (or
// the failure) of the whole batch, so InTx still returns only once its writes are durable or
// gone. Seen from any reader, a batch is its transactions committed one after another in
// queue order; a page several of them change (an index's last leaf, a counter's row) is
// written once. One goroutine that keeps writing while there is work also hands the write
// lock to no one: handing it from request to request meant waking a goroutine, which on a
// busy machine waited for a CPU while every other writer waited for it.
//
// When no transaction runs or waits, InTx runs its function on the caller's goroutine
// instead, as a batch of one: a lone request (and every request of a quiet server) then pays
// no wake-up of the writer goroutine and none of its own. Queued transactions always go to
// the writer goroutine, which takes the write lock after the inline one.
//
// The functions run in a batch, inline or not, with their own context's values but not its
// cancellation: SQLite's interrupt, which a cancelled context triggers, rolls back the whole
// transaction, not one savepoint. A caller whose context ends before its turn is skipped and
// told so; once its function has begun, it runs to the end. A panic in a function reaches
// its caller's goroutine.
//
// Every batch runs on the same connection, which the writer holds (writer, writerConn):
// SQLite drops a connection's page cache when another connection has written since, so a
// batch on any pooled connection read again, one pread(2) a page, the index pages the last
// batch had just read. Its transaction is BEGIN IMMEDIATE and COMMIT, prepared once on that
// connection, rather than a database/sql transaction (see writer).
//
// Checkpoints do not run inside a batch's commit, as SQLite's automatic checkpoint would: the
// store's checkpointer goroutine runs them beside the writer (checkpoint.go). Each batch tells
// it how many pages its commit wrote to the WAL.

// maxBatch bounds how many transactions one commit carries, and so how long the first of
// them waits for the last.
const maxBatch = 64

// txJob is one InTx call waiting for its batch.
type txJob struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error // buffered: the writer never waits for the caller
}

// panicked carries a panic of a transaction's function from the goroutine that ran it to
// the caller's, which panics again with it.
type panicked struct {
	value any
	stack []byte
}

func (p *panicked) Error() string { return fmt.Sprintf("panic in a transaction: %v", p.value) }

// batcher queues the transactions waiting to write, for the store's writer goroutine.
type batcher struct {
	mu       sync.Mutex
	pending  []*txJob
	closed   bool
	wake     chan struct{} // buffered 1: something was queued
	quit     chan struct{} // closed by Close
	stopped  chan struct{} // closed when the writer has returned
	stopOnce sync.Once
}

// startWriter starts the goroutine that runs the store's SQLite write transactions.
func (s *Store) startWriter() {
	s.batch.wake = make(chan struct{}, 1)
	s.batch.quit = make(chan struct{})
	s.batch.stopped = make(chan struct{})
	go s.writeLoop()
}

// writeLoop runs batches while transactions are queued, and sleeps otherwise. One goroutine
// that keeps the write lock for as long as there is work hands it to no one: handing it from
// request to request meant waking a goroutine, which on a busy machine waited its turn for a
// CPU while every writer waited for it.
func (s *Store) writeLoop() {
	defer close(s.batch.stopped)
	for {
		select {
		case <-s.batch.quit:
			for _, j := range s.batch.close() {
				j.done <- fmt.Errorf("%w: the store is closed", ErrUnavailable)
			}
			return
		case <-s.batch.wake:
		}
		for {
			// The write lock first, then the queue: what queues while a transaction runs
			// on its caller's goroutine joins this batch.
			s.writing <- struct{}{}
			jobs := s.batch.take()
			if len(jobs) == 0 {
				<-s.writing
				break
			}
			s.runLocked(jobs)
		}
	}
}

// stopWriter stops the writer goroutine, if any, after the batch it runs; transactions still
// queued fail with ErrUnavailable. It may be called more than once.
func (s *Store) stopWriter() {
	if s.batch.quit == nil {
		return
	}
	s.batch.stopOnce.Do(func() { close(s.batch.quit) })
	<-s.batch.stopped
}

// close marks the queue closed and returns what was still in it.
func (b *batcher) close() []*txJob {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	jobs := b.pending
	b.pending = nil
	return jobs
}

// inBatch is InTx on SQLite: fn joins the queue of the writer goroutine, and the caller
// waits for the batch that carries it.
func (s *Store) inBatch(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	job := &txJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.batch.mu.Lock()
	if s.batch.closed {
		s.batch.mu.Unlock()
		return fmt.Errorf("%w: the store is closed", ErrUnavailable)
	}
	if len(s.batch.pending) == 0 {
		select {
		case s.writing <- struct{}{}:
			// No one writes or waits: run the transaction on this goroutine, a batch of one.
			// Handing it to the writer goroutine and back would cost two wake-ups, as much
			// CPU as a small transaction's statements. Whoever queues behind it wakes the
			// writer goroutine, which waits for the write lock.
			s.batch.mu.Unlock()
			s.runLocked([]*txJob{job})
			return unpanic(<-job.done)
		default:
		}
	}
	s.batch.pending = append(s.batch.pending, job)
	s.batch.mu.Unlock()
	select {
	case s.batch.wake <- struct{}{}:
	default: // the writer is awake already
	}
	select {
	case err := <-job.done:
		return unpanic(err)
	case <-ctx.Done():
		if s.batch.remove(job) {
			return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
		// The writer has taken fn and may commit it: its outcome is the caller's.
		return unpanic(<-job.done)
	}
}

// unpanic panics again, on the caller's goroutine, with a panic of its transaction's function.
func unpanic(err error) error {
	var p *panicked
	if errors.As(err, &p) {
		panic(fmt.Sprintf("%v\n\n(in a transaction of a SQLite batch)\n%s", p.value, p.stack))
	}
	return err
}

// take removes and returns the oldest waiting transactions, at most maxBatch.
func (b *batcher) take() []*txJob {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.pending), maxBatch)
	jobs := make([]*txJob, n)
	copy(jobs, b.pending)
	b.pending = append(b.pending[:0], b.pending[n:]...)
	return jobs
}

// remove takes job out of the queue if no leader has taken it yet.
func (b *batcher) remove(job *txJob) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, j := range b.pending {
		if j == job {
			b.pending = append(b.pending[:i], b.pending[i+1:]...)
			return true
		}
	}
	return false
}

// runBatch runs jobs in one transaction and tells each its outcome; the caller holds
// s.writing.
func (s *Store) runBatch(jobs []*txJob) {
	if len(jobs) == 0 {
		return
	}
	start := time.Now()
	results := make([]error, len(jobs))
	// finish tells each job its own error, or else err: the commit's, or what stopped the
	// whole batch (nothing of it is then committed).
	finish := func(err error) {
		for i, j := range jobs {
			if results[i] == nil {
				results[i] = err
			}
			if s.observeQuery != nil {
				s.observeQuery(OpTx, time.Since(start))
			}
			j.done <- results[i]
		}
	}
	// The batch's own statements (BEGIN, savepoints, COMMIT) take no cancellable context
	// either: database/sql and the driver would each watch it with a goroutine, for
	// statements that wait for nothing (this goroutine holds the write lock, and SQLite's
	// busy timeout bounds a wait for another process's).
	ctx := context.Background()
	w, err := s.writerConn(ctx)
	if err != nil {
		finish(classify(err))
		return
	}
	if err := w.run(ctx, `BEGIN IMMEDIATE`); err != nil {
		// The next batch takes another connection, should this one be broken.
		s.dropWriter()
		finish(classify(err))
		return
	}
	committed := false
	defer func() {
		// ROLLBACK undoes the batch, or ends the transaction a failed COMMIT leaves open
		// (SQLite keeps it open when a deferred constraint fails, for one). Should it fail,
		// whether a transaction is still open on the connection is unknown: the next batch
		// takes another one.
		if !committed && w.run(ctx, `ROLLBACK`) != nil {
			s.dropWriter()
		}
	}()
	q := queries{s: s, w: w, detached: true}
	savepoints := len(jobs) > 1
	ran := 0 // how many jobs' writes are in the transaction
	for i, j := range jobs {
		if err := j.ctx.Err(); err != nil {
			results[i] = fmt.Errorf("%w: %w", ErrUnavailable, err)
			continue
		}
		if savepoints {
			if err := w.run(ctx, `SAVEPOINT latchkey_tx`); err != nil {
				finish(classify(err))
				return
			}
		}
		err := runJob(j, q)
		if err == nil {
			ran++
			if savepoints {
				if err := w.run(ctx, `RELEASE latchkey_tx`); err != nil {
					finish(classify(err))
					return
				}
			}
			continue
		}
		results[i] = err
		if !savepoints {
			finish(nil) // the deferred ROLLBACK undoes it
			return
		}
		// SQLite rolls a whole transaction back by itself on some errors (a full disk, an
		// I/O error); then the savepoint is gone and every write of the batch with it.
		if rerr := w.run(ctx, `ROLLBACK TO latchkey_tx`); rerr != nil {
			finish(fmt.Errorf("%w: the batch's transaction was rolled back: %v", ErrUnavailable, rerr))
			return
		}
		if rerr := w.run(ctx, `RELEASE latchkey_tx`); rerr != nil {
			finish(classify(rerr))
			return
		}
	}
	if ran == 0 {
		finish(nil)
		return
	}
	err = w.run(ctx, `COMMIT`)
	if err == nil {
		committed = true
		s.wrotePages(w.conn)
	}
	finish(classify(err))
}

// writer is the connection every batch writes on, taken from the pool by the first batch
// and held until Close, with the statements prepared on it; the store's write lock
// (s.writing) guards it. One connection for every write keeps the pages the writes read in
// its cache: SQLite drops a connection's cache when it finds that another connection wrote
// since its last transaction, so batches taking any pooled connection read their pages from
// the files again, one pread(2) each.
//
// A batch's transaction is BEGIN and COMMIT run on the connection as statements, not a
// database/sql transaction: that one starts a goroutine per transaction to watch its
// context, which a batch does not have, and watches every row set read in it with another,
// each a wake-up on a busy machine; and the driver parses its BEGIN and COMMIT anew each
// time, where these are prepared once.
type writer struct {
	conn  *sqlx.Conn
	stmts map[string]*sqlx.Stmt // prepared on conn, by query
}

// stmt returns query prepared on the writer's connection, once.
func (w *writer) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PreparexContext(ctx, w.conn.Rebind(query))
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

// run runs one of the batch's own statements.
func (w *writer) run(ctx context.Context, query string) error {
	st, err := w.stmt(ctx, query)
	if err == nil {
		_, err = st.ExecContext(ctx)
	}
	return err
}

// close closes the writer's statements, then gives its connection back to the pool; with
// discard, it closes the connection instead, which may be broken or in a transaction.
func (w *writer) close(discard bool) {
	for _, st := range w.stmts {
		st.Close()
	}
	w.stmts = nil
	if discard {
		// database/sql closes a connection, rather than pooling it again, when it is
		// released with driver.ErrBadConn.
		_ = w.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	w.conn.Close()
}

// dropWriter closes the writer's connection, so that the next batch takes another; the
// caller holds s.writing.
func (s *Store) dropWriter() {
	if s.wconn != nil {
		s.wconn.close(true)
		s.wconn = nil
	}
}

// writerConn returns the writer, whose connection the first batch takes from the pool; the
// caller holds s.writing.
func (s *Store) writerConn(ctx context.Context) (*writer, error) {
	if s.wconn == nil {
		c, err := s.db.Connx(ctx)
		if err != nil {
			return nil, err
		}
		s.wconn = &writer{conn: c, stmts: map[string]*sqlx.Stmt{}}
	}
	return s.wconn, nil
}

// runLocked runs jobs as one batch, then releases the write lock (s.writing), which the
// caller holds, and prepares the statements the batch wanted prepared.
func (s *Store) runLocked(jobs []*txJob) {
	s.runBatch(jobs)
	<-s.writing
	s.prepareWanted(context.Background())
}

// runJob runs one job's function, classifying its error and catching its panic.
func runJob(j *txJob, q queries) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicked{value: v, stack: debug.Stack()}
		}
	}()
	return classify(j.fn(&Tx{q}))
}
