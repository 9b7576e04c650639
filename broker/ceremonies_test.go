package broker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
)

func TestAppendThenLoginByIdentifier(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		if pk.ID != b64(a.Creds[0].ID) {
			t.Errorf("FinishAppend().ID = %q, want the authenticator's credential %q", pk.ID, b64(a.Creds[0].ID))
		}

		start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		var allowed []string
		for _, c := range start.PublicKey.AllowedCredentials {
			allowed = append(allowed, b64(c.CredentialID))
		}
		if diff := cmp.Diff([]string{pk.ID}, allowed); diff != "" {
			t.Errorf("StartLogin(alice) allowCredentials (-want +got):\n%s", diff)
		}
		res, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
		if err != nil {
			t.Fatalf("FinishLogin() = %v", err)
		}
		if res.Username != "alice" {
			t.Errorf("FinishLogin().Username = %q, want alice", res.Username)
		}
		c := e.claims(t, res.SignedPasskeyData)
		if c.Username != "alice" || c.Credential != pk.ID || c.ProcessID != start.CeremonyID || c.IsCUI || c.ConnectTokenID != "" || !c.UV {
			t.Errorf("claims = %+v, want username alice, credential %s, processId %s, isCUI false, no connectTokenID, uv true",
				c, pk.ID, start.CeremonyID)
		}
		if !strings.HasPrefix(c.Subject, "usr-") || c.WebAuthnID == "" {
			t.Errorf("claims sub = %q, webauthnId = %q, want a user ID and a user handle", c.Subject, c.WebAuthnID)
		}
		if got := c.Expires.Sub(c.IssuedAt); got != broker.SignedDataLifetime {
			t.Errorf("claims exp - iat = %v, want %v", got, broker.SignedDataLifetime)
		}
	})
}

func TestUsernamelessLogin(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		alice, bob := newAuthenticator(), newAuthenticator()
		alicePK := e.register(t, alice, "alice")
		bobPK := e.register(t, bob, "bob")

		for _, tc := range []struct {
			name     string
			a        *softauthn.Authenticator
			username string
			credID   string
		}{
			{"alice", alice, "alice", alicePK.ID},
			{"bob", bob, "bob", bobPK.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				start := e.startLogin(t, broker.LoginRequest{})
				if n := len(start.PublicKey.AllowedCredentials); n != 0 {
					t.Errorf("StartLogin({}) has %d allowCredentials, want none", n)
				}
				res, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, tc.a, start))
				if err != nil {
					t.Fatalf("FinishLogin() = %v", err)
				}
				c := e.claims(t, res.SignedPasskeyData)
				if res.Username != tc.username || c.Username != tc.username || c.Credential != tc.credID {
					t.Errorf("FinishLogin() = username %q, claims username %q credential %q; want %q, %q",
						res.Username, c.Username, c.Credential, tc.username, tc.credID)
				}
			})
		}
	})
}

func TestConditionalLogin(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")

		for _, conditional := range []bool{true, false} {
			start := e.startLogin(t, broker.LoginRequest{Conditional: conditional})
			wantMediation := protocol.MediationDefault
			if conditional {
				wantMediation = protocol.MediationConditional
			}
			if start.Mediation != wantMediation {
				t.Errorf("StartLogin(conditional %v).Mediation = %q, want %q", conditional, start.Mediation, wantMediation)
			}
			res, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
			if err != nil {
				t.Fatalf("FinishLogin(conditional %v) = %v", conditional, err)
			}
			if c := e.claims(t, res.SignedPasskeyData); c.IsCUI != conditional {
				t.Errorf("conditional %v: claims isCUI = %v, want %v", conditional, c.IsCUI, conditional)
			}
		}
	})
}

func TestLoginConnectTokenIsConsumed(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		e.register(t, newAuthenticator(), "bob")
		tok := e.mint(t, connecttoken.TypeLogin, "alice")

		start := e.startLogin(t, broker.LoginRequest{LoginConnectToken: tok.Secret})
		if n := len(start.PublicKey.AllowedCredentials); n != 1 || b64(start.PublicKey.AllowedCredentials[0].CredentialID) != pk.ID {
			t.Errorf("StartLogin(login token) allowCredentials = %v, want alice's %s", start.PublicKey.AllowedCredentials, pk.ID)
		}
		if got, err := e.Broker.ConnectToken(e.ctx, e.pid, tok.ID); err != nil || got.Status != "initial" {
			t.Errorf("after start: ConnectToken() = %+v, %v, want status initial", got, err)
		}
		res, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
		if err != nil {
			t.Fatalf("FinishLogin() = %v", err)
		}
		if c := e.claims(t, res.SignedPasskeyData); c.ConnectTokenID != tok.ID || c.Username != "alice" {
			t.Errorf("claims connectTokenID = %q, username %q, want %q, alice", c.ConnectTokenID, c.Username, tok.ID)
		}
		if got, err := e.Broker.ConnectToken(e.ctx, e.pid, tok.ID); err != nil || got.Status != "consumed" {
			t.Errorf("after finish: ConnectToken() = %+v, %v, want status consumed", got, err)
		}

		before := e.Snapshot(t)
		_, err = e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{LoginConnectToken: tok.Secret})
		wantErr(t, "StartLogin(consumed login token)", err, broker.ErrInvalidConnectToken)
		e.unchanged(t, before)
	})
}

func TestListPasskeys(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		a.BackupEligible = true
		start := e.startAppend(t, "alice")
		cred := create(t, a, start)
		created := e.clock.Now()
		pk, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
		if err != nil {
			t.Fatalf("FinishAppend() = %v", err)
		}
		parsed, err := protocol.ParseCredentialCreationResponseBytes(cred)
		if err != nil {
			t.Fatalf("parsing the authenticator's own response: %v", err)
		}
		aaguid, err := uuid.FromBytes(parsed.Response.AttestationObject.AuthData.AttData.AAGUID)
		if err != nil {
			t.Fatal(err)
		}

		want := map[string]any{
			"id": pk.ID, "label": "Passkey", "providerName": "", "aaguid": aaguid.String(),
			"transports": []any{"internal", "hybrid"}, "backupEligible": true, "backedUp": false,
			"createdAt": created.Format(time.RFC3339Nano), "lastUsedAt": nil,
		}
		if diff := cmp.Diff(want, passkeyJSON(t, pk)); diff != "" {
			t.Errorf("FinishAppend() passkey JSON (-want +got):\n%s", diff)
		}
		list := e.list(t, "alice")
		if len(list) != 1 {
			t.Fatalf("ListPasskeys() = %d passkeys, want 1", len(list))
		}
		if diff := cmp.Diff(want, passkeyJSON(t, list[0])); diff != "" {
			t.Errorf("ListPasskeys() before login (-want +got):\n%s", diff)
		}

		e.clock.Advance(time.Hour)
		used := e.clock.Now()
		e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		want["lastUsedAt"] = used.Format(time.RFC3339Nano)
		list = e.list(t, "alice")
		if len(list) != 1 {
			t.Fatalf("ListPasskeys() after login = %d passkeys, want 1", len(list))
		}
		if diff := cmp.Diff(want, passkeyJSON(t, list[0])); diff != "" {
			t.Errorf("ListPasskeys() after login (-want +got):\n%s", diff)
		}

		if got := e.list(t, "nobody"); len(got) != 0 {
			t.Errorf("ListPasskeys(unknown user) = %v, want none", got)
		}
	})
}

// passkeyJSON returns the contract's JSON form of pk as a map.
func passkeyJSON(t *testing.T, pk broker.Passkey) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, pk), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// list lists identifier's passkeys with a fresh list token.
func (e *env) list(t *testing.T, identifier string) []broker.Passkey {
	t.Helper()
	tok := e.mint(t, connecttoken.TypeList, identifier)
	list, _, err := e.Broker.ListPasskeys(e.ctx, e.pid, tok.Secret)
	if err != nil {
		t.Fatalf("ListPasskeys(%s) = %v", identifier, err)
	}
	return list
}

func TestDeletePasskey(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		phone, laptop := newAuthenticator(), newAuthenticator()
		first := e.register(t, phone, "alice")
		start := e.startAppend(t, "alice")
		userHandle := userHandleOf(t, start)
		second, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, laptop, start))
		if err != nil {
			t.Fatalf("FinishAppend(second) = %v", err)
		}
		if got := e.list(t, "alice"); len(got) != 2 {
			t.Fatalf("ListPasskeys() = %d passkeys, want 2", len(got))
		}

		tok := e.mint(t, connecttoken.TypeDelete, "alice")
		left, sig, err := e.Broker.DeletePasskey(e.ctx, e.pid, tok.Secret, first.ID)
		if err != nil {
			t.Fatalf("DeletePasskey() = %v", err)
		}
		if len(left) != 1 || left[0].ID != second.ID {
			t.Errorf("DeletePasskey() left %v, want only %s", left, second.ID)
		}
		wantSig := broker.Signal{AllAcceptedCredentials: broker.AllAcceptedCredentials{
			RPID: brokertest.RPID, UserID: userHandle, AllAcceptedCredentialIDs: []string{second.ID}}}
		if diff := cmp.Diff(wantSig, sig); diff != "" {
			t.Errorf("DeletePasskey() signal (-want +got):\n%s", diff)
		}
		wantJSON := `{"allAcceptedCredentials":{"rpId":"localhost","userId":"` + userHandle + `","allAcceptedCredentialIds":["` + second.ID + `"]}}`
		if got := string(mustJSON(t, sig)); got != wantJSON {
			t.Errorf("signal JSON = %s, want %s", got, wantJSON)
		}
		if got := e.list(t, "alice"); len(got) != 1 || got[0].ID != second.ID {
			t.Errorf("ListPasskeys() after delete = %v, want only %s", got, second.ID)
		}

		// The deleted passkey no longer logs in.
		ls := e.startLogin(t, broker.LoginRequest{})
		cred := getWith(t, phone, ls, first.ID)
		_, err = e.Broker.FinishLogin(e.ctx, e.pid, ls.CeremonyID, cred)
		var unknown *broker.UnknownCredentialError
		if !errors.As(err, &unknown) || unknown.CredentialID != first.ID {
			t.Errorf("FinishLogin(deleted passkey) = %v, want *UnknownCredentialError for %s", err, first.ID)
		}
	})
}

// userHandleOf returns the base64url user.id of append/start options.
func userHandleOf(t *testing.T, start broker.AppendStart) string {
	t.Helper()
	var opts struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(mustJSON(t, start.PublicKey), &opts); err != nil || opts.User.ID == "" {
		t.Fatalf("append/start options have no user.id: %v", err)
	}
	return opts.User.ID
}

func TestAppendExcludesExistingPasskeys(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		phone := newAuthenticator()
		first := e.register(t, phone, "alice")
		second := e.register(t, newAuthenticator(), "alice")
		e.register(t, newAuthenticator(), "bob")

		start := e.startAppend(t, "alice")
		var opts struct {
			ExcludeCredentials []struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"excludeCredentials"`
		}
		if err := json.Unmarshal(mustJSON(t, start.PublicKey), &opts); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range opts.ExcludeCredentials {
			if c.Type != "public-key" {
				t.Errorf("excludeCredentials entry %s has type %q, want public-key", c.ID, c.Type)
			}
			got = append(got, c.ID)
		}
		want := []string{first.ID, second.ID}
		slices.Sort(got)
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("append/start excludeCredentials (-want +got):\n%s", diff)
		}
		if _, err := phone.Create(mustJSON(t, start.PublicKey)); err == nil {
			t.Errorf("an authenticator holding an excluded credential created another one")
		}

		if opts := e.startAppend(t, "carol").PublicKey; len(opts.CredentialExcludeList) != 0 {
			t.Errorf("append/start for a new user excludes %v, want nothing", opts.CredentialExcludeList)
		}
	})
}

func TestLoginFallbackIsTheSameForUnknownAndPasskeylessUsers(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.register(t, newAuthenticator(), "alice")
		e.mint(t, connecttoken.TypeAppend, "bob") // creates bob, without a passkey
		before := e.Snapshot(t)

		var answers []string
		for _, identifier := range []string{"nobody", "bob"} {
			start, err := e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{Identifier: identifier})
			if err != nil {
				t.Fatalf("StartLogin(%s) = %v", identifier, err)
			}
			answers = append(answers, string(mustJSON(t, start)))
		}
		const want = `{"fallback":{"reason":"no_passkey"}}`
		if answers[0] != want || answers[1] != want {
			t.Errorf("StartLogin(unknown) = %s, StartLogin(no passkey) = %s, want both %s", answers[0], answers[1], want)
		}
		e.unchanged(t, before)
	})
}

func TestLoginUpdatesCounterAndBackupState(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		a.CountStep = 7
		a.BackupEligible = true
		pk := e.register(t, a, "alice")
		if pk.SignCount != 0 || pk.BackedUp || !pk.BackupEligible {
			t.Fatalf("FinishAppend() = counter %d, backedUp %v, backupEligible %v; want 0, false, true", pk.SignCount, pk.BackedUp, pk.BackupEligible)
		}

		a.BackedUp = true
		e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		got := e.list(t, "alice")[0]
		if got.SignCount != 7 || !got.BackedUp {
			t.Errorf("after login 1: counter %d, backedUp %v; want 7, true", got.SignCount, got.BackedUp)
		}

		a.BackedUp = false
		e.login(t, a, broker.LoginRequest{})
		got = e.list(t, "alice")[0]
		if got.SignCount != 14 || got.BackedUp {
			t.Errorf("after login 2: counter %d, backedUp %v; want 14, false", got.SignCount, got.BackedUp)
		}
	})
}

// An authenticator whose counter stays 0, as many passkey providers', logs in every time.
func TestLoginWithZeroCounter(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		a.CountStep = 0
		e.register(t, a, "alice")
		for i := range 3 {
			start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
			if _, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start)); err != nil {
				t.Fatalf("FinishLogin() #%d with counter 0 = %v", i+1, err)
			}
		}
	})
}

func TestLoginWithoutUserVerification(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		a.NoUserVerification = true
		e.register(t, a, "alice")
		res := e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		if c := e.claims(t, res.SignedPasskeyData); c.UV {
			t.Errorf("claims uv = true for an authenticator that did not verify the user")
		}
	})
}

func TestConditionalAppend(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		tok := e.mint(t, connecttoken.TypeAppend, "alice")
		start, err := e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, true)
		if err != nil {
			t.Fatalf("StartAppend(conditional) = %v", err)
		}
		if start.Mediation != protocol.MediationConditional {
			t.Errorf("StartAppend(conditional).Mediation = %q, want %q", start.Mediation, protocol.MediationConditional)
		}
		if _, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, newAuthenticator(), start)); err != nil {
			t.Fatalf("FinishAppend() = %v", err)
		}
	})
}

// A ceremony can be finished until it is five minutes old, and not from then on.
func TestCeremonyLifetime(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		appendStart := e.startAppend(t, "alice")
		cred := create(t, a, appendStart)
		e.clock.Advance(broker.CeremonyLifetime - time.Millisecond)
		if _, err := e.Broker.FinishAppend(e.ctx, e.pid, appendStart.CeremonyID, cred); err != nil {
			t.Fatalf("FinishAppend() 1 ms before the end of the ceremony = %v", err)
		}

		early := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		late := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		earlyCred, lateCred := get(t, a, early), get(t, a, late)
		e.clock.Advance(broker.CeremonyLifetime - time.Millisecond)
		if _, err := e.Broker.FinishLogin(e.ctx, e.pid, early.CeremonyID, earlyCred); err != nil {
			t.Fatalf("FinishLogin() 1 ms before the end of the ceremony = %v", err)
		}
		e.clock.Advance(time.Millisecond)
		before := e.Snapshot(t)
		_, err := e.Broker.FinishLogin(e.ctx, e.pid, late.CeremonyID, lateCred)
		wantErr(t, "FinishLogin() at the end of the ceremony", err, broker.ErrCeremonyNotFound)
		e.unchanged(t, before)
	})
}

// Signature counters are 32-bit unsigned: values from 2^31 up to 2^32-1 must sign in on both
// dialects (PostgreSQL once typed the counter parameter as a 32-bit signed integer).
func TestLoginWithLargeCounters(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		for _, want := range []uint32{1 << 31, 1<<31 + 1, 1<<32 - 1} {
			a.SetCounter(pk.ID, want-1) // the next assertion adds CountStep (1)
			start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
			if _, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start)); err != nil {
				t.Fatalf("FinishLogin() with counter %d = %v", want, err)
			}
			got, err := e.Broker.PasskeyByID(e.ctx, e.pid, pk.ID)
			if err != nil || got.SignCount != int64(want) {
				t.Fatalf("stored counter after a login with %d = %d, %v", want, got.SignCount, err)
			}
		}
		// And the counter rule still holds at the top of the range.
		a.SetCounter(pk.ID, 1<<32-2)
		start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
		wantErr(t, "FinishLogin() with a counter equal to the stored 2^32-1", err, broker.ErrVerificationFailed)
	})
}

// A ceremony closes after MaxFailedFinishes failed finishes, sealed or stored: then even a
// valid finish is ErrCeremonyNotFound. Only the first failure and the closing one write a
// ceremony.failed event; the others are counted.
func TestCeremonyClosesAfterFailedFinishes(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		evil := softauthn.NewAuthenticator(softauthn.DefaultRPID, "https://evil.example")
		evil.Import(a, pk.ID)

		t.Run("sealed login", func(t *testing.T) {
			before := e.events(t, broker.EventQuery{})
			start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
			for i := range broker.MaxFailedFinishes {
				_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, getWith(t, evil, start, pk.ID))
				wantErr(t, fmt.Sprintf("FinishLogin(phished) #%d", i+1), err, broker.ErrVerificationFailed)
			}
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
			wantErr(t, "FinishLogin(valid) after the failures", err, broker.ErrCeremonyNotFound)
			got := e.since(t, before)
			if len(got) != 2 || got[0].Type != broker.EventCeremonyFailed || got[1].Type != broker.EventCeremonyFailed {
				t.Fatalf("events = %v, want two ceremony.failed", summary(got, nil))
			}
			wantDetails(t, got[1], map[string]any{"failures": float64(broker.MaxFailedFinishes), "closed": true})
			// One failure fewer leaves it open.
			other := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
			for range broker.MaxFailedFinishes - 1 {
				_, err := e.Broker.FinishLogin(e.ctx, e.pid, other.CeremonyID, getWith(t, evil, other, pk.ID))
				wantErr(t, "FinishLogin(phished)", err, broker.ErrVerificationFailed)
			}
			if _, err := e.Broker.FinishLogin(e.ctx, e.pid, other.CeremonyID, get(t, a, other)); err != nil {
				t.Errorf("FinishLogin(valid) after %d failures = %v", broker.MaxFailedFinishes-1, err)
			}
		})

		t.Run("stored append", func(t *testing.T) {
			start := e.startAppend(t, "bob")
			b := newAuthenticator()
			phished := softauthn.NewAuthenticator(softauthn.DefaultRPID, "https://evil.example")
			for i := range broker.MaxFailedFinishes {
				_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, phished, start))
				wantErr(t, fmt.Sprintf("FinishAppend(phished) #%d", i+1), err, broker.ErrVerificationFailed)
			}
			before := e.Snapshot(t)
			_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, b, start))
			wantErr(t, "FinishAppend(valid) after the failures", err, broker.ErrCeremonyNotFound)
			e.unchanged(t, before)
		})
	})
}

// A sealed login ceremony's ID is its state: any change to it, another project's or a stored
// ceremony's prefix, or its expiry makes it unknown, and leaves the store and the real
// ceremony as they were.
func TestSealedCeremonyIDsCannotBeForged(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		id := start.CeremonyID
		if !strings.HasPrefix(id, "cls-") || len(id) > 256 {
			t.Fatalf("StartLogin() ceremony ID = %q, want a sealed cls- ID of at most 256 characters", id)
		}
		cred := getWith(t, a, start, pk.ID)
		flip := func(i int) string {
			b := []byte(id)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}
		other := e.addProject(t)
		elsewhere := other.startLogin(t, broker.LoginRequest{})
		cases := map[string]string{
			"first sealed byte changed": flip(4),
			"middle byte changed":       flip(len(id) / 2),
			"last byte changed":         flip(len(id) - 1),
			"truncated":                 id[:len(id)-4],
			"extended":                  id + "AAAA",
			"stored prefix":             "cer-" + strings.TrimPrefix(id, "cls-"),
			"no prefix":                 strings.TrimPrefix(id, "cls-"),
			"another project's":         elsewhere.CeremonyID,
			"empty sealed part":         "cls-",
		}
		before := e.Snapshot(t)
		for name, forged := range cases {
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, forged, cred)
			wantErr(t, "FinishLogin("+name+")", err, broker.ErrCeremonyNotFound)
		}
		e.unchanged(t, before)
		if _, err := e.Broker.FinishLogin(e.ctx, e.pid, id, cred); err != nil {
			t.Fatalf("FinishLogin(the real ID) after the forgeries = %v", err)
		}
		// Expiry is sealed in: a ceremony started now is unknown once its lifetime has passed.
		late := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		lateCred := getWith(t, a, late, pk.ID)
		e.clock.Advance(broker.CeremonyLifetime)
		_, err := e.Broker.FinishLogin(e.ctx, e.pid, late.CeremonyID, lateCred)
		wantErr(t, "FinishLogin(expired sealed ceremony)", err, broker.ErrCeremonyNotFound)
	})
}
