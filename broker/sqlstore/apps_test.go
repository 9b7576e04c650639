package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

func TestApps(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		android := sqlstore.App{ProjectID: "pa", ID: "app-1", Platform: "android", Identifier: "com.example.shop",
			Fingerprints: sqlstore.List[string]{"AA:BB", "CC:DD"}, CreatedAt: 1}
		ios := sqlstore.App{ProjectID: "pa", ID: "app-2", Platform: "ios", Identifier: "ABCDE12345.com.example.shop", CreatedAt: 2}
		mustNil(t, "InsertApp(android)", s.InsertApp(ctx, android))
		mustNil(t, "InsertApp(ios)", s.InsertApp(ctx, ios))
		ios.Fingerprints = sqlstore.List[string]{} // nil is stored as []
		got, err := s.Apps(ctx, "pa")
		mustNil(t, "Apps(pa)", err)
		if diff := cmp.Diff([]sqlstore.App{android, ios}, got); diff != "" {
			t.Errorf("Apps(pa) (-want +got):\n%s", diff)
		}
		for _, tc := range []struct {
			name string
			a    sqlstore.App
			want error
		}{
			{"same package", sqlstore.App{ProjectID: "pa", ID: "app-3", Platform: "android", Identifier: "com.example.shop", CreatedAt: 3}, sqlstore.ErrAlreadyExists},
			{"same ID", sqlstore.App{ProjectID: "pa", ID: "app-1", Platform: "android", Identifier: "com.example.other", CreatedAt: 3}, sqlstore.ErrAlreadyExists},
			{"same package, other platform", sqlstore.App{ProjectID: "pa", ID: "app-4", Platform: "ios", Identifier: "com.example.shop", CreatedAt: 3}, nil},
			{"same package, other project", sqlstore.App{ProjectID: "pb", ID: "app-1", Platform: "android", Identifier: "com.example.shop", CreatedAt: 3}, nil},
		} {
			checkErr(t, fmt.Sprintf("InsertApp(%s)", tc.name), s.InsertApp(ctx, tc.a), tc.want)
		}
		checkErr(t, "DeleteApp(pb, app-2)", s.DeleteApp(ctx, "pb", "app-2"), sqlstore.ErrNotFound)

		// Only one of many concurrent deletions of an app succeeds.
		var wg sync.WaitGroup
		var ok, notFound atomic.Int32
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch err := s.DeleteApp(ctx, "pa", "app-2"); {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, sqlstore.ErrNotFound):
					notFound.Add(1)
				default:
					t.Errorf("DeleteApp() = %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || notFound.Load() != 7 {
			t.Errorf("concurrent DeleteApp: %d succeeded, %d not found; want 1 and 7", ok.Load(), notFound.Load())
		}

		e, err := s.PasskeyEndpoints(ctx, "pa")
		mustNil(t, "PasskeyEndpoints(pa)", err)
		if e != (sqlstore.PasskeyEndpoints{}) {
			t.Errorf("PasskeyEndpoints(new project) = %+v, want none", e)
		}
		want := sqlstore.PasskeyEndpoints{Enroll: "https://a.example/new", Manage: "https://a.example/manage"}
		mustNil(t, "SetPasskeyEndpoints(pa)", s.SetPasskeyEndpoints(ctx, "pa", want))
		if e, _ := s.PasskeyEndpoints(ctx, "pa"); e != want {
			t.Errorf("PasskeyEndpoints(pa) = %+v, want %+v", e, want)
		}
		if e, _ := s.PasskeyEndpoints(ctx, "pb"); e != (sqlstore.PasskeyEndpoints{}) {
			t.Errorf("PasskeyEndpoints(pb) = %+v, want none", e)
		}
		_, err = s.PasskeyEndpoints(ctx, "p-none")
		checkErr(t, "PasskeyEndpoints(unknown)", err, sqlstore.ErrNotFound)
		checkErr(t, "SetPasskeyEndpoints(unknown)", s.SetPasskeyEndpoints(ctx, "p-none", want), sqlstore.ErrNotFound)
	})
}
