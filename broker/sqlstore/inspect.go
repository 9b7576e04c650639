package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Tables are the store's tables, in the order the schema creates them.
var Tables = []string{"projects", "api_secrets", "users", "passkeys", "ceremonies", "connect_tokens", "signing_keys",
	"verified_tokens", "events", "ceremony_outcomes", "webhook_endpoints", "webhook_attempts", "analytics_counters", "apps",
	"rollouts", "append_declines"}

// CountRows returns the number of rows in one of Tables (for tests and tools).
func (s *Store) CountRows(ctx context.Context, table string) (int, error) {
	if !slices.Contains(Tables, table) {
		return 0, fmt.Errorf("unknown table %q", table)
	}
	var n int
	err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM `+table)
	return n, classify(err)
}

// DumpTable returns every row of one of Tables as text, one line a row in a stable order
// (for tests and tools).
func (s *Store) DumpTable(ctx context.Context, table string) (string, error) {
	if !slices.Contains(Tables, table) {
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

// Column describes one column as the database reports it, in a form the two dialects share:
// Type is "text", "bigint" or "boolean".
type Column struct {
	Name     string
	Type     string
	Nullable bool
}

// Schema returns the store's tables (schema_migrations included) with their columns in
// name order, and the names of its indexes other than those behind primary keys and unique
// constraints, as the database reports them after migrating.
func (s *Store) Schema(ctx context.Context) (map[string][]Column, []string, error) {
	tables := map[string][]Column{}
	var indexes []string
	switch s.dialect {
	case SQLite:
		var names []string
		if err := s.db.SelectContext(ctx, &names, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`); err != nil {
			return nil, nil, classify(err)
		}
		for _, t := range names {
			var cols []struct {
				CID     int     `db:"cid"`
				Name    string  `db:"name"`
				Type    string  `db:"type"`
				NotNull bool    `db:"notnull"`
				Default *string `db:"dflt_value"`
				PK      int     `db:"pk"`
			}
			if err := s.db.SelectContext(ctx, &cols, `SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`, t); err != nil {
				return nil, nil, classify(err)
			}
			for _, c := range cols {
				// SQLite lets primary key columns other than INTEGER PRIMARY KEY hold NULL
				// unless declared NOT NULL; PostgreSQL makes them NOT NULL.
				tables[t] = append(tables[t], Column{Name: c.Name, Type: strings.ToLower(c.Type), Nullable: !c.NotNull && c.PK == 0})
			}
		}
		if err := s.db.SelectContext(ctx, &indexes, `SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'`); err != nil {
			return nil, nil, classify(err)
		}
	case Postgres:
		var cols []struct {
			Table    string `db:"table_name"`
			Name     string `db:"column_name"`
			Type     string `db:"data_type"`
			Nullable string `db:"is_nullable"`
		}
		if err := s.db.SelectContext(ctx, &cols, `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
			WHERE table_schema = current_schema()`); err != nil {
			return nil, nil, classify(err)
		}
		for _, c := range cols {
			tables[c.Table] = append(tables[c.Table], Column{Name: c.Name, Type: c.Type, Nullable: c.Nullable == "YES"})
		}
		if err := s.db.SelectContext(ctx, &indexes, `SELECT indexname FROM pg_indexes i WHERE schemaname = current_schema()
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u')
				AND c.connamespace = i.schemaname::regnamespace)`); err != nil {
			return nil, nil, classify(err)
		}
	}
	for t := range tables {
		slices.SortFunc(tables[t], func(a, b Column) int { return strings.Compare(a.Name, b.Name) })
	}
	sort.Strings(indexes)
	return tables, indexes, nil
}
