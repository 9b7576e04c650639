package sqlstore_test

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// TestCounters: AddCounts creates and adds to rows in one statement, merges counts of one
// counter, keeps shards apart and Counters sums them; concurrent adds to the same rows all
// count; the queries by bucket count what falls in each.
func TestCounters(t *testing.T) {
	const hour = int64(3_600_000)
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		h0 := int64(1_764_000_000_000) // a whole hour
		mustNil(t, "AddCounts", s.AddCounts(ctx, "pa", h0, 0, sqlstore.Count{Series: "login", Dim: "identifier", Value: 1},
			sqlstore.Count{Series: "login", Dim: "conditional", Value: 2}, sqlstore.Count{Series: "login", Dim: "identifier", Value: 3}))
		mustNil(t, "AddCounts", s.AddCounts(ctx, "pa", h0, 5, sqlstore.Count{Series: "login", Dim: "identifier", Value: 10}))
		mustNil(t, "AddCounts", s.AddCounts(ctx, "pa", h0+hour, 0, sqlstore.Count{Series: "passkey_added", Value: 1}))
		mustNil(t, "AddCounts", s.AddCounts(ctx, "pb", h0, 0, sqlstore.Count{Series: "login", Dim: "identifier", Value: 100}))
		if err := s.AddCounts(ctx, "pa", h0, sqlstore.CounterShards, sqlstore.Count{Series: "x", Value: 1}); err == nil {
			t.Error("AddCounts(shard out of range) = nil")
		}

		// 8 writers add 25 each to one row of one shard and another of their own.
		var wg sync.WaitGroup
		errs := make(chan error, 8*25)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					errs <- s.InTx(ctx, func(tx *sqlstore.Tx) error {
						return tx.AddCounts(ctx, "pa", h0+2*hour, w%2, sqlstore.Count{Series: "login", Dim: "usernameless", Value: 1},
							sqlstore.Count{Series: "client", Dim: "append.offer_shown", Value: 1})
					})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent AddCounts: %v", err)
			}
		}

		got, err := s.Counters(ctx, "pa", h0, h0+3*hour)
		mustNil(t, "Counters", err)
		want := []sqlstore.CounterRow{
			{BucketStart: h0, Series: "login", Dim: "conditional", Value: 2},
			{BucketStart: h0, Series: "login", Dim: "identifier", Value: 14},
			{BucketStart: h0 + hour, Series: "passkey_added", Dim: "", Value: 1},
			{BucketStart: h0 + 2*hour, Series: "client", Dim: "append.offer_shown", Value: 200},
			{BucketStart: h0 + 2*hour, Series: "login", Dim: "usernameless", Value: 200},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Counters(pa) (-want +got):\n%s", diff)
		}
		got, err = s.Counters(ctx, "pa", h0+hour, h0+2*hour)
		mustNil(t, "Counters", err)
		if diff := cmp.Diff(want[2:3], got); diff != "" {
			t.Errorf("Counters(pa, one hour) (-want +got):\n%s", diff)
		}

		// Users and first passkeys by bucket: u1 before the range, u2 at its start, u3 in
		// its last millisecond, u4 at its end (left out).
		for i, at := range []int64{h0 - 1, h0, h0 + 2*hour - 1, h0 + 2*hour} {
			id := string(rune('1' + i))
			addUser(t, s, "pa", "u"+id, "user"+id, at)
			mustNil(t, "InsertPasskey", s.InsertPasskey(ctx, newPasskey("pa", "u"+id, "c"+id, at)))
		}
		// u1's second passkey, later, does not move u1.
		mustNil(t, "InsertPasskey", s.InsertPasskey(ctx, newPasskey("pa", "u1", "c1b", h0+hour)))
		wantBuckets := []sqlstore.BucketCount{{Bucket: -1, N: 1}, {Bucket: 0, N: 1}, {Bucket: 1, N: 1}}
		users, err := s.UsersCreated(ctx, "pa", h0, h0+2*hour, hour)
		mustNil(t, "UsersCreated", err)
		if diff := cmp.Diff(wantBuckets, users); diff != "" {
			t.Errorf("UsersCreated (-want +got):\n%s", diff)
		}
		firsts, err := s.FirstPasskeys(ctx, "pa", h0, h0+2*hour, hour)
		mustNil(t, "FirstPasskeys", err)
		if diff := cmp.Diff(wantBuckets, firsts); diff != "" {
			t.Errorf("FirstPasskeys (-want +got):\n%s", diff)
		}
		groups, err := s.PasskeyGroups(ctx, "pa")
		mustNil(t, "PasskeyGroups", err)
		if len(groups) != 1 || groups[0].N != 5 {
			t.Errorf("PasskeyGroups(pa) = %+v, want one group of 5", groups)
		}
	})
}
