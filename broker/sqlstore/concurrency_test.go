package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// singleUse is the part of the store (and of a Tx) whose operations succeed once.
type singleUse interface {
	EndCeremony(ctx context.Context, id string, now int64) error
	ConsumeConnectToken(ctx context.Context, id string, now int64) error
	InsertVerifiedToken(ctx context.Context, v sqlstore.VerifiedToken) error
	RecordPasskeyUse(ctx context.Context, u sqlstore.PasskeyUse) (bool, error)
	InsertUserIfAbsent(ctx context.Context, u sqlstore.User) (bool, error)
	RevokeAPISecret(ctx context.Context, projectID, id string, at int64) error
}

var (
	_ singleUse = (*sqlstore.Store)(nil)
	_ singleUse = (*sqlstore.Tx)(nil)
)

// TestSingleUse races callers of each single-use operation on one row: exactly one wins, and
// every other gets the operation's "lost" answer, never another error. Each caller runs in a
// transaction of its own, as the broker does, or directly on the store.
func TestSingleUse(t *testing.T) {
	const racers = 40
	tests := []struct {
		name string
		// setup adds the row the racers want, its keys starting with key.
		setup func(t *testing.T, s *sqlstore.Store, key string)
		// race is racer i's call: won reports a win; a loss is (false, lost) with lost nil or
		// the error a loser gets.
		race func(ctx context.Context, q singleUse, key string, i int) (won bool, err error)
		lost error
		// check checks that the row holds the winner's write.
		check func(t *testing.T, s *sqlstore.Store, key string, winner int)
	}{
		{
			name: "EndCeremony",
			setup: func(t *testing.T, s *sqlstore.Store, key string) {
				addCeremony(t, s, newCeremony("pa", key, t0, t0+60_000))
			},
			race: func(ctx context.Context, q singleUse, key string, i int) (bool, error) {
				err := q.EndCeremony(ctx, key, t0+int64(i))
				return err == nil, err
			},
			lost: sqlstore.ErrNotFound,
			check: func(t *testing.T, s *sqlstore.Store, key string, _ int) {
				_, err := s.Ceremony(t.Context(), "pa", key, "login")
				checkErr(t, "Ceremony("+key+") after the race", err, sqlstore.ErrNotFound)
			},
		},
		{
			name: "ConsumeConnectToken",
			setup: func(t *testing.T, s *sqlstore.Store, key string) {
				addToken(t, s, newToken("pa", key, "alice", t0+60_000))
			},
			race: func(ctx context.Context, q singleUse, key string, i int) (bool, error) {
				err := q.ConsumeConnectToken(ctx, key, t0+int64(i))
				return err == nil, err
			},
			lost: sqlstore.ErrNotFound,
			check: func(t *testing.T, s *sqlstore.Store, key string, winner int) {
				tok, err := s.ConnectToken(t.Context(), "pa", key)
				if err != nil || tok.ConsumedAt == nil || *tok.ConsumedAt != t0+int64(winner) {
					t.Errorf("ConnectToken(%s).ConsumedAt = %v, %v, want the winner's %d", key, tok.ConsumedAt, err, t0+int64(winner))
				}
			},
		},
		{
			name:  "InsertVerifiedToken",
			setup: func(t *testing.T, s *sqlstore.Store, key string) {},
			race: func(ctx context.Context, q singleUse, key string, i int) (bool, error) {
				err := q.InsertVerifiedToken(ctx, sqlstore.VerifiedToken{ProjectID: "pa", JTI: key, VerifiedAt: t0 + int64(i), ExpiresAt: t0 + 60_000})
				return err == nil, err
			},
			lost: sqlstore.ErrAlreadyExists,
			check: func(t *testing.T, s *sqlstore.Store, key string, winner int) {
				err := s.InsertVerifiedToken(t.Context(), sqlstore.VerifiedToken{ProjectID: "pa", JTI: key, VerifiedAt: t0, ExpiresAt: t0 + 60_000})
				checkErr(t, "InsertVerifiedToken("+key+") after the race", err, sqlstore.ErrAlreadyExists)
			},
		},
		{
			name: "RecordPasskeyUse with one counter",
			setup: func(t *testing.T, s *sqlstore.Store, key string) {
				addUser(t, s, "pa", "u-"+key, key, t0)
				addPasskey(t, s, "pa", "u-"+key, key, t0)
			},
			race: func(ctx context.Context, q singleUse, key string, i int) (bool, error) {
				return q.RecordPasskeyUse(ctx, sqlstore.PasskeyUse{ProjectID: "pa", CredentialID: key, SignCount: 1 << 31, At: t0 + int64(i)})
			},
			check: func(t *testing.T, s *sqlstore.Store, key string, winner int) {
				p, err := s.PasskeyByID(t.Context(), "pa", key)
				if err != nil || p.SignCount != 1<<31 || p.LastUsedAt == nil || *p.LastUsedAt != t0+int64(winner) {
					t.Errorf("PasskeyByID(%s) = count %d, last used %v, %v, want %d, the winner's %d", key, p.SignCount, p.LastUsedAt, err, 1<<31, t0+int64(winner))
				}
			},
		},
		{
			name:  "InsertUserIfAbsent with one identifier",
			setup: func(t *testing.T, s *sqlstore.Store, key string) {},
			race: func(ctx context.Context, q singleUse, key string, i int) (bool, error) {
				return q.InsertUserIfAbsent(ctx, newUser("pa", fmt.Sprintf("u-%s-%d", key, i), key, t0))
			},
			check: func(t *testing.T, s *sqlstore.Store, key string, winner int) {
				u, err := s.UserByIdentifier(t.Context(), "pa", key)
				if want := fmt.Sprintf("u-%s-%d", key, winner); err != nil || u.ID != want {
					t.Errorf("UserByIdentifier(%s) = %s, %v, want the winner's %s", key, u.ID, err, want)
				}
			},
		},
		{
			name: "RevokeAPISecret",
			setup: func(t *testing.T, s *sqlstore.Store, key string) {
				mustNil(t, "InsertAPISecret", s.InsertAPISecret(t.Context(), sqlstore.APISecret{ID: key, ProjectID: "pa", SecretHash: "h-" + key, CreatedAt: t0}))
			},
			race: func(ctx context.Context, q singleUse, key string, i int) (bool, error) {
				err := q.RevokeAPISecret(ctx, "pa", key, t0+int64(i))
				return err == nil, err
			},
			lost: sqlstore.ErrNotFound,
			check: func(t *testing.T, s *sqlstore.Store, key string, winner int) {
				secrets, err := s.APISecrets(t.Context(), "pa")
				mustNil(t, "APISecrets(pa)", err)
				for _, sec := range secrets {
					if sec.ID == key && (sec.RevokedAt == nil || *sec.RevokedAt != t0+int64(winner)) {
						t.Errorf("APISecrets: %s.RevokedAt = %v, want the winner's %d", key, sec.RevokedAt, t0+int64(winner))
					}
				}
			},
		},
	}
	ways := []struct {
		name string
		call func(ctx context.Context, s *sqlstore.Store, fn func(q singleUse) error) error
	}{
		{"in InTx", func(ctx context.Context, s *sqlstore.Store, fn func(q singleUse) error) error {
			return s.InTx(ctx, func(tx *sqlstore.Tx) error { return fn(tx) })
		}},
		{"on the store", func(ctx context.Context, s *sqlstore.Store, fn func(q singleUse) error) error { return fn(s) }},
	}
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		addProject(t, s, "pa")
		for ti, tt := range tests {
			for wi, way := range ways {
				t.Run(tt.name+" "+way.name, func(t *testing.T) {
					ctx := t.Context()
					key := fmt.Sprintf("race-%d-%d", ti, wi)
					tt.setup(t, s, key)
					var (
						wg    sync.WaitGroup
						start = make(chan struct{})
						won   = make([]bool, racers)
						errs  = make([]error, racers)
					)
					for i := range racers {
						wg.Go(func() {
							<-start
							errs[i] = way.call(ctx, s, func(q singleUse) error {
								var err error
								won[i], err = tt.race(ctx, q, key, i)
								return err
							})
						})
					}
					close(start)
					wg.Wait()
					winner, winners := -1, 0
					for i := range racers {
						switch {
						case won[i] && errs[i] == nil:
							winner = i
							winners++
						case won[i]:
							t.Errorf("racer %d won but its transaction failed: %v", i, errs[i])
						case tt.lost == nil && errs[i] != nil, tt.lost != nil && !errors.Is(errs[i], tt.lost):
							t.Errorf("racer %d: %s = %v, want %v", i, tt.name, errs[i], tt.lost)
						}
					}
					if winners != 1 {
						t.Fatalf("%s by %d racers %s: %d won, want exactly 1", tt.name, racers, way.name, winners)
					}
					tt.check(t, s, key, winner)
				})
			}
		}
	})
}
