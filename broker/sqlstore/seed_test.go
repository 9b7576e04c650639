package sqlstore_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// seedRows returns n users of project and a passkey for each, keys starting with prefix.
func seedRows(project, prefix string, n int) ([]sqlstore.User, []sqlstore.Passkey) {
	users := make([]sqlstore.User, n)
	passkeys := make([]sqlstore.Passkey, n)
	for i := range n {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		users[i] = newUser(project, "u-"+id, "id-"+id, t0+int64(i))
		passkeys[i] = newPasskey(project, "u-"+id, "cred-"+id, t0+int64(i))
	}
	passkeys[n-1].LastUsedAt = ptr(t0 + 99)
	return users, passkeys
}

func TestSeed(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")

		t.Run("round trip", func(t *testing.T) {
			// More rows than one INSERT carries, so that the batches meet.
			const n = 1201
			users, passkeys := seedRows("pa", "seed", n)
			before := rowCounts(t, s)
			mustNil(t, fmt.Sprintf("Seed(pa, %d users, %d passkeys)", n, n), s.Seed(ctx, "pa", users, passkeys))
			after := rowCounts(t, s)
			if after["users"] != before["users"]+n || after["passkeys"] != before["passkeys"]+n {
				t.Errorf("CountRows(users, passkeys) after Seed = %d, %d, want %d, %d",
					after["users"], after["passkeys"], before["users"]+n, before["passkeys"]+n)
			}
			for _, i := range []int{0, 499, 500, 999, 1000, n - 1} {
				u, err := s.UserByID(ctx, "pa", users[i].ID)
				mustNil(t, "UserByID(pa, "+users[i].ID+")", err)
				if diff := cmp.Diff(users[i], u); diff != "" {
					t.Errorf("UserByID(pa, %s) after Seed mismatch (-want +got):\n%s", users[i].ID, diff)
				}
				p, err := s.PasskeyByID(ctx, "pa", passkeys[i].CredentialID)
				mustNil(t, "PasskeyByID(pa, "+passkeys[i].CredentialID+")", err)
				if diff := cmp.Diff(passkeys[i], p); diff != "" {
					t.Errorf("PasskeyByID(pa, %s) after Seed mismatch (-want +got):\n%s", passkeys[i].CredentialID, diff)
				}
			}
		})

		t.Run("nothing to seed", func(t *testing.T) {
			checkErr(t, "Seed(pa, none, none)", s.Seed(ctx, "pa", nil, nil), nil)
		})

		addUser(t, s, "pa", "u-taken", "taken", t0)
		addPasskey(t, s, "pa", "u-taken", "cred-taken", t0)
		users, passkeys := seedRows("pa", "fail", 700)
		tests := []struct {
			name     string
			project  string
			users    []sqlstore.User
			passkeys []sqlstore.Passkey
			want     error
		}{
			{"unknown project", "p-none", users[:3], passkeys[:3], sqlstore.ErrNotFound},
			{"identifier taken", "pa", append(users[:3:3], newUser("pa", "u-fail-x", "taken", t0)), passkeys[:3], sqlstore.ErrAlreadyExists},
			{"identifier twice in one batch", "pa", append(users[:3:3], newUser("pa", "u-fail-x", users[1].Identifier, t0)), nil, sqlstore.ErrAlreadyExists},
			{"identifier twice, in the second batch", "pa", append(users[:650:650], newUser("pa", "u-fail-x", users[600].Identifier, t0)), nil, sqlstore.ErrAlreadyExists},
			{"credential taken", "pa", users[:3], append(passkeys[:3:3], newPasskey("pa", users[0].ID, "cred-taken", t0)), sqlstore.ErrAlreadyExists},
			{"credential twice, in the second batch", "pa", users, append(passkeys[:650:650], passkeys[600]), sqlstore.ErrAlreadyExists},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := rowCounts(t, s)
				checkErr(t, fmt.Sprintf("Seed(%s, %d users, %d passkeys)", tt.project, len(tt.users), len(tt.passkeys)),
					s.Seed(ctx, tt.project, tt.users, tt.passkeys), tt.want)
				if diff := cmp.Diff(before, rowCounts(t, s)); diff != "" {
					t.Errorf("CountRows after a refused Seed mismatch (-before +after):\n%s", diff)
				}
			})
		}
	})
}
