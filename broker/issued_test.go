package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/signeddata"
)

// lookups counts a broker's verifications of signedPasskeyData: fast, of tokens it signed
// itself, and full, of any other.
type lookups struct{ fast, full int64 }

func lookupsOf(b *broker.Broker) lookups {
	fast, full := b.IssuedLookups()
	return lookups{fast, full}
}

// wantLookups checks that b made fast and full verifications since before.
func wantLookups(t *testing.T, call string, b *broker.Broker, before lookups, fast, full int64) {
	t.Helper()
	got := lookupsOf(b)
	if got.fast-before.fast != fast || got.full-before.full != full {
		t.Errorf("%s: %d fast and %d full verifications, want %d and %d", call, got.fast-before.fast, got.full-before.full, fast, full)
	}
}

// verifiedEvents returns the signedData verified events of e's project, without their IDs
// and times.
func (e *env) verifiedEvents(t *testing.T) []broker.Event {
	t.Helper()
	var out []broker.Event
	for _, ev := range e.events(t, broker.EventQuery{}) {
		if ev.Type == broker.EventSignedDataVerified {
			ev.ID, ev.CreatedAt = "", time.Time{}
			out = append(out, ev)
		}
	}
	return out
}

// A token this broker signed is checked against the claims it recorded when it signed it,
// without verifying the signature again, and the answer and audit event are those of full
// verification; a token of another replica is verified in full.
func TestVerifyIssuedTokenTakesTheFastPath(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		b2, _ := e.replica(t)

		own := e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData
		if n := e.Broker.IssuedLen(); n != 1 {
			t.Errorf("after a login the broker remembers %d tokens, want 1", n)
		}
		fromReplica, err := e.loginOn(t, b2, a, "alice")
		if err != nil {
			t.Fatalf("login on the replica = %v", err)
		}
		for _, tc := range []struct {
			name       string
			token      string
			fast, full int64
		}{
			{"own token", own, 1, 0},
			{"replica's token", fromReplica.SignedPasskeyData, 0, 1},
		} {
			c := e.claims(t, tc.token)
			before := lookupsOf(e.Broker)
			v := e.verify(t, tc.token, "alice")
			wantLookups(t, "VerifySignedData("+tc.name+")", e.Broker, before, tc.fast, tc.full)
			want := broker.Verification{Result: broker.ResultSuccess, UserID: c.Subject, Username: "alice", CredentialID: pk.ID}
			if diff := cmp.Diff(want, v); diff != "" {
				t.Errorf("VerifySignedData(%s) (-want +got):\n%s", tc.name, diff)
			}
			// Used up: a replay is refused, verified in full.
			before = lookupsOf(e.Broker)
			wantResult(t, "VerifySignedData("+tc.name+") again", e.verify(t, tc.token, "alice"), broker.ResultInvalidChallenge)
			wantLookups(t, "VerifySignedData("+tc.name+") again", e.Broker, before, 0, 1)
		}
		if n := e.Broker.IssuedLen(); n != 0 {
			t.Errorf("after its verification the broker remembers %d tokens, want 0", n)
		}

		evs := e.verifiedEvents(t)
		if len(evs) != 2 {
			t.Fatalf("%d signedData verified events, want 2: %+v", len(evs), evs)
		}
		for i, token := range []string{own, fromReplica.SignedPasskeyData} {
			c := e.claims(t, token)
			if got := evs[i].Details; got["jti"] != c.ID || got["ceremonyID"] != c.ProcessID {
				t.Errorf("event %d details = %v, want jti %s and ceremonyID %s", i, got, c.ID, c.ProcessID)
			}
			evs[i].Details["jti"], evs[i].Details["ceremonyID"] = "", ""
		}
		if diff := cmp.Diff(evs[1], evs[0]); diff != "" {
			t.Errorf("event of the fast path (-full verification's +fast path's):\n%s", diff)
		}
	})
}

// A key retired after a token was signed (here by a rotation that another replica, its clock
// behind, dated before the token) refuses the token on the fast path as in full verification.
func TestVerifyIssuedTokenOfRetiredKey(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		b2, c2 := e.replica(t)
		oldKeys := e.publishedKeys(t)

		e.clock.Advance(2 * time.Minute)
		c2.Advance(2 * time.Minute)
		own := e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData
		fromReplica, err := e.loginOn(t, b2, a, "alice")
		if err != nil {
			t.Fatalf("login on the replica = %v", err)
		}

		// The new key signs from a minute before the tokens were signed, so the old one is
		// retired 5m10s later, while they live; past CacheTTL, every key list shows it.
		e.clock.Advance(-time.Minute)
		if _, err := e.Broker.RotateKeyIn(e.ctx, e.pid, 0); err != nil {
			t.Fatalf("RotateKeyIn(0) = %v", err)
		}
		e.clock.Advance(broker.SignedDataLifetime + signeddata.DefaultLeeway + broker.CacheTTL)

		for _, tc := range []struct {
			name       string
			token      string
			fast, full int64
		}{
			{"own token", own, 1, 0},
			{"replica's token", fromReplica.SignedPasskeyData, 0, 1},
		} {
			if _, err := signeddata.Verify(tc.token, oldKeys, e.pid, e.clock.Now(), signeddata.DefaultLeeway); err != nil {
				t.Fatalf("signeddata.Verify(%s) with the old key = %v, want nil: the test must refuse it for its key alone", tc.name, err)
			}
			before := lookupsOf(e.Broker)
			v := e.verify(t, tc.token, "alice")
			wantResult(t, "VerifySignedData("+tc.name+") after its key retired", v, broker.ResultInvalidSignature)
			if want := "the token was signed by an unknown key"; v.Reason != want {
				t.Errorf("VerifySignedData(%s) after its key retired: reason %q, want %q", tc.name, v.Reason, want)
			}
			wantLookups(t, "VerifySignedData("+tc.name+") after its key retired", e.Broker, before, tc.fast, tc.full)
		}
	})
}

// A token with the claims of one this broker signed but another signature has another
// keyed hash: it is verified in full, whether its signature is broken or valid.
func TestVerifyTamperedIssuedToken(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		token := e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData
		c := e.claims(t, token)
		signingInput := token[:strings.LastIndexByte(token, '.')+1]

		sig := []byte(token[len(signingInput):])
		sig[10] ^= 'A' ^ 'B' // a character in the middle: a valid spelling of other bytes
		flipped := signingInput + string(sig)
		key, err := e.Broker.SigningKeyOf(e.ctx, e.pid)
		if err != nil {
			t.Fatalf("SigningKeyOf() = %v", err)
		}
		resigned, err := signeddata.Sign(key, c)
		if err != nil {
			t.Fatalf("Sign() = %v", err)
		}
		if !strings.HasPrefix(resigned, signingInput) || resigned == token {
			t.Fatalf("re-signed token %q, want %q with another signature", resigned, token)
		}

		before := lookupsOf(e.Broker)
		wantResult(t, "VerifySignedData(signature altered)", e.verify(t, flipped, "alice"), broker.ResultInvalidSignature)
		wantLookups(t, "VerifySignedData(signature altered)", e.Broker, before, 0, 1)

		// Another valid signature of the same claims is a valid token that this broker did
		// not issue: verified in full, and it uses up the jti they share.
		before = lookupsOf(e.Broker)
		wantResult(t, "VerifySignedData(re-signed)", e.verify(t, resigned, "alice"), broker.ResultSuccess)
		wantLookups(t, "VerifySignedData(re-signed)", e.Broker, before, 0, 1)
		before = lookupsOf(e.Broker)
		wantResult(t, "VerifySignedData(genuine) after its twin", e.verify(t, token, "alice"), broker.ResultInvalidChallenge)
		wantLookups(t, "VerifySignedData(genuine) after its twin", e.Broker, before, 1, 0)
	})
}

// raceVerify verifies token racers times at once on b and checks that exactly one succeeds.
func (e *env) raceVerify(t *testing.T, b *broker.Broker, token string) {
	t.Helper()
	results := make(chan string, racers)
	errs := race(racers, func() error {
		v, err := b.VerifySignedData(e.ctx, e.pid, token, "alice")
		results <- v.Result
		return err
	})
	close(results)
	wantTally(t, "VerifySignedData() of one token", errs, map[string]int{"ok": racers})
	got := map[string]int{}
	for r := range results {
		got[r]++
	}
	want := map[string]int{broker.ResultSuccess: 1, broker.ResultInvalidChallenge: racers - 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%d concurrent VerifySignedData(): results (-want +got):\n%s", racers, diff)
	}
}

func TestConcurrentVerifyIssuedTokenSucceedsOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		token := e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData

		before := lookupsOf(e.Broker)
		e.raceVerify(t, e.Broker, token)
		// Those that start after the success has forgotten the token verify it in full.
		got := lookupsOf(e.Broker)
		if fast, full := got.fast-before.fast, got.full-before.full; fast < 1 || fast+full != racers {
			t.Errorf("%d concurrent VerifySignedData(): %d fast and %d full verifications, want %d, at least one fast", racers, fast, full, racers)
		}
	})
}

func TestConcurrentVerifyReplicaTokenSucceedsOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		b2, _ := e.replica(t)
		res, err := e.loginOn(t, b2, a, "alice")
		if err != nil {
			t.Fatalf("login on the replica = %v", err)
		}

		before := lookupsOf(e.Broker)
		e.raceVerify(t, e.Broker, res.SignedPasskeyData)
		wantLookups(t, "concurrent VerifySignedData(replica's token)", e.Broker, before, 0, racers)
	})
}
