package sqlstore_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

// eventIDs returns the IDs of evs, in order.
func eventIDs(evs []sqlstore.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func TestEvents(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		ev := func(id string, createdAt, seq int64, typ string, userID *string) sqlstore.Event {
			return sqlstore.Event{ProjectID: "pa", ID: id, CreatedAt: createdAt, Seq: seq, Type: typ, UserID: userID,
				CredentialID: ptr("cred-" + id), RequestID: "req-" + id, ClientIP: "192.0.2.1", UserAgent: "test/1.0",
				Details: sqlstore.Object{"id": id}}
		}
		// The log's order is (created_at, seq, id); inserted out of order, in two statements.
		all := map[string]sqlstore.Event{}
		first := []sqlstore.Event{
			ev("e5", t0+2, 1, "login", ptr("u-alice")),
			ev("e2", t0, 5, "register", ptr("u-bob")),
			ev("e1", t0, 3, "login", ptr("u-alice")),
			ev("e4", t0+1, 0, "login", nil),
		}
		second := []sqlstore.Event{
			ev("e3b", t0, 5, "login", ptr("u-bob")), // ties e2 on (created_at, seq): ordered by id
			ev("e6", t0+2, 9, "delete", ptr("u-alice")),
			ev("e7", t0+3, 0, "login", ptr("u-alice")),
		}
		mustNil(t, "InsertEvents(4 events)", s.InsertEvents(ctx, first...))
		mustNil(t, "InsertEvents(3 events)", s.InsertEvents(ctx, second...))
		mustNil(t, "InsertEvents(pb's)", s.InsertEvents(ctx, sqlstore.Event{ProjectID: "pb", ID: "eb", CreatedAt: t0, Type: "login", UserID: ptr("u-alice")}))
		for _, e := range append(first, second...) {
			all[e.ID] = e
		}
		events := func(ids ...string) []sqlstore.Event {
			var out []sqlstore.Event
			for _, id := range ids {
				out = append(out, all[id])
			}
			return out
		}

		t.Run("round trip in order", func(t *testing.T) {
			got, err := s.Events(ctx, sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, Limit: 100})
			mustNil(t, "Events(pa)", err)
			if diff := cmp.Diff(events("e1", "e2", "e3b", "e4", "e5", "e6", "e7"), got); diff != "" {
				t.Errorf("Events(pa) mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("none", func(t *testing.T) {
			before := rowCount(t, s, "events")
			mustNil(t, "InsertEvents()", s.InsertEvents(ctx))
			if got := rowCount(t, s, "events"); got != before {
				t.Errorf("CountRows(events) after InsertEvents() = %d, want %d", got, before)
			}
		})

		t.Run("already exists", func(t *testing.T) {
			before := rowCount(t, s, "events")
			dup := all["e4"]
			dup.Type = "other"
			err := s.InsertEvents(ctx, ev("e-new", t0+5, 0, "login", nil), dup)
			checkErr(t, "InsertEvents(new, e4 again)", err, sqlstore.ErrAlreadyExists)
			if got := rowCount(t, s, "events"); got != before {
				t.Errorf("CountRows(events) after a refused InsertEvents = %d, want %d: one statement writes all or nothing", got, before)
			}
		})

		tests := []struct {
			name string
			f    sqlstore.EventFilter
			want []string
		}{
			{"until", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 1, Limit: 100}, []string{"e1", "e2", "e3b", "e4"}},
			{"until before every event", sqlstore.EventFilter{ProjectID: "pa", Until: t0 - 1, Limit: 100}, nil},
			{"since", sqlstore.EventFilter{ProjectID: "pa", Since: t0 + 2, Until: t0 + 3, Limit: 100}, []string{"e5", "e6", "e7"}},
			{"since and until", sqlstore.EventFilter{ProjectID: "pa", Since: t0 + 1, Until: t0 + 2, Type: "login", Limit: 100}, []string{"e4", "e5"}},
			{"type", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, Type: "login", Limit: 100}, []string{"e1", "e3b", "e4", "e5", "e7"}},
			{"user", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, UserID: "u-alice", Limit: 100}, []string{"e1", "e5", "e6", "e7"}},
			{"type and user", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, Type: "login", UserID: "u-bob", Limit: 100}, []string{"e3b"}},
			{"type, user and until", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 2, Type: "login", UserID: "u-alice", Limit: 100}, []string{"e1", "e5"}},
			{"limit", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, Limit: 2}, []string{"e1", "e2"}},
			{"after, in a tie of (created_at, seq)", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, After: "e2", AfterCreatedAt: t0, AfterSeq: 5, Limit: 2}, []string{"e3b", "e4"}},
			{"after with a filter", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, After: "e1", AfterCreatedAt: t0, AfterSeq: 3, UserID: "u-alice", Limit: 100}, []string{"e5", "e6", "e7"}},
			{"after the last", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, After: "e7", AfterCreatedAt: t0 + 3, AfterSeq: 0, Limit: 100}, nil},
			{"unknown type", sqlstore.EventFilter{ProjectID: "pa", Until: t0 + 3, Type: "nope", Limit: 100}, nil},
			{"unknown project", sqlstore.EventFilter{ProjectID: "p-none", Until: t0 + 3, Limit: 100}, nil},
			{"project pb", sqlstore.EventFilter{ProjectID: "pb", Until: t0 + 3, UserID: "u-alice", Limit: 100}, []string{"eb"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Events(ctx, tt.f)
				mustNil(t, fmt.Sprintf("Events(%+v)", tt.f), err)
				if diff := cmp.Diff(tt.want, eventIDs(got)); diff != "" {
					t.Errorf("Events(%+v) mismatch (-want +got):\n%s", tt.f, diff)
				}
			})
		}

		for _, limit := range []int{1, 2, 3, 7, 50} {
			for _, f := range []sqlstore.EventFilter{
				{ProjectID: "pa", Until: t0 + 3},
				{ProjectID: "pa", Until: t0 + 2, Type: "login"},
			} {
				f.Limit = limit
				t.Run(fmt.Sprintf("pages of %d, type %q until %d", limit, f.Type, f.Until-t0), func(t *testing.T) {
					want, err := s.Events(ctx, sqlstore.EventFilter{ProjectID: f.ProjectID, Until: f.Until, Type: f.Type, Limit: 100})
					mustNil(t, "Events(every page at once)", err)
					var got []sqlstore.Event
					for pages := 0; ; pages++ {
						if pages > len(all)+1 {
							t.Fatalf("Events(%+v): more pages than events", f)
						}
						page, err := s.Events(ctx, f)
						mustNil(t, fmt.Sprintf("Events(%+v)", f), err)
						if len(page) > limit {
							t.Fatalf("Events(%+v) = %d events, want at most %d", f, len(page), limit)
						}
						if len(page) == 0 {
							break
						}
						got = append(got, page...)
						last := page[len(page)-1]
						f.After, f.AfterCreatedAt, f.AfterSeq = last.ID, last.CreatedAt, last.Seq
					}
					if len(want) == 0 {
						t.Fatalf("Events(%+v) = none: the pages prove nothing", f)
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("Events pages of %d mismatch (-want +got):\n%s", limit, diff)
					}
				})
			}
		}
	})
}

func TestDeleteEventsBefore(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		// pa: 7 events before t0 (two of them in one millisecond), 3 at t0 or later; pb: 2
		// events before t0.
		var evs []sqlstore.Event
		for i, at := range []int64{t0 - 9000, t0 - 5000, t0 - 5000, t0 - 3000, t0 - 2, t0 - 1, t0 - 1, t0, t0, t0 + 1} {
			evs = append(evs, sqlstore.Event{ProjectID: "pa", ID: fmt.Sprintf("e%d", i), CreatedAt: at, Seq: int64(i), Type: "login",
				ClientIP: "192.0.2.1", UserAgent: "test/1.0"})
		}
		evs = append(evs, sqlstore.Event{ProjectID: "pb", ID: "b0", CreatedAt: t0 - 9000, Type: "login"},
			sqlstore.Event{ProjectID: "pb", ID: "b1", CreatedAt: t0 - 1, Type: "login"})
		mustNil(t, "InsertEvents", s.InsertEvents(ctx, evs...))
		left := func(project string) []string {
			t.Helper()
			got, err := s.Events(ctx, sqlstore.EventFilter{ProjectID: project, Until: t0 + 10, Limit: 100})
			mustNil(t, "Events("+project+")", err)
			return eventIDs(got)
		}

		// Oldest first, at most limit a call, until a short batch; the unknown project has none.
		for i, want := range []int64{3, 3, 1, 0} {
			n, err := s.DeleteEventsBefore(ctx, "pa", t0, 3)
			if err != nil || n != want {
				t.Errorf("DeleteEventsBefore(pa, t0, 3) call %d = %d, %v, want %d, nil", i+1, n, err, want)
			}
			if i == 0 {
				if diff := cmp.Diff([]string{"e3", "e4", "e5", "e6", "e7", "e8", "e9"}, left("pa")); diff != "" {
					t.Errorf("events after the first batch (-want +got):\n%s", diff)
				}
			}
		}
		if diff := cmp.Diff([]string{"e7", "e8", "e9"}, left("pa")); diff != "" {
			t.Errorf("events of pa left (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"b0", "b1"}, left("pb")); diff != "" {
			t.Errorf("events of pb left (-want +got):\n%s", diff)
		}
		if n, err := s.DeleteEventsBefore(ctx, "pb", t0, 0); err == nil || n != 0 {
			t.Errorf("DeleteEventsBefore(pb, t0, limit 0) = %d, %v, want 0 and an error", n, err)
		}
		if n, err := s.DeleteEventsBefore(ctx, "p-none", t0, 3); err != nil || n != 0 {
			t.Errorf("DeleteEventsBefore(unknown project) = %d, %v, want 0, nil", n, err)
		}
		if n, err := s.DeleteEventsBefore(ctx, "pb", t0-1, 100); err != nil || n != 1 {
			t.Errorf("DeleteEventsBefore(pb, t0-1) = %d, %v, want 1, nil", n, err)
		}
		if diff := cmp.Diff([]string{"b1"}, left("pb")); diff != "" {
			t.Errorf("events of pb left (-want +got):\n%s", diff)
		}
	})
}

// TestDeleteEventsBeforeOnReplicas: replicas deleting the same backlog at once, each through
// a store of its own, remove every old event exactly once between them, and none fails.
func TestDeleteEventsBeforeOnReplicas(t *testing.T) {
	for _, d := range sqlstoretest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := t.Context()
			s, url := openStore(t, d)
			addProject(t, s, "pa")
			const old, batch, replicas = 600, 50, 3
			var evs []sqlstore.Event
			for i := range old + 5 {
				at := t0 - 100_000 + int64(i/3)
				if i >= old {
					at = t0 + int64(i)
				}
				evs = append(evs, sqlstore.Event{ProjectID: "pa", ID: fmt.Sprintf("e%04d", i), CreatedAt: at, Seq: int64(i % 3), Type: "login"})
			}
			for chunk := range slices.Chunk(evs, 100) {
				mustNil(t, "InsertEvents", s.InsertEvents(ctx, chunk...))
			}
			var (
				wg      sync.WaitGroup
				deleted atomic.Int64
				errs    = make(chan error, replicas)
			)
			for range replicas {
				r, err := sqlstore.Open(ctx, url, sqlstore.Config{})
				mustNil(t, "Open(replica)", err)
				t.Cleanup(func() { r.Close() })
				wg.Go(func() {
					for {
						n, err := r.DeleteEventsBefore(ctx, "pa", t0, batch)
						deleted.Add(n)
						if err != nil {
							errs <- err
							return
						}
						if n < batch {
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("DeleteEventsBefore on a replica = %v, want nil", err)
			}
			// A replica may stop on a short batch while another still deletes; a last sweep
			// finds what is left.
			n, err := s.DeleteEventsBefore(ctx, "pa", t0, old)
			mustNil(t, "DeleteEventsBefore(after the replicas)", err)
			if total := deleted.Load() + n; total != old {
				t.Errorf("replicas and a last sweep deleted %d events, want %d", total, old)
			}
			if got := rowCount(t, s, "events"); got != 5 {
				t.Errorf("CountRows(events) = %d, want the 5 recent ones", got)
			}
		})
	}
}

func TestEventScrubbing(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		ev := func(project, id string, at int64, typ string, userID *string, details sqlstore.Object) sqlstore.Event {
			return sqlstore.Event{ProjectID: project, ID: id, CreatedAt: at, Type: typ, UserID: userID, CredentialID: ptr("cred-1"),
				RequestID: "req-" + id, ClientIP: "203.0.113.9", UserAgent: "Browser/1.0", Details: details}
		}
		all := []sqlstore.Event{
			ev("pa", "a1", t0, "user.created", ptr("u-alice"), sqlstore.Object{"identifier": "a_b%c\\d", "via": "backend"}),
			ev("pa", "a2", t0+1, "passkey.used", ptr("u-alice"), sqlstore.Object{"ceremonyID": "cer-1"}),
			ev("pa", "a3", t0+2, "connect_token.minted", nil, sqlstore.Object{"identifier": "a_b%c\\d"}),
			ev("pa", "a4", t0+3, "connect_token.minted", nil, sqlstore.Object{"identifier": "aXbYc\\d"}),
			ev("pa", "a5", t0+4, "connect_token.minted", ptr("u-bob"), sqlstore.Object{"identifier": "a_b%c\\d"}),
			ev("pb", "b1", t0, "passkey.used", ptr("u-alice"), sqlstore.Object{}),
		}
		all[1].ClientIP, all[1].UserAgent = "", "" // already clear: not counted
		mustNil(t, "InsertEvents", s.InsertEvents(ctx, all...))
		get := func(project string) map[string]sqlstore.Event {
			t.Helper()
			got, err := s.Events(ctx, sqlstore.EventFilter{ProjectID: project, Until: t0 + 10, Limit: 100})
			mustNil(t, "Events("+project+")", err)
			out := map[string]sqlstore.Event{}
			for _, e := range got {
				out[e.ID] = e
			}
			return out
		}

		t.Run("details contain, wildcards escaped; no user", func(t *testing.T) {
			for _, tc := range []struct {
				f    sqlstore.EventFilter
				want []string
			}{
				{sqlstore.EventFilter{DetailsContain: `"identifier":"a_b%c\\d"`}, []string{"a1", "a3", "a5"}},
				{sqlstore.EventFilter{DetailsContain: `"identifier":"a_b%c\\d"`, NoUser: true}, []string{"a3"}},
				{sqlstore.EventFilter{DetailsContain: `"identifier":"a_b%c\\d"`, Type: "connect_token.minted"}, []string{"a3", "a5"}},
				{sqlstore.EventFilter{DetailsContain: `%`}, []string{"a1", "a3", "a5"}},
				{sqlstore.EventFilter{DetailsContain: `"identifier":"a_`}, []string{"a1", "a3", "a5"}},
				{sqlstore.EventFilter{DetailsContain: `"identifier":"nobody"`}, nil},
				{sqlstore.EventFilter{NoUser: true}, []string{"a3", "a4"}},
			} {
				tc.f.ProjectID, tc.f.Until, tc.f.Limit = "pa", t0+10, 100
				got, err := s.Events(ctx, tc.f)
				mustNil(t, fmt.Sprintf("Events(%+v)", tc.f), err)
				if diff := cmp.Diff(tc.want, eventIDs(got)); diff != "" {
					t.Errorf("Events(%+v) (-want +got):\n%s", tc.f, diff)
				}
			}
		})

		t.Run("clear a user's request info", func(t *testing.T) {
			n, err := s.ClearUserRequestInfo(ctx, "pa", "u-alice")
			if err != nil || n != 1 {
				t.Errorf("ClearUserRequestInfo(pa, u-alice) = %d, %v, want 1 (a2 was clear already), nil", n, err)
			}
			if n, err := s.ClearUserRequestInfo(ctx, "pa", "u-alice"); err != nil || n != 0 {
				t.Errorf("ClearUserRequestInfo(pa, u-alice) again = %d, %v, want 0, nil", n, err)
			}
			got := get("pa")
			want := all[0]
			want.ClientIP, want.UserAgent = "", ""
			if diff := cmp.Diff(want, got["a1"]); diff != "" {
				t.Errorf("a1 after ClearUserRequestInfo (-want +got):\n%s", diff)
			}
			for _, id := range []string{"a3", "a4", "a5"} {
				if e := got[id]; e.ClientIP == "" || e.UserAgent == "" {
					t.Errorf("%s, not alice's, lost its request info: %+v", id, e)
				}
			}
			if e := get("pb")["b1"]; e.ClientIP == "" || e.UserAgent == "" {
				t.Errorf("pb's event of a user with the same ID lost its request info: %+v", e)
			}
		})

		t.Run("scrub one event", func(t *testing.T) {
			e := all[2]
			e.Details = sqlstore.Object{"tokenType": "passkey-login"}
			e.Type, e.ClientIP, e.RequestID = "ignored", "ignored", "ignored" // only details change
			mustNil(t, "ScrubEvent(a3)", s.ScrubEvent(ctx, e))
			want := all[2]
			want.ClientIP, want.UserAgent, want.Details = "", "", sqlstore.Object{"tokenType": "passkey-login"}
			if diff := cmp.Diff(want, get("pa")["a3"]); diff != "" {
				t.Errorf("a3 after ScrubEvent (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(all[3], get("pa")["a4"]); diff != "" {
				t.Errorf("a4 after ScrubEvent(a3) (-want +got):\n%s", diff)
			}
			for name, key := range map[string]sqlstore.Event{
				"unknown ID":      {ProjectID: "pa", ID: "nope", CreatedAt: t0 + 2},
				"other time":      {ProjectID: "pa", ID: "a4", CreatedAt: t0},
				"other seq":       {ProjectID: "pa", ID: "a4", CreatedAt: t0 + 3, Seq: 1},
				"another project": {ProjectID: "pb", ID: "a4", CreatedAt: t0 + 3},
			} {
				checkErr(t, "ScrubEvent("+name+")", s.ScrubEvent(ctx, key), sqlstore.ErrNotFound)
			}
			if diff := cmp.Diff(all[3], get("pa")["a4"]); diff != "" {
				t.Errorf("a4 after the ScrubEvents that found nothing (-want +got):\n%s", diff)
			}
		})
	})
}
