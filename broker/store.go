package broker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/latchkey/latchkey/migrations"
)

// Store is the SQL store behind the broker: a *sqlx.DB over SQLite or PostgreSQL.
type Store struct {
	db      *sqlx.DB
	dialect string   // "sqlite" or "postgres"
	stmts   sync.Map // query -> *sqlx.Stmt, see prepared
	wanted  sync.Map // query -> true: prepared by a transaction, to prepare on the store
	// writing is held by this process's SQLite write in progress (nil on PostgreSQL): SQLite
	// admits one writer, and one that finds the database locked sleeps (busy_timeout), which
	// a queue here avoids.
	writing chan struct{}
}

// StoreConfig tunes the connection pool. Zero values take the defaults, sized for a
// 2-core machine.
type StoreConfig struct {
	// MaxConns caps open connections (default 10 on PostgreSQL, 4 on SQLite).
	MaxConns int
	// StatementTimeout bounds each PostgreSQL statement (default 5 s; SQLite waits at most
	// 10 s for a lock instead).
	StatementTimeout time.Duration
}

// OpenStore opens the database named by a URL, `sqlite:PATH` or `postgres://...`, with the
// default pool, and checks that it answers. It does not migrate; call Migrate.
func OpenStore(ctx context.Context, databaseURL string) (*Store, error) {
	return OpenStoreConfig(ctx, databaseURL, StoreConfig{})
}

// OpenStoreConfig is OpenStore with a pool configuration.
func OpenStoreConfig(ctx context.Context, databaseURL string, cfg StoreConfig) (*Store, error) {
	var (
		db      *sqlx.DB
		dialect string
		err     error
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
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Set("_txlock", "immediate")
		db, err = sqlx.Open("sqlite", "file:"+path+"?"+q.Encode())
		dialect = "sqlite"
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
		if q.Get("statement_timeout") == "" {
			q.Set("statement_timeout", fmt.Sprint(cfg.StatementTimeout.Milliseconds()))
		}
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", "5")
		}
		u.RawQuery = q.Encode()
		db, err = sqlx.Open("postgres", u.String())
		dialect = "postgres"
		if cfg.MaxConns == 0 {
			cfg.MaxConns = 10
		}
	default:
		return nil, fmt.Errorf("database URL must start with sqlite: or postgres://")
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s database: %w", dialect, err)
	}
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(cfg.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, dialect: dialect}
	if dialect == "sqlite" {
		s.writing = make(chan struct{}, 1)
	}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, err
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

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers; it returns an error wrapping ErrUnavailable if not.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Migrate applies the embedded migrations of the store's dialect that are not applied yet,
// each in its own transaction, and returns how many it applied. Several replicas may migrate
// at once: the loser of a race fails its transaction and retries, finding the work done.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	applied := 0
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var n int
		n, err = s.migrateOnce(ctx)
		applied += n
		if err == nil {
			return applied, nil
		}
		select {
		case <-ctx.Done():
			return applied, err
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	return applied, err
}

func (s *Store) migrateOnce(ctx context.Context) (int, error) {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return 0, fmt.Errorf("creating schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations.FS, s.dialect+"/*.sql")
	if err != nil {
		return 0, err
	}
	sort.Strings(names)
	applied := 0
	for _, name := range names {
		version := strings.TrimSuffix(filepath.Base(name), ".sql")
		body, err := migrations.FS.ReadFile(name)
		if err != nil {
			return applied, err
		}
		done, err := s.applyMigration(ctx, version, string(body))
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", version, err)
		}
		if done {
			applied++
		}
	}
	return applied, nil
}

func (s *Store) applyMigration(ctx context.Context, version, body string) (bool, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), version); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
		version, time.Now().UnixMilli()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// inTx runs fn in one transaction, committing if fn returns nil and rolling back otherwise.
// Database errors come back classified (ErrAlreadyExists, ErrNotFound, ErrUnavailable).
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	defer s.prepareWanted(ctx)
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return classify(err)
	}
	return classify(tx.Commit())
}

// q rebinds a query written with ? placeholders for the store's dialect.
func (s *Store) q(query string) string { return s.db.Rebind(query) }

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
			perr.Code == "53300", perr.Code == "57014", perr.Code == "40001", perr.Code == "40P01":
			// connection failures, shutdown, too many connections, statement timeout,
			// serialization failure and deadlock: all worth a retry by the client.
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	case errors.As(err, &serr):
		switch serr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrAlreadyExists, err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	case errors.Is(err, driverBadConn), isNetError(err), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, context.DeadlineExceeded),
		err.Error() == "sql: database is closed": // database/sql has no exported value for it
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// CountRows returns the number of rows in one of the store's tables (for tests and tools).
func (s *Store) CountRows(ctx context.Context, table string) (int, error) {
	if !knownTable(table) {
		return 0, fmt.Errorf("unknown table %q", table)
	}
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM `+table)
	return n, classify(err)
}

// DumpTable returns every row of one of the store's tables as text, one line a row in a
// stable order (for tests and tools).
func (s *Store) DumpTable(ctx context.Context, table string) (string, error) {
	if !knownTable(table) {
		return "", fmt.Errorf("unknown table %q", table)
	}
	rows, err := s.db.QueryxContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return "", classify(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		vals, err := rows.SliceScan()
		if err != nil {
			return "", err
		}
		lines = append(lines, fmt.Sprintf("%v", vals))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n", rows.Err()
}

func knownTable(t string) bool {
	switch t {
	case "projects", "api_secrets", "users", "passkeys", "ceremonies", "connect_tokens", "signing_keys", "verified_tokens", "events":
		return true
	}
	return false
}
