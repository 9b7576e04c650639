package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// TestInTxBatched lines up transactions behind one that holds the writer, so that on SQLite
// they run as one batch (one SQLite transaction, a savepoint each), and checks that each
// caller still gets its own transaction: a function that fails or panics leaves nothing and
// fails only its own caller, a caller whose context ends before its turn is skipped, one
// whose context ends while its function runs still commits, and the others commit. On
// PostgreSQL, where transactions are not batched, the same outcomes hold.
func TestInTxBatched(t *testing.T) {
	errBoom := errors.New("boom")
	for _, d := range sqlstoretest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			s, url := openStore(t, d)
			db := rawDB(t, url)
			ctx := t.Context()
			addProject(t, s, "pa")
			mustNil(t, "InsertVerifiedToken(existing)", s.InsertVerifiedToken(ctx, sqlstore.VerifiedToken{ProjectID: "pa", JTI: "existing", VerifiedAt: t0, ExpiresAt: t0 + 1}))
			insert := func(tx *sqlstore.Tx, jti string) error {
				return tx.InsertVerifiedToken(ctx, sqlstore.VerifiedToken{ProjectID: "pa", JTI: jti, VerifiedAt: t0, ExpiresAt: t0 + 1})
			}

			// The first transaction holds the writer until gate opens.
			gate, holding := make(chan struct{}), make(chan struct{})
			firstErr := make(chan error, 1)
			go func() {
				firstErr <- s.InTx(ctx, func(tx *sqlstore.Tx) error {
					close(holding)
					<-gate
					return insert(tx, "first")
				})
			}()
			<-holding

			const n = 40
			type outcome struct {
				err      error
				panicked any
			}
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				ran      = map[int]bool{}
				outcomes [n]outcome
			)
			cancels := make([]context.CancelFunc, n)
			for i := range n {
				jctx, cancel := context.WithCancel(ctx)
				cancels[i] = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						if v := recover(); v != nil {
							outcomes[i].panicked = v
						}
					}()
					outcomes[i].err = s.InTx(jctx, func(tx *sqlstore.Tx) error {
						mu.Lock()
						ran[i] = true
						mu.Unlock()
						jti := fmt.Sprintf("jti-%02d", i)
						switch i % 5 {
						case 0: // writes, then fails
							if err := insert(tx, jti); err != nil {
								return err
							}
							return errBoom
						case 1: // writes, then panics
							if err := insert(tx, jti); err != nil {
								return err
							}
							panic("boom " + jti)
						case 3: // its context ends while it runs: in a batch it still commits
							cancels[i]()
							return insert(tx, jti)
						case 4: // a duplicate: ErrAlreadyExists, its first row undone
							if err := insert(tx, jti); err != nil {
								return err
							}
							return insert(tx, "existing")
						}
						return insert(tx, jti) // case 2: commits
					})
				}()
			}
			// Case 2 of every tenth: its context ends before its turn (or before it queues).
			for i := 2; i < n; i += 10 {
				cancels[i]()
			}
			if d == sqlstore.SQLite {
				// Every other transaction is queued behind the first before it goes on.
				deadline := time.Now().Add(30 * time.Second)
				for sqlstore.QueuedTx(s) < n-n/10 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if q := sqlstore.QueuedTx(s); q < n-n/10 {
					t.Fatalf("%d transactions queued behind the first, want %d", q, n-n/10)
				}
			}
			close(gate)
			wg.Wait()
			mustNil(t, "InTx(first)", <-firstErr)

			want := []string{"existing", "first"}
			for i, o := range outcomes {
				jti := fmt.Sprintf("jti-%02d", i)
				switch {
				case i%10 == 2 && d != sqlstore.SQLite:
					// No queue: the cancellation may come before, during or after the
					// transaction; it commits all or nothing.
					if o.err == nil {
						want = append(want, jti)
					}
				case i%10 == 2: // cancelled before its turn
					if o.err == nil || ran[i] {
						t.Errorf("transaction %d, cancelled before its turn: err %v, ran %v; want an error and not run", i, o.err, ran[i])
					}
					if !errors.Is(o.err, sqlstore.ErrUnavailable) {
						t.Errorf("transaction %d, cancelled before its turn: %v, want ErrUnavailable", i, o.err)
					}
				case i%5 == 0:
					checkErr(t, fmt.Sprintf("InTx(%d, fails)", i), o.err, errBoom)
				case i%5 == 1:
					if o.panicked == nil || !strings.Contains(fmt.Sprint(o.panicked), "boom "+jti) {
						t.Errorf("transaction %d panicked with %v, want its own panic", i, o.panicked)
					}
				case i%5 == 4:
					checkErr(t, fmt.Sprintf("InTx(%d, duplicate)", i), o.err, sqlstore.ErrAlreadyExists)
				case i%5 == 3 && d != sqlstore.SQLite:
					// PostgreSQL honours the cancellation: the statement fails, nothing is written.
					if o.err == nil {
						t.Errorf("InTx(%d), cancelled while it ran on PostgreSQL = nil, want an error", i)
					}
				default: // 2, and 3 on SQLite, commit
					mustNil(t, fmt.Sprintf("InTx(%d)", i), o.err)
					want = append(want, jti)
				}
			}
			var got []string
			if err := db.SelectContext(ctx, &got, `SELECT jti FROM verified_tokens WHERE project_id = 'pa' ORDER BY jti`); err != nil {
				t.Fatal(err)
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("verified_tokens after the batch = %v, want %v", got, want)
			}
			for _, c := range cancels {
				c()
			}
		})
	}
}

// TestInTxInline: on SQLite, a transaction with none running or queued runs on its caller's
// goroutine; one that arrives while another holds the write lock queues for the writer
// goroutine, and both commit.
func TestInTxInline(t *testing.T) {
	s, _ := openStore(t, sqlstore.SQLite)
	ctx := t.Context()
	addProject(t, s, "pa")
	onWriter := func() bool {
		pcs := make([]uintptr, 64)
		frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
		for {
			f, more := frames.Next()
			if strings.HasSuffix(f.Function, ".writeLoop") {
				return true
			}
			if !more {
				return false
			}
		}
	}
	insert := func(tx *sqlstore.Tx, jti string) error {
		return tx.InsertVerifiedToken(ctx, sqlstore.VerifiedToken{ProjectID: "pa", JTI: jti, VerifiedAt: t0, ExpiresAt: t0 + 1})
	}

	var firstOnWriter bool
	gate, holding := make(chan struct{}), make(chan struct{})
	firstErr := make(chan error, 1)
	go func() {
		firstErr <- s.InTx(ctx, func(tx *sqlstore.Tx) error {
			firstOnWriter = onWriter()
			close(holding)
			<-gate
			return insert(tx, "first")
		})
	}()
	<-holding
	var secondOnWriter bool
	secondErr := make(chan error, 1)
	go func() {
		secondErr <- s.InTx(ctx, func(tx *sqlstore.Tx) error {
			secondOnWriter = onWriter()
			return insert(tx, "second")
		})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for sqlstore.QueuedTx(s) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if q := sqlstore.QueuedTx(s); q != 1 {
		t.Errorf("%d transactions queued behind the first, want 1", q)
	}
	close(gate)
	mustNil(t, "InTx(first)", <-firstErr)
	mustNil(t, "InTx(second)", <-secondErr)
	if firstOnWriter {
		t.Error("the first transaction, with none before it, ran on the writer goroutine; want its caller's")
	}
	if !secondOnWriter {
		t.Error("the second transaction, queued behind the first, ran on its caller's goroutine; want the writer's")
	}
	if n := rowCount(t, s, "verified_tokens"); n != 2 {
		t.Errorf("%d verified_tokens after both transactions, want 2", n)
	}
}

// TestSQLiteFailedCommit: a COMMIT that fails (a foreign key that SQLite checks only at the
// commit) leaves nothing of its batch, tells its callers, and leaves the writer able to
// write again: SQLite keeps the transaction open after such a failure, and a batch that did
// not roll it back would fail every later one. Alone (inline) and in a queued batch.
func TestSQLiteFailedCommit(t *testing.T) {
	s, _ := openStore(t, sqlstore.SQLite)
	ctx := t.Context()
	addProject(t, s, "pa")
	orphan := func(id string) func(tx *sqlstore.Tx) error {
		return func(tx *sqlstore.Tx) error {
			if err := sqlstore.ExecInTx(ctx, tx, `PRAGMA defer_foreign_keys = ON`); err != nil {
				return err
			}
			return sqlstore.ExecInTx(ctx, tx, `INSERT INTO users (id, project_id, identifier, display_name, webauthn_id, created_at)
				VALUES (?, 'no-such-project', ?, ?, ?, 1)`, id, id, id, id)
		}
	}
	insert := func(jti string) func(tx *sqlstore.Tx) error {
		return func(tx *sqlstore.Tx) error {
			return tx.InsertVerifiedToken(ctx, sqlstore.VerifiedToken{ProjectID: "pa", JTI: jti, VerifiedAt: t0, ExpiresAt: t0 + 1})
		}
	}
	// has reports whether verified_tokens holds jti: inserting it again conflicts.
	has := func(jti string) bool {
		t.Helper()
		undo := errors.New("undo")
		err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
			if err := insert(jti)(tx); err != nil {
				return err
			}
			return undo
		})
		if !errors.Is(err, sqlstore.ErrAlreadyExists) && !errors.Is(err, undo) {
			t.Fatalf("InTx(insert %s again) = %v", jti, err)
		}
		return errors.Is(err, sqlstore.ErrAlreadyExists)
	}
	users := rowCount(t, s, "users")

	if err := s.InTx(ctx, orphan("u-alone")); err == nil {
		t.Error("InTx(a user of no project, checked at the commit) = nil, want the commit's error")
	}
	mustNil(t, "InTx(after the failed commit)", s.InTx(ctx, insert("after-alone")))

	// A queued batch: the orphan between two good transactions.
	release := sqlstore.HoldWrites(s)
	fns := []func(tx *sqlstore.Tx) error{insert("before"), orphan("u-queued"), insert("behind")}
	errs := make([]chan error, len(fns))
	for i, fn := range fns {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.InTx(ctx, fn) }()
		deadline := time.Now().Add(30 * time.Second)
		for sqlstore.QueuedTx(s) < i+1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	if q := sqlstore.QueuedTx(s); q != len(fns) {
		t.Fatalf("%d transactions queued, want %d", q, len(fns))
	}
	release()
	got := make([]error, len(fns))
	for i := range fns {
		got[i] = <-errs[i]
	}
	if got[1] == nil {
		t.Error("InTx(the orphan, queued) = nil, want the commit's error")
	}
	mustNil(t, "InTx(after the failed batch)", s.InTx(ctx, insert("after-queued")))

	if n := rowCount(t, s, "users"); n != users {
		t.Errorf("%d users after the failed commits, want %d", n, users)
	}
	// What each caller was told is what the store holds.
	for i, jti := range map[int]string{0: "before", 2: "behind"} {
		if stored := has(jti); (got[i] == nil) != stored {
			t.Errorf("InTx(%s) = %v, but stored = %v", jti, got[i], stored)
		}
	}
	for _, jti := range []string{"after-alone", "after-queued"} {
		if !has(jti) {
			t.Errorf("verified_tokens lacks %s, written after a failed commit", jti)
		}
	}
}

// TestSQLiteLookupOnIdleWriter: a read by key runs on the writer's connection when no write
// runs or waits, and on the pool's when one does, without waiting for it. A temporary table
// that only the writer's connection has, and that hides the real one of its name there,
// tells which connection answered.
func TestSQLiteLookupOnIdleWriter(t *testing.T) {
	s, _ := openStore(t, sqlstore.SQLite)
	ctx := t.Context()
	addProject(t, s, "pa")
	mustNil(t, "InTx(a temporary api_secrets on the writer's connection)", s.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := sqlstore.ExecInTx(ctx, tx, `CREATE TEMP TABLE api_secrets AS SELECT * FROM main.api_secrets WHERE 0`); err != nil {
			return err
		}
		return sqlstore.ExecInTx(ctx, tx, `INSERT INTO temp.api_secrets (id, project_id, secret_hash, created_at) VALUES ('sec-w', 'pa', 'only-on-the-writer', 1)`)
	}))
	live, err := s.SecretLive(ctx, "pa", "only-on-the-writer")
	mustNil(t, "SecretLive(writer idle)", err)
	if !live {
		t.Error("a read by key with the writer idle did not run on the writer's connection")
	}

	release := sqlstore.HoldWrites(s)
	done := make(chan error, 1)
	go func() {
		live, err := s.SecretLive(ctx, "pa", "only-on-the-writer")
		if err == nil && live {
			err = errors.New("it ran on the writer's connection")
		}
		done <- err
	}()
	select {
	case err := <-done:
		mustNil(t, "SecretLive(during a write)", err)
	case <-time.After(30 * time.Second):
		t.Error("a read by key waited for the write lock")
	}
	release()
}

// TestLookupWithEndedContext: a read by key (which on SQLite runs without its context's
// cancellation once begun) still refuses to begin under a context that has ended.
func TestLookupWithEndedContext(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		addProject(t, s, "pa")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.Project(ctx, "pa")
		checkErr(t, "Project(ended context)", err, context.Canceled)
		_, _, err = s.PasskeyWithUser(ctx, "pa", "cred")
		checkErr(t, "PasskeyWithUser(ended context)", err, context.Canceled)
		if _, err := s.Project(t.Context(), "pa"); err != nil {
			t.Errorf("Project() = %v", err)
		}
	})
}

// TestRecordVerified: the jti and the event of a verification are written both or neither:
// neither for a replayed jti (ErrAlreadyExists), a user who no longer has the identifier, or
// a secret hash that is not a live secret of the project (ErrSecretNotLive, checked first).
func TestRecordVerified(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		addUser(t, s, "pa", "u-1", "pat@example.com", t0)
		for _, sec := range []sqlstore.APISecret{
			{ID: "sec-live", ProjectID: "pa", SecretHash: "hash-live", CreatedAt: t0},
			{ID: "sec-revoked", ProjectID: "pa", SecretHash: "hash-revoked", CreatedAt: t0},
			{ID: "sec-other", ProjectID: "pb", SecretHash: "hash-other", CreatedAt: t0},
		} {
			if err := s.InsertAPISecret(ctx, sec); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RevokeAPISecret(ctx, "pa", "sec-revoked", t0); err != nil {
			t.Fatal(err)
		}
		ev := func(id string) sqlstore.Event {
			return sqlstore.Event{ProjectID: "pa", ID: id, CreatedAt: t0, Seq: 1, Type: "signed_data.verified",
				UserID: ptr("u-1"), RequestID: "req", ClientIP: "192.0.2.1", UserAgent: "ua", Details: sqlstore.Object{"jti": id}}
		}
		tok := func(jti string) sqlstore.VerifiedToken {
			return sqlstore.VerifiedToken{ProjectID: "pa", JTI: jti, VerifiedAt: t0, ExpiresAt: t0 + 60_000}
		}
		counts := func() (int, int) { return rowCount(t, s, "verified_tokens"), rowCount(t, s, "events") }

		steps := []struct {
			name       string
			jti        string
			identifier string
			secretHash string
			want       bool
			wantErr    error
			rows       int // rows of each table after the step
		}{
			{"without identifier", "jti-1", "", "", true, nil, 1},
			{"the same jti again", "jti-1", "", "", false, sqlstore.ErrAlreadyExists, 1},
			{"with the user's identifier", "jti-2", "pat@example.com", "", true, nil, 2},
			{"the same jti, with the identifier", "jti-2", "pat@example.com", "", false, sqlstore.ErrAlreadyExists, 2},
			{"with an identifier the user no longer has", "jti-3", "old@example.com", "", false, nil, 2},
			{"with a live secret", "jti-4", "pat@example.com", "hash-live", true, nil, 3},
			{"with a revoked secret", "jti-5", "pat@example.com", "hash-revoked", false, sqlstore.ErrSecretNotLive, 3},
			{"with another project's secret", "jti-5", "", "hash-other", false, sqlstore.ErrSecretNotLive, 3},
			{"with an unknown secret", "jti-5", "", "hash-unknown", false, sqlstore.ErrSecretNotLive, 3},
			{"a replay with a revoked secret", "jti-1", "", "hash-revoked", false, sqlstore.ErrSecretNotLive, 3},
			{"a replay with a live secret", "jti-4", "", "hash-live", false, sqlstore.ErrAlreadyExists, 3},
			{"a renamed user with a live secret", "jti-5", "old@example.com", "hash-live", false, nil, 3},
			{"the jti that revoked secrets tried", "jti-5", "pat@example.com", "hash-live", true, nil, 4},
		}
		for i, st := range steps {
			got, err := s.RecordVerified(ctx, sqlstore.Verified{Token: tok(st.jti), Event: ev(fmt.Sprintf("ev-%d", i)),
				UserID: "u-1", Identifier: st.identifier, SecretHash: st.secretHash})
			checkErr(t, "RecordVerified("+st.name+")", err, st.wantErr)
			if got != st.want {
				t.Errorf("RecordVerified(%s) = %v, want %v", st.name, got, st.want)
			}
			if v, e := counts(); v != st.rows || e != st.rows {
				t.Errorf("after RecordVerified(%s): %d verified_tokens and %d events, want %d of each", st.name, v, e, st.rows)
			}
		}
	})
}

// TestFinishLogin: a login's finish writes its outcome, the passkey's use, its events and its
// count all or nothing: nothing for a ceremony finished before, nor for a use the counter
// rule refuses (the outcome stays unclaimed), nor for a deleted passkey.
func TestFinishLogin(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addUser(t, s, "pa", "u-1", "pat@example.com", t0)
		addPasskey(t, s, "pa", "u-1", "cred-1", t0) // sign count 7
		n := 0
		finish := func(key, cred string, count int64) sqlstore.FinishedLogin {
			n++
			ev := func(i int) sqlstore.Event {
				return sqlstore.Event{ProjectID: "pa", ID: fmt.Sprintf("ev-%d-%d", n, i), CreatedAt: t0, Seq: int64(10*n + i), Type: "passkey.used",
					UserID: ptr("u-1"), CredentialID: ptr(cred), RequestID: "req", ClientIP: "192.0.2.1", UserAgent: "ua", Details: sqlstore.Object{"n": n}}
			}
			return sqlstore.FinishedLogin{ProjectID: "pa", CeremonyKey: key, ExpiresAt: t0 + 60_000, MaxFailures: 3,
				Use:    sqlstore.PasskeyUse{ProjectID: "pa", CredentialID: cred, SignCount: count, BackupState: true, UserVerified: true, At: t0 + int64(n)},
				Events: []sqlstore.Event{ev(1), ev(2)}, BucketStart: t0, Shard: 3, Count: sqlstore.Count{Series: "login", Dim: "identifier", Value: 1}}
		}
		state := func() string {
			pk, err := s.PasskeyByID(ctx, "pa", "cred-1")
			mustNil(t, "PasskeyByID", err)
			cs, err := s.Counters(ctx, "pa", t0, t0+1)
			mustNil(t, "Counters", err)
			var logins int64
			for _, c := range cs {
				logins += c.Value
			}
			return fmt.Sprintf("outcomes=%d events=%d logins=%d signCount=%d lastUsed=%v",
				rowCount(t, s, "ceremony_outcomes"), rowCount(t, s, "events"), logins, pk.SignCount, pk.LastUsedAt != nil)
		}

		// The key that signs at each login's time (t0 + its number): k-old, then from the
		// fourth on the later of two keys active from the same moment. Another project's
		// newer key never counts.
		addProject(t, s, "pb")
		for _, k := range []sqlstore.SigningKey{{ID: "k-old", ProjectID: "pa", ActiveFrom: t0 - 1000}, {ID: "k-tie-b", ProjectID: "pa", ActiveFrom: t0 + 4},
			{ID: "k-tie-a", ProjectID: "pa", ActiveFrom: t0 + 4}, {ID: "k-future", ProjectID: "pa", ActiveFrom: t0 + 60_000}, {ID: "k-other", ProjectID: "pb", ActiveFrom: t0}} {
			k.PrivateKey, k.PublicKey, k.CreatedAt = "sealed", "public", t0
			mustNil(t, "InsertSigningKey("+k.ID+")", s.InsertSigningKey(ctx, k))
		}

		steps := []struct {
			name  string
			f     sqlstore.FinishedLogin
			want  sqlstore.LoginWritten
			after string
		}{
			{"a login", finish("k1", "cred-1", 8), sqlstore.LoginWritten{Claimed: true, Used: true, SigningKeyID: "k-old"}, "outcomes=1 events=2 logins=1 signCount=8 lastUsed=true"},
			{"its ceremony again", finish("k1", "cred-1", 9), sqlstore.LoginWritten{}, "outcomes=1 events=2 logins=1 signCount=8 lastUsed=true"},
			{"a counter that did not increase", finish("k2", "cred-1", 8), sqlstore.LoginWritten{Claimed: true}, "outcomes=1 events=2 logins=1 signCount=8 lastUsed=true"},
			{"the same ceremony, counter right", finish("k2", "cred-1", 9), sqlstore.LoginWritten{Claimed: true, Used: true, SigningKeyID: "k-tie-b"}, "outcomes=2 events=4 logins=2 signCount=9 lastUsed=true"},
			{"an unknown passkey", finish("k3", "cred-gone", 1), sqlstore.LoginWritten{Claimed: true}, "outcomes=2 events=4 logins=2 signCount=9 lastUsed=true"},
		}
		for _, st := range steps {
			got, err := s.FinishLogin(ctx, st.f)
			mustNil(t, "FinishLogin("+st.name+")", err)
			if got != st.want {
				t.Errorf("FinishLogin(%s) = %+v, want %+v", st.name, got, st.want)
			}
			if got := state(); got != st.after {
				t.Errorf("after FinishLogin(%s): %s, want %s", st.name, got, st.after)
			}
		}
		for _, c := range []struct {
			project string
			at      int64
			want    string
		}{{"pa", t0 - 1001, ""}, {"pa", t0 + 3, "k-old"}, {"pa", t0 + 60_000, "k-future"}, {"pb", t0, "k-other"}, {"pz", t0, ""}} {
			if got, err := s.SigningKeyAt(ctx, c.project, c.at); got != c.want || err != nil {
				t.Errorf("SigningKeyAt(%s, t0%+d) = %q, %v; want %q", c.project, c.at-t0, got, err, c.want)
			}
		}
	})
}

// TestSQLiteWALStaysBounded writes 12,000 transactions through the batches while four readers
// read without pause, and checks that the WAL file starts over rather than growing with every
// commit: SQLite restarts it only when a write begins after a complete checkpoint, which a
// checkpoint on another goroutine never gives it (the WAL grew to 38 GB in a 10-minute load
// run that way). At about 4 pages per transaction the WAL would pass 50 MB without
// restarts; SQLite's automatic checkpoint every 1,000 pages keeps it to a few MB.
func TestSQLiteWALStaysBounded(t *testing.T) {
	s, url := openStore(t, sqlstore.SQLite)
	ctx := t.Context()
	addProject(t, s, "pa")
	addUser(t, s, "pa", "u-1", "pat@example.com", t0)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.UserByIdentifier(ctx, "pa", "pat@example.com"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 16 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 750 {
				err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
					return tx.InsertEvents(ctx, sqlstore.Event{ProjectID: "pa", ID: fmt.Sprintf("ev-%d-%d", w, i), CreatedAt: t0 + int64(i), Seq: int64(w),
						Type: "test", RequestID: "req", ClientIP: "192.0.2.1", UserAgent: strings.Repeat("u", 200), Details: sqlstore.Object{"i": i}})
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, s, "events"); n != 12000 {
		t.Fatalf("events = %d, want 12000", n)
	}
	// 14–18 MB, and 13.5–17 MB with two busy loops taking both cores (CI runs packages in
	// parallel); 25–46 MB there when the checkpoint under the write lock did not wait for the
	// readers that began before it (one of them still running when the next write came kept
	// the WAL going); 56–57 MB with a checkpoint that never lets it restart.
	const limit = 36 << 20
	copies, restarts := sqlstore.CheckpointCounts(s)
	t.Logf("WAL after 12,000 transactions: %.1f MB; checkpoints: %d off the write lock, %d under it", float64(fi.Size())/(1<<20), copies, restarts)
	// About 12 pages a batch here, 1,000 pages a checkpoint, 4,000 a restart.
	if copies == 0 || restarts == 0 {
		t.Errorf("the checkpointer ran %d checkpoints off the write lock and %d under it, want some of each", copies, restarts)
	}
	if fi.Size() > limit {
		t.Errorf("the WAL is %d bytes after 12,000 transactions, want at most %d: it does not start over", fi.Size(), limit)
	}
}

// TestSQLiteCheckpointsWithoutTheWriteLock: the checkpointer copies the WAL into the database
// while a write holds the write lock (checkpoint.go), so that writes never wait for the
// checkpoint's syncs; only its occasional last checkpoint before a restart takes the lock.
func TestSQLiteCheckpointsWithoutTheWriteLock(t *testing.T) {
	s, _ := openStore(t, sqlstore.SQLite)
	ctx := t.Context()
	addProject(t, s, "pa")
	for i := range 50 {
		err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
			return tx.InsertEvents(ctx, sqlstore.Event{ProjectID: "pa", ID: fmt.Sprintf("ev-%d", i), CreatedAt: t0 + int64(i),
				Type: "test", RequestID: "req", ClientIP: "192.0.2.1", UserAgent: "ua", Details: sqlstore.Object{"pad": strings.Repeat("x", 3000)}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	before, _ := sqlstore.CheckpointCounts(s)
	release := sqlstore.HoldWrites(s)
	defer func() { release() }()
	sqlstore.WakeCheckpointer(s)
	// A checkpoint that waited for the write lock would never come while it is held.
	deadline := time.After(time.Minute)
	for {
		if copies, _ := sqlstore.CheckpointCounts(s); copies > before {
			break
		}
		select {
		case <-deadline:
			t.Fatal("no checkpoint in a minute while a write held the lock: the checkpointer waits for writes")
		case <-time.After(5 * time.Millisecond):
		}
	}
	release()
	release = func() {}
	// The store still writes and reads after it.
	if err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
		return tx.InsertEvents(ctx, sqlstore.Event{ProjectID: "pa", ID: "ev-last", CreatedAt: t0 + 100, Type: "test", RequestID: "req", ClientIP: "192.0.2.1", UserAgent: "ua", Details: sqlstore.Object{}})
	}); err != nil {
		t.Fatal(err)
	}
	if n := rowCount(t, s, "events"); n != 51 {
		t.Fatalf("events = %d, want 51", n)
	}
}
