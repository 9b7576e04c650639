package sqlstore_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

func TestRollouts(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		_, err := s.Rollout(ctx, "pa")
		checkErr(t, "Rollout(pa) before any", err, sqlstore.ErrNotFound)

		r := sqlstore.Rollout{ProjectID: "pa", Login: "10000", Append: "2500", Manage: "-1", Allow: sqlstore.List[string]{"ann"},
			Deny: sqlstore.List[string]{}, Requirements: sqlstore.List[string]{"os:macos"}, DeclinePeriod: 3600, UpdatedAt: 10}
		ok, err := s.ReplaceRollout(ctx, r, nil)
		if err != nil || !ok {
			t.Fatalf("ReplaceRollout(first) = %v, %v; want written", ok, err)
		}
		got, err := s.Rollout(ctx, "pa")
		mustNil(t, "Rollout(pa)", err)
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("Rollout(pa) mismatch (-want +got):\n%s", diff)
		}
		// Conditional on the row read: a second first write and a stale update change nothing.
		next := r
		next.Login, next.UpdatedAt = "-1", 11
		stale := int64(9)
		for name, prev := range map[string]*int64{"another first write": nil, "a stale update": &stale} {
			if ok, err := s.ReplaceRollout(ctx, next, prev); err != nil || ok {
				t.Errorf("ReplaceRollout(%s) = %v, %v; want not written", name, ok, err)
			}
		}
		if got, _ := s.Rollout(ctx, "pa"); got.Login != "10000" {
			t.Errorf("after refused writes login = %s, want 10000", got.Login)
		}
		if ok, err := s.ReplaceRollout(ctx, next, &r.UpdatedAt); err != nil || !ok {
			t.Fatalf("ReplaceRollout(current) = %v, %v; want written", ok, err)
		}
		all, err := s.Rollouts(ctx)
		if err != nil || len(all) != 1 || all[0].Login != "-1" {
			t.Errorf("Rollouts() = %+v, %v; want pa's, login -1", all, err)
		}

		// "Not now": kept per user, replaced by a later one, gone with the user.
		u := addUser(t, s, "pa", "u-ann", "ann", t0)
		_, err = s.AppendDeclinedUntil(ctx, "pa", u.ID)
		checkErr(t, "AppendDeclinedUntil before any", err, sqlstore.ErrNotFound)
		mustNil(t, "DeclineAppend", s.DeclineAppend(ctx, "pa", u.ID, 100))
		mustNil(t, "DeclineAppend again", s.DeclineAppend(ctx, "pa", u.ID, 200))
		if until, err := s.AppendDeclinedUntil(ctx, "pa", u.ID); err != nil || until != 200 {
			t.Errorf("AppendDeclinedUntil = %d, %v; want 200", until, err)
		}
		mustNil(t, "DeleteUser", s.DeleteUser(ctx, "pa", u.ID))
		_, err = s.AppendDeclinedUntil(ctx, "pa", u.ID)
		checkErr(t, "AppendDeclinedUntil after the user's deletion", err, sqlstore.ErrNotFound)
	})
}
