package sqlstore_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
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
