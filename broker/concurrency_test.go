package broker_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/connecttoken"
)

// racers is how many requests race for one single-use thing.
const racers = 50

func wantTally(t *testing.T, call string, errs []error, want map[string]int) {
	t.Helper()
	if diff := cmp.Diff(want, tally(errs)); diff != "" {
		t.Errorf("%d concurrent %s: outcomes (-want +got):\n%s", len(errs), call, diff)
	}
}

func TestConcurrentFinishLoginSucceedsOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator() // its counter moves on, as a hardware key's does
		pk := e.register(t, a, "alice")
		start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		cred := get(t, a, start)

		errs := race(racers, func() error {
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred)
			return err
		})
		wantTally(t, "FinishLogin() of one ceremony", errs, map[string]int{"ok": 1, "ErrCeremonyNotFound": racers - 1})
		if got := e.list(t, "alice"); len(got) != 1 || got[0].ID != pk.ID || got[0].SignCount != 1 {
			t.Errorf("after the race: passkeys %+v, want %s with counter 1", got, pk.ID)
		}
	})
}

func TestConcurrentFinishAppendSucceedsOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		tok := e.mint(t, connecttoken.TypeAppend, "alice")
		start, err := e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, false)
		if err != nil {
			t.Fatalf("StartAppend() = %v", err)
		}
		cred := create(t, newAuthenticator(), start)

		errs := race(racers, func() error {
			_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
			return err
		})
		wantTally(t, "FinishAppend() of one ceremony", errs, map[string]int{"ok": 1, "ErrCeremonyNotFound": racers - 1})
		if got := e.list(t, "alice"); len(got) != 1 {
			t.Errorf("after the race: %d passkeys, want 1", len(got))
		}
		if got, err := e.Broker.ConnectToken(e.ctx, e.pid, tok.ID); err != nil || got.Status != "consumed" {
			t.Errorf("after the race: ConnectToken() = %+v, %v; want consumed", got, err)
		}
	})
}

// Every ceremony a token started may race to finish; the token lets only one through.
func TestConcurrentCeremoniesOfOneTokenFinishOnce(t *testing.T) {
	const ceremonies = 10
	forDialects(t, func(t *testing.T, e *env) {
		t.Run("append", func(t *testing.T) {
			tok := e.mint(t, connecttoken.TypeAppend, "alice")
			ids, creds := make([]string, ceremonies), make([][]byte, ceremonies)
			for i := range ceremonies {
				start, err := e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, false)
				if err != nil {
					t.Fatalf("StartAppend() #%d = %v", i+1, err)
				}
				ids[i], creds[i] = start.CeremonyID, create(t, newAuthenticator(), start)
			}
			next := make(chan int, ceremonies)
			for i := range ceremonies {
				next <- i
			}
			errs := race(ceremonies, func() error {
				i := <-next
				_, err := e.Broker.FinishAppend(e.ctx, e.pid, ids[i], creds[i])
				return err
			})
			wantTally(t, "FinishAppend() of ceremonies of one token", errs, map[string]int{"ok": 1, "ErrInvalidConnectToken": ceremonies - 1})
			if got := e.list(t, "alice"); len(got) != 1 {
				t.Errorf("after the race: %d passkeys, want 1", len(got))
			}
		})
		t.Run("login", func(t *testing.T) {
			a := newAuthenticator()
			a.CountStep = 0 // so that only the token decides
			e.register(t, a, "bob")
			tok := e.mint(t, connecttoken.TypeLogin, "bob")
			ids, creds := make([]string, ceremonies), make([][]byte, ceremonies)
			for i := range ceremonies {
				start := e.startLogin(t, broker.LoginRequest{LoginConnectToken: tok.Secret})
				ids[i], creds[i] = start.CeremonyID, get(t, a, start)
			}
			next := make(chan int, ceremonies)
			for i := range ceremonies {
				next <- i
			}
			errs := race(ceremonies, func() error {
				i := <-next
				_, err := e.Broker.FinishLogin(e.ctx, e.pid, ids[i], creds[i])
				return err
			})
			wantTally(t, "FinishLogin() of ceremonies of one login token", errs, map[string]int{"ok": 1, "ErrInvalidConnectToken": ceremonies - 1})
		})
	})
}

func TestConcurrentManageSucceedsOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		first := e.register(t, newAuthenticator(), "alice")
		e.register(t, newAuthenticator(), "alice")

		list := e.mint(t, connecttoken.TypeList, "alice")
		errs := race(racers, func() error {
			_, _, err := e.Broker.ListPasskeys(e.ctx, e.pid, list.Secret)
			return err
		})
		wantTally(t, "ListPasskeys() with one token", errs, map[string]int{"ok": 1, "ErrInvalidConnectToken": racers - 1})

		del := e.mint(t, connecttoken.TypeDelete, "alice")
		errs = race(racers, func() error {
			_, _, err := e.Broker.DeletePasskey(e.ctx, e.pid, del.Secret, first.ID)
			return err
		})
		wantTally(t, "DeletePasskey() with one token", errs, map[string]int{"ok": 1, "ErrInvalidConnectToken": racers - 1})
		if got := e.list(t, "alice"); len(got) != 1 {
			t.Errorf("after the race: %d passkeys, want 1", len(got))
		}
	})
}

func TestConcurrentVerifySignedDataSucceedsOnce(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		res := e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		e.raceVerify(t, e.Broker, res.SignedPasskeyData)
	})
}

// A finish that read the live ceremony just before another finish consumed it is told the
// ceremony is gone, not that the response failed to verify (the counter has moved on by then).
// The broker first reads its clock right after loading the ceremony; the test pauses it there.
func TestFinishThatLostTheRaceFindsNoCeremony(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		t.Run("login", func(t *testing.T) {
			a := newAuthenticator()
			e.register(t, a, "alice")
			start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
			cred := get(t, a, start)
			slow := e.pausedAfterLoad(t, func() error {
				_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred)
				return err
			})
			if _, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred); err != nil {
				t.Fatalf("FinishLogin() = %v", err)
			}
			wantErr(t, "FinishLogin() that lost the race", slow(), broker.ErrCeremonyNotFound)
		})
		t.Run("append", func(t *testing.T) {
			start := e.startAppend(t, "bob")
			cred := create(t, newAuthenticator(), start)
			slow := e.pausedAfterLoad(t, func() error {
				_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
				return err
			})
			if _, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred); err != nil {
				t.Fatalf("FinishAppend() = %v", err)
			}
			wantErr(t, "FinishAppend() that lost the race", slow(), broker.ErrCeremonyNotFound)
		})
	})
}

// pausedAfterLoad starts call and returns once call has first read the broker's clock; the
// returned function lets call go on and returns its error.
func (e *env) pausedAfterLoad(t *testing.T, call func() error) func() error {
	t.Helper()
	reached, resume := e.clock.PauseNextRead()
	done := make(chan error, 1)
	go func() { done <- call() }()
	<-reached
	return func() error {
		resume()
		return <-done
	}
}
