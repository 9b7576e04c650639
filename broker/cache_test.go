package broker_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/connecttoken"
	"github.com/latchkey/latchkey/signeddata"
)

// replica is a second broker on the same database, with a store and a clock of its own, as
// another replica would be.
func (e *env) replica(t *testing.T) (*broker.Broker, *clock) {
	t.Helper()
	return e.replicaWith(t, sqlstore.Config{})
}

// replicaWith is replica with a store opened with cfg.
func (e *env) replicaWith(t *testing.T, cfg sqlstore.Config) (*broker.Broker, *clock) {
	t.Helper()
	store, err := sqlstore.Open(e.ctx, e.URL, cfg)
	if err != nil {
		t.Fatalf("sqlstore.Open() = %v", err)
	}
	t.Cleanup(func() { store.Close() })
	key, err := broker.ParseSecretKey(brokertest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: e.clock.Now()}
	b, err := broker.New(store, broker.Config{SecretKey: key, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// rawExec runs one statement on the fixture's database behind the broker's back, as an
// operator or another version of the broker might.
func (e *env) rawExec(t *testing.T, query string, args ...any) {
	t.Helper()
	db := openRaw(t, e)
	if _, err := db.ExecContext(e.ctx, db.Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (e *env) loginOn(t *testing.T, b *broker.Broker, a *softauthn.Authenticator, identifier string) (broker.LoginResult, error) {
	t.Helper()
	start, err := b.StartLogin(e.ctx, e.pid, broker.LoginRequest{Identifier: identifier})
	if err != nil || start.PublicKey == nil {
		t.Fatalf("StartLogin(%s) = %+v, %v", identifier, start, err)
	}
	return b.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
}

func TestProjectConfigurationChangedElsewhereIsSeenWithinCacheTTL(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		b2, c2 := e.replica(t)
		if _, err := e.loginOn(t, b2, a, "alice"); err != nil { // b2 has read the project now
			t.Fatalf("login on the replica = %v", err)
		}

		// An origin is added behind the replica's back.
		const newOrigin = "http://localhost:9000"
		e.rawExec(t, `UPDATE projects SET origins = ? WHERE id = ?`, `["`+brokertest.Origin+`","`+newOrigin+`"]`, e.pid)
		c2.Advance(broker.CacheTTL)
		p, err := b2.CachedProject(e.ctx, e.pid)
		if err != nil || !p.AllowsWebOrigin(newOrigin) {
			t.Errorf("CachedProject() %v after the change = %+v, %v; want origin %s allowed", broker.CacheTTL, p, err, newOrigin)
		}
		fromNew := softauthn.NewAuthenticator(brokertest.RPID, newOrigin)
		fromNew.Import(a, pk.ID)
		if _, err := e.loginOn(t, b2, fromNew, "alice"); err != nil {
			t.Errorf("login from %s on the replica %v after the change = %v", newOrigin, broker.CacheTTL, err)
		}

		// The origin is removed again: after CacheTTL the replica refuses it.
		e.rawExec(t, `UPDATE projects SET origins = ? WHERE id = ?`, `["`+brokertest.Origin+`"]`, e.pid)
		c2.Advance(broker.CacheTTL)
		if _, err := e.loginOn(t, b2, fromNew, "alice"); err == nil {
			t.Errorf("login from the removed origin %s on the replica %v after the change succeeded", newOrigin, broker.CacheTTL)
		}
	})
}

func TestSecretsAndKeysChangedElsewhereAreSeenAtOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		b2, c2 := e.replica(t)
		if _, err := b2.Authenticate(e.ctx, e.pid, e.APISecret); err != nil {
			t.Fatalf("Authenticate() on the replica = %v", err)
		}
		// The replica verifies a token, and so reads the project's keys, before the rotation.
		warm, err := e.loginOn(t, b2, a, "alice")
		if err != nil {
			t.Fatalf("login on the replica = %v", err)
		}
		if v, err := b2.VerifySignedData(e.ctx, e.pid, warm.SignedPasskeyData, "alice"); err != nil || v.Result != broker.ResultSuccess {
			t.Fatalf("VerifySignedData() on the replica = %+v, %v", v, err)
		}
		old, err := e.loginOn(t, b2, a, "alice")
		if err != nil {
			t.Fatalf("login on the replica = %v", err)
		}

		// A secret added, then revoked, through the first broker: the replica follows at once.
		id, secret, err := e.Broker.AddSecret(e.ctx, e.pid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b2.Authenticate(e.ctx, e.pid, secret); err != nil {
			t.Errorf("Authenticate(new secret) on the replica = %v, want it accepted at once", err)
		}
		if err := e.Broker.RevokeSecret(e.ctx, e.pid, id); err != nil {
			t.Fatal(err)
		}
		_, err = b2.Authenticate(e.ctx, e.pid, secret)
		wantErr(t, "Authenticate(revoked secret) on the replica", err, broker.ErrUnauthenticated)

		// A key rotated in to sign at once: the replica signs with it, publishes it, and
		// verifies tokens that the first broker signed with it, at once.
		e.clock.Advance(time.Second) // after the first key's activation, not in the same millisecond
		c2.Advance(time.Second)
		info, err := e.Broker.RotateKeyIn(e.ctx, e.pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.loginOn(t, b2, a, "alice")
		if err != nil || kidOf(t, res.SignedPasskeyData) != info.ID {
			t.Errorf("login on the replica after rotation = %v, signed by %s, want the new key %s", err, kidOf(t, res.SignedPasskeyData), info.ID)
		}
		jwks, err := b2.JWKS(e.ctx, e.pid)
		if err != nil || !strings.Contains(string(jwks), info.ID) {
			t.Errorf("JWKS() of the replica after rotation = %s, %v; want the new key %s", jwks, err, info.ID)
		}
		fromFirst := e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		for _, tok := range []broker.LoginResult{fromFirst, old} {
			v, err := b2.VerifySignedData(e.ctx, e.pid, tok.SignedPasskeyData, "alice")
			if err != nil || v.Result != broker.ResultSuccess {
				t.Errorf("VerifySignedData(token of %s) on the replica = %+v, %v; want success", kidOf(t, tok.SignedPasskeyData), v, err)
			}
		}
		if _, err := signeddata.Verify(fromFirst.SignedPasskeyData, e.publishedKeys(t), e.pid, e.clock.Now(), signeddata.DefaultLeeway); err != nil {
			t.Errorf("offline Verify of the first broker's token = %v", err)
		}
	})
}

func TestPreparedStatementsUnderAFullPool(t *testing.T) {
	// Every connection of the pool busy in a transaction that needs a statement not yet
	// prepared: preparing must not wait for another connection.
	forDialects(t, func(t *testing.T, e *env) {
		const n = 30
		var next atomic.Int32
		errs := race(n, func() error {
			id := fmt.Sprintf("user-%d", next.Add(1))
			tok, err := e.Broker.MintConnectToken(e.ctx, e.pid, broker.MintRequest{Type: string(connecttoken.TypeAppend),
				Data: broker.ConnectTokenData{Identifier: id, DisplayName: id}})
			if err != nil {
				return err
			}
			_, err = e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, false)
			return err
		})
		if got := tally(errs); got["ok"] != n {
			t.Errorf("%d concurrent mints and starts: %v, want all ok", n, got)
		}
	})
}

// TestVerifyConfirmsTheSecretInItsWrite: online verification by a backend checks its API
// secret against the hashes the broker read last, and has the store confirm it in the
// statement (PostgreSQL) or transaction (SQLite) that records the token: one store call for a
// known secret. A secret revoked through another replica is refused at once all the same,
// whatever the token: 401, no jti recorded, no event, and the token still good for a live
// secret.
func TestVerifyConfirmsTheSecretInItsWrite(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		secretID, secret, err := e.Broker.AddSecret(e.ctx, e.pid)
		if err != nil {
			t.Fatal(err)
		}
		token := func() string { return e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData }
		var mu sync.Mutex
		calls := map[string]int{}
		b2, _ := e.replicaWith(t, sqlstore.Config{ObserveQuery: func(op string, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			calls[op]++
		}})
		verify := func(b *broker.Broker, tok string) (broker.Verification, error) {
			return b.VerifySignedDataWithSecret(e.ctx, e.pid, secret, tok, "alice")
		}
		if v, err := verify(b2, token()); err != nil || v.Result != broker.ResultSuccess {
			t.Fatalf("first VerifySignedDataWithSecret() = %+v, %v", v, err)
		}
		tok := token()
		clear(calls)
		if v, err := verify(b2, tok); err != nil || v.Result != broker.ResultSuccess {
			t.Fatalf("VerifySignedDataWithSecret() with a known secret = %+v, %v", v, err)
		}
		// On PostgreSQL, one round trip. (SQLite's transactions report each statement too, so
		// its counts do not tell a read inside the transaction from one before it.)
		if n := calls[sqlstore.OpRead] + calls[sqlstore.OpWrite] + calls[sqlstore.OpTx]; e.Store.Dialect() == sqlstore.Postgres && n != 1 {
			t.Errorf("VerifySignedDataWithSecret() with a known secret made %d store calls (%v), want 1", n, calls)
		}
		if v, err := verify(b2, tok); err != nil || v.Result != broker.ResultInvalidChallenge {
			t.Errorf("VerifySignedDataWithSecret() of a verified token = %+v, %v; want %s", v, err, broker.ResultInvalidChallenge)
		}

		// Replicas that know the secret, each for one request after its revocation.
		replayed := tok
		cases := []struct {
			name, token, username string
		}{
			{"a valid token", token(), "alice"},
			{"a valid token, with a wrong username", token(), "bob"},
			{"a replayed token", replayed, "alice"},
			{"a malformed token", "not.a.token", "alice"},
		}
		replicas := make([]*broker.Broker, len(cases))
		for i := range cases {
			replicas[i], _ = e.replica(t)
			if v, err := verify(replicas[i], token()); err != nil || v.Result != broker.ResultSuccess {
				t.Fatalf("VerifySignedDataWithSecret() on replica %d = %+v, %v", i, v, err)
			}
		}
		if err := e.Broker.RevokeSecret(e.ctx, e.pid, secretID); err != nil {
			t.Fatal(err)
		}
		db := openRaw(t, e)
		count := func(table string) int {
			var n int
			if err := db.GetContext(e.ctx, &n, db.Rebind(`SELECT COUNT(*) FROM `+table+` WHERE project_id = ?`), e.pid); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for i, c := range cases {
			events, jtis := count("events"), count("verified_tokens")
			v, err := replicas[i].VerifySignedDataWithSecret(e.ctx, e.pid, secret, c.token, c.username)
			if !errors.Is(err, broker.ErrUnauthenticated) {
				t.Errorf("%s with a secret revoked elsewhere = %+v, %v; want ErrUnauthenticated", c.name, v, err)
			}
			if v != (broker.Verification{}) {
				t.Errorf("%s with a revoked secret told %+v", c.name, v)
			}
			if ev, j := count("events"), count("verified_tokens"); ev != events || j != jtis {
				t.Errorf("%s with a revoked secret: events %d -> %d, verified_tokens %d -> %d; want no change", c.name, events, ev, jtis, j)
			}
		}
		if v, err := e.Broker.VerifySignedDataWithSecret(e.ctx, e.pid, e.APISecret, cases[0].token, "alice"); err != nil || v.Result != broker.ResultSuccess {
			t.Errorf("the token a revoked secret tried, with a live secret = %+v, %v; want success", v, err)
		}
		for _, b := range append(replicas, b2) {
			if _, err := verify(b, token()); !errors.Is(err, broker.ErrUnauthenticated) {
				t.Errorf("a revoked secret, again = %v; want ErrUnauthenticated", err)
			}
		}
	})
}
