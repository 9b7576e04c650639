package sqlstore_test

// The store conformance suite: every test runs on every dialect of sqlstoretest.Dialects, each
// on a freshly opened and migrated store (dex's storage conformance suite).

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// t0 is the tests' "now", in unix milliseconds.
const t0 int64 = 1_700_000_000_000

func ptr[T any](v T) *T { return &v }

// eachDialect runs fn as a subtest per dialect, each on a fresh, migrated store.
func eachDialect(t *testing.T, fn func(t *testing.T, s *sqlstore.Store)) {
	t.Helper()
	for _, d := range sqlstoretest.Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, newStore(t, d)) })
	}
}

// newStore opens and migrates a fresh store of dialect, closed when the test ends.
func newStore(t testing.TB, dialect string) *sqlstore.Store {
	t.Helper()
	s, _ := openStore(t, dialect)
	return s
}

// openStore is newStore that also returns the store's database URL.
func openStore(t testing.TB, dialect string) (*sqlstore.Store, string) {
	t.Helper()
	ctx := context.Background()
	url := sqlstoretest.DatabaseURL(t, dialect)
	s, err := sqlstore.Open(ctx, url, sqlstore.Config{})
	if err != nil {
		t.Fatalf("Open(%s) = %v, want a store", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate() on %s = %v, want nil", dialect, err)
	}
	if got, want := s.Dialect(), sqlstoretest.StoreDialect(dialect); got != want {
		t.Fatalf("Dialect() = %q, want %q", got, want)
	}
	return s, url
}

// rawDB opens the database of url beside the store, for what the store does not offer:
// writing a column by hand, or altering the schema. Queries are written with ? (Rebind).
func rawDB(t testing.TB, url string) *sqlx.DB {
	t.Helper()
	var (
		db  *sqlx.DB
		err error
	)
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		db, err = sqlx.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	} else {
		db, err = sqlx.Open("postgres", url)
	}
	if err != nil {
		t.Fatalf("opening %s beside the store: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawExec runs one statement on db.
func rawExec(t testing.TB, db *sqlx.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(db.Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// checkErr fails the test unless err is want by errors.Is (want nil: no error).
func checkErr(t testing.TB, call string, err, want error) {
	t.Helper()
	if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
		t.Errorf("%s = %v, want %v", call, err, want)
	}
}

// mustNil fails the test now if err is not nil.
func mustNil(t testing.TB, call string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s = %v, want nil", call, err)
	}
}

// rowCount returns CountRows(table).
func rowCount(t testing.TB, s *sqlstore.Store, table string) int {
	t.Helper()
	n, err := s.CountRows(context.Background(), table)
	if err != nil {
		t.Fatalf("CountRows(%s) = %v", table, err)
	}
	return n
}

// rowCounts returns CountRows of every table.
func rowCounts(t testing.TB, s *sqlstore.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range sqlstore.Tables {
		out[table] = rowCount(t, s, table)
	}
	return out
}

// newProject returns a project with every column set.
func newProject(id string, createdAt int64) sqlstore.Project {
	return sqlstore.Project{
		ID: id, Name: "Project " + id, RPID: id + ".example", RPName: "RP " + id,
		Origins: sqlstore.List[string]{"https://" + id + ".example", "https://app." + id + ".example"}, CreatedAt: createdAt,
		Policy: sqlstore.Policy{
			UserVerification: "required", ResidentKey: "discouraged", Algorithms: sqlstore.List[int64]{-7, -257},
			Attestation: "direct", AAGUIDAllow: sqlstore.List[string]{}, AAGUIDDeny: sqlstore.List[string]{"ee882879-721c-4913-9775-3dfcce97072a"},
			Usernameless: true, ConnectTokenMaxLifetime: 600, CeremonyLifetime: 120,
		},
	}
}

// addProject inserts newProject(id, t0).
func addProject(t testing.TB, s *sqlstore.Store, id string) sqlstore.Project {
	t.Helper()
	p := newProject(id, t0)
	mustNil(t, fmt.Sprintf("InsertProject(%s)", id), s.InsertProject(context.Background(), p))
	return p
}

func newUser(projectID, id, identifier string, createdAt int64) sqlstore.User {
	return sqlstore.User{ID: id, ProjectID: projectID, Identifier: identifier, DisplayName: "Name of " + identifier,
		WebAuthnID: "wa-" + id, CreatedAt: createdAt}
}

// addUser inserts newUser(...).
func addUser(t testing.TB, s *sqlstore.Store, projectID, id, identifier string, createdAt int64) sqlstore.User {
	t.Helper()
	u := newUser(projectID, id, identifier, createdAt)
	mustNil(t, fmt.Sprintf("InsertUser(%s)", id), s.InsertUser(context.Background(), u))
	return u
}

func newPasskey(projectID, userID, credentialID string, createdAt int64) sqlstore.Passkey {
	return sqlstore.Passkey{ProjectID: projectID, CredentialID: credentialID, UserID: userID, PublicKey: "pk-" + credentialID,
		SignCount: 7, BackupEligible: true, BackupState: false, UserVerified: true, Transports: sqlstore.List[string]{"internal", "hybrid"},
		AAGUID: "adce0002-35bc-c60a-648b-0b25f1f05503", AttestationFormat: "packed", Label: "Key " + credentialID, CreatedAt: createdAt}
}

// addPasskey inserts newPasskey(...).
func addPasskey(t testing.TB, s *sqlstore.Store, projectID, userID, credentialID string, createdAt int64) sqlstore.Passkey {
	t.Helper()
	p := newPasskey(projectID, userID, credentialID, createdAt)
	mustNil(t, fmt.Sprintf("InsertPasskey(%s)", credentialID), s.InsertPasskey(context.Background(), p))
	return p
}

func newCeremony(projectID, id string, createdAt, expiresAt int64) sqlstore.Ceremony {
	return sqlstore.Ceremony{ID: id, ProjectID: projectID, Kind: "login", Session: `{"challenge":"` + id + `"}`,
		CreatedAt: createdAt, ExpiresAt: expiresAt}
}

// addCeremony inserts c without a cap.
func addCeremony(t testing.TB, s *sqlstore.Store, c sqlstore.Ceremony) {
	t.Helper()
	ok, err := s.InsertCeremony(context.Background(), c, 0)
	if err != nil || !ok {
		t.Fatalf("InsertCeremony(%s, 0) = %v, %v, want true, nil", c.ID, ok, err)
	}
}

func newToken(projectID, id, identifier string, expiresAt int64) sqlstore.ConnectToken {
	return sqlstore.ConnectToken{ID: id, ProjectID: projectID, Type: "register", SecretHash: "hash-" + id, Identifier: identifier,
		DisplayName: "Name of " + identifier, CreatedAt: t0 - 1000, ExpiresAt: expiresAt}
}

// addToken inserts t.
func addToken(t testing.TB, s *sqlstore.Store, tok sqlstore.ConnectToken) {
	t.Helper()
	mustNil(t, fmt.Sprintf("InsertConnectToken(%s)", tok.ID), s.InsertConnectToken(context.Background(), tok))
}

func TestProjects(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()

		t.Run("empty store", func(t *testing.T) {
			got, err := s.Projects(ctx)
			if err != nil || len(got) != 0 {
				t.Errorf("Projects() = %v, %v, want none, nil", got, err)
			}
		})

		t.Run("round trip", func(t *testing.T) {
			want := newProject("p-round", t0)
			mustNil(t, "InsertProject(p-round)", s.InsertProject(ctx, want))
			got, err := s.Project(ctx, want.ID)
			mustNil(t, "Project(p-round)", err)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Project(p-round) mismatch (-want +got):\n%s", diff)
			}
			checkErr(t, "RequireProject(p-round)", s.RequireProject(ctx, want.ID), nil)
		})

		t.Run("already exists", func(t *testing.T) {
			p := newProject("p-dup", t0)
			mustNil(t, "InsertProject(p-dup)", s.InsertProject(ctx, p))
			p.Name = "another"
			checkErr(t, "InsertProject(p-dup) again", s.InsertProject(ctx, p), sqlstore.ErrAlreadyExists)
			got, err := s.Project(ctx, p.ID)
			if err != nil || got.Name != "Project p-dup" {
				t.Errorf("Project(p-dup) = %q, %v, want the first insert's name", got.Name, err)
			}
		})

		t.Run("not found", func(t *testing.T) {
			_, err := s.Project(ctx, "p-none")
			checkErr(t, "Project(p-none)", err, sqlstore.ErrNotFound)
			checkErr(t, "RequireProject(p-none)", s.RequireProject(ctx, "p-none"), sqlstore.ErrNotFound)
			checkErr(t, "SetPolicy(p-none)", s.SetPolicy(ctx, "p-none", sqlstore.Policy{}), sqlstore.ErrNotFound)
		})

		t.Run("SetPolicy", func(t *testing.T) {
			want := newProject("p-policy", t0)
			other := newProject("p-policy-other", t0)
			mustNil(t, "InsertProject(p-policy)", s.InsertProject(ctx, want))
			mustNil(t, "InsertProject(p-policy-other)", s.InsertProject(ctx, other))
			want.Policy = sqlstore.Policy{UserVerification: "discouraged", ResidentKey: "required", Algorithms: sqlstore.List[int64]{-8},
				Attestation: "none", AAGUIDAllow: sqlstore.List[string]{"a", "b"}, AAGUIDDeny: sqlstore.List[string]{},
				Usernameless: false, ConnectTokenMaxLifetime: 60, CeremonyLifetime: 30}
			mustNil(t, "SetPolicy(p-policy)", s.SetPolicy(ctx, want.ID, want.Policy))
			for _, p := range []sqlstore.Project{want, other} {
				got, err := s.Project(ctx, p.ID)
				mustNil(t, "Project("+p.ID+")", err)
				if diff := cmp.Diff(p, got); diff != "" {
					t.Errorf("Project(%s) after SetPolicy(p-policy) mismatch (-want +got):\n%s", p.ID, diff)
				}
			}
		})

		t.Run("oldest first", func(t *testing.T) {
			s := newStore(t, s.Dialect())
			for _, p := range []sqlstore.Project{newProject("c", t0+2), newProject("b", t0+1), newProject("d", t0), newProject("a", t0+1)} {
				mustNil(t, "InsertProject("+p.ID+")", s.InsertProject(ctx, p))
			}
			ps, err := s.Projects(ctx)
			mustNil(t, "Projects()", err)
			var got []string
			for _, p := range ps {
				got = append(got, p.ID)
			}
			if diff := cmp.Diff([]string{"d", "a", "b", "c"}, got); diff != "" {
				t.Errorf("Projects() order mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(newProject("c", t0+2), ps[len(ps)-1]); diff != "" {
				t.Errorf("Projects()[last] mismatch (-want +got):\n%s", diff)
			}
		})
	})
}

func TestAPISecrets(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		secrets := []sqlstore.APISecret{
			{ID: "s3", ProjectID: "pa", SecretHash: "h3", CreatedAt: t0 + 1},
			{ID: "s2", ProjectID: "pa", SecretHash: "h2", CreatedAt: t0},
			{ID: "s1", ProjectID: "pa", SecretHash: "h1", CreatedAt: t0 + 1},
			{ID: "sb", ProjectID: "pb", SecretHash: "hb", CreatedAt: t0},
		}
		for _, sec := range secrets {
			mustNil(t, "InsertAPISecret("+sec.ID+")", s.InsertAPISecret(ctx, sec))
		}

		t.Run("round trip, oldest first", func(t *testing.T) {
			got, err := s.APISecrets(ctx, "pa")
			mustNil(t, "APISecrets(pa)", err)
			if diff := cmp.Diff([]sqlstore.APISecret{secrets[1], secrets[2], secrets[0]}, got); diff != "" {
				t.Errorf("APISecrets(pa) mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("already exists", func(t *testing.T) {
			for _, sec := range []sqlstore.APISecret{
				{ID: "s1", ProjectID: "pb", SecretHash: "fresh", CreatedAt: t0}, // ID taken
				{ID: "fresh", ProjectID: "pb", SecretHash: "h1", CreatedAt: t0}, // hash taken, in another project too
			} {
				checkErr(t, fmt.Sprintf("InsertAPISecret(%s, %s)", sec.ID, sec.SecretHash), s.InsertAPISecret(ctx, sec), sqlstore.ErrAlreadyExists)
			}
		})

		t.Run("unknown project", func(t *testing.T) {
			got, err := s.APISecrets(ctx, "p-none")
			if err != nil || len(got) != 0 {
				t.Errorf("APISecrets(p-none) = %v, %v, want none, nil", got, err)
			}
			hashes, err := s.LiveSecretHashes(ctx, "p-none")
			if err != nil || len(hashes) != 0 {
				t.Errorf("LiveSecretHashes(p-none) = %v, %v, want none, nil", hashes, err)
			}
		})

		t.Run("revoke", func(t *testing.T) {
			tests := []struct {
				name, project, id string
				want              error
			}{
				{"through another project", "pb", "s2", sqlstore.ErrNotFound},
				{"unknown secret", "pa", "s-none", sqlstore.ErrNotFound},
				{"live secret", "pa", "s2", nil},
				{"revoked secret", "pa", "s2", sqlstore.ErrNotFound},
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					checkErr(t, fmt.Sprintf("RevokeAPISecret(%s, %s)", tt.project, tt.id),
						s.RevokeAPISecret(ctx, tt.project, tt.id, t0+int64(100+i)), tt.want)
				})
			}
			got, err := s.APISecrets(ctx, "pa")
			mustNil(t, "APISecrets(pa)", err)
			want := []sqlstore.APISecret{secrets[1], secrets[2], secrets[0]}
			want[0].RevokedAt = ptr(t0 + 102) // the first revocation's time, not the later attempt's
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("APISecrets(pa) after revoking s2 mismatch (-want +got):\n%s", diff)
			}
			hashes, err := s.LiveSecretHashes(ctx, "pa")
			mustNil(t, "LiveSecretHashes(pa)", err)
			slices.Sort(hashes)
			if diff := cmp.Diff([]string{"h1", "h3"}, hashes); diff != "" {
				t.Errorf("LiveSecretHashes(pa) mismatch (-want +got):\n%s", diff)
			}
			hashes, err = s.LiveSecretHashes(ctx, "pb")
			mustNil(t, "LiveSecretHashes(pb)", err)
			if diff := cmp.Diff([]string{"hb"}, hashes); diff != "" {
				t.Errorf("LiveSecretHashes(pb) mismatch (-want +got):\n%s", diff)
			}
		})
	})
}

func TestSigningKeys(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		_, err := s.NewestSigningKey(ctx)
		checkErr(t, "NewestSigningKey() on an empty store", err, sqlstore.ErrNotFound)

		addProject(t, s, "pa")
		addProject(t, s, "pb")
		keys := []sqlstore.SigningKey{
			{ID: "k1", ProjectID: "pa", PrivateKey: "sealed-1", PublicKey: "pub-1", ActiveFrom: t0 + 10, CreatedAt: t0},
			{ID: "k2", ProjectID: "pa", PrivateKey: "sealed-2", PublicKey: "pub-2", ActiveFrom: t0, CreatedAt: t0 + 5},
			{ID: "k0", ProjectID: "pa", PrivateKey: "sealed-0", PublicKey: "pub-0", ActiveFrom: t0 + 10, CreatedAt: t0 + 1},
			{ID: "kb", ProjectID: "pb", PrivateKey: "sealed-b", PublicKey: "pub-b", ActiveFrom: t0, CreatedAt: t0 + 3},
		}
		for _, k := range keys {
			mustNil(t, "InsertSigningKey("+k.ID+")", s.InsertSigningKey(ctx, k))
		}

		t.Run("ordered by active_from", func(t *testing.T) {
			got, err := s.SigningKeys(ctx, "pa")
			mustNil(t, "SigningKeys(pa)", err)
			if diff := cmp.Diff([]sqlstore.SigningKey{keys[1], keys[2], keys[0]}, got); diff != "" {
				t.Errorf("SigningKeys(pa) mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("newest", func(t *testing.T) {
			got, err := s.NewestSigningKey(ctx)
			mustNil(t, "NewestSigningKey()", err)
			if diff := cmp.Diff(keys[1], got); diff != "" {
				t.Errorf("NewestSigningKey() mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("already exists", func(t *testing.T) {
			k := keys[3]
			k.ProjectID = "pa"
			checkErr(t, "InsertSigningKey(kb) again", s.InsertSigningKey(ctx, k), sqlstore.ErrAlreadyExists)
		})

		t.Run("unknown project", func(t *testing.T) {
			got, err := s.SigningKeys(ctx, "p-none")
			if err != nil || len(got) != 0 {
				t.Errorf("SigningKeys(p-none) = %v, %v, want none, nil", got, err)
			}
		})
	})
}

func TestInTx(t *testing.T) {
	errBoom := errors.New("boom")
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addUser(t, s, "pa", "u-existing", "existing", t0)

		// writeAll writes a row to every table a request may touch.
		writeAll := func(tx *sqlstore.Tx, suffix string) error {
			if err := tx.InsertUser(ctx, newUser("pa", "u-"+suffix, suffix, t0)); err != nil {
				return err
			}
			if err := tx.InsertPasskey(ctx, newPasskey("pa", "u-"+suffix, "cred-"+suffix, t0)); err != nil {
				return err
			}
			if _, err := tx.InsertCeremony(ctx, newCeremony("pa", "cer-"+suffix, t0, t0+60_000), 0); err != nil {
				return err
			}
			if err := tx.InsertConnectToken(ctx, newToken("pa", "tok-"+suffix, suffix, t0+60_000)); err != nil {
				return err
			}
			if err := tx.InsertVerifiedToken(ctx, sqlstore.VerifiedToken{ProjectID: "pa", JTI: "jti-" + suffix, VerifiedAt: t0, ExpiresAt: t0 + 1}); err != nil {
				return err
			}
			if err := tx.InsertAPISecret(ctx, sqlstore.APISecret{ID: "sec-" + suffix, ProjectID: "pa", SecretHash: "h-" + suffix, CreatedAt: t0}); err != nil {
				return err
			}
			if _, err := tx.CountFailedFinish(ctx, "pa", "key-"+suffix, t0+1); err != nil {
				return err
			}
			if err := tx.AddCounts(ctx, "pa", t0, 0, sqlstore.Count{Series: "test", Dim: suffix, Value: 1}); err != nil {
				return err
			}
			if err := tx.InsertWebhookEndpoint(ctx, sqlstore.WebhookEndpoint{ProjectID: "pa", ID: "whk-" + suffix, URL: "https://hooks.example.com/",
				EventTypes: sqlstore.List[string]{"passkey.added"}, SealedSecret: "s", CreatedAt: t0, NextAttemptAt: t0}); err != nil {
				return err
			}
			if err := tx.InsertWebhookAttempt(ctx, sqlstore.WebhookAttempt{ProjectID: "pa", EndpointID: "whk-" + suffix, ID: "wda-" + suffix,
				EventID: "ev-" + suffix, EventType: "test", Attempt: 1, AttemptedAt: t0, Result: "success"}); err != nil {
				return err
			}
			if err := tx.InsertApp(ctx, sqlstore.App{ProjectID: "pa", ID: "app-" + suffix, Platform: "ios", Identifier: "ABCDE12345." + suffix, CreatedAt: t0}); err != nil {
				return err
			}
			// One rollout per project: written by the first writeAll that commits.
			if _, err := tx.ReplaceRollout(ctx, sqlstore.Rollout{ProjectID: "pa", Login: "10000", Append: "10000", Manage: "10000",
				DeclinePeriod: 3600, UpdatedAt: t0}, nil); err != nil {
				return err
			}
			if err := tx.DeclineAppend(ctx, "pa", "u-"+suffix, t0); err != nil {
				return err
			}
			return tx.InsertEvents(ctx, sqlstore.Event{ProjectID: "pa", ID: "ev-" + suffix, CreatedAt: t0, Type: "test"})
		}

		t.Run("commit makes writes visible", func(t *testing.T) {
			before := rowCounts(t, s)
			err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
				if err := writeAll(tx, "commit"); err != nil {
					return err
				}
				// The transaction reads its own writes.
				if _, err := tx.UserByID(ctx, "pa", "u-commit"); err != nil {
					return fmt.Errorf("UserByID in the transaction: %w", err)
				}
				return nil
			})
			mustNil(t, "InTx(write all)", err)
			after := rowCounts(t, s)
			for _, table := range sqlstore.Tables {
				want := before[table] + 1
				if table == "projects" || table == "signing_keys" {
					want = before[table]
				}
				if after[table] != want {
					t.Errorf("CountRows(%s) after a committed InTx = %d, want %d", table, after[table], want)
				}
			}
			if _, err := s.PasskeyByID(ctx, "pa", "cred-commit"); err != nil {
				t.Errorf("PasskeyByID(pa, cred-commit) after commit = %v, want nil", err)
			}
		})

		tests := []struct {
			name string
			fn   func(tx *sqlstore.Tx) error
			want error
		}{
			{"fn's own error", func(tx *sqlstore.Tx) error {
				if err := writeAll(tx, "own"); err != nil {
					return err
				}
				return errBoom
			}, errBoom},
			{"already exists", func(tx *sqlstore.Tx) error {
				if err := writeAll(tx, "dup"); err != nil {
					return err
				}
				return tx.InsertUser(ctx, newUser("pa", "u-other", "existing", t0))
			}, sqlstore.ErrAlreadyExists},
			{"already exists, wrapped by fn", func(tx *sqlstore.Tx) error {
				if err := writeAll(tx, "wrapped"); err != nil {
					return err
				}
				if err := tx.InsertUser(ctx, newUser("pa", "u-existing", "fresh", t0)); err != nil {
					return fmt.Errorf("adding u-existing: %w", err)
				}
				return nil
			}, sqlstore.ErrAlreadyExists},
			{"not found", func(tx *sqlstore.Tx) error {
				if err := writeAll(tx, "missing"); err != nil {
					return err
				}
				_, err := tx.UserByID(ctx, "pa", "u-none")
				return err
			}, sqlstore.ErrNotFound},
			{"not found from a write", func(tx *sqlstore.Tx) error {
				if err := writeAll(tx, "missing-write"); err != nil {
					return err
				}
				return tx.EndCeremony(ctx, "cer-none", t0)
			}, sqlstore.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run("rolls back: "+tt.name, func(t *testing.T) {
				before := rowCounts(t, s)
				err := s.InTx(ctx, tt.fn)
				if !errors.Is(err, tt.want) {
					t.Errorf("InTx(%s) = %v, want %v", tt.name, err, tt.want)
				}
				if diff := cmp.Diff(before, rowCounts(t, s)); diff != "" {
					t.Errorf("CountRows after a failed InTx(%s) mismatch (-before +after):\n%s", tt.name, diff)
				}
			})
		}

		t.Run("store usable after rollbacks", func(t *testing.T) {
			mustNil(t, "InTx(write all again)", s.InTx(ctx, func(tx *sqlstore.Tx) error { return writeAll(tx, "own") }))
			if _, err := s.UserByID(ctx, "pa", "u-own"); err != nil {
				t.Errorf("UserByID(pa, u-own) = %v, want nil: the rolled back row can be written again", err)
			}
		})
	})
}

func TestClosedStore(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		if _, err := s.Project(ctx, "pa"); err != nil { // prepares the statement before Close
			t.Fatalf("Project(pa) = %v, want nil", err)
		}
		checkErr(t, "Ping() before Close", s.Ping(ctx), nil)
		mustNil(t, "Close()", s.Close())

		tests := []struct {
			name string
			call func() error
		}{
			{"Ping", func() error { return s.Ping(ctx) }},
			{"Project (prepared before Close)", func() error { _, err := s.Project(ctx, "pa"); return err }},
			{"Users (never prepared)", func() error {
				_, err := s.Users(ctx, sqlstore.UserFilter{ProjectID: "pa", Limit: 10})
				return err
			}},
			{"InsertProject", func() error { return s.InsertProject(ctx, newProject("pb", t0)) }},
			{"InTx", func() error { return s.InTx(ctx, func(tx *sqlstore.Tx) error { return nil }) }},
			{"CountRows", func() error { _, err := s.CountRows(ctx, "projects"); return err }},
			{"Seed", func() error { return s.Seed(ctx, "pa", nil, nil) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkErr(t, tt.name+"() on a closed store", tt.call(), sqlstore.ErrUnavailable)
			})
		}
	})
}

func TestOpen(t *testing.T) {
	t.Run("bad URLs", func(t *testing.T) {
		for _, url := range []string{"", "mysql://localhost/db", "sqlite:", "sqlite://"} {
			if s, err := sqlstore.Open(t.Context(), url, sqlstore.Config{}); err == nil {
				s.Close()
				t.Errorf("Open(%q) = a store, want an error", url)
			}
		}
	})

	t.Run("unreachable PostgreSQL", func(t *testing.T) {
		s, err := sqlstore.Open(t.Context(), "postgres://latchkey:latchkey@127.0.0.1:1/latchkey?sslmode=disable", sqlstore.Config{})
		if err == nil {
			s.Close()
		}
		checkErr(t, "Open(postgres on a closed port)", err, sqlstore.ErrUnavailable)
	})

	t.Run("SQLite file for its owner only, in WAL mode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "new", "dir", "latchkey.db")
		s, err := sqlstore.Open(t.Context(), "sqlite:"+path, sqlstore.Config{})
		mustNil(t, "Open(sqlite:"+path+")", err)
		defer s.Close()
		_, err = s.Migrate(t.Context())
		mustNil(t, "Migrate()", err)
		addProject(t, s, "pa")
		for _, f := range []string{path, path + "-wal"} {
			fi, err := os.Stat(f)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("os.Stat(%s) = %v, %v, want mode 0600", filepath.Base(f), fi.Mode().Perm(), err)
			}
		}
		var mode string
		if err := rawDB(t, "sqlite:"+path).Get(&mode, `PRAGMA journal_mode`); err != nil || mode != "wal" {
			t.Errorf("PRAGMA journal_mode = %q, %v, want wal", mode, err)
		}
	})
}

// TestSmallPool runs transactions on a pool of one connection: a transaction that meets a
// statement not prepared yet must prepare it itself rather than wait for a second connection.
func TestSmallPool(t *testing.T) {
	for _, d := range sqlstoretest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			url := sqlstoretest.DatabaseURL(t, d)
			s, err := sqlstore.Open(ctx, url, sqlstore.Config{MaxConns: 1})
			mustNil(t, "Open(MaxConns 1)", err)
			defer s.Close()
			_, err = s.Migrate(ctx)
			mustNil(t, "Migrate()", err)
			addProject(t, s, "pa")
			for i := range 3 { // the first round prepares in the transaction, the later ones reuse the store's
				err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
					id := fmt.Sprintf("u-%d", i)
					if err := tx.InsertUser(ctx, newUser("pa", id, id, t0)); err != nil {
						return err
					}
					if _, err := tx.UserByID(ctx, "pa", id); err != nil {
						return err
					}
					_, err := tx.PasskeysOf(ctx, "pa", id)
					return err
				})
				mustNil(t, fmt.Sprintf("InTx round %d on one connection", i), err)
				if _, err := s.UserByID(ctx, "pa", fmt.Sprintf("u-%d", i)); err != nil {
					t.Fatalf("UserByID(pa, u-%d) = %v, want nil", i, err)
				}
			}
		})
	}
}

// TestForeignKeys: rows of an unknown project (or user) are refused on both dialects, SQLite
// included (foreign_keys is a per-connection pragma there).
func TestForeignKeys(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addUser(t, s, "pa", "u-alice", "alice", t0)
		tests := []struct {
			name string
			call func() error
		}{
			{"InsertUser", func() error { return s.InsertUser(ctx, newUser("p-none", "u-x", "x", t0)) }},
			{"InsertPasskey of an unknown project", func() error { return s.InsertPasskey(ctx, newPasskey("p-none", "u-alice", "cred-x", t0)) }},
			{"InsertPasskey of an unknown user", func() error { return s.InsertPasskey(ctx, newPasskey("pa", "u-none", "cred-x", t0)) }},
			{"InsertAPISecret", func() error {
				return s.InsertAPISecret(ctx, sqlstore.APISecret{ID: "s-x", ProjectID: "p-none", SecretHash: "h-x", CreatedAt: t0})
			}},
			{"InsertSigningKey", func() error {
				return s.InsertSigningKey(ctx, sqlstore.SigningKey{ID: "k-x", ProjectID: "p-none", CreatedAt: t0})
			}},
			{"InsertCeremony", func() error {
				_, err := s.InsertCeremony(ctx, newCeremony("p-none", "c-x", t0, t0+1), 0)
				return err
			}},
			{"InsertConnectToken", func() error { return s.InsertConnectToken(ctx, newToken("p-none", "t-x", "x", t0+1)) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := rowCounts(t, s)
				if err := tt.call(); err == nil {
					t.Errorf("%s(unknown project or user) = nil, want an error", tt.name)
				}
				if diff := cmp.Diff(before, rowCounts(t, s)); diff != "" {
					t.Errorf("CountRows after a refused %s mismatch (-before +after):\n%s", tt.name, diff)
				}
			})
		}
	})
}

func TestInspect(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		for _, table := range sqlstore.Tables {
			if n := rowCount(t, s, table); n != 0 {
				t.Errorf("CountRows(%s) on a fresh store = %d, want 0", table, n)
			}
		}
		if _, err := s.CountRows(ctx, "schema_migrations; DROP TABLE users"); err == nil {
			t.Errorf("CountRows(unknown table) = nil, want an error")
		}
		if _, err := s.DumpTable(ctx, "nope"); err == nil {
			t.Errorf("DumpTable(nope) = nil, want an error")
		}
		addProject(t, s, "pa")
		for _, v := range []sqlstore.VerifiedToken{
			{ProjectID: "pa", JTI: "j2", VerifiedAt: t0 + 1, ExpiresAt: t0 + 60_001},
			{ProjectID: "pa", JTI: "j1", VerifiedAt: t0, ExpiresAt: t0 + 60_000},
		} {
			mustNil(t, "InsertVerifiedToken("+v.JTI+")", s.InsertVerifiedToken(ctx, v))
		}
		got, err := s.DumpTable(ctx, "verified_tokens")
		mustNil(t, "DumpTable(verified_tokens)", err)
		want := "[pa j1 1700000000000 1700000060000]\n[pa j2 1700000000001 1700000060001]\n"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DumpTable(verified_tokens) mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestJSONColumns(t *testing.T) {
	for _, d := range sqlstoretest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, url := openStore(t, d)
			db := rawDB(t, url)

			t.Run("round trip", func(t *testing.T) {
				p := newProject("p-json", t0)
				p.Origins = sqlstore.List[string]{"https://ünï.example", `quote"and\backslash`, ""}
				p.Algorithms = sqlstore.List[int64]{-7, -8, -257, 1 << 40}
				mustNil(t, "InsertProject(p-json)", s.InsertProject(ctx, p))
				got, err := s.Project(ctx, p.ID)
				mustNil(t, "Project(p-json)", err)
				if diff := cmp.Diff(p, got); diff != "" {
					t.Errorf("Project(p-json) mismatch (-want +got):\n%s", diff)
				}
				ev := sqlstore.Event{ProjectID: "p-json", ID: "e1", CreatedAt: t0, Type: "t",
					Details: sqlstore.Object{"s": "x", "n": 1.5, "b": true, "l": []any{"a", 2.0}, "o": map[string]any{"k": nil}}}
				mustNil(t, "InsertEvents(e1)", s.InsertEvents(ctx, ev))
				evs, err := s.Events(ctx, sqlstore.EventFilter{ProjectID: "p-json", Until: t0, Limit: 10})
				mustNil(t, "Events(p-json)", err)
				if diff := cmp.Diff([]sqlstore.Event{ev}, evs); diff != "" {
					t.Errorf("Events(p-json) mismatch (-want +got):\n%s", diff)
				}
			})

			t.Run("nil writes [] and {}", func(t *testing.T) {
				p := newProject("p-nil", t0)
				p.Origins, p.Algorithms, p.AAGUIDAllow, p.AAGUIDDeny = nil, nil, nil, nil
				mustNil(t, "InsertProject(p-nil)", s.InsertProject(ctx, p))
				mustNil(t, "InsertEvents(e-nil)", s.InsertEvents(ctx, sqlstore.Event{ProjectID: "p-nil", ID: "e-nil", CreatedAt: t0, Type: "t"}))
				var cols []string
				if err := db.Select(&cols, db.Rebind(`SELECT origins FROM projects WHERE id = ? UNION ALL SELECT algorithms FROM projects WHERE id = ?
					UNION ALL SELECT details FROM events WHERE id = ?`), "p-nil", "p-nil", "e-nil"); err != nil {
					t.Fatalf("reading the JSON columns: %v", err)
				}
				if diff := cmp.Diff([]string{"[]", "[]", "{}"}, cols); diff != "" {
					t.Errorf("stored text of nil List and Object mismatch (-want +got):\n%s", diff)
				}
				got, err := s.Project(ctx, "p-nil")
				mustNil(t, "Project(p-nil)", err)
				want := p
				want.Origins, want.Algorithms, want.AAGUIDAllow, want.AAGUIDDeny =
					sqlstore.List[string]{}, sqlstore.List[int64]{}, sqlstore.List[string]{}, sqlstore.List[string]{}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Project(p-nil) mismatch (-want +got):\n%s", diff)
				}
			})

			t.Run("empty or unreadable column", func(t *testing.T) {
				addProject(t, s, "p-empty")
				mustNil(t, "InsertEvents", s.InsertEvents(ctx,
					sqlstore.Event{ProjectID: "p-empty", ID: "e-empty", CreatedAt: t0, Type: "t", Details: sqlstore.Object{"a": "b"}},
					sqlstore.Event{ProjectID: "p-empty", ID: "e-null", CreatedAt: t0 + 1, Type: "t", Details: sqlstore.Object{"a": "b"}},
					sqlstore.Event{ProjectID: "p-empty", ID: "e-bad", CreatedAt: t0 + 2, Type: "t", Details: sqlstore.Object{"a": "b"}},
					sqlstore.Event{ProjectID: "p-empty", ID: "e-array", CreatedAt: t0 + 3, Type: "t", Details: sqlstore.Object{"a": "b"}}))
				rawExec(t, db, `UPDATE projects SET origins = '', aaguid_deny = '' WHERE id = ?`, "p-empty")
				rawExec(t, db, `UPDATE events SET details = '' WHERE id = ?`, "e-empty")
				rawExec(t, db, `UPDATE events SET details = 'null' WHERE id = ?`, "e-null")
				rawExec(t, db, `UPDATE events SET details = 'not json' WHERE id = ?`, "e-bad")
				rawExec(t, db, `UPDATE events SET details = '[1]' WHERE id = ?`, "e-array")
				p, err := s.Project(ctx, "p-empty")
				mustNil(t, "Project(p-empty)", err)
				if diff := cmp.Diff(sqlstore.List[string]{}, p.Origins); diff != "" {
					t.Errorf("Project(p-empty).Origins from '' mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(sqlstore.List[string]{}, p.AAGUIDDeny); diff != "" {
					t.Errorf("Project(p-empty).AAGUIDDeny from '' mismatch (-want +got):\n%s", diff)
				}
				evs, err := s.Events(ctx, sqlstore.EventFilter{ProjectID: "p-empty", Until: t0 + 10, Limit: 10})
				mustNil(t, "Events(p-empty)", err)
				if len(evs) != 4 {
					t.Fatalf("Events(p-empty) = %d events, want 4", len(evs))
				}
				for _, ev := range evs {
					if diff := cmp.Diff(sqlstore.Object{}, ev.Details); diff != "" {
						t.Errorf("Events(p-empty): %s.Details mismatch (-want +got):\n%s", ev.ID, diff)
					}
				}
				rawExec(t, db, `UPDATE projects SET origins = 'not json' WHERE id = ?`, "p-empty")
				if _, err := s.Project(ctx, "p-empty"); err == nil {
					t.Errorf("Project(p-empty) with origins 'not json' = nil, want an error")
				}
			})

			t.Run("NULL reads as empty", func(t *testing.T) {
				l := sqlstore.List[string]{"stale"}
				o := sqlstore.Object{"stale": true}
				if err := db.QueryRow(`SELECT NULL, NULL`).Scan(&l, &o); err != nil {
					t.Fatalf("scanning NULL into List and Object: %v", err)
				}
				if diff := cmp.Diff(sqlstore.List[string]{}, l); diff != "" {
					t.Errorf("List from NULL mismatch (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(sqlstore.Object{}, o); diff != "" {
					t.Errorf("Object from NULL mismatch (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestListObjectValues(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  func() (driver.Value, error)
		want string
	}{
		{"nil List", sqlstore.List[string](nil).Value, "[]"},
		{"empty List", sqlstore.List[string]{}.Value, "[]"},
		{"List", sqlstore.List[int64]{-7, 1}.Value, "[-7,1]"},
		{"nil Object", sqlstore.Object(nil).Value, "{}"},
		{"Object", sqlstore.Object{"a": 1}.Value, `{"a":1}`},
	} {
		got, err := tt.got()
		if err != nil || got != tt.want {
			t.Errorf("%s.Value() = %v, %v, want %q, nil", tt.name, got, err, tt.want)
		}
	}
	for _, src := range []any{nil, "", []byte(""), "[]", []byte("[]")} {
		l := sqlstore.List[string]{"stale"}
		if err := l.Scan(src); err != nil || l == nil || len(l) != 0 {
			t.Errorf("List.Scan(%#v) = %v, %v, want an empty non-nil List, nil", src, l, err)
		}
		o := sqlstore.Object{"stale": true}
		if err := o.Scan(src); err != nil || o == nil || len(o) != 0 {
			t.Errorf("Object.Scan(%#v) = %v, %v, want an empty non-nil Object, nil", src, o, err)
		}
	}
	var l sqlstore.List[string]
	if err := l.Scan(42); err == nil {
		t.Errorf("List.Scan(42) = nil, want an error")
	}
}
