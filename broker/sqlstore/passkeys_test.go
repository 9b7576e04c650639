package sqlstore_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// credentialIDs returns the credential IDs of ps, in order.
func credentialIDs(ps []sqlstore.Passkey) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.CredentialID)
	}
	return out
}

func TestPasskeys(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		alice := addUser(t, s, "pa", "u-alice", "alice", t0)
		addUser(t, s, "pa", "u-bob", "bob", t0)
		addUser(t, s, "pb", "u-alice-b", "alice", t0)
		addPasskey(t, s, "pa", "u-alice", "cred-shared", t0)

		t.Run("round trip", func(t *testing.T) {
			tests := []struct {
				name string
				p    sqlstore.Passkey
			}{
				{"never used", newPasskey("pa", "u-alice", "cred-new", t0)},
				{"used, every flag", func() sqlstore.Passkey {
					p := newPasskey("pa", "u-alice", "cred-used", t0)
					p.SignCount, p.BackupState, p.LastUsedAt = math.MaxUint32, true, ptr(t0+5)
					return p
				}()},
				{"no flags, no transports", func() sqlstore.Passkey {
					p := newPasskey("pa", "u-alice", "cred-bare", t0)
					p.SignCount, p.BackupEligible, p.UserVerified, p.Transports = 0, false, false, sqlstore.List[string]{}
					return p
				}()},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					mustNil(t, "InsertPasskey("+tt.p.CredentialID+")", s.InsertPasskey(ctx, tt.p))
					got, err := s.PasskeyByID(ctx, "pa", tt.p.CredentialID)
					mustNil(t, "PasskeyByID(pa, "+tt.p.CredentialID+")", err)
					if diff := cmp.Diff(tt.p, got); diff != "" {
						t.Errorf("PasskeyByID(pa, %s) mismatch (-want +got):\n%s", tt.p.CredentialID, diff)
					}
					gotP, gotU, err := s.PasskeyWithUser(ctx, "pa", tt.p.CredentialID)
					mustNil(t, "PasskeyWithUser(pa, "+tt.p.CredentialID+")", err)
					if diff := cmp.Diff(tt.p, gotP); diff != "" {
						t.Errorf("PasskeyWithUser(pa, %s) passkey mismatch (-want +got):\n%s", tt.p.CredentialID, diff)
					}
					if diff := cmp.Diff(alice, gotU); diff != "" {
						t.Errorf("PasskeyWithUser(pa, %s) user mismatch (-want +got):\n%s", tt.p.CredentialID, diff)
					}
				})
			}
		})

		t.Run("already exists", func(t *testing.T) {
			p := newPasskey("pa", "u-bob", "cred-shared", t0+1)
			checkErr(t, "InsertPasskey(pa, cred-shared) again, for another user", s.InsertPasskey(ctx, p), sqlstore.ErrAlreadyExists)
			p = newPasskey("pb", "u-alice-b", "cred-shared", t0)
			checkErr(t, "InsertPasskey(pb, cred-shared): the credential ID of another project", s.InsertPasskey(ctx, p), nil)
		})

		t.Run("not found", func(t *testing.T) {
			tests := []struct {
				name string
				call func() error
			}{
				{"PasskeyByID(pa, cred-none)", func() error { _, err := s.PasskeyByID(ctx, "pa", "cred-none"); return err }},
				{"PasskeyWithUser(pa, cred-none)", func() error { _, _, err := s.PasskeyWithUser(ctx, "pa", "cred-none"); return err }},
				{"SetPasskeyLabel(pa, cred-none)", func() error { return s.SetPasskeyLabel(ctx, "pa", "cred-none", "x") }},
				{"DeletePasskey(pa, cred-none)", func() error { return s.DeletePasskey(ctx, "pa", "cred-none", "") }},
				{"DeletePasskey(pa, cred-shared, u-bob): another user's", func() error { return s.DeletePasskey(ctx, "pa", "cred-shared", "u-bob") }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.name, tt.call(), sqlstore.ErrNotFound) })
			}
			empty := []struct {
				name string
				call func() ([]sqlstore.Passkey, error)
			}{
				{"PasskeysOf(pa, u-none)", func() ([]sqlstore.Passkey, error) { return s.PasskeysOf(ctx, "pa", "u-none") }},
				{"PasskeysOf(pa, u-bob): no passkeys", func() ([]sqlstore.Passkey, error) { return s.PasskeysOf(ctx, "pa", "u-bob") }},
				{"PasskeysPage(pa, u-none)", func() ([]sqlstore.Passkey, error) {
					return s.PasskeysPage(ctx, sqlstore.PasskeyPage{ProjectID: "pa", UserID: "u-none", Limit: 10})
				}},
			}
			for _, tt := range empty {
				t.Run(tt.name, func(t *testing.T) {
					if got, err := tt.call(); err != nil || len(got) != 0 {
						t.Errorf("%s = %v, %v, want none, nil", tt.name, credentialIDs(got), err)
					}
				})
			}
			for _, identifier := range []string{"nobody", "bob"} {
				u, ps, err := s.PasskeysByIdentifier(ctx, "pa", identifier)
				if err != nil || u != (sqlstore.User{}) || len(ps) != 0 {
					t.Errorf("PasskeysByIdentifier(pa, %s) = %+v, %v, %v, want a zero User, none, nil", identifier, u, credentialIDs(ps), err)
				}
			}
		})

		t.Run("SetPasskeyLabel", func(t *testing.T) {
			want := addPasskey(t, s, "pa", "u-bob", "cred-label", t0)
			want.Label = "Laptop ✓"
			mustNil(t, "SetPasskeyLabel(pa, cred-label)", s.SetPasskeyLabel(ctx, "pa", "cred-label", want.Label))
			got, err := s.PasskeyByID(ctx, "pa", "cred-label")
			mustNil(t, "PasskeyByID(pa, cred-label)", err)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("PasskeyByID(pa, cred-label) after SetPasskeyLabel mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("DeletePasskey", func(t *testing.T) {
			addPasskey(t, s, "pa", "u-bob", "cred-del-1", t0)
			addPasskey(t, s, "pa", "u-bob", "cred-del-2", t0)
			checkErr(t, "DeletePasskey(pa, cred-del-1, u-alice)", s.DeletePasskey(ctx, "pa", "cred-del-1", "u-alice"), sqlstore.ErrNotFound)
			checkErr(t, "DeletePasskey(pa, cred-del-1, u-bob)", s.DeletePasskey(ctx, "pa", "cred-del-1", "u-bob"), nil)
			checkErr(t, "DeletePasskey(pa, cred-del-2, \"\")", s.DeletePasskey(ctx, "pa", "cred-del-2", ""), nil)
			for _, id := range []string{"cred-del-1", "cred-del-2"} {
				_, err := s.PasskeyByID(ctx, "pa", id)
				checkErr(t, "PasskeyByID(pa, "+id+") after DeletePasskey", err, sqlstore.ErrNotFound)
				checkErr(t, "DeletePasskey(pa, "+id+") again", s.DeletePasskey(ctx, "pa", id, ""), sqlstore.ErrNotFound)
			}
		})

		t.Run("scoped by project", func(t *testing.T) {
			addUser(t, s, "pa", "u-erin", "erin", t0)
			addUser(t, s, "pb", "u-erin-b", "erin", t0)
			want := addPasskey(t, s, "pa", "u-erin", "cred-only-pa", t0)
			wantB := addPasskey(t, s, "pb", "u-erin-b", "cred-erin-b", t0)
			errs := []struct {
				name string
				call func() error
			}{
				{"PasskeyByID(pb, cred-only-pa)", func() error { _, err := s.PasskeyByID(ctx, "pb", "cred-only-pa"); return err }},
				{"PasskeyWithUser(pb, cred-only-pa)", func() error { _, _, err := s.PasskeyWithUser(ctx, "pb", "cred-only-pa"); return err }},
				{"SetPasskeyLabel(pb, cred-only-pa)", func() error { return s.SetPasskeyLabel(ctx, "pb", "cred-only-pa", "Mallory") }},
				{"DeletePasskey(pb, cred-only-pa)", func() error { return s.DeletePasskey(ctx, "pb", "cred-only-pa", "") }},
				{"DeletePasskey(pb, cred-only-pa, u-erin)", func() error { return s.DeletePasskey(ctx, "pb", "cred-only-pa", "u-erin") }},
			}
			for _, tt := range errs {
				t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.name, tt.call(), sqlstore.ErrNotFound) })
			}
			if ps, err := s.PasskeysOf(ctx, "pb", "u-erin"); err != nil || len(ps) != 0 {
				t.Errorf("PasskeysOf(pb, u-erin) = %v, %v, want none, nil", credentialIDs(ps), err)
			}
			if ps, err := s.PasskeysPage(ctx, sqlstore.PasskeyPage{ProjectID: "pb", UserID: "u-erin", Limit: 10}); err != nil || len(ps) != 0 {
				t.Errorf("PasskeysPage(pb, u-erin) = %v, %v, want none, nil", credentialIDs(ps), err)
			}
			// pb has an erin of its own, with a passkey of its own.
			u, ps, err := s.PasskeysByIdentifier(ctx, "pb", "erin")
			mustNil(t, "PasskeysByIdentifier(pb, erin)", err)
			if diff := cmp.Diff([]sqlstore.Passkey{wantB}, ps); u.ID != "u-erin-b" || diff != "" {
				t.Errorf("PasskeysByIdentifier(pb, erin) = %s, want u-erin-b; passkeys mismatch (-want +got):\n%s", u.ID, diff)
			}
			if deleted, err := s.DeletePasskeysOf(ctx, "pb", "u-erin"); err != nil || len(deleted) != 0 {
				t.Errorf("DeletePasskeysOf(pb, u-erin) = %v, %v, want none, nil", deleted, err)
			}
			used, err := s.RecordPasskeyUse(ctx, sqlstore.PasskeyUse{ProjectID: "pb", CredentialID: "cred-only-pa", SignCount: 100, At: t0})
			if err != nil || used {
				t.Errorf("RecordPasskeyUse(pb, cred-only-pa) = %v, %v, want false, nil", used, err)
			}
			got, err := s.PasskeyByID(ctx, "pa", "cred-only-pa")
			mustNil(t, "PasskeyByID(pa, cred-only-pa)", err)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("PasskeyByID(pa, cred-only-pa) after project pb's calls mismatch (-want +got):\n%s", diff)
			}
		})
	})
}

func TestPasskeysOrder(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		carol := addUser(t, s, "pa", "u-carol", "carol", t0)
		addUser(t, s, "pa", "u-dan", "dan", t0)
		addUser(t, s, "pb", "u-carol-b", "carol", t0)
		// Inserted out of order, with ties on created_at broken by credential ID.
		byID := map[string]sqlstore.Passkey{}
		for _, p := range []struct {
			id string
			at int64
		}{{"c-e", t0 + 2}, {"c-b", t0 + 1}, {"c-a", t0 + 3}, {"c-d", t0 + 1}, {"c-f", t0}, {"c-c", t0 + 1}} {
			byID[p.id] = addPasskey(t, s, "pa", "u-carol", p.id, p.at)
		}
		addPasskey(t, s, "pa", "u-dan", "c-0", t0)
		addPasskey(t, s, "pb", "u-carol-b", "c-00", t0)
		var want []sqlstore.Passkey
		for _, id := range []string{"c-f", "c-b", "c-c", "c-d", "c-e", "c-a"} {
			want = append(want, byID[id])
		}

		t.Run("PasskeysOf", func(t *testing.T) {
			got, err := s.PasskeysOf(ctx, "pa", "u-carol")
			mustNil(t, "PasskeysOf(pa, u-carol)", err)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("PasskeysOf(pa, u-carol) mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("PasskeysByIdentifier", func(t *testing.T) {
			u, got, err := s.PasskeysByIdentifier(ctx, "pa", "carol")
			mustNil(t, "PasskeysByIdentifier(pa, carol)", err)
			if diff := cmp.Diff(carol, u); diff != "" {
				t.Errorf("PasskeysByIdentifier(pa, carol) user mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("PasskeysByIdentifier(pa, carol) passkeys mismatch (-want +got):\n%s", diff)
			}
		})

		for _, limit := range []int{1, 2, 4, 6, 50} {
			t.Run(fmt.Sprintf("PasskeysPage limit %d", limit), func(t *testing.T) {
				var got []sqlstore.Passkey
				f := sqlstore.PasskeyPage{ProjectID: "pa", UserID: "u-carol", Limit: limit}
				for pages := 0; ; pages++ {
					if pages > len(want)+1 {
						t.Fatalf("PasskeysPage(%+v): more pages than passkeys", f)
					}
					page, err := s.PasskeysPage(ctx, f)
					mustNil(t, fmt.Sprintf("PasskeysPage(%+v)", f), err)
					if len(page) > limit {
						t.Fatalf("PasskeysPage(%+v) = %d passkeys, want at most %d", f, len(page), limit)
					}
					if len(page) == 0 {
						break
					}
					got = append(got, page...)
					last := page[len(page)-1]
					f.After, f.AfterCreatedAt = last.CredentialID, last.CreatedAt
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("PasskeysPage(pa, u-carol) pages, limit %d, mismatch (-want +got):\n%s", limit, diff)
				}
			})
		}

		t.Run("PasskeysPage cursor in a tie", func(t *testing.T) {
			got, err := s.PasskeysPage(ctx, sqlstore.PasskeyPage{ProjectID: "pa", UserID: "u-carol", After: "c-b", AfterCreatedAt: t0 + 1, Limit: 2})
			mustNil(t, "PasskeysPage(after c-b)", err)
			if diff := cmp.Diff([]string{"c-c", "c-d"}, credentialIDs(got)); diff != "" {
				t.Errorf("PasskeysPage(after c-b, limit 2) mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("DeletePasskeysOf", func(t *testing.T) {
			before := rowCount(t, s, "passkeys")
			deleted, err := s.DeletePasskeysOf(ctx, "pa", "u-carol")
			mustNil(t, "DeletePasskeysOf(pa, u-carol)", err)
			slices.SortFunc(deleted, func(a, b sqlstore.DeletedPasskey) int { return strings.Compare(a.CredentialID, b.CredentialID) })
			var wantDeleted []sqlstore.DeletedPasskey
			for _, id := range []string{"c-a", "c-b", "c-c", "c-d", "c-e", "c-f"} {
				wantDeleted = append(wantDeleted, sqlstore.DeletedPasskey{CredentialID: id, CreatedAt: byID[id].CreatedAt})
			}
			if diff := cmp.Diff(wantDeleted, deleted); diff != "" {
				t.Errorf("DeletePasskeysOf(pa, u-carol) mismatch (-want +got):\n%s", diff)
			}
			if got := rowCount(t, s, "passkeys"); got != before-len(wantDeleted) {
				t.Errorf("CountRows(passkeys) after DeletePasskeysOf = %d, want %d", got, before-len(wantDeleted))
			}
			if ps, err := s.PasskeysOf(ctx, "pa", "u-dan"); err != nil || len(ps) != 1 {
				t.Errorf("PasskeysOf(pa, u-dan) = %v, %v, want [c-0]", credentialIDs(ps), err)
			}
			if ps, err := s.PasskeysOf(ctx, "pb", "u-carol-b"); err != nil || len(ps) != 1 {
				t.Errorf("PasskeysOf(pb, u-carol-b) = %v, %v, want [c-00]", credentialIDs(ps), err)
			}
			if deleted, err := s.DeletePasskeysOf(ctx, "pa", "u-carol"); err != nil || len(deleted) != 0 {
				t.Errorf("DeletePasskeysOf(pa, u-carol) again = %v, %v, want none, nil", deleted, err)
			}
		})
	})
}

func TestRecordPasskeyUse(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addUser(t, s, "pa", "u-alice", "alice", t0)
		tests := []struct {
			name         string
			stored       int64
			storedUV     bool
			use          int64
			useUV        bool
			wantRecorded bool
		}{
			{"increase", 5, false, 6, true, true},
			{"equal", 5, false, 5, true, false},
			{"lower", 5, false, 4, true, false},
			{"0 to 0", 0, false, 0, true, true},
			{"0 to N", 0, false, 9, true, true},
			{"N to 0", 5, false, 0, true, false},
			{"verified stays verified", 5, true, 6, false, true},
			{"to 2^31-1", 2, false, math.MaxInt32, false, true},
			{"crossing 2^31", math.MaxInt32, false, math.MaxInt32 + 1, false, true},
			{"2^31 to 2^32-1", math.MaxInt32 + 1, false, math.MaxUint32, false, true},
			{"2^32-1, equal", math.MaxUint32, false, math.MaxUint32, false, false},
			{"2^32-1 to 2^31", math.MaxUint32, false, math.MaxInt32 + 1, false, false},
			{"2^32-1 to 0", math.MaxUint32, false, 0, false, false},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				stored := newPasskey("pa", "u-alice", fmt.Sprintf("cred-%d", i), t0)
				stored.SignCount, stored.UserVerified, stored.BackupState = tt.stored, tt.storedUV, false
				mustNil(t, "InsertPasskey", s.InsertPasskey(ctx, stored))
				use := sqlstore.PasskeyUse{ProjectID: "pa", CredentialID: stored.CredentialID, SignCount: tt.use,
					BackupState: true, UserVerified: tt.useUV, At: t0 + 1000}
				recorded, err := s.RecordPasskeyUse(ctx, use)
				if err != nil || recorded != tt.wantRecorded {
					t.Fatalf("RecordPasskeyUse(stored %d, use %d) = %v, %v, want %v, nil", tt.stored, tt.use, recorded, err, tt.wantRecorded)
				}
				want := stored
				if tt.wantRecorded {
					want.SignCount = max(tt.stored, tt.use)
					want.BackupState = true
					want.UserVerified = tt.storedUV || tt.useUV
					want.LastUsedAt = ptr(use.At)
				}
				got, err := s.PasskeyByID(ctx, "pa", stored.CredentialID)
				mustNil(t, "PasskeyByID", err)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("PasskeyByID after RecordPasskeyUse(stored %d, use %d) mismatch (-want +got):\n%s", tt.stored, tt.use, diff)
				}
			})
		}

		t.Run("counter up to 2^32-1", func(t *testing.T) {
			addPasskey(t, s, "pa", "u-alice", "cred-big", t0)
			uses := []struct {
				count int64
				want  bool
			}{{0, false}, {7, false}, {8, true}, {1 << 31, true}, {1 << 31, false}, {math.MaxUint32 - 1, true}, {math.MaxUint32, true}, {math.MaxUint32, false}}
			stored := int64(7)
			for i, u := range uses {
				recorded, err := s.RecordPasskeyUse(ctx, sqlstore.PasskeyUse{ProjectID: "pa", CredentialID: "cred-big", SignCount: u.count, At: t0 + int64(i)})
				if err != nil || recorded != u.want {
					t.Fatalf("RecordPasskeyUse(stored %d, use %d) = %v, %v, want %v, nil", stored, u.count, recorded, err, u.want)
				}
				if recorded {
					stored = u.count
				}
				got, err := s.PasskeyByID(ctx, "pa", "cred-big")
				if err != nil || got.SignCount != stored {
					t.Fatalf("PasskeyByID(cred-big).SignCount = %d, %v, want %d, nil", got.SignCount, err, stored)
				}
			}
		})

		t.Run("in a transaction", func(t *testing.T) {
			addPasskey(t, s, "pa", "u-alice", "cred-tx", t0)
			var recorded bool
			err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
				var err error
				recorded, err = tx.RecordPasskeyUse(ctx, sqlstore.PasskeyUse{ProjectID: "pa", CredentialID: "cred-tx", SignCount: math.MaxUint32, At: t0})
				return err
			})
			if err != nil || !recorded {
				t.Fatalf("RecordPasskeyUse(cred-tx, 2^32-1) in InTx = %v, %v, want true, nil", recorded, err)
			}
			got, err := s.PasskeyByID(ctx, "pa", "cred-tx")
			if err != nil || got.SignCount != math.MaxUint32 {
				t.Errorf("PasskeyByID(cred-tx).SignCount = %d, %v, want %d", got.SignCount, err, int64(math.MaxUint32))
			}
		})

		t.Run("passkey gone", func(t *testing.T) {
			recorded, err := s.RecordPasskeyUse(ctx, sqlstore.PasskeyUse{ProjectID: "pa", CredentialID: "cred-none", SignCount: 1, At: t0})
			if err != nil || recorded {
				t.Errorf("RecordPasskeyUse(cred-none) = %v, %v, want false, nil", recorded, err)
			}
		})
	})
}
