package broker_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
)

// as returns a copy of e whose helpers act for a request with ri.
func (e *env) as(ri broker.RequestInfo) *env {
	c := *e
	c.ctx = broker.WithRequestInfo(e.ctx, ri)
	return &c
}

// eventsTable returns the events table as text, as the database holds it.
func eventsTable(t *testing.T, e *env) string {
	t.Helper()
	table, err := e.Store.DumpTable(e.ctx, "events")
	if err != nil {
		return dumpEvents(t, e)
	}
	return table
}

// eventKey is what erasing a user's personal data keeps of an event.
type eventKey struct {
	ID, Type, UserID, CredentialID, RequestID string
	CreatedAt                                 time.Time
}

func eventKeys(evs []broker.Event) []eventKey {
	var out []eventKey
	for _, ev := range evs {
		out = append(out, eventKey{ev.ID, ev.Type, ev.UserID, ev.CredentialID, ev.RequestID, ev.CreatedAt})
	}
	return out
}

// TestDeleteUserErasesPersonalData: after DeleteUser, the events table holds none of the
// user's identifiers (also an earlier one), passkey labels, client IP or user agent, also in
// events that named the user only by identifier (tokens minted before the user existed) or
// by ceremony (a usernameless login's start); every event is still there with its type, time
// and IDs; another user's data is untouched.
func TestDeleteUserErasesPersonalData(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		const (
			identifier = "alice@example.com"
			renamed    = "alice.new@example.com"
			label      = "Alice's laptop"
			browserIP  = "198.51.100.23"
			browserUA  = "AliceBrowser/7.3 (Alice's phone)"
		)
		backend := e.as(broker.RequestInfo{RequestID: "req-backend", ClientIP: "192.0.2.200", UserAgent: "acme-backend/1.0"})
		browser := e.as(broker.RequestInfo{RequestID: "req-browser", ClientIP: browserIP, UserAgent: browserUA})
		bobs := e.as(broker.RequestInfo{RequestID: "req-bob", ClientIP: "203.0.113.50", UserAgent: "BobBrowser/2.0"})

		// Before alice exists, tokens for her identifier name no user; one is used from her
		// browser, one waits (and follows her rename).
		early := backend.mint(t, connecttoken.TypeList, identifier)
		if _, _, err := browser.Broker.ListPasskeys(browser.ctx, e.pid, early.Secret); err != nil {
			t.Fatal(err)
		}
		backend.mint(t, connecttoken.TypeLogin, identifier)
		// Another person's identifier, equal but for case, and another user.
		backend.mint(t, connecttoken.TypeList, "ALICE@example.com")
		bobs.register(t, newAuthenticator(), "bob")

		a := newAuthenticator()
		pk := browser.register(t, a, identifier)
		alice := e.userByIdentifier(t, identifier)
		res := browser.login(t, a, broker.LoginRequest{Identifier: identifier})
		browser.login(t, a, broker.LoginRequest{}) // usernameless: its start names no user
		if _, err := backend.Broker.VerifySignedData(backend.ctx, e.pid, res.SignedPasskeyData, identifier); err != nil {
			t.Fatal(err)
		}
		if _, err := backend.Broker.RelabelPasskey(backend.ctx, e.pid, pk.ID, label); err != nil {
			t.Fatal(err)
		}
		name := renamed
		if _, err := backend.Broker.UpdateUser(backend.ctx, e.pid, alice.ID, broker.UserUpdate{Identifier: &name}); err != nil {
			t.Fatal(err)
		}
		browser.list(t, renamed)
		start := browser.startLogin(t, broker.LoginRequest{Identifier: renamed})
		evil := softauthn.NewAuthenticator(brokertest.RPID, "https://evil.example")
		evil.Import(a, pk.ID)
		if _, err := browser.Broker.FinishLogin(browser.ctx, e.pid, start.CeremonyID, getWith(t, evil, start, pk.ID)); err == nil {
			t.Fatal("FinishLogin(phished) succeeded")
		}

		before := e.events(t, broker.EventQuery{})
		table := eventsTable(t, e)
		personal := []string{identifier, renamed, label, browserIP, browserUA}
		for _, s := range personal {
			if !strings.Contains(table, s) {
				t.Fatalf("the events table lacks %q before the deletion: the test proves nothing", s)
			}
		}
		if err := backend.Broker.DeleteUser(backend.ctx, e.pid, alice.ID); err != nil {
			t.Fatalf("DeleteUser() = %v", err)
		}

		table = eventsTable(t, e)
		for _, s := range personal {
			if strings.Contains(table, s) {
				t.Errorf("the events table still holds %q after DeleteUser:\n%s", s, table)
			}
		}
		for _, s := range []string{"ALICE@example.com", `"identifier":"bob"`, "203.0.113.50", "BobBrowser/2.0", "192.0.2.200"} {
			if !strings.Contains(table, s) {
				t.Errorf("the events table lost %q, which is not alice's", s)
			}
		}
		after := e.events(t, broker.EventQuery{})
		if len(after) < len(before) {
			t.Fatalf("%d events after DeleteUser, %d before: events were deleted", len(after), len(before))
		}
		if diff := cmp.Diff(eventKeys(before), eventKeys(after[:len(before)])); diff != "" {
			t.Errorf("events' types, times and IDs after DeleteUser (-before +after):\n%s", diff)
		}
		names := map[string]string{alice.ID: "alice", pk.ID: "pk"}
		wantEvents(t, "DeleteUser", after[len(before):], names, "passkey.deleted alice pk", "connect_token.revoked alice -", "user.deleted alice -")
		if n := len(after); n > 0 {
			deleted := after[n-1]
			if diff := cmp.Diff([]string{"ceremonies", "connectTokens", "eventsErased", "passkeys"}, sortedKeys(deleted.Details)); diff != "" {
				t.Errorf("user.deleted details %v (-want +got keys):\n%s", deleted.Details, diff)
			}
			changed := 0
			for i, ev := range before {
				if !cmp.Equal(ev, after[i]) {
					changed++
				}
			}
			if erased, _ := deleted.Details["eventsErased"].(float64); int(erased) != changed || changed < 10 {
				t.Errorf("user.deleted eventsErased = %v, want the %d events that changed (at least 10)", deleted.Details["eventsErased"], changed)
			}
			// The deletion is the backend's request, recorded as such.
			if deleted.ClientIP != "192.0.2.200" || deleted.RequestID != "req-backend" {
				t.Errorf("user.deleted request info = %q, %q; want the backend's", deleted.ClientIP, deleted.RequestID)
			}
		}
		for _, ev := range after[:len(before)] {
			if ev.UserID == alice.ID && (ev.ClientIP != "" || ev.UserAgent != "") {
				t.Errorf("alice's %s event keeps %q, %q", ev.Type, ev.ClientIP, ev.UserAgent)
			}
		}
	})
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// eventRowSizes returns, for each event ID, the sum of the lengths of its row's columns as
// the database returns them (NULL: 0).
func eventRowSizes(t *testing.T, e *env) map[string]int {
	t.Helper()
	db := openRaw(t, e)
	rows, err := db.Queryx(`SELECT * FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		row := map[string]any{}
		if err := rows.MapScan(row); err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, v := range row {
			switch v := v.(type) {
			case nil:
			case []byte:
				size += len(v)
			default:
				size += len(fmt.Sprint(v))
			}
		}
		id := fmt.Sprint(row["id"])
		if b, ok := row["id"].([]byte); ok {
			id = string(b)
		}
		out[id] = size
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// withCredentialID returns the authentication response cred with its id and rawId replaced.
func withCredentialID(t *testing.T, cred []byte, id string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cred, &m); err != nil {
		t.Fatal(err)
	}
	m["id"], m["rawId"] = id, id
	return mustJSON(t, m)
}

// TestFailedFinishStoresLittle: a failing finish with attacker-chosen strings at full length
// (a credential ID of 1,400 characters, a 2 KB user agent) stores a few hundred bytes. A
// credential ID longer than 86 characters (64 bytes) is recorded as "sha256:" and its hash.
func TestFailedFinishStoresLittle(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		attacker := e.as(broker.RequestInfo{RequestID: "req-attack", ClientIP: "203.0.113.66",
			UserAgent: strings.Repeat("Mozilla/5.0 (X11; Linux x86_64) ", 64)[:2048]})
		for _, tc := range []struct {
			name  string
			bytes int  // raw credential ID length
			kept  bool // recorded as it is
		}{
			{"64 bytes, as passkey providers use at most", 64, true},
			{"65 bytes", 65, false},
			{"1,050 bytes: 1,400 characters", 1050, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				raw := make([]byte, tc.bytes)
				rand.Read(raw)
				credID := b64(raw)
				if tc.bytes == 1050 && len(credID) != 1400 {
					t.Fatalf("credential ID of %d characters, want 1400", len(credID))
				}
				start := attacker.startLogin(t, broker.LoginRequest{})
				sizes := eventRowSizes(t, e)
				_, err := attacker.Broker.FinishLogin(attacker.ctx, e.pid, start.CeremonyID, withCredentialID(t, get(t, a, start), credID))
				var unknown *broker.UnknownCredentialError
				if !errors.As(err, &unknown) {
					t.Fatalf("FinishLogin(unknown credential) = %v, want *UnknownCredentialError", err)
				}

				var written []string
				total := 0
				for id, size := range eventRowSizes(t, e) {
					if _, ok := sizes[id]; !ok {
						written = append(written, id)
						total += size
					}
				}
				t.Logf("the failed finish wrote %d event(s), %d bytes in all", len(written), total)
				if len(written) == 0 || total > 700 {
					t.Errorf("the failed finish wrote %d events of %d bytes in all, want at least one and at most 700 bytes", len(written), total)
				}
				want := credID
				if !tc.kept {
					h := sha256.Sum256([]byte(credID))
					want = "sha256:" + b64(h[:])
				}
				var failed []broker.Event
				for _, ev := range e.events(t, broker.EventQuery{Type: broker.EventCeremonyFailed}) {
					if ev.Details["ceremonyID"] == start.CeremonyID {
						failed = append(failed, ev)
					}
				}
				if len(failed) != 1 || failed[0].CredentialID != want || len(failed[0].UserAgent) != 256 {
					t.Errorf("ceremony.failed events of the finish = %+v; want one, credential %q, the user agent cut to 256 bytes", failed, want)
				}
			})
		}
	})
}

// TestDeleteOldEvents: the events of every project older than the cutoff go, in rounds of a
// batch per project, until each project's last batch is short or the budget is spent; newer
// events stay.
func TestDeleteOldEvents(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		other := e.addProject(t)
		for i := range 5 {
			e.createUser(t, fmt.Sprintf("old-%d", i), "")
		}
		other.createUser(t, "old-other", "")
		e.clock.Advance(48 * time.Hour)
		cutoff := e.clock.Now().Add(-24 * time.Hour)
		e.createUser(t, "new", "")
		other.createUser(t, "new-other", "")
		// e: api_secret.added and 5 user.created old; other: api_secret.added and 1.
		oldE, oldOther := len(e.events(t, broker.EventQuery{}))-1, len(other.events(t, broker.EventQuery{}))-1
		if oldE != 6 || oldOther != 2 {
			t.Fatalf("old events = %d and %d, want 6 and 2", oldE, oldOther)
		}

		r, err := e.Broker.DeleteOldEvents(e.ctx, cutoff, 4, 0)
		// One round: a batch of each project; e has more.
		if want := (broker.EventSweep{Deleted: 4 + 2, Batches: 2, Done: false}); err != nil || r != want {
			t.Errorf("DeleteOldEvents(batch 4, budget 0) = %+v, %v; want %+v", r, err, want)
		}
		r, err = e.Broker.DeleteOldEvents(e.ctx, cutoff, 4, time.Hour)
		if want := (broker.EventSweep{Deleted: 2, Batches: 2, Done: true}); err != nil || r != want {
			t.Errorf("DeleteOldEvents(batch 4, budget 1h) = %+v, %v; want %+v", r, err, want)
		}
		for _, x := range []*env{e, other} {
			got := x.events(t, broker.EventQuery{})
			if len(got) != 1 || got[0].Type != broker.EventUserCreated || got[0].CreatedAt.Before(cutoff) {
				t.Errorf("events left = %v, want the one newer user.created", summary(got, nil))
			}
		}
		r, err = e.Broker.DeleteOldEvents(e.ctx, cutoff, 4, time.Hour)
		if want := (broker.EventSweep{Batches: 2, Done: true}); err != nil || r != want {
			t.Errorf("DeleteOldEvents() with nothing old = %+v, %v; want %+v", r, err, want)
		}
		if _, err := e.Broker.DeleteOldEvents(e.ctx, cutoff, 0, time.Hour); err == nil {
			t.Errorf("DeleteOldEvents(batch 0) = nil error, want one")
		}
	})
}
