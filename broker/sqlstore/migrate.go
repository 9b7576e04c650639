package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/latchkey/latchkey/migrations"
)

// migration is one version of the schema as the store's dialect applies it.
type migration struct {
	version string // NNNN_name
	body    string
}

// dialectMigrations returns the migrations of package migrations for dialect, in order: each
// NNNN_name.sql, or NNNN_name.<dialect>.sql where the migration differs between dialects.
func dialectMigrations(dialect string) ([]migration, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	byVersion := map[string]string{}
	for _, name := range names {
		base := strings.TrimSuffix(name, ".sql")
		version, suffix, specific := strings.Cut(base, ".")
		switch {
		case !specific:
			if _, ok := byVersion[version]; !ok {
				byVersion[version] = name
			}
		case suffix == dialect:
			byVersion[version] = name
		case suffix != SQLite && suffix != Postgres:
			return nil, fmt.Errorf("migration %s: unknown dialect %q", name, suffix)
		}
	}
	out := make([]migration, 0, len(byVersion))
	for version, name := range byVersion {
		body, err := migrations.FS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version, string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies the migrations that are not applied yet, each in its own transaction, and
// returns how many it applied. Several replicas may migrate at once: the loser of a race
// fails its transaction and retries, finding the work done.
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
	bctx, cancel := s.bound(ctx)
	_, err := s.db.ExecContext(bctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("creating schema_migrations: %w", classify(err))
	}
	ms, err := dialectMigrations(s.dialect)
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, m := range ms {
		done, err := s.applyMigration(ctx, m)
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.version, err)
		}
		if done {
			applied++
		}
	}
	return applied, nil
}

// applyMigration applies m unless schema_migrations lists it, in one transaction with its
// row there, each statement within the statement timeout. Migrations are DDL: they run
// unprepared.
func (s *Store) applyMigration(ctx context.Context, m migration) (bool, error) {
	if s.timeout > 0 {
		// The transaction's statements, three, share one context.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 3*s.timeout)
		defer cancel()
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, classify(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version); err != nil {
		return false, classify(err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.body); err != nil {
		return false, classify(err)
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
		m.version, time.Now().UnixMilli()); err != nil {
		return false, classify(err)
	}
	return true, classify(tx.Commit())
}
