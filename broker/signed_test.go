package broker_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/connecttoken"
	"github.com/latchkey/latchkey/signeddata"
)

// verify calls VerifySignedData and fails the test on a store error.
func (e *env) verify(t *testing.T, token, username string) broker.Verification {
	t.Helper()
	v, err := e.Broker.VerifySignedData(e.ctx, e.pid, token, username)
	if err != nil {
		t.Fatalf("VerifySignedData() = %v", err)
	}
	return v
}

func wantResult(t *testing.T, call string, v broker.Verification, want string) {
	t.Helper()
	if v.Result != want {
		t.Errorf("%s = %q (%s), want %q", call, v.Result, v.Reason, want)
	}
	if v.Result != broker.ResultSuccess && v.Reason == "" {
		t.Errorf("%s = %q without a reason", call, v.Result)
	}
}

func TestVerifySignedData(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		login := func() string { return e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData }

		t.Run("success once, then invalid_challenge", func(t *testing.T) {
			token := login()
			c := e.claims(t, token)
			v := e.verify(t, token, "alice")
			want := broker.Verification{Result: broker.ResultSuccess, UserID: c.Subject, Username: "alice", CredentialID: pk.ID}
			if diff := cmp.Diff(want, v); diff != "" {
				t.Errorf("VerifySignedData() first time (-want +got):\n%s", diff)
			}
			wantResult(t, "VerifySignedData() second time", e.verify(t, token, "alice"), broker.ResultInvalidChallenge)
			wantResult(t, "VerifySignedData() third time, without username", e.verify(t, token, ""), broker.ResultInvalidChallenge)
		})
		t.Run("without username", func(t *testing.T) {
			wantResult(t, "VerifySignedData(no username)", e.verify(t, login(), ""), broker.ResultSuccess)
		})
		t.Run("user_mismatch does not use the token up", func(t *testing.T) {
			token := login()
			before := e.Snapshot(t)
			v := e.verify(t, token, "bob")
			wantResult(t, "VerifySignedData(bob)", v, broker.ResultUserMismatch)
			if v.Username != "alice" {
				t.Errorf("VerifySignedData(bob).Username = %q, want the token's alice", v.Username)
			}
			e.unchanged(t, before)
			wantResult(t, "VerifySignedData(alice) after a mismatch", e.verify(t, token, "alice"), broker.ResultSuccess)
		})
		t.Run("token of another project", func(t *testing.T) {
			other := e.addProject(t)
			b := newAuthenticator()
			other.register(t, b, "alice")
			token := other.login(t, b, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData
			before := e.Snapshot(t)
			wantResult(t, "VerifySignedData(another project's token)", e.verify(t, token, "alice"), broker.ResultInvalidSignature)
			e.unchanged(t, before)
			wantResult(t, "VerifySignedData() in its own project", other.verify(t, token, "alice"), broker.ResultSuccess)
		})
		t.Run("expired", func(t *testing.T) {
			early, late := login(), login()
			e.clock.Advance(4 * time.Minute)
			wantResult(t, "VerifySignedData() after 4 minutes", e.verify(t, early, "alice"), broker.ResultSuccess)
			e.clock.Advance(2 * time.Minute)
			before := e.Snapshot(t)
			wantResult(t, "VerifySignedData() after 6 minutes", e.verify(t, late, "alice"), broker.ResultInvalidChallenge)
			e.unchanged(t, before)
		})
		t.Run("not yet valid", func(t *testing.T) {
			e.clock.Advance(2 * time.Minute)
			token := login()
			e.clock.Advance(-time.Minute)
			defer e.clock.Advance(time.Minute)
			wantResult(t, "VerifySignedData() a minute before issue", e.verify(t, token, "alice"), broker.ResultInvalidChallenge)
		})
		t.Run("malformed or forged", func(t *testing.T) {
			token, other := login(), login()
			parts, otherParts := strings.Split(token, "."), strings.Split(other, ".")
			header := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
			kid := kidOf(t, token)
			for _, tc := range []struct{ name, token string }{
				{"empty", ""},
				{"garbage", "garbage"},
				{"three empty parts", ".."},
				{"payload of another token", parts[0] + "." + otherParts[1] + "." + parts[2]},
				{"signature of another token", parts[0] + "." + parts[1] + "." + otherParts[2]},
				{"signature cut", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4]},
				{"alg none", header(`{"alg":"none","kid":"`+kid+`","typ":"JWT"}`) + "." + parts[1] + "."},
				{"alg HS256", header(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`) + "." + parts[1] + "." + parts[2]},
				{"unknown kid", header(`{"alg":"ES256","kid":"nope","typ":"JWT"}`) + "." + parts[1] + "." + parts[2]},
				{"token twice", token + token},
				{"very long", strings.Repeat("a", 10000) + "." + parts[1] + "." + parts[2]},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := e.Snapshot(t)
					wantResult(t, "VerifySignedData("+tc.name+")", e.verify(t, tc.token, "alice"), broker.ResultInvalidSignature)
					e.unchanged(t, before)
				})
			}
			// The forgeries did not use up the genuine tokens.
			wantResult(t, "VerifySignedData(genuine token)", e.verify(t, token, "alice"), broker.ResultSuccess)
			wantResult(t, "VerifySignedData(other genuine token)", e.verify(t, other, "alice"), broker.ResultSuccess)
		})
	})
}

func TestKeyRotation(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		login := func() string { return e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData }
		published := func() []string {
			ids := keyIDs(e.publishedKeys(t))
			slices.Sort(ids)
			return ids
		}
		sorted := func(ids ...string) []string { slices.Sort(ids); return ids }

		first := published()
		if len(first) != 1 {
			t.Fatalf("a new project publishes %d keys, want 1", len(first))
		}
		oldKid := first[0]
		if kid := kidOf(t, login()); kid != oldKid {
			t.Fatalf("signed with kid %q, want the published %q", kid, oldKid)
		}

		info, err := e.Broker.RotateKey(e.ctx, e.pid)
		if err != nil {
			t.Fatalf("RotateKey() = %v", err)
		}
		newKid := info.ID
		if newKid == oldKid || !info.ActiveFrom.Equal(e.clock.Now().Add(broker.KeyActivationDelay)) {
			t.Errorf("RotateKey() = %+v, want a new kid active from %v", info, e.clock.Now().Add(broker.KeyActivationDelay))
		}
		if diff := cmp.Diff(sorted(oldKid, newKid), published()); diff != "" {
			t.Errorf("JWKS right after RotateKey() (-want +got):\n%s", diff)
		}
		if kid := kidOf(t, login()); kid != oldKid {
			t.Errorf("right after RotateKey(): signed with %q, want the old key %q", kid, oldKid)
		}

		e.clock.Advance(broker.KeyActivationDelay - time.Millisecond)
		lastOld := login()
		if kid := kidOf(t, lastOld); kid != oldKid {
			t.Errorf("just before activation: signed with %q, want the old key %q", kid, oldKid)
		}

		e.clock.Advance(time.Millisecond)
		if kid := kidOf(t, login()); kid != newKid {
			t.Errorf("at activation: signed with %q, want the new key %q", kid, newKid)
		}
		if diff := cmp.Diff(sorted(oldKid, newKid), published()); diff != "" {
			t.Errorf("JWKS at activation (-want +got):\n%s", diff)
		}
		wantResult(t, "VerifySignedData(token of the old key) after activation", e.verify(t, lastOld, "alice"), broker.ResultSuccess)
		keys, err := e.Broker.Keys(e.ctx, e.pid)
		if err != nil {
			t.Fatalf("Keys() = %v", err)
		}
		for _, k := range keys {
			if wantSigning := k.ID == newKid; k.Signing != wantSigning || !k.Published {
				t.Errorf("Keys() at activation: %+v, want signing %v and published", k, wantSigning)
			}
		}

		retire := broker.SignedDataLifetime + signeddata.DefaultLeeway
		e.clock.Advance(retire - time.Millisecond)
		if diff := cmp.Diff(sorted(oldKid, newKid), published()); diff != "" {
			t.Errorf("JWKS just before the old key's tokens have all expired (-want +got):\n%s", diff)
		}
		e.clock.Advance(time.Millisecond)
		if diff := cmp.Diff([]string{newKid}, published()); diff != "" {
			t.Errorf("JWKS once the old key's tokens have all expired (-want +got):\n%s", diff)
		}
		token := login()
		if kid := kidOf(t, token); kid != newKid {
			t.Errorf("after retirement: signed with %q, want %q", kid, newKid)
		}
		wantResult(t, "VerifySignedData(token of the new key)", e.verify(t, token, "alice"), broker.ResultSuccess)

		t.Run("errors", func(t *testing.T) {
			_, err := e.Broker.RotateKey(e.ctx, "prj-000000000000000000000000")
			wantErr(t, "RotateKey(unknown project)", err, broker.ErrNotFound)
			_, err = e.Broker.RotateKeyIn(e.ctx, e.pid, -time.Second)
			wantValidation(t, "RotateKeyIn(-1s)", err, "activateIn")
		})
		t.Run("at once", func(t *testing.T) {
			info, err := e.Broker.RotateKeyIn(e.ctx, e.pid, 0)
			if err != nil {
				t.Fatalf("RotateKeyIn(0) = %v", err)
			}
			if kid := kidOf(t, login()); kid != info.ID {
				t.Errorf("after RotateKeyIn(0): signed with %q, want the new key %q", kid, info.ID)
			}
		})
	})
}

func TestDeleteExpired(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")

		// At t0: things that will have expired by t0+6m.
		shortToken := e.mintReq(t, broker.MintRequest{Type: "passkey-list", Data: broker.ConnectTokenData{Identifier: "alice"}, MaxLifetimeInSeconds: lifetime(1)})
		oldCeremony := e.startLogin(t, broker.LoginRequest{Identifier: "alice"}) // sealed: no row
		e.startAppend(t, "bob")                                                  // stored, 5-minute lifetime
		oldVerified := e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData
		wantResult(t, "VerifySignedData(old)", e.verify(t, oldVerified, "alice"), broker.ResultSuccess)

		// At t0+4m: things still live at t0+6m.
		e.clock.Advance(4 * time.Minute)
		liveToken := e.mint(t, connecttoken.TypeList, "alice")
		liveCeremony := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		liveVerified := e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData
		wantResult(t, "VerifySignedData(live)", e.verify(t, liveVerified, "alice"), broker.ResultSuccess)

		e.clock.Advance(2 * time.Minute)
		before := e.Counts(t)
		n, err := e.Broker.DeleteExpired(e.ctx, 1000)
		if err != nil {
			t.Fatalf("DeleteExpired() = %v", err)
		}
		if n != 4 {
			t.Errorf("DeleteExpired() removed %d rows, want 4 (a token, bob's ceremony, a verified jti, the old login's outcome)", n)
		}
		want := before
		want["connect_tokens"]--
		want["ceremonies"]--
		want["verified_tokens"]--
		if diff := cmp.Diff(want, e.Counts(t)); diff != "" {
			t.Errorf("row counts after DeleteExpired() (-want +got):\n%s", diff)
		}

		if _, err := e.Broker.ConnectToken(e.ctx, e.pid, shortToken.ID); err == nil {
			t.Errorf("the expired connect token is still there")
		}
		if _, _, err := e.Broker.ListPasskeys(e.ctx, e.pid, liveToken.Secret); err != nil {
			t.Errorf("ListPasskeys(live token) = %v", err)
		}
		_, err = e.Broker.FinishLogin(e.ctx, e.pid, oldCeremony.CeremonyID, get(t, a, oldCeremony))
		wantErr(t, "FinishLogin(expired ceremony)", err, broker.ErrCeremonyNotFound)
		if _, err := e.Broker.FinishLogin(e.ctx, e.pid, liveCeremony.CeremonyID, get(t, a, liveCeremony)); err != nil {
			t.Errorf("FinishLogin(live ceremony) = %v", err)
		}
		// The live jti is still remembered: a replay is refused, not accepted afresh.
		wantResult(t, "VerifySignedData(live, replayed)", e.verify(t, liveVerified, "alice"), broker.ResultInvalidChallenge)

		if n, err := e.Broker.DeleteExpired(e.ctx, 1000); err != nil || n != 0 {
			t.Errorf("second DeleteExpired() = %d, %v; want 0, nil", n, err)
		}
	})
}

func TestDeleteExpiredHonoursLimit(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		for range 5 {
			e.mintReq(t, broker.MintRequest{Type: "passkey-list", Data: broker.ConnectTokenData{Identifier: "alice"}, MaxLifetimeInSeconds: lifetime(1)})
		}
		e.clock.Advance(2 * time.Second)
		for _, want := range []int64{2, 2, 1, 0} {
			n, err := e.Broker.DeleteExpired(e.ctx, 2)
			if err != nil || n != want {
				t.Errorf("DeleteExpired(limit 2) = %d, %v; want %d", n, err, want)
			}
		}
		if got := e.Counts(t)["connect_tokens"]; got != 0 {
			t.Errorf("%d connect tokens left, want 0", got)
		}
	})
}

// SweepExpired repeats batches until none is left, so the sweep keeps up with any rate of
// expiry; when its time budget runs out first, it reports the backlog left.
func TestSweepExpired(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		for range 25 {
			e.mintReq(t, broker.MintRequest{Type: "passkey-list", Data: broker.ConnectTokenData{Identifier: "alice"}, MaxLifetimeInSeconds: lifetime(1)})
		}
		for _, name := range []string{"dave", "erin", "frank"} {
			e.startAppend(t, name) // a stored ceremony (5 minutes) and its token (10 minutes)
		}
		e.mint(t, connecttoken.TypeList, "bob") // lives 10 minutes: not expired
		e.clock.Advance(broker.CeremonyLifetime + time.Second)
		e.mint(t, connecttoken.TypeList, "carol")
		// Expired now: 25 tokens and 3 ceremonies.

		// A budget of 0 on a stopped clock allows one batch.
		r, err := e.Broker.SweepExpired(e.ctx, 2, 0)
		if want := (broker.SweepResult{Deleted: 4, Batches: 1, Backlog: 24}); err != nil || r != want {
			t.Errorf("SweepExpired(batch 2, budget 0) = %+v, %v; want %+v", r, err, want)
		}
		r, err = e.Broker.SweepExpired(e.ctx, 2, time.Hour)
		// 23 tokens in batches of 2 (12 batches, the first with the last ceremony), then an
		// empty batch.
		if want := (broker.SweepResult{Deleted: 24, Batches: 13}); err != nil || r != want {
			t.Errorf("SweepExpired(batch 2, budget 1h) = %+v, %v; want %+v", r, err, want)
		}
		counts := e.Counts(t)
		if counts["ceremonies"] != 0 || counts["connect_tokens"] != 5 {
			t.Errorf("after the sweep: %d ceremonies, %d connect tokens; want 0 and 5 (the append tokens, bob's and carol's)", counts["ceremonies"], counts["connect_tokens"])
		}
	})
}

// A signedPasskeyData names its user by the identifier it had at login: after a rename, and
// another user taking the old identifier, the old token must not vouch for the new holder.
func TestVerifySignedDataAfterRename(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "x@example.com")
		token := e.login(t, a, broker.LoginRequest{Identifier: "x@example.com"}).SignedPasskeyData
		old, err := e.Broker.Users(e.ctx, e.pid, broker.UserQuery{Identifier: "x@example.com"})
		if err != nil || len(old.Users) != 1 {
			t.Fatalf("Users(x) = %v, %v", old, err)
		}
		newName := "y@example.com"
		if _, err := e.Broker.UpdateUser(e.ctx, e.pid, old.Users[0].ID, broker.UserUpdate{Identifier: &newName}); err != nil {
			t.Fatalf("UpdateUser() = %v", err)
		}
		if _, err := e.Broker.CreateUser(e.ctx, e.pid, broker.NewUser{Identifier: "x@example.com"}); err != nil {
			t.Fatalf("CreateUser(x) = %v", err)
		}
		before := e.Snapshot(t)
		v := e.verify(t, token, "x@example.com")
		wantResult(t, "VerifySignedData(old token, username x) after the rename", v, broker.ResultUserMismatch)
		if v.UserID != old.Users[0].ID {
			t.Errorf("user_mismatch names user %q, want the token's own %q", v.UserID, old.Users[0].ID)
		}
		e.unchanged(t, before)
		// Keyed on the user ID, as README tells apps to do, the token still verifies once.
		wantResult(t, "VerifySignedData(old token, no username)", e.verify(t, token, ""), broker.ResultSuccess)
		wantResult(t, "VerifySignedData(old token) again", e.verify(t, token, ""), broker.ResultInvalidChallenge)
	})
}
