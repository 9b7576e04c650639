package broker_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
)

// events returns every event of e's project that q selects, reading page after page, once
// the clock has moved past broker.EventFeedDelay so that the newest events are readable.
func (e *env) events(t *testing.T, q broker.EventQuery) []broker.Event {
	t.Helper()
	e.clock.Advance(broker.EventFeedDelay)
	all := []broker.Event{}
	for range 10000 {
		page, err := e.Broker.Events(e.ctx, e.pid, q)
		if err != nil {
			t.Fatalf("Events(%+v) = %v", q, err)
		}
		all = append(all, page.Events...)
		if !page.HasMore {
			return all
		}
		q.After = page.NextCursor
	}
	t.Fatalf("Events(): more than 10000 pages")
	return nil
}

// since returns the events after those in before.
func (e *env) since(t *testing.T, before []broker.Event) []broker.Event {
	t.Helper()
	return e.events(t, broker.EventQuery{})[len(before):]
}

// summary describes events as "type user credential" lines, with "-" for what is absent and
// the user and credential IDs replaced by the names in names.
func summary(evs []broker.Event, names map[string]string) []string {
	name := func(s string) string {
		if s == "" {
			return "-"
		}
		if n, ok := names[s]; ok {
			return n
		}
		return s
	}
	out := []string{}
	for _, ev := range evs {
		out = append(out, ev.Type+" "+name(ev.UserID)+" "+name(ev.CredentialID))
	}
	return out
}

func wantEvents(t *testing.T, what string, got []broker.Event, names map[string]string, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, summary(got, names), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("events of %s (-want +got):\n%s", what, diff)
	}
}

// TestEventsRecordEveryChange walks through every operation that changes the store and
// checks the events each one leaves, in order, with the user and credential they concern.
func TestEventsRecordEveryChange(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		names := map[string]string{}
		before := e.events(t, broker.EventQuery{}) // the project's creation: its first API secret
		wantEvents(t, "CreateProject", before, names, "api_secret.added - -")

		a := newAuthenticator()
		tok := e.mint(t, connecttoken.TypeAppend, "alice")
		alice := e.userByIdentifier(t, "alice")
		names[alice.ID] = "alice"
		wantEvents(t, "mint append token for a new user", e.since(t, before), names,
			"user.created alice -", "connect_token.minted alice -")

		before = e.events(t, broker.EventQuery{})
		start, err := e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, false)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, a, start))
		if err != nil {
			t.Fatal(err)
		}
		names[pk.ID] = "pk"
		wantEvents(t, "append", e.since(t, before), names,
			"ceremony.started alice -", "connect_token.consumed alice -", "ceremony.finished alice pk", "passkey.added alice pk")

		before = e.events(t, broker.EventQuery{})
		res := e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		e.login(t, a, broker.LoginRequest{}) // usernameless: the user is known only at finish
		// A login ceremony without a connect token is sealed into its ID: starting one writes
		// nothing, not even an event (strangers could otherwise grow the log at will).
		wantEvents(t, "two logins", e.since(t, before), names,
			"ceremony.finished alice pk", "passkey.used alice pk",
			"ceremony.finished alice pk", "passkey.used alice pk")

		before = e.events(t, broker.EventQuery{})
		for range 2 {
			if _, err := e.Broker.VerifySignedData(e.ctx, e.pid, res.SignedPasskeyData, ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.Broker.VerifySignedData(e.ctx, e.pid, "not.a.token", ""); err != nil {
			t.Fatal(err)
		}
		got := e.since(t, before)
		wantEvents(t, "verify, replay, garbage", got, names,
			"signed_passkey_data.verified alice pk", "signed_passkey_data.rejected alice pk", "signed_passkey_data.rejected - -")
		if len(got) == 3 {
			c := e.claims(t, res.SignedPasskeyData)
			wantDetails(t, got[0], map[string]any{"result": "success", "jti": c.ID, "ceremonyID": c.ProcessID})
			wantDetails(t, got[1], map[string]any{"result": "invalid_challenge", "reason": "the token was already verified once"})
			wantDetails(t, got[2], map[string]any{"result": "invalid_signature", "reason": "the token is malformed"})
		}

		before = e.events(t, broker.EventQuery{})
		e.list(t, "alice")
		loginTok := e.mint(t, connecttoken.TypeLogin, "alice")
		if err := e.Broker.RevokeConnectToken(e.ctx, e.pid, loginTok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Broker.RelabelPasskey(e.ctx, e.pid, pk.ID, "Laptop"); err != nil {
			t.Fatal(err)
		}
		del := e.mint(t, connecttoken.TypeDelete, "alice")
		if _, _, err := e.Broker.DeletePasskey(e.ctx, e.pid, del.Secret, pk.ID); err != nil {
			t.Fatal(err)
		}
		got = e.since(t, before)
		// Tokens for an existing user name it, also those of types that do not create users.
		wantEvents(t, "manage", got, names,
			"connect_token.minted alice -", "connect_token.consumed alice -",
			"connect_token.minted alice -", "connect_token.revoked - -",
			"passkey.relabelled alice pk",
			"connect_token.minted alice -", "connect_token.consumed alice -", "passkey.deleted alice pk")
		if len(got) == 8 {
			wantDetails(t, got[2], map[string]any{"connectTokenID": loginTok.ID, "tokenType": "passkey-login", "identifier": "alice"})
			wantDetails(t, got[4], map[string]any{"from": "Passkey", "to": "Laptop"})
			wantDetails(t, got[7], map[string]any{"via": "manage", "connectTokenID": del.ID})
		}

		before = e.events(t, broker.EventQuery{})
		bob := e.createUser(t, "bob", "")
		names[bob.ID] = "bob"
		name := "robert"
		if _, err := e.Broker.UpdateUser(e.ctx, e.pid, bob.ID, broker.UserUpdate{Identifier: &name}); err != nil {
			t.Fatal(err)
		}
		bobKey := e.register(t, newAuthenticator(), "robert")
		names[bobKey.ID] = "bobKey"
		before2 := e.events(t, broker.EventQuery{})
		if err := e.Broker.RemovePasskey(e.ctx, e.pid, bobKey.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.Broker.DeleteUser(e.ctx, e.pid, bob.ID); err != nil {
			t.Fatal(err)
		}
		wantEvents(t, "users", e.since(t, before)[:3], names, "user.created bob -", "user.renamed bob -", "connect_token.minted bob -")
		wantEvents(t, "remove passkey, delete user", e.since(t, before2), names, "passkey.deleted bob bobKey", "user.deleted bob -")

		before = e.events(t, broker.EventQuery{})
		secretID, _, err := e.Broker.AddSecret(e.ctx, e.pid)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Broker.RevokeSecret(e.ctx, e.pid, secretID); err != nil {
			t.Fatal(err)
		}
		key, err := e.Broker.RotateKey(e.ctx, e.pid)
		if err != nil {
			t.Fatal(err)
		}
		got = e.since(t, before)
		wantEvents(t, "secrets and keys", got, names, "api_secret.added - -", "api_secret.revoked - -", "signing_key.rotated - -")
		if len(got) == 3 {
			wantDetails(t, got[0], map[string]any{"secretID": secretID})
			wantDetails(t, got[1], map[string]any{"secretID": secretID})
			wantDetails(t, got[2], map[string]any{"kid": key.ID, "activeFrom": key.ActiveFrom.Format(time.RFC3339Nano)})
		}

		// Every event is the project's, with an ID and a time; none was written twice.
		all := e.events(t, broker.EventQuery{})
		seen := map[string]bool{}
		for i, ev := range all {
			if ev.ProjectID != e.pid || !strings.HasPrefix(ev.ID, "evt-") || ev.CreatedAt.IsZero() || seen[ev.ID] {
				t.Errorf("event %d = %+v: want this project's, an evt- ID, a time, and seen once", i, ev)
			}
			if i > 0 && ev.CreatedAt.Before(all[i-1].CreatedAt) {
				t.Errorf("event %d (%s) is older than event %d (%s)", i, ev.CreatedAt, i-1, all[i-1].CreatedAt)
			}
			seen[ev.ID] = true
		}
		// Another project sees none of them.
		if got := e.addProject(t).events(t, broker.EventQuery{}); len(got) != 1 || got[0].Type != broker.EventAPISecretAdded {
			t.Errorf("another project's events = %v, want only its own api_secret.added", summary(got, nil))
		}
	})
}

func wantDetails(t *testing.T, ev broker.Event, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got := ev.Details[k]; got != v {
			t.Errorf("%s details[%s] = %#v, want %#v (details %v)", ev.Type, k, got, v, ev.Details)
		}
	}
}

func TestEventsCarryRequestInfo(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.ctx = broker.WithRequestInfo(e.ctx, broker.RequestInfo{
			RequestID: "req-123", ClientIP: "203.0.113.7", UserAgent: "Mozilla/5.0\x00\n" + strings.Repeat("x", 600) + "\xff",
		})
		e.createUser(t, "alice", "")
		got := e.events(t, broker.EventQuery{Type: broker.EventUserCreated})
		if len(got) != 1 {
			t.Fatalf("user.created events = %d, want 1", len(got))
		}
		ev := got[0]
		if ev.RequestID != "req-123" || ev.ClientIP != "203.0.113.7" || !strings.HasPrefix(ev.UserAgent, "Mozilla/5.0x") || len([]rune(ev.UserAgent)) != 256 {
			t.Errorf("event request info = %q, %q, %q (%d runes); want req-123, 203.0.113.7 and the cleaned user agent cut to 256 runes",
				ev.RequestID, ev.ClientIP, ev.UserAgent, len([]rune(ev.UserAgent)))
		}
		if ev.Details["identifier"] != "alice" || ev.Details["via"] != "backend" {
			t.Errorf("user.created details = %v", ev.Details)
		}
	})
}

// TestEventsOfFailures: a finish that fails writes a ceremony.failed event in a transaction
// of its own, and nothing of what the finish would have done; a counter that went backwards
// also writes passkey.counter_regression; the ceremony stays usable.
func TestEventsOfFailures(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		alice := e.userByIdentifier(t, "alice")
		names := map[string]string{alice.ID: "alice", pk.ID: "pk"}

		t.Run("counter regression", func(t *testing.T) {
			a.CountStep = 0
			a.SetCounter(pk.ID, 5)
			e.login(t, a, broker.LoginRequest{Identifier: "alice"})
			a.SetCounter(pk.ID, 3)
			before := e.events(t, broker.EventQuery{})
			start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
			wantErr(t, "FinishLogin(counter 3 after 5)", err, broker.ErrVerificationFailed)
			got := e.since(t, before)
			// The failed transaction had claimed the ceremony and would have written
			// ceremony.finished and passkey.used: it rolled back, and they with it.
			wantEvents(t, "a login with a cloned counter", got, names,
				"ceremony.failed alice pk", "passkey.counter_regression alice pk")
			if len(got) == 2 {
				wantDetails(t, got[0], map[string]any{"ceremonyID": start.CeremonyID, "kind": "login", "failure": "counter_regression",
					"reason": "signature counter went backwards (3 after 5)"})
				wantDetails(t, got[1], map[string]any{"ceremonyID": start.CeremonyID, "signCount": float64(3), "storedSignCount": float64(5)})
			}
			// The ceremony was not consumed: the real authenticator can still finish it.
			a.SetCounter(pk.ID, 6)
			if _, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start)); err != nil {
				t.Fatalf("FinishLogin() after the failed one = %v", err)
			}
		})

		t.Run("verification failed", func(t *testing.T) {
			before := e.events(t, broker.EventQuery{})
			start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
			evil := softauthn.NewAuthenticator(brokertest.RPID, "https://evil.example")
			evil.Import(a, pk.ID)
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, getWith(t, evil, start, pk.ID))
			wantErr(t, "FinishLogin(phished)", err, broker.ErrVerificationFailed)
			other := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
			_, err = e.Broker.FinishLogin(e.ctx, e.pid, other.CeremonyID, get(t, a, start))
			wantErr(t, "FinishLogin(challenge of another ceremony)", err, broker.ErrVerificationFailed)
			got := e.since(t, before)
			wantEvents(t, "failed logins", got, names, "ceremony.failed alice pk", "ceremony.failed alice pk")
			if len(got) == 2 {
				wantDetails(t, got[0], map[string]any{"failure": "verification_failed", "reason": "Error validating origin"})
				wantDetails(t, got[1], map[string]any{"failure": "verification_failed", "reason": "Error validating challenge"})
				// Neither challenge is in the log.
				raw, _ := json.Marshal(got)
				for _, s := range []*broker.LoginStart{&start, &other} {
					if ch := b64(s.PublicKey.Challenge); strings.Contains(string(raw), ch) {
						t.Errorf("the events hold challenge %s: %s", ch, raw)
					}
				}
			}
		})

		t.Run("unknown credential", func(t *testing.T) {
			before := e.events(t, broker.EventQuery{})
			stranger := newAuthenticator()
			e.addProject(t).register(t, stranger, "mallory")
			start := e.startLogin(t, broker.LoginRequest{})
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, stranger, start))
			if err == nil {
				t.Fatal("FinishLogin(credential of another project) succeeded")
			}
			got := e.since(t, before)
			wantEvents(t, "a login with an unknown credential", got, names,
				"ceremony.failed - "+b64(stranger.Creds[0].ID))
			if len(got) == 1 {
				wantDetails(t, got[0], map[string]any{"failure": "unknown_credential"})
			}
		})

		t.Run("append already registered", func(t *testing.T) {
			before := e.events(t, broker.EventQuery{})
			start := e.startAppend(t, "alice")
			_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, attestWith(t, a.RP, a.Creds[0], start))
			wantErr(t, "FinishAppend(registered credential)", err, broker.ErrAlreadyExists)
			wantEvents(t, "a failed append", e.since(t, before), names,
				"connect_token.minted alice -", "ceremony.started alice -", "ceremony.failed alice -")
		})

		t.Run("unknown ceremonies are not recorded", func(t *testing.T) {
			before := e.events(t, broker.EventQuery{})
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, "cer-000000000000000000000000", get(t, a, e.startLogin(t, broker.LoginRequest{})))
			wantErr(t, "FinishLogin(unknown ceremony)", err, broker.ErrCeremonyNotFound)
			_, err = e.Broker.FinishLogin(e.ctx, e.pid, "cls-"+strings.Repeat("A", 150), get(t, a, e.startLogin(t, broker.LoginRequest{})))
			wantErr(t, "FinishLogin(forged sealed ceremony)", err, broker.ErrCeremonyNotFound)
			wantEvents(t, "a finish of an unknown ceremony", e.since(t, before), names)
		})
	})
}

// injectFailure makes the store's database fail every statement that matches when (a
// trigger: "BEFORE DELETE ON users"), until the returned function removes it. Production SQL
// has no triggers; this one only stands for a failure in the middle of a transaction.
func injectFailure(t *testing.T, e *env, name, when string) (remove func()) {
	t.Helper()
	db := openRaw(t, e)
	stmts := []string{`CREATE TRIGGER ` + name + ` ` + when + ` BEGIN SELECT RAISE(ABORT, 'injected failure'); END`}
	drop := `DROP TRIGGER ` + name
	if e.Store.Dialect() == "postgres" {
		stmts = []string{
			`CREATE OR REPLACE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
			`CREATE TRIGGER ` + name + ` ` + when + ` EXECUTE FUNCTION injected_failure()`,
		}
		drop += ` ON users`
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("injecting a failure: %s: %v", s, err)
		}
	}
	return func() {
		if _, err := db.Exec(drop); err != nil {
			t.Fatalf("removing the injected failure: %v", err)
		}
	}
}

// TestEventsRollBackWithTheirChange: a change that fails in the middle of its transaction,
// after it wrote some of its events, leaves neither change nor events; the same change
// committed has all its events.
func TestEventsRollBackWithTheirChange(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		t.Run("delete user", func(t *testing.T) {
			a := newAuthenticator()
			pk := e.register(t, a, "alice")
			alice := e.userByIdentifier(t, "alice")
			e.mint(t, connecttoken.TypeList, "alice")
			names := map[string]string{alice.ID: "alice", pk.ID: "pk"}
			when := `BEFORE DELETE ON users`
			if e.Store.Dialect() == "postgres" {
				when += ` FOR EACH ROW`
			}
			remove := injectFailure(t, e, "fail_user_delete", when)
			before, snapshot := e.events(t, broker.EventQuery{}), e.Snapshot(t)
			if err := e.Broker.DeleteUser(e.ctx, e.pid, alice.ID); err == nil {
				t.Fatal("DeleteUser() succeeded despite the injected failure")
			}
			// DeleteUser wrote passkey.deleted and connect_token.revoked before it failed to
			// delete the user row.
			wantEvents(t, "a DeleteUser that rolled back", e.since(t, before), names)
			e.unchanged(t, snapshot)

			remove()
			if err := e.Broker.DeleteUser(e.ctx, e.pid, alice.ID); err != nil {
				t.Fatalf("DeleteUser() = %v", err)
			}
			wantEvents(t, "a DeleteUser that committed", e.since(t, before), names,
				"passkey.deleted alice pk", "connect_token.revoked alice -", "user.deleted alice -")
		})
		t.Run("bulk create", func(t *testing.T) {
			when := `BEFORE INSERT ON users`
			if e.Store.Dialect() == "postgres" {
				when += ` FOR EACH ROW WHEN (NEW.identifier = 'row-3')`
			} else {
				when += ` WHEN NEW.identifier = 'row-3'`
			}
			remove := injectFailure(t, e, "fail_user_insert", when)
			rows := []broker.NewUser{{Identifier: "row-1"}, {Identifier: "row-2"}, {Identifier: "row-3"}, {Identifier: "row-4"}}
			before, users := e.events(t, broker.EventQuery{}), e.Counts(t)["users"]
			if _, err := e.Broker.CreateUsers(e.ctx, e.pid, rows); err == nil {
				t.Fatal("CreateUsers() succeeded despite the injected failure")
			}
			wantEvents(t, "a CreateUsers that rolled back", e.since(t, before), nil)
			if n := e.Counts(t)["users"]; n != users {
				t.Errorf("users = %d after a CreateUsers that rolled back, want %d", n, users)
			}
			remove()
			if _, err := e.Broker.CreateUsers(e.ctx, e.pid, rows); err != nil {
				t.Fatalf("CreateUsers() = %v", err)
			}
			if got := e.since(t, before); len(got) != 4 {
				t.Errorf("a CreateUsers of 4 that committed wrote %v, want 4 user.created", summary(got, nil))
			}
		})
	})
}

func TestEventsQuery(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		var ids []string
		for i := range 12 {
			if i%5 == 0 {
				e.clock.Advance(time.Millisecond)
			}
			ids = append(ids, e.createUser(t, fmt.Sprintf("user-%02d", i), "").ID)
		}
		bobKey := e.register(t, newAuthenticator(), "user-03")

		all := e.events(t, broker.EventQuery{})
		var pages [][]string
		q := broker.EventQuery{Limit: 5}
		for {
			page, err := e.Broker.Events(e.ctx, e.pid, q)
			if err != nil {
				t.Fatal(err)
			}
			var p []string
			for _, ev := range page.Events {
				p = append(p, ev.ID)
			}
			pages = append(pages, p)
			if page.NextCursor == "" || (len(page.Events) > 0 && page.NextCursor == q.After) {
				t.Fatalf("Events(%+v) = next cursor %q, want the position of its last event", q, page.NextCursor)
			}
			if !page.HasMore {
				// Reading on from the end returns nothing, and the same cursor.
				again, err := e.Broker.Events(e.ctx, e.pid, broker.EventQuery{After: page.NextCursor})
				if err != nil || len(again.Events) != 0 || again.HasMore || again.NextCursor != page.NextCursor {
					t.Errorf("Events(after the end) = %+v, %v; want nothing and the same cursor", again, err)
				}
				break
			}
			q.After = page.NextCursor
		}
		var joined, want []string
		for _, p := range pages {
			if len(p) > 5 {
				t.Errorf("a page of limit 5 has %d events", len(p))
			}
			joined = append(joined, p...)
		}
		for _, ev := range all {
			want = append(want, ev.ID)
		}
		if diff := cmp.Diff(want, joined); diff != "" {
			t.Errorf("pages of 5 (-all at once +joined):\n%s", diff)
		}
		var created []string
		for _, ev := range all {
			if ev.Type == broker.EventUserCreated {
				created = append(created, ev.UserID)
			}
		}
		if diff := cmp.Diff(ids, created); diff != "" {
			t.Errorf("user.created events in the order of creation (-want +got):\n%s", diff)
		}

		byUser := e.events(t, broker.EventQuery{UserID: ids[3]})
		wantEvents(t, "user-03", byUser, map[string]string{ids[3]: "u3", bobKey.ID: "pk"},
			"user.created u3 -", "connect_token.minted u3 -", "ceremony.started u3 -",
			"connect_token.consumed u3 -", "ceremony.finished u3 pk", "passkey.added u3 pk")
		byType := e.events(t, broker.EventQuery{Type: broker.EventPasskeyAdded})
		if len(byType) != 1 || byType[0].CredentialID != bobKey.ID {
			t.Errorf("Events(type passkey.added) = %v", summary(byType, nil))
		}
		both := e.events(t, broker.EventQuery{Type: broker.EventUserCreated, UserID: ids[7]})
		if len(both) != 1 || both[0].UserID != ids[7] {
			t.Errorf("Events(type user.created, user 7) = %v", summary(both, nil))
		}
		if got := e.events(t, broker.EventQuery{UserID: "usr-000000000000000000000000"}); len(got) != 0 {
			t.Errorf("Events(unknown user) = %v, want none", summary(got, nil))
		}

		_, err := e.Broker.Events(e.ctx, e.pid, broker.EventQuery{Type: "user.exploded"})
		wantValidation(t, "Events(unknown type)", err, "type")
		_, err = e.Broker.Events(e.ctx, e.pid, broker.EventQuery{UserID: "usr-1' OR '1'='1"})
		wantValidation(t, "Events(malformed user ID)", err, "userID")
	})
}

// TestEventFeedDelay: an event becomes readable EventFeedDelay after it was written, so that
// a reader's cursor never passes a transaction that wrote earlier and commits later.
func TestEventFeedDelay(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		start := e.events(t, broker.EventQuery{})
		e.createUser(t, "alice", "")
		cursor := ""
		if len(start) > 0 {
			page, _ := e.Broker.Events(e.ctx, e.pid, broker.EventQuery{})
			cursor = page.NextCursor
		}
		read := func() []broker.Event {
			page, err := e.Broker.Events(e.ctx, e.pid, broker.EventQuery{After: cursor})
			if err != nil {
				t.Fatal(err)
			}
			return page.Events
		}
		e.clock.Advance(broker.EventFeedDelay - time.Millisecond)
		if got := read(); len(got) != 0 {
			t.Errorf("Events() %v after the write = %v, want nothing yet", broker.EventFeedDelay-time.Millisecond, summary(got, nil))
		}
		e.clock.Advance(time.Millisecond)
		if got := read(); len(got) != 1 || got[0].Type != broker.EventUserCreated {
			t.Errorf("Events() %v after the write = %v, want the user.created", broker.EventFeedDelay, summary(got, nil))
		}
	})
}

// TestEventOrderUnderConcurrency: events written by concurrent requests are each read once,
// in one order that every reader sees, whatever the page size.
func TestEventOrderUnderConcurrency(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		const n = 24
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				if _, err := e.Broker.CreateUser(e.ctx, e.pid, broker.NewUser{Identifier: fmt.Sprintf("user-%d", i)}); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("CreateUser() = %v", err)
		}
		all := e.events(t, broker.EventQuery{Type: broker.EventUserCreated})
		var ids []string
		for _, ev := range all {
			ids = append(ids, ev.ID)
		}
		if len(ids) != n || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != n {
			t.Fatalf("%d user.created events with %d distinct IDs, want %d", len(ids), len(slices.Compact(slices.Sorted(slices.Values(ids)))), n)
		}
		for _, limit := range []int{1, 7, 100} {
			var got []string
			q := broker.EventQuery{Type: broker.EventUserCreated, Limit: limit}
			for {
				page, err := e.Broker.Events(e.ctx, e.pid, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range page.Events {
					got = append(got, ev.ID)
				}
				if !page.HasMore {
					break
				}
				q.After = page.NextCursor
			}
			if diff := cmp.Diff(ids, got); diff != "" {
				t.Errorf("limit %d (-first read +this read):\n%s", limit, diff)
			}
		}
	})
}

// TestEventsHoldNoSecrets runs every flow and checks that no secret, connect token,
// challenge or signedPasskeyData reached the audit log, in its API form or in the table.
func TestEventsHoldNoSecrets(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		var secrets []string
		a := newAuthenticator()
		tok := e.mint(t, connecttoken.TypeAppend, "alice")
		secrets = append(secrets, tok.Secret, e.APISecret)
		start, err := e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, false)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, b64(start.PublicKey.Challenge))
		if _, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, a, start)); err != nil {
			t.Fatal(err)
		}
		login := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		secrets = append(secrets, b64(login.PublicKey.Challenge))
		// A failing finish first (its detail for the client quotes the challenge), then one
		// that succeeds.
		other := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		secrets = append(secrets, b64(other.PublicKey.Challenge))
		if _, err := e.Broker.FinishLogin(e.ctx, e.pid, login.CeremonyID, get(t, a, other)); err == nil {
			t.Fatal("FinishLogin(challenge of another ceremony) succeeded")
		}
		res, err := e.Broker.FinishLogin(e.ctx, e.pid, login.CeremonyID, get(t, a, login))
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, res.SignedPasskeyData, strings.Split(res.SignedPasskeyData, ".")[2])
		for range 2 {
			if _, err := e.Broker.VerifySignedData(e.ctx, e.pid, res.SignedPasskeyData, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		_, secret, err := e.Broker.AddSecret(e.ctx, e.pid)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
		lt := e.mint(t, connecttoken.TypeList, "alice")
		secrets = append(secrets, lt.Secret)
		e.Broker.ListPasskeys(e.ctx, e.pid, lt.Secret)

		evs := e.events(t, broker.EventQuery{})
		raw, err := json.Marshal(evs)
		if err != nil {
			t.Fatal(err)
		}
		table, err := e.Store.DumpTable(e.ctx, "events")
		if err != nil {
			table = dumpEvents(t, e)
		}
		for _, s := range secrets {
			for _, where := range []string{string(raw), table} {
				if strings.Contains(where, s) {
					t.Errorf("the audit log holds a secret %.20s...: %s", s, where)
				}
			}
		}
		if len(evs) < 15 {
			t.Errorf("only %d events: the flows above should have written more", len(evs))
		}
	})
}

// dumpEvents reads the events table raw, for stores whose DumpTable does not know it.
func dumpEvents(t *testing.T, e *env) string {
	t.Helper()
	rows, err := openRaw(t, e).Queryx(`SELECT * FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sb strings.Builder
	for rows.Next() {
		vals, err := rows.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s\n", vals)
	}
	if sb.Len() == 0 {
		t.Fatal("the events table is empty")
	}
	return sb.String()
}
