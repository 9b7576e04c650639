// Package sqlstore is the only place where Latchkey speaks SQL: the statements of every
// table for SQLite and PostgreSQL, prepared once and reused (unless a transaction pooler
// such as PgBouncer stands in front of PostgreSQL, see Config.Prepare), the SQLite write
// queue, transactions, and the migration runner of the one schema in package migrations.
//
// Each table's statements live in a file of their own, whose doc comments say what "not
// found" returns and what is atomic. Errors come back classified: errors.Is(err, ErrNotFound)
// for a missing row, ErrAlreadyExists for a unique violation, ErrUnavailable when the
// database cannot answer (worth a retry by the client). Times are unix milliseconds.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The kinds of error the store returns, checked with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrUnavailable   = errors.New("store unavailable")
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Store is the SQL store: a *sqlx.DB over SQLite or PostgreSQL. Its query methods run on the
// pool; Tx offers the same methods inside one transaction.
type Store struct {
	queries
	db      *sqlx.DB
	dialect string
	stmts   sync.Map // query -> *sqlx.Stmt, see prepared
	wanted  sync.Map // query -> true: prepared by a transaction, to prepare on the store
	// writing is held by this process's SQLite write in progress (nil on PostgreSQL): SQLite
	// admits one writer, and one that finds the database locked sleeps (busy_timeout), which
	// a queue here avoids.
	writing chan struct{}
	// wconn is the SQLite connection the batches write on, and reads by key run on while the
	// write lock is free (writerConn, onIdleWriter), guarded by writing.
	wconn *writer
	// batch queues the SQLite transactions waiting for writing, see batch.go.
	batch batcher
	// ckpt runs the SQLite checkpoints (nil on PostgreSQL), see checkpoint.go.
	ckpt *checkpointer
	// observeQuery is Config.ObserveQuery (nil: none).
	observeQuery func(op string, elapsed time.Duration)
	// prepare is Config.Prepare resolved: statements are prepared and reused (always on
	// SQLite).
	prepare bool
	// timeout bounds each PostgreSQL statement (0 on SQLite), see bound.
	timeout time.Duration
}

// Tx is one transaction of the store, begun by InTx. Its query methods are the store's.
type Tx struct {
	queries
}

// queries holds the methods of every table; it runs them on the store's pool (tx nil) or in
// one transaction.
type queries struct {
	s  *Store
	tx *sqlx.Tx
	// w: the statements run on the writer's connection, in a SQLite batch's transaction
	// (batch.go) or, for a read by key, while the write lock is free (onIdleWriter); tx is
	// then nil.
	w *writer
	// detached: the statements ignore their context's cancellation (a transaction of a
	// SQLite batch, see batch.go).
	detached bool
	// lookup: the statement reads a few rows by key (see byKey).
	lookup bool
}

// byKey returns q for a read of a few rows by key, the reads of every request's hot path. On
// SQLite such a read ignores its context's cancellation once it has begun (it is checked
// before): the driver watches a cancellable context with a goroutine of its own, and
// database/sql watches a row set's with another, which together cost as much CPU as the
// lookup itself, to interrupt a statement that ends in microseconds anyway. Reads that may
// scan (lists, analytics) keep their cancellation; so does every PostgreSQL statement, whose
// deadline is the statement timeout. On SQLite a read by key also runs on the writer's
// connection whenever the write lock is free (onIdleWriter).
func (q queries) byKey() queries {
	q.lookup = true
	return q
}

// context returns the context q's statements run under: ctx, less its cancellation in a
// batch, whose other transactions an interrupt would roll back, or for a lookup by key on
// SQLite. A context that has ended already is an error.
func (q queries) context(ctx context.Context) (context.Context, error) {
	switch {
	case q.detached:
		return context.WithoutCancel(ctx), nil
	case q.lookup && q.s.dialect != Postgres:
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return context.WithoutCancel(ctx), nil
	}
	return ctx, nil
}

// Config tunes the connection pool. Zero values take the defaults, sized for a 2-core
// machine.
type Config struct {
	// MaxConns caps open connections (default 10 on PostgreSQL, 4 on SQLite). On SQLite the
	// writer's connection, which every write transaction uses (see writerConn), and the
	// checkpointer's come on top.
	MaxConns int
	// StatementTimeout bounds each PostgreSQL statement (default 5 s; SQLite waits at most
	// 10 s for a lock instead). It is a deadline on the statement's context: when it passes,
	// lib/pq sends PostgreSQL a cancel request (which PgBouncer forwards to the server
	// connection running the statement) and the store returns ErrUnavailable. It is not sent
	// as the statement_timeout startup parameter, which PgBouncer refuses.
	StatementTimeout time.Duration
	// Prepare is PrepareOn, PrepareOff or PrepareAuto (also ""); SQLite ignores it, and
	// always prepares.
	Prepare string
	// ObserveQuery, when set, is told how long each query took, by kind: OpRead, OpWrite or
	// OpTx (a whole transaction, its queries included). It runs on the query's goroutine and
	// must not block.
	ObserveQuery func(op string, elapsed time.Duration)
}

// The values of Config.Prepare. PrepareOn prepares each PostgreSQL statement once per
// connection and reuses it. PrepareOff sends every statement unprepared, in one round trip
// (lib/pq's binary_parameters), and creates no named statement on the server: what a
// transaction pooler such as PgBouncer needs, since the next transaction of a client
// connection may run on another server connection, which does not know its statements.
// PrepareAuto is PrepareOff when Open finds a transaction pooler (see transactionPooled),
// PrepareOn otherwise.
const (
	PrepareAuto = "auto"
	PrepareOn   = "on"
	PrepareOff  = "off"
)

// sqliteBusyTimeout is how long a SQLite connection waits for a lock another connection or
// process holds.
const sqliteBusyTimeout = 10 * time.Second

// The kinds of query ObserveQuery is told of.
const (
	OpRead  = "read"
	OpWrite = "write"
	OpTx    = "tx"
)

// Open opens the database named by a URL, `sqlite:PATH` or `postgres://...`, and checks that
// it answers. It does not migrate; call Migrate. An SQLite file is created readable by its
// owner only, in WAL mode.
func Open(ctx context.Context, databaseURL string, cfg Config) (*Store, error) {
	var (
		db      *sqlx.DB
		dialect string
		prepare = true
		// checkpointerDSN opens the SQLite checkpointer's connection.
		checkpointerDSN string
		err             error
	)
	switch {
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path := strings.TrimPrefix(databaseURL, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, errors.New("sqlite: database URL has no path")
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("creating database directory: %w", err)
			}
		}
		// Only the owner may read the database; SQLite gives its -wal and -shm files the
		// database file's mode.
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600); err != nil {
			return nil, fmt.Errorf("creating sqlite database: %w", err)
		} else {
			f.Close()
		}
		if err := sqliteWAL(ctx, path); err != nil {
			return nil, err
		}
		dsn := func(busyTimeout time.Duration) string {
			q := url.Values{}
			q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
			q.Add("_pragma", "synchronous(NORMAL)")
			q.Add("_pragma", "foreign_keys(1)")
			// Temporary files in memory: above all the sub-journal of the savepoints that
			// group commit gives each transaction of a batch (batch.go), which SQLite
			// otherwise writes to a temporary file, one write(2) per page a transaction
			// changes. About 5% more logins per second (BENCHMARKS.md). The store's sorts
			// are small: its lists are paged and its hot queries read an index in order.
			q.Add("_pragma", "temp_store(memory)")
			q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walAutoCheckpointPages))
			q.Set("_txlock", "immediate")
			return "file:" + path + "?" + q.Encode()
		}
		// The checkpointer's connection waits at most restartWait (checkpointer.restart).
		checkpointerDSN = dsn(restartWait)
		db, err = sqlx.Open("sqlite", dsn(sqliteBusyTimeout))
		dialect = SQLite
		if cfg.MaxConns == 0 {
			cfg.MaxConns = 4
		}
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		u, perr := url.Parse(databaseURL)
		if perr != nil {
			return nil, errors.New("postgres: the database URL does not parse")
		}
		if cfg.StatementTimeout == 0 {
			cfg.StatementTimeout = 5 * time.Second
		}
		q := u.Query()
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", "5")
		}
		u.RawQuery = q.Encode()
		if prepare, err = postgresPrepare(ctx, u, cfg.Prepare); err != nil {
			return nil, err
		}
		if !prepare && q.Get("binary_parameters") == "" {
			// One round trip per unprepared statement with arguments (parse, bind and
			// execute before one sync), which a transaction pooler cannot split between two
			// server connections; without it lib/pq syncs after parsing.
			q.Set("binary_parameters", "yes")
			u.RawQuery = q.Encode()
		}
		db, err = sqlx.Open("postgres", u.String())
		dialect = Postgres
		if cfg.MaxConns == 0 {
			cfg.MaxConns = 10
		}
	default:
		return nil, fmt.Errorf("database URL must start with sqlite: or postgres://")
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s database: %w", dialect, err)
	}
	if dialect == SQLite {
		cfg.MaxConns++ // the writer's, held by the batches (writerConn)
	}
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(cfg.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, dialect: dialect, observeQuery: cfg.ObserveQuery, prepare: prepare}
	if dialect == Postgres {
		s.timeout = cfg.StatementTimeout
	}
	s.queries = queries{s: s}
	if dialect == SQLite {
		s.writing = make(chan struct{}, 1)
		s.startWriter()
		if err := s.startCheckpointer(checkpointerDSN); err != nil {
			s.stopWriter()
			db.Close()
			return nil, err
		}
	}
	if err := s.Ping(ctx); err != nil {
		s.stopWriter()
		s.stopCheckpointer()
		db.Close()
		return nil, err
	}
	if dialect == Postgres {
		if err := s.checkTransactions(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

// sqliteWAL puts the SQLite file at path in WAL mode, which persists in the file. Switching
// needs a moment of exclusive access, which SQLite's busy handler does not wait for, so when
// several processes open a new file at once it is retried here rather than on every
// connection of the pool.
func sqliteWAL(ctx context.Context, path string) error {
	db, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("opening sqlite database: %w", err)
	}
	defer db.Close()
	for attempt := 1; ; attempt++ {
		var mode string
		err = db.GetContext(ctx, &mode, `PRAGMA journal_mode=WAL`)
		if err == nil && strings.EqualFold(mode, "wal") {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("journal mode is %s", mode)
		}
		if attempt == 50 {
			return fmt.Errorf("%w: setting WAL mode: %v", ErrUnavailable, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		}
	}
}

// postgresPrepare resolves mode, a Config.Prepare, for the PostgreSQL database at u.
func postgresPrepare(ctx context.Context, u *url.URL, mode string) (bool, error) {
	switch mode {
	case PrepareOn:
		return true, nil
	case PrepareOff:
		return false, nil
	case "", PrepareAuto:
	default:
		return false, fmt.Errorf("prepare mode %q: want auto, on or off", mode)
	}
	db, err := sqlx.Open("postgres", u.String())
	if err != nil {
		return false, fmt.Errorf("opening postgres database: %w", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pooled, err := transactionPooled(ctx, db)
	if err != nil {
		return false, fmt.Errorf("%w: looking for a transaction pooler: %v", ErrUnavailable, err)
	}
	return !pooled, nil
}

// transactionPooled reports whether db reaches PostgreSQL through a transaction (or
// statement) pooler such as PgBouncer in pool_mode = transaction. It holds two client
// connections open and asks each, in turn, for its server process ID: on a direct (or
// session-pooled) connection each client connection keeps one server process for its life,
// and two open ones never share one; a transaction pooler hands its server connections back
// after every transaction, so the second client gets the process the first has just
// released (PgBouncer reuses the most recent first), or the first moves to another one. It
// can miss a pooler whose server connections are all busy with other clients' transactions
// at that moment, never the other way round.
func transactionPooled(ctx context.Context, db *sqlx.DB) (bool, error) {
	var conns [2]*sql.Conn
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			return false, err
		}
		defer c.Close()
		conns[i] = c
	}
	pid := func(c *sql.Conn) (int, error) {
		var p int
		err := c.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&p)
		return p, err
	}
	for range 3 {
		var pids [3]int
		for i, c := range []*sql.Conn{conns[0], conns[1], conns[0]} {
			p, err := pid(c)
			if err != nil {
				return false, err
			}
			pids[i] = p
		}
		if pids[0] == pids[1] || pids[1] == pids[2] || pids[0] != pids[2] {
			return true, nil
		}
	}
	return false, nil
}

// checkTransactions runs an empty transaction, which a pooler in statement pooling (PgBouncer's
// pool_mode = statement) refuses: the store needs transactions, so it says so at start rather
// than at the first write.
func (s *Store) checkTransactions(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err == nil {
		defer tx.Rollback()
		var one int
		if err = tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err == nil {
			err = tx.Commit()
		}
	}
	if err != nil {
		return fmt.Errorf("%w: postgres: a transaction failed at start (Latchkey needs transactions: behind PgBouncer, pool_mode must be transaction or session, not statement): %v", ErrUnavailable, err)
	}
	return nil
}

// Prepared reports whether the store prepares its statements (Config.Prepare resolved).
func (s *Store) Prepared() bool { return s.prepare }

// bound returns ctx bounded by the statement timeout, for one statement.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// Dialect returns SQLite or Postgres.
func (s *Store) Dialect() string { return s.dialect }

// Close closes the database.
func (s *Store) Close() error {
	s.stopWriter()
	s.stopCheckpointer()
	if s.writing != nil {
		s.writing <- struct{}{} // no batch runs inline any longer
		if s.wconn != nil {
			s.wconn.close(false)
			s.wconn = nil
		}
		<-s.writing
	}
	return s.db.Close()
}

// Stats returns the connection pool's statistics.
func (s *Store) Stats() sql.DBStats { return s.db.Stats() }

// observed tells Config.ObserveQuery how long a query of kind op that began at start took.
func (s *Store) observed(op string, start time.Time) {
	if s.observeQuery != nil {
		s.observeQuery(op, time.Since(start))
	}
}

// Ping checks that the database answers; it returns an error wrapping ErrUnavailable if not.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// InTx runs fn in one transaction, committing if fn returns nil and rolling back otherwise;
// fn's error comes back classified. On SQLite the transactions waiting for this process's
// turn to write are committed together (batch.go): fn may then run on another goroutine,
// and InTx returns once that commit is done.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if s.writing != nil {
		return s.inBatch(ctx, fn)
	}
	defer s.prepareWanted(ctx)
	defer s.observed(OpTx, time.Now())
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	if err := fn(&Tx{queries{s: s, tx: tx}}); err != nil {
		return classify(err)
	}
	return classify(tx.Commit())
}

// lockWrites waits for this process's turn to write to SQLite (at once on PostgreSQL), or
// for ctx to end; the caller calls unlock when its write is committed or rolled back.
func (s *Store) lockWrites(ctx context.Context) (unlock func(), err error) {
	if s.writing == nil {
		return func() {}, nil
	}
	select {
	case s.writing <- struct{}{}:
		return func() { <-s.writing }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// prepared returns query (written with ?) as a statement prepared once for the store and
// reused by every later call, so that the database parses and plans it once per connection
// rather than on every call; the statements are a fixed set, so the cache is bounded. The
// caller must not hold a connection of the store (a transaction): preparing takes one.
func (s *Store) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := s.db.PreparexContext(ctx, s.db.Rebind(query))
	if err != nil {
		return nil, classify(err)
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// prepareWanted prepares on the store the statements that transactions had to prepare for
// themselves; InTx calls it once its transaction is over and its connection free.
func (s *Store) prepareWanted(ctx context.Context) {
	s.wanted.Range(func(query, _ any) bool {
		if _, err := s.prepared(ctx, query.(string)); err == nil {
			s.wanted.Delete(query)
		}
		return true
	})
}

// stmt returns the prepared statement of query for q's pool or transaction.
func (q queries) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if q.w != nil {
		st, err := q.w.stmt(ctx, query)
		return st, classify(err)
	}
	if q.tx == nil {
		return q.s.prepared(ctx, query)
	}
	if st, ok := q.s.stmts.Load(query); ok {
		return q.tx.StmtxContext(ctx, st.(*sqlx.Stmt)), nil
	}
	// The transaction holds a connection, and preparing on the store would wait for another,
	// which a full pool of such transactions never frees: prepare on the transaction this
	// time, and on the store once the transaction is over (see prepareWanted).
	q.s.wanted.Store(query, true)
	st, err := q.tx.PreparexContext(ctx, q.s.db.Rebind(query))
	return st, classify(err)
}

// runner runs statements unprepared: a transaction, a connection or the pool.
type runner interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

// on returns what runs q's statements unprepared: its transaction, or the store's pool.
func (q queries) on() runner {
	if q.w != nil {
		return q.w.conn
	}
	if q.tx != nil {
		return q.tx
	}
	return q.s.db
}

// onIdleWriter returns q for a read by key on SQLite run on the writer's connection, when
// the write lock is free, and a function to call once the read is over; else q as it is.
// The writer's connection has in its cache the pages the last writes changed, which SQLite
// drops from every other connection's: a read there parses no page again, and reads none
// from the files. The read never waits for the lock; a write that comes while it holds it
// waits for one read by key.
func (q queries) onIdleWriter(ctx context.Context) (queries, func()) {
	if !q.lookup || q.inTx() || q.s.writing == nil {
		return q, func() {}
	}
	select {
	case q.s.writing <- struct{}{}:
	default:
		return q, func() {}
	}
	w, err := q.s.writerConn(ctx)
	if err != nil {
		<-q.s.writing
		return q, func() {}
	}
	q.w = w
	return q, func() { <-q.s.writing }
}

// inTx reports whether q's statements run in a transaction, or on the writer's connection
// under the write lock (a read by key, onIdleWriter): either way, not on the pool.
func (q queries) inTx() bool { return q.tx != nil || q.w != nil }

// get reads one row into dest; no row is ErrNotFound.
func (q queries) get(ctx context.Context, dest any, query string, args ...any) error {
	ctx, err := q.context(ctx)
	if err != nil {
		return err
	}
	q, done := q.onIdleWriter(ctx)
	defer done()
	defer q.s.observed(OpRead, time.Now())
	ctx, cancel := q.s.bound(ctx)
	defer cancel()
	if !q.s.prepare {
		return classify(sqlx.GetContext(ctx, q.on(), dest, q.s.db.Rebind(query), args...))
	}
	st, err := q.stmt(ctx, query)
	if err != nil {
		return err
	}
	return classify(st.GetContext(ctx, dest, args...))
}

// selectRows reads every row into dest, a pointer to a slice.
func (q queries) selectRows(ctx context.Context, dest any, query string, args ...any) error {
	ctx, err := q.context(ctx)
	if err != nil {
		return err
	}
	q, done := q.onIdleWriter(ctx)
	defer done()
	defer q.s.observed(OpRead, time.Now())
	ctx, cancel := q.s.bound(ctx)
	defer cancel()
	if !q.s.prepare {
		return classify(sqlx.SelectContext(ctx, q.on(), dest, q.s.db.Rebind(query), args...))
	}
	st, err := q.stmt(ctx, query)
	if err != nil {
		return err
	}
	return classify(st.SelectContext(ctx, dest, args...))
}

// row reads one row into dest, column by column; no row is ErrNotFound.
func (q queries) row(ctx context.Context, query string, args []any, dest ...any) error {
	ctx, err := q.context(ctx)
	if err != nil {
		return err
	}
	q, done := q.onIdleWriter(ctx)
	defer done()
	defer q.s.observed(OpRead, time.Now())
	ctx, cancel := q.s.bound(ctx)
	defer cancel()
	if !q.s.prepare {
		return classify(q.on().QueryRowxContext(ctx, q.s.db.Rebind(query), args...).Scan(dest...))
	}
	st, err := q.stmt(ctx, query)
	if err != nil {
		return err
	}
	return classify(st.QueryRowxContext(ctx, args...).Scan(dest...))
}

// exec runs a statement and returns how many rows it changed. Outside a transaction it
// waits for this process's turn to write to SQLite.
func (q queries) exec(ctx context.Context, query string, args ...any) (int64, error) {
	ctx, err := q.context(ctx)
	if err != nil {
		return 0, err
	}
	defer q.s.observed(OpWrite, time.Now())
	if !q.inTx() {
		unlock, err := q.s.lockWrites(ctx)
		if err != nil {
			return 0, err
		}
		defer unlock()
	}
	ctx, cancel := q.s.bound(ctx)
	defer cancel()
	var res sql.Result
	if q.s.prepare {
		var st *sqlx.Stmt
		if st, err = q.stmt(ctx, query); err != nil {
			return 0, err
		}
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = q.on().ExecContext(ctx, q.s.db.Rebind(query), args...)
	}
	if err != nil {
		return 0, classify(err)
	}
	n, err := res.RowsAffected()
	return n, classify(err)
}

// execOne runs a statement that must change exactly one row, and returns an error wrapping
// ErrNotFound, naming what, when it changed none.
func (q queries) execOne(ctx context.Context, what, query string, args ...any) error {
	n, err := q.exec(ctx, query, args...)
	if err == nil && n != 1 {
		err = fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

// execOnce runs a statement without preparing it, for statements whose text is made for one
// call (bulk inserts of any size).
func (q queries) execOnce(ctx context.Context, query string, args ...any) error {
	ctx, err := q.context(ctx)
	if err != nil {
		return err
	}
	defer q.s.observed(OpWrite, time.Now())
	query = q.s.db.Rebind(query)
	ctx, cancel := q.s.bound(ctx)
	defer cancel()
	if q.inTx() {
		_, err = q.on().ExecContext(ctx, query, args...)
	} else {
		var unlock func()
		if unlock, err = q.s.lockWrites(ctx); err != nil {
			return err
		}
		defer unlock()
		_, err = q.s.db.ExecContext(ctx, query, args...)
	}
	return classify(err)
}

// placeholders returns n placeholders: "?, ?".
func placeholders(n int) string {
	return repeatRow("?", n)
}

// values returns rows groups of n placeholders: "(?, ?), (?, ?)".
func values(rows, n int) string {
	return repeatRow("("+placeholders(n)+")", rows)
}

// repeatRow returns rows copies of row, comma-separated.
func repeatRow(row string, rows int) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// classify maps driver errors to the package's error kinds, leaving others as they are.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var (
		perr *pq.Error
		serr *sqlite.Error
	)
	switch {
	case errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrUnavailable), errors.Is(err, ErrNotFound):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.As(err, &perr):
		switch {
		case perr.Code == "23505":
			return fmt.Errorf("%w: %v", ErrAlreadyExists, err)
		case strings.HasPrefix(string(perr.Code), "08"), strings.HasPrefix(string(perr.Code), "57P"),
			perr.Code == "53300", perr.Code == "57014", perr.Code == "40001", perr.Code == "40P01",
			perr.Code == "25006", perr.Code == "0A000" && strings.Contains(perr.Message, "during recovery"):
			// connection failures, shutdown, too many connections, statement timeout,
			// serialization failure, deadlock, and a write or a transaction reaching a
			// standby during a failover ("read-only transaction", "cannot set transaction
			// read-write mode during recovery"): all worth a retry by the client.
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	case errors.As(err, &serr):
		switch serr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrAlreadyExists, err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	case errors.Is(err, driver.ErrBadConn), isNetError(err), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, context.DeadlineExceeded),
		err.Error() == "sql: database is closed": // database/sql has no exported value for it
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

func isNetError(err error) bool {
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
