package broker_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
)

func TestUpdateProject(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		// The project is in the cache of this broker before it changes.
		if p, err := e.Broker.CachedProject(e.ctx, e.pid); err != nil || p.AllowsWebOrigin("http://localhost:3001") {
			t.Fatalf("CachedProject = %+v, %v; want the fixture's project without :3001", p, err)
		}
		base := e.Project.Origins // http://localhost:8080, http://localhost:3000
		with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
		tests := []struct {
			name        string
			in          broker.ProjectUpdate
			wantOrigins []string
			wantRPName  string
			wantDetails map[string]any // of the project.updated event; nil: no event
		}{
			{"add an origin, normalised", broker.ProjectUpdate{AddOrigins: []string{" http://LOCALHOST:3001/ "}},
				with("http://localhost:3001"), e.Project.RPName,
				map[string]any{"originsAdded": []any{"http://localhost:3001"}}},
			{"add origins it has", broker.ProjectUpdate{AddOrigins: []string{"http://localhost:3001", brokertest.Origin}},
				with("http://localhost:3001"), e.Project.RPName, nil},
			{"remove one, add two", broker.ProjectUpdate{RemoveOrigins: []string{brokertest.Origin}, AddOrigins: []string{"http://127.0.0.1:3002", "http://localhost:3003"}},
				nil, e.Project.RPName, nil}, // 127.0.0.1 is not on the RP ID: refused, nothing changes
			{"rename the RP", broker.ProjectUpdate{RPName: "  Acme Dev  "},
				with("http://localhost:3001"), "Acme Dev",
				map[string]any{"rpName": map[string]any{"from": e.Project.RPName, "to": "Acme Dev"}}},
			{"swap origins", broker.ProjectUpdate{RemoveOrigins: []string{"http://localhost:3001"}, AddOrigins: []string{"http://localhost:3002"}},
				with("http://localhost:3002"), "Acme Dev",
				map[string]any{"originsAdded": []any{"http://localhost:3002"}, "originsRemoved": []any{"http://localhost:3001"}}},
			{"nothing", broker.ProjectUpdate{}, with("http://localhost:3002"), "Acme Dev", nil},
		}
		for _, tc := range tests {
			before := e.events(t, broker.EventQuery{})
			p, err := e.Broker.UpdateProject(e.ctx, e.pid, tc.in)
			if tc.wantOrigins == nil {
				var verr *broker.ValidationError
				if !errors.As(err, &verr) || verr.Field != "addOrigins" {
					t.Errorf("%s: UpdateProject(%+v) = %v, want a validation error on addOrigins", tc.name, tc.in, err)
				}
				if got := e.since(t, before); len(got) != 0 {
					t.Errorf("%s: a refused update recorded %d events", tc.name, len(got))
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: UpdateProject(%+v) = %v", tc.name, tc.in, err)
			}
			if diff := cmp.Diff(tc.wantOrigins, p.Origins); diff != "" || p.RPName != tc.wantRPName {
				t.Errorf("%s: UpdateProject() origins (-want +got):\n%s; RP name %q, want %q", tc.name, diff, p.RPName, tc.wantRPName)
			}
			// In effect at once on this broker, cache or not.
			for _, get := range []func() (broker.Project, error){
				func() (broker.Project, error) { return e.Broker.Project(e.ctx, e.pid) },
				func() (broker.Project, error) { return e.Broker.CachedProject(e.ctx, e.pid) },
			} {
				if got, err := get(); err != nil || !cmp.Equal(got.Origins, tc.wantOrigins) || got.RPName != tc.wantRPName {
					t.Errorf("%s: project after the update = %+v, %v", tc.name, got, err)
				}
			}
			got := e.since(t, before)
			switch {
			case tc.wantDetails == nil && len(got) != 0:
				t.Errorf("%s: an update that changes nothing recorded %+v", tc.name, got)
			case tc.wantDetails != nil && (len(got) != 1 || got[0].Type != broker.EventProjectUpdated):
				t.Errorf("%s: events %+v, want one project.updated", tc.name, got)
			case tc.wantDetails != nil:
				if diff := cmp.Diff(tc.wantDetails, got[0].Details); diff != "" {
					t.Errorf("%s: project.updated details (-want +got):\n%s", tc.name, diff)
				}
			}
		}
	})
}

func TestUpdateProjectRefusals(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		tests := []struct {
			name      string
			in        broker.ProjectUpdate
			wantField string
		}{
			{"remove every origin", broker.ProjectUpdate{RemoveOrigins: e.Project.Origins}, "origins"},
			{"remove an origin it lacks", broker.ProjectUpdate{RemoveOrigins: []string{"http://localhost:9999"}}, "removeOrigins"},
			{"add an origin of another domain", broker.ProjectUpdate{AddOrigins: []string{"https://evil.example"}}, "addOrigins"},
			{"add plain http off localhost", broker.ProjectUpdate{AddOrigins: []string{"http://login.localhost.example"}}, "addOrigins"},
			{"add a path", broker.ProjectUpdate{AddOrigins: []string{"http://localhost:3001/app"}}, "addOrigins"},
			{"RP name too long", broker.ProjectUpdate{RPName: string(make([]byte, 256)) + "x"}, "rpName"},
		}
		for _, tc := range tests {
			_, err := e.Broker.UpdateProject(e.ctx, e.pid, tc.in)
			var verr *broker.ValidationError
			if !errors.As(err, &verr) || verr.Field != tc.wantField {
				t.Errorf("%s: UpdateProject(%+v) = %v, want a validation error on %s", tc.name, tc.in, err, tc.wantField)
			}
		}
		if p, err := e.Broker.Project(e.ctx, e.pid); err != nil || !cmp.Equal(p, e.Project) {
			t.Errorf("after refused updates the project is %+v, %v; want it unchanged %+v", p, err, e.Project)
		}
		if _, err := e.Broker.UpdateProject(e.ctx, "prj-000000000000000000000000", broker.ProjectUpdate{RPName: "x"}); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("UpdateProject(unknown project) = %v, want ErrNotFound", err)
		}
	})
}
