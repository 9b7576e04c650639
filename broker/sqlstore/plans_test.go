package sqlstore

// Internal test of the query plans SQLite chooses for the statements the hot paths run: the
// statements are the ones the store really prepared (its statement cache), not copies.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// TestPasskeyLookupsUseTheUserIndex runs the store's per-user passkey lookups on SQLite and
// checks, with EXPLAIN QUERY PLAN, that each reads passkeys through the (project_id, user_id)
// index rather than a range over all of the project's passkeys: with passkeys_created
// (project_id, created_at) alone, SQLite read every passkey of the project for each identifier
// login, so login/start slowed down with the number of users (a quarter of the broker's CPU
// at 1,000 users).
func TestPasskeyLookupsUseTheUserIndex(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Each lookup once, so that its statement is in the cache (a missing user is enough).
	if _, _, err := s.PasskeysByIdentifier(ctx, "prj", "nobody"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasskeysOf(ctx, "prj", "usr"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasskeysPage(ctx, PasskeyPage{ProjectID: "prj", UserID: "usr", Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasskeysPage(ctx, PasskeyPage{ProjectID: "prj", UserID: "usr", After: "c", AfterCreatedAt: 1, Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeletePasskeysOf(ctx, "prj", "usr"); err != nil {
		t.Fatal(err)
	}
	// The statements prepared for the pool, and those prepared on the writer's connection,
	// which runs the writes and the reads by key made while it is idle.
	var queries []string
	s.stmts.Range(func(k, _ any) bool {
		queries = append(queries, k.(string))
		return true
	})
	s.writing <- struct{}{}
	if s.wconn != nil {
		for query := range s.wconn.stmts {
			queries = append(queries, query)
		}
	}
	<-s.writing
	slices.Sort(queries)
	queries = slices.Compact(queries)
	checked := 0
	for _, query := range queries {
		byUser := strings.Contains(query, "user_id = ?") || strings.Contains(query, "u.identifier = ?")
		if !byUser || !strings.Contains(query, "FROM passkeys") {
			continue
		}
		checked++
		args := make([]any, strings.Count(query, "?"))
		for i := range args {
			args[i] = fmt.Sprint("x", i)
		}
		rows, err := s.db.QueryxContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "passkeys_project_user (project_id=? AND user_id=?") {
			t.Errorf("%s\nis planned as\n%s\nwant a search of passkeys_project_user by project_id and user_id", strings.Join(strings.Fields(query), " "), text)
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d passkey lookups by user, want at least 5: the statement cache no longer holds them?", checked)
	}
}

// TestSQLiteTempStoreInMemory: every connection of a SQLite store keeps its temporary files
// (the savepoints' sub-journal of each batch) in memory, which the batches' speed relies on.
func TestSQLiteTempStoreInMemory(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	forEachPooledConn(t, s, func(i int, c *sql.Conn) {
		var mode int
		if err := c.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&mode); err != nil || mode != 2 {
			t.Errorf("connection %d: PRAGMA temp_store = %d, %v; want 2 (memory)", i, mode, err)
		}
	})
}

// forEachPooledConn calls f with each of the 4 connections of s's pool (numbered from 1),
// holding them all at once so that each is a different one.
func forEachPooledConn(t *testing.T, s *Store, f func(i int, c *sql.Conn)) {
	t.Helper()
	conns := make([]*sql.Conn, 0, 4)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 4 {
		c, err := s.db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		f(len(conns), c)
	}
}

// openSQLite opens a store on a new SQLite database, closed when the test ends.
func openSQLite(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), sqlstoretest.DatabaseURL(t, "sqlite"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSQLiteAutoCheckpointBackstop: every connection of a SQLite store, the checkpointer's
// included, leaves SQLite's own checkpoint at walAutoCheckpointPages, the backstop behind the
// checkpointer (checkpoint.go), rather than at SQLite's 1,000 pages, which would run it in
// the writes' commits again.
func TestSQLiteAutoCheckpointBackstop(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	check := func(name string, c interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) {
		var pages int
		if err := c.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != walAutoCheckpointPages {
			t.Errorf("%s: PRAGMA wal_autocheckpoint = %d, %v; want %d", name, pages, err, walAutoCheckpointPages)
		}
	}
	forEachPooledConn(t, s, func(i int, c *sql.Conn) { check(fmt.Sprintf("pooled connection %d", i), c) })
	check("the checkpointer's connection", s.ckpt.db)
}
