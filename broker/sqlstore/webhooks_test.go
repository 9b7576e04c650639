package sqlstore_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// TestWebhookLease: of concurrent claims of one endpoint exactly one wins; only the lease's
// owner moves the cursor (forward only), records a failure or extends the lease; a free
// lease can be claimed again, a disabled endpoint cannot.
func TestWebhookLease(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		ep := sqlstore.WebhookEndpoint{ProjectID: "pa", ID: "whk-1", URL: "https://hooks.example.com/x", EventTypes: sqlstore.List[string]{"passkey.added"},
			SealedSecret: "sealed", CreatedAt: t0, CursorCreatedAt: t0, CursorSeq: -1, NextAttemptAt: t0}
		if err := s.InsertWebhookEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
		checkErr(t, "InsertWebhookEndpoint(again)", s.InsertWebhookEndpoint(ctx, ep), sqlstore.ErrAlreadyExists)
		due, err := s.DueWebhookEndpoints(ctx, t0, "", "", 10)
		if err != nil || len(due) != 1 || due[0].ID != "whk-1" || due[0].EventTypes[0] != "passkey.added" {
			t.Fatalf("DueWebhookEndpoints = %+v, %v", due, err)
		}

		const n = 16
		wins := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.ClaimWebhookEndpoint(ctx, "pa", "whk-1", fmt.Sprintf("w%d", i), t0+1, t0+10_000)
				if err != nil {
					t.Errorf("ClaimWebhookEndpoint(w%d) = %v", i, err)
				}
				wins[i] = ok
			}()
		}
		wg.Wait()
		owner := ""
		for i, ok := range wins {
			if ok {
				if owner != "" {
					t.Fatalf("both %s and w%d won the lease", owner, i)
				}
				owner = fmt.Sprintf("w%d", i)
			}
		}
		if owner == "" {
			t.Fatal("no claim won the lease")
		}
		if due, _ := s.DueWebhookEndpoints(ctx, t0+2, "", "", 10); len(due) != 0 {
			t.Errorf("DueWebhookEndpoints(leased) = %d, want 0", len(due))
		}
		checkErr(t, "ExtendWebhookLease(not owner)", s.ExtendWebhookLease(ctx, "pa", "whk-1", "intruder", t0+20_000), sqlstore.ErrNotFound)
		checkErr(t, "ExtendWebhookLease(owner)", s.ExtendWebhookLease(ctx, "pa", "whk-1", owner, t0+20_000), nil)
		checkErr(t, "AdvanceWebhookCursor(not owner)", s.AdvanceWebhookCursor(ctx, "pa", "whk-1", "intruder", t0+5, 1, "evt-a", t0+5), sqlstore.ErrNotFound)
		checkErr(t, "AdvanceWebhookCursor(owner)", s.AdvanceWebhookCursor(ctx, "pa", "whk-1", owner, t0+5, 1, "evt-a", t0+5), nil)
		checkErr(t, "AdvanceWebhookCursor(backwards)", s.AdvanceWebhookCursor(ctx, "pa", "whk-1", owner, t0+4, 9, "evt-z", t0+5), sqlstore.ErrNotFound)
		checkErr(t, "WebhookFailed(not owner)", s.WebhookFailed(ctx, "pa", "whk-1", "intruder", 1, t0+6, t0+5006), sqlstore.ErrNotFound)
		checkErr(t, "WebhookFailed(owner)", s.WebhookFailed(ctx, "pa", "whk-1", owner, 1, t0+6, t0+5006), nil)
		got, err := s.WebhookEndpoint(ctx, "pa", "whk-1")
		if err != nil || got.CursorCreatedAt != t0+5 || got.CursorID != "evt-a" || got.Failures != 1 || got.FailingSince == nil || *got.FailingSince != t0+6 ||
			got.NextAttemptAt != t0+5006 || got.LeasedUntil != 0 {
			t.Fatalf("WebhookEndpoint after a failure = %+v, %v", got, err)
		}
		// Freed but not due before its next attempt; due then, and claimable by another.
		if ok, _ := s.ClaimWebhookEndpoint(ctx, "pa", "whk-1", "w-late", t0+5005, t0+9000); ok {
			t.Error("ClaimWebhookEndpoint before the next attempt won")
		}
		if ok, err := s.ClaimWebhookEndpoint(ctx, "pa", "whk-1", "w-late", t0+5006, t0+9000); err != nil || !ok {
			t.Errorf("ClaimWebhookEndpoint(due, free) = %v, %v; want true", ok, err)
		}
		checkErr(t, "ExtendWebhookLease(old owner)", s.ExtendWebhookLease(ctx, "pa", "whk-1", owner, t0+20_000), sqlstore.ErrNotFound)
		checkErr(t, "DisableWebhookEndpoint", s.DisableWebhookEndpoint(ctx, "pa", "whk-1", t0+6000, "failing"), nil)
		checkErr(t, "DisableWebhookEndpoint(again)", s.DisableWebhookEndpoint(ctx, "pa", "whk-1", t0+6000, "failing"), sqlstore.ErrNotFound)
		if ok, _ := s.ClaimWebhookEndpoint(ctx, "pa", "whk-1", "w-x", t0+99_000, t0+100_000); ok {
			t.Error("ClaimWebhookEndpoint(disabled) won")
		}
		// Attempts go with their endpoint.
		if err := s.InsertWebhookAttempt(ctx, sqlstore.WebhookAttempt{ProjectID: "pa", EndpointID: "whk-1", ID: "wda-1", EventID: "evt-a", EventType: "passkey.added",
			Attempt: 1, AttemptedAt: t0 + 5, Result: "success", StatusCode: 204}); err != nil {
			t.Fatal(err)
		}
		if as, err := s.WebhookAttempts(ctx, "pa", "whk-1", t0+1_000_000, "", 10); err != nil || len(as) != 1 {
			t.Errorf("WebhookAttempts = %+v, %v", as, err)
		}
		checkErr(t, "DeleteWebhookEndpoint(other project)", s.DeleteWebhookEndpoint(ctx, "pb", "whk-1"), sqlstore.ErrNotFound)
		checkErr(t, "DeleteWebhookEndpoint", s.DeleteWebhookEndpoint(ctx, "pa", "whk-1"), nil)
		if n, _ := s.CountRows(ctx, "webhook_attempts"); n != 0 {
			t.Errorf("webhook_attempts after DeleteWebhookEndpoint = %d, want 0", n)
		}
	})
}

// TestDueWebhookEndpointsInTurn: due endpoints come in key order after the given key, so a
// caller walking on visits each; those not due, leased or disabled are left out.
func TestDueWebhookEndpointsInTurn(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		for i, c := range []struct {
			project, id string
			next, lease int64
			disabled    bool
		}{
			{"pa", "whk-1", t0, 0, false}, {"pa", "whk-2", t0 + 10, 0, false}, {"pa", "whk-3", t0 + 999, 0, false},
			{"pb", "whk-4", t0, t0 + 999, false}, {"pb", "whk-5", t0, 0, true}, {"pb", "whk-6", t0, 0, false},
		} {
			ep := sqlstore.WebhookEndpoint{ProjectID: c.project, ID: c.id, URL: "https://hooks.example.com/", EventTypes: sqlstore.List[string]{"passkey.added"},
				SealedSecret: "s", CreatedAt: t0 + int64(i), NextAttemptAt: c.next, LeasedUntil: c.lease}
			if c.disabled {
				at := t0
				ep.DisabledAt = &at
			}
			if err := s.InsertWebhookEndpoint(ctx, ep); err != nil {
				t.Fatal(err)
			}
		}
		var walked []string
		p, id := "", ""
		for range 3 {
			due, err := s.DueWebhookEndpoints(ctx, t0+10, p, id, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range due {
				walked = append(walked, e.ID)
			}
			if len(due) < 2 {
				break
			}
			p, id = due[len(due)-1].ProjectID, due[len(due)-1].ID
		}
		if got := fmt.Sprint(walked); got != "[whk-1 whk-2 whk-6]" {
			t.Errorf("due endpoints walked two at a time = %s, want [whk-1 whk-2 whk-6]", got)
		}
	})
}
