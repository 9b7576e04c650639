package broker_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/connecttoken"
)

// recorder is a broker.Observer that writes down what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) CeremonyStarted(p, kind string)  { r.add("%s started %s", p, kind) }
func (r *recorder) CeremonyFinished(p, kind string) { r.add("%s finished %s", p, kind) }
func (r *recorder) CeremonyFailed(p, kind, reason string) {
	r.add("%s failed %s %s", p, kind, reason)
}
func (r *recorder) ConnectTokenMinted(p, typ string)   { r.add("%s minted %s", p, typ) }
func (r *recorder) ConnectTokenConsumed(p, typ string) { r.add("%s consumed %s", p, typ) }
func (r *recorder) SignedDataVerified(p, result string) {
	r.add("%s verified %s", p, result)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// TestObserver checks what Config.Observer is told of appends, logins, failures, replays,
// connect tokens and verifications, and that requests naming a project that does not exist
// tell it nothing.
func TestObserver(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		rec := &recorder{}
		e.Broker = e.NewBroker(t, broker.Config{Now: e.clock.Now, Observer: rec})
		p := e.pid
		a, stranger := newAuthenticator(), newAuthenticator()
		e2 := e.addProject(t)
		e2.register(t, stranger, "bob") // a credential of another project
		p2 := e2.pid
		if diff := cmp.Diff([]string{p2 + " minted passkey-append", p2 + " started append", p2 + " finished append", p2 + " consumed passkey-append"}, rec.take()); diff != "" {
			t.Errorf("observed in project 2 (-want +got):\n%s", diff)
		}

		e.register(t, a, "alice")
		res := e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		for range 2 {
			if _, err := e.Broker.VerifySignedData(e.ctx, p, res.SignedPasskeyData, "alice"); err != nil {
				t.Fatalf("VerifySignedData() = %v", err)
			}
		}
		start := e.startLogin(t, broker.LoginRequest{})
		_, err := e.Broker.FinishLogin(e.ctx, p, start.CeremonyID, get(t, stranger, start))
		if unknown := (*broker.UnknownCredentialError)(nil); !errors.As(err, &unknown) {
			t.Fatalf("FinishLogin(credential of project 2) = %v, want *UnknownCredentialError", err)
		}
		start = e.startLogin(t, broker.LoginRequest{})
		cred := get(t, a, start)
		if _, err := e.Broker.FinishLogin(e.ctx, p, start.CeremonyID, cred); err != nil {
			t.Fatalf("FinishLogin() = %v", err)
		}
		_, err = e.Broker.FinishLogin(e.ctx, p, start.CeremonyID, cred)
		wantErr(t, "FinishLogin(replay)", err, broker.ErrCeremonyNotFound)
		tok := e.mint(t, connecttoken.TypeList, "alice")
		if _, _, err := e.Broker.ListPasskeys(e.ctx, p, tok.Secret); err != nil {
			t.Fatalf("ListPasskeys() = %v", err)
		}
		want := []string{
			p + " minted passkey-append", p + " started append", p + " finished append", p + " consumed passkey-append",
			p + " started login", p + " finished login",
			p + " verified success", p + " verified invalid_challenge",
			p + " started login", p + " failed login unknown_credential",
			p + " started login", p + " finished login", p + " failed login ceremony_not_found",
			p + " minted passkey-list", p + " consumed passkey-list",
		}
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("observed (-want +got):\n%s", diff)
		}

		// A project that does not exist is never a label value.
		const nope = "prj-doesnotexist0000"
		_, _ = e.Broker.StartLogin(e.ctx, nope, broker.LoginRequest{})
		_, _ = e.Broker.FinishLogin(e.ctx, nope, start.CeremonyID, cred)
		_, _ = e.Broker.MintConnectToken(e.ctx, nope, broker.MintRequest{Type: string(connecttoken.TypeAppend), Data: broker.ConnectTokenData{Identifier: "x", DisplayName: "x"}})
		if got := rec.take(); len(got) != 0 {
			t.Errorf("observed %q for a project that does not exist, want nothing", got)
		}
	})
}
