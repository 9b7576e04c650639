package sqlstore_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

func TestUsers(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		addProject(t, s, "pc")
		alice := addUser(t, s, "pa", "u-alice", "alice", t0)

		t.Run("round trip", func(t *testing.T) {
			got, err := s.UserByID(ctx, "pa", alice.ID)
			mustNil(t, "UserByID(pa, u-alice)", err)
			if diff := cmp.Diff(alice, got); diff != "" {
				t.Errorf("UserByID(pa, u-alice) mismatch (-want +got):\n%s", diff)
			}
			got, err = s.UserByIdentifier(ctx, "pa", "alice")
			mustNil(t, "UserByIdentifier(pa, alice)", err)
			if diff := cmp.Diff(alice, got); diff != "" {
				t.Errorf("UserByIdentifier(pa, alice) mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("insert", func(t *testing.T) {
			tests := []struct {
				name string
				u    sqlstore.User
				want error
			}{
				{"ID taken, in another project", sqlstore.User{ID: "u-alice", ProjectID: "pb", Identifier: "x1", WebAuthnID: "wa-x1"}, sqlstore.ErrAlreadyExists},
				{"identifier taken", sqlstore.User{ID: "u-x2", ProjectID: "pa", Identifier: "alice", WebAuthnID: "wa-x2"}, sqlstore.ErrAlreadyExists},
				{"user handle taken", sqlstore.User{ID: "u-x3", ProjectID: "pa", Identifier: "x3", WebAuthnID: "wa-u-alice"}, sqlstore.ErrAlreadyExists},
				{"identifier of another project", sqlstore.User{ID: "u-x4", ProjectID: "pc", Identifier: "alice", WebAuthnID: "wa-x4"}, nil},
				{"user handle of another project", sqlstore.User{ID: "u-x5", ProjectID: "pc", Identifier: "x5", WebAuthnID: "wa-u-alice"}, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					checkErr(t, fmt.Sprintf("InsertUser(%+v)", tt.u), s.InsertUser(ctx, tt.u), tt.want)
				})
			}
		})

		t.Run("not found", func(t *testing.T) {
			tests := []struct {
				name string
				call func() error
			}{
				{"UserByID(pa, u-none)", func() error { _, err := s.UserByID(ctx, "pa", "u-none"); return err }},
				{"UserByIdentifier(pa, nobody)", func() error { _, err := s.UserByIdentifier(ctx, "pa", "nobody"); return err }},
				{"SetUserDisplayName(pa, u-none)", func() error { return s.SetUserDisplayName(ctx, "pa", "u-none", "x") }},
				{"SetUserIdentifier(pa, u-none)", func() error { return s.SetUserIdentifier(ctx, "pa", "u-none", "x") }},
				{"DeleteUser(pa, u-none)", func() error { return s.DeleteUser(ctx, "pa", "u-none") }},
				{"UserByID(p-none, u-alice)", func() error { _, err := s.UserByID(ctx, "p-none", "u-alice"); return err }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.name, tt.call(), sqlstore.ErrNotFound) })
			}
		})

		t.Run("scoped by project", func(t *testing.T) {
			tests := []struct {
				name string
				call func() error
			}{
				{"UserByID(pb, u-alice)", func() error { _, err := s.UserByID(ctx, "pb", "u-alice"); return err }},
				{"UserByIdentifier(pb, alice)", func() error { _, err := s.UserByIdentifier(ctx, "pb", "alice"); return err }},
				{"SetUserDisplayName(pb, u-alice)", func() error { return s.SetUserDisplayName(ctx, "pb", "u-alice", "Mallory") }},
				{"SetUserIdentifier(pb, u-alice)", func() error { return s.SetUserIdentifier(ctx, "pb", "u-alice", "mallory") }},
				{"DeleteUser(pb, u-alice)", func() error { return s.DeleteUser(ctx, "pb", "u-alice") }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.name, tt.call(), sqlstore.ErrNotFound) })
			}
			got, err := s.UserByID(ctx, "pa", "u-alice")
			mustNil(t, "UserByID(pa, u-alice)", err)
			if diff := cmp.Diff(alice, got); diff != "" {
				t.Errorf("UserByID(pa, u-alice) after project pb's calls mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("set display name and identifier", func(t *testing.T) {
			u := addUser(t, s, "pa", "u-bob", "bob", t0)
			mustNil(t, "SetUserDisplayName(pa, u-bob)", s.SetUserDisplayName(ctx, "pa", u.ID, "Robert"))
			mustNil(t, "SetUserIdentifier(pa, u-bob)", s.SetUserIdentifier(ctx, "pa", u.ID, "robert"))
			checkErr(t, "SetUserIdentifier(pa, u-bob, alice)", s.SetUserIdentifier(ctx, "pa", u.ID, "alice"), sqlstore.ErrAlreadyExists)
			u.DisplayName, u.Identifier = "Robert", "robert"
			got, err := s.UserByIdentifier(ctx, "pa", "robert")
			mustNil(t, "UserByIdentifier(pa, robert)", err)
			if diff := cmp.Diff(u, got); diff != "" {
				t.Errorf("UserByIdentifier(pa, robert) mismatch (-want +got):\n%s", diff)
			}
			_, err = s.UserByIdentifier(ctx, "pa", "bob")
			checkErr(t, "UserByIdentifier(pa, bob) after the rename", err, sqlstore.ErrNotFound)
			// Setting the identifier a user already has changes nothing and is no conflict.
			checkErr(t, "SetUserIdentifier(pa, u-bob, robert) again", s.SetUserIdentifier(ctx, "pa", u.ID, "robert"), nil)
		})

		t.Run("delete cascades to passkeys", func(t *testing.T) {
			addUser(t, s, "pa", "u-carol", "carol", t0)
			addPasskey(t, s, "pa", "u-carol", "cred-carol-1", t0)
			addPasskey(t, s, "pa", "u-carol", "cred-carol-2", t0)
			addPasskey(t, s, "pa", "u-alice", "cred-alice", t0)
			before := rowCount(t, s, "passkeys")
			mustNil(t, "DeleteUser(pa, u-carol)", s.DeleteUser(ctx, "pa", "u-carol"))
			if got := rowCount(t, s, "passkeys"); got != before-2 {
				t.Errorf("CountRows(passkeys) after DeleteUser(pa, u-carol) = %d, want %d", got, before-2)
			}
			_, err := s.UserByID(ctx, "pa", "u-carol")
			checkErr(t, "UserByID(pa, u-carol) after DeleteUser", err, sqlstore.ErrNotFound)
			checkErr(t, "DeleteUser(pa, u-carol) again", s.DeleteUser(ctx, "pa", "u-carol"), sqlstore.ErrNotFound)
			ps, err := s.PasskeysOf(ctx, "pa", "u-alice")
			if err != nil || len(ps) != 1 {
				t.Errorf("PasskeysOf(pa, u-alice) = %d passkeys, %v, want 1, nil", len(ps), err)
			}
		})

		t.Run("InsertUserIfAbsent", func(t *testing.T) {
			dave := newUser("pa", "u-dave", "dave", t0)
			created, err := s.InsertUserIfAbsent(ctx, dave)
			if err != nil || !created {
				t.Fatalf("InsertUserIfAbsent(dave) = %v, %v, want true, nil", created, err)
			}
			created, err = s.InsertUserIfAbsent(ctx, newUser("pa", "u-dave2", "dave", t0+1))
			if err != nil || created {
				t.Errorf("InsertUserIfAbsent(dave as u-dave2) = %v, %v, want false, nil", created, err)
			}
			got, err := s.UserByIdentifier(ctx, "pa", "dave")
			mustNil(t, "UserByIdentifier(pa, dave)", err)
			if diff := cmp.Diff(dave, got); diff != "" {
				t.Errorf("UserByIdentifier(pa, dave) mismatch (-want +got):\n%s", diff)
			}
			created, err = s.InsertUserIfAbsent(ctx, newUser("pb", "u-dave-b", "dave", t0))
			if err != nil || !created {
				t.Errorf("InsertUserIfAbsent(dave in pb) = %v, %v, want true, nil", created, err)
			}
			// Only the identifier is "absent": a taken ID or user handle is a conflict.
			_, err = s.InsertUserIfAbsent(ctx, sqlstore.User{ID: "u-dave", ProjectID: "pa", Identifier: "dave-x", WebAuthnID: "wa-x"})
			checkErr(t, "InsertUserIfAbsent(ID u-dave taken)", err, sqlstore.ErrAlreadyExists)
		})
	})
}

func TestUsersPages(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		// Inserted out of order, with ties on created_at broken by ID.
		var want []sqlstore.User
		for _, u := range []struct {
			id string
			at int64
		}{{"u5", t0 + 2}, {"u3", t0 + 1}, {"u1", t0 + 3}, {"u4", t0 + 1}, {"u2", t0}, {"u7", t0 + 2}, {"u6", t0 + 1}} {
			addUser(t, s, "pa", u.id, "id-"+u.id, u.at)
		}
		addUser(t, s, "pb", "u0", "id-u0", t0+1)
		for _, id := range []string{"u2", "u3", "u4", "u6", "u5", "u7", "u1"} {
			u, err := s.UserByID(ctx, "pa", id)
			mustNil(t, "UserByID(pa, "+id+")", err)
			want = append(want, u)
		}

		for _, limit := range []int{1, 2, 3, 7, 100} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				var got []sqlstore.User
				f := sqlstore.UserFilter{ProjectID: "pa", Limit: limit}
				for pages := 0; ; pages++ {
					if pages > len(want)+1 {
						t.Fatalf("Users(%+v): more pages than users", f)
					}
					page, err := s.Users(ctx, f)
					mustNil(t, fmt.Sprintf("Users(%+v)", f), err)
					if len(page) > limit {
						t.Fatalf("Users(%+v) = %d users, want at most %d", f, len(page), limit)
					}
					if len(page) == 0 {
						break
					}
					got = append(got, page...)
					last := page[len(page)-1]
					f.After, f.AfterCreatedAt = last.ID, last.CreatedAt
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Users(pa) pages, limit %d, mismatch (-want +got):\n%s", limit, diff)
				}
			})
		}

		tests := []struct {
			name string
			f    sqlstore.UserFilter
			want []string
		}{
			{"identifier", sqlstore.UserFilter{ProjectID: "pa", Identifier: "id-u4", Limit: 10}, []string{"u4"}},
			{"identifier of another project", sqlstore.UserFilter{ProjectID: "pa", Identifier: "id-u0", Limit: 10}, nil},
			{"identifier before the cursor", sqlstore.UserFilter{ProjectID: "pa", Identifier: "id-u2", After: "u3", AfterCreatedAt: t0 + 1, Limit: 10}, nil},
			{"identifier after the cursor", sqlstore.UserFilter{ProjectID: "pa", Identifier: "id-u1", After: "u3", AfterCreatedAt: t0 + 1, Limit: 10}, []string{"u1"}},
			{"cursor in a tie", sqlstore.UserFilter{ProjectID: "pa", After: "u4", AfterCreatedAt: t0 + 1, Limit: 2}, []string{"u6", "u5"}},
			{"cursor past the end", sqlstore.UserFilter{ProjectID: "pa", After: "u1", AfterCreatedAt: t0 + 3, Limit: 10}, nil},
			{"unknown project", sqlstore.UserFilter{ProjectID: "p-none", Limit: 10}, nil},
			{"project pb", sqlstore.UserFilter{ProjectID: "pb", Limit: 10}, []string{"u0"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				us, err := s.Users(ctx, tt.f)
				mustNil(t, fmt.Sprintf("Users(%+v)", tt.f), err)
				var got []string
				for _, u := range us {
					got = append(got, u.ID)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Users(%+v) mismatch (-want +got):\n%s", tt.f, diff)
				}
			})
		}
	})
}
