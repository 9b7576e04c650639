package broker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
)

func share(s broker.Share) *broker.Share { return &s }
func list(s ...string) *[]string         { return &s }

func TestParseShare(t *testing.T) {
	tests := []struct {
		in   string
		want broker.Share
		text string
	}{
		{"off", broker.SwitchOff, "off"}, {" ON ", broker.SwitchOn, "on"}, {"25%", 2500, "25%"}, {"25", 2500, "25%"},
		{"0%", 0, "0%"}, {"0.5%", 50, "0.5%"}, {"12.34%", 1234, "12.34%"}, {"100%", broker.SwitchOn, "on"},
	}
	for _, tc := range tests {
		got, err := broker.ParseShare(tc.in)
		if err != nil || got != tc.want || got.String() != tc.text {
			t.Errorf("ParseShare(%q) = %v (%s), %v; want %v (%s)", tc.in, int(got), got, err, int(tc.want), tc.text)
		}
	}
	for _, bad := range []string{"", "%", "101%", "1.234%", "-5%", "half", "1e2", "25%%", "0x10"} {
		if got, err := broker.ParseShare(bad); err == nil {
			t.Errorf("ParseShare(%q) = %v, want an error", bad, got)
		}
	}
}

// TestRolloutShare counts, over 10,000 identifiers, how many get a component at 25%, 50% and
// 1%: each identifier is in with probability p independently (SHA-256), so the count is
// binomial with standard deviation sqrt(n p (1-p)), 43 at 25%; the tolerance of 150 is about
// 3.5 standard deviations (a false failure about once in 2,000 fixed identifier sets, and
// the set is fixed, so the test is deterministic). The answers must not change between calls,
// nor between two brokers (replicas) on one store.
func TestRolloutShare(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		other := e.NewBroker(t, broker.Config{Now: e.clock.Now})
		for _, tc := range []struct {
			share     broker.Share
			want, tol int
		}{{2500, 2500, 150}, {5000, 5000, 175}, {100, 100, 35}} {
			if _, err := e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Append: share(tc.share)}); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(broker.CacheTTL) // the other replica's cache, if any
			in := 0
			for i := range 10000 {
				id := fmt.Sprintf("user%05d@example.com", i)
				v1, err := e.Broker.ConnectConfig(e.ctx, e.pid, id, nil)
				if err != nil {
					t.Fatal(err)
				}
				v2, _ := e.Broker.ConnectConfig(e.ctx, e.pid, id, nil)
				v3, _ := other.ConnectConfig(e.ctx, e.pid, id, nil)
				if v1 != v2 || v1 != v3 {
					t.Fatalf("ConnectConfig(%s) = %+v, then %+v, on another broker %+v; want one answer", id, v1, v2, v3)
				}
				if !v1.Login || !v1.Manage {
					t.Fatalf("ConnectConfig(%s) = %+v; login and manage are on for everyone", id, v1)
				}
				if v1.Append != (broker.Bucket(e.pid, id) < int(tc.share)) {
					t.Fatalf("ConnectConfig(%s).Append = %v, bucket %d, share %d", id, v1.Append, broker.Bucket(e.pid, id), tc.share)
				}
				if v1.Append {
					in++
				}
			}
			t.Logf("share %s: %d of 10000 identifiers", tc.share, in)
			if in < tc.want-tc.tol || in > tc.want+tc.tol {
				t.Errorf("at %s, %d of 10000 identifiers have append, want %d ± %d", tc.share, in, tc.want, tc.tol)
			}
		}
	})
}

// TestRolloutLists checks the precedence: deny wins over allow, allow wins over the share,
// and off is off for everyone, also for the allow list.
func TestRolloutLists(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		if _, err := e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Login: share(0), Append: share(broker.SwitchOff),
			Allow: list("ann", "both"), Deny: list("dan", "both")}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			id   string
			want broker.Visitor
		}{
			{"ann", broker.Visitor{Login: true, Manage: true}},
			{"both", broker.Visitor{}},
			{"dan", broker.Visitor{}},
			{"zoe", broker.Visitor{Manage: true}},
			{"", broker.Visitor{Login: true, Manage: true}}, // not known yet: login can be on for someone
		} {
			got, err := e.Broker.ConnectConfig(e.ctx, e.pid, tc.id, nil)
			if err != nil || got != tc.want {
				t.Errorf("ConnectConfig(%q) = %+v, %v; want %+v", tc.id, got, err, tc.want)
			}
		}
		// At the broker: a login for the allow list starts, others are refused.
		a := newAuthenticator()
		if _, err := e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Append: share(broker.SwitchOn)}); err != nil {
			t.Fatal(err)
		}
		e.register(t, a, "ann")
		e.register(t, a, "zoe")
		e.login(t, a, broker.LoginRequest{Identifier: "ann"})
		_, err := e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{Identifier: "zoe"})
		wantErr(t, "StartLogin(zoe, outside 0%)", err, broker.ErrComponentDisabled)
		_, err = e.Broker.StartAppend(e.ctx, e.pid, e.mint(t, connecttoken.TypeAppend, "dan").Secret, false)
		wantErr(t, "StartAppend(dan, denied)", err, broker.ErrComponentDisabled)
	})
}

// TestKillSwitch turns login off through one broker and shows that another (a replica on the
// same store) stops passkey logins at its start and its finish once its cache of CacheTTL has
// passed, on its injected clock, while the passkeys stay stored; turning it on again restores them.
func TestKillSwitch(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "ann")
		replica := e.NewBroker(t, broker.Config{Now: e.clock.Now})
		start, err := replica.StartLogin(e.ctx, e.pid, broker.LoginRequest{}) // cached now, and a ceremony begun before the switch
		if err != nil {
			t.Fatal(err)
		}
		before := e.events(t, broker.EventQuery{})
		if _, err := e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Login: share(broker.SwitchOff)}); err != nil {
			t.Fatal(err)
		}
		// This broker refuses at once.
		_, err = e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{Identifier: "ann"})
		wantErr(t, "StartLogin on the broker that changed it", err, broker.ErrComponentDisabled)
		// The replica within its cache window still answers; after it, it refuses.
		if _, err := replica.StartLogin(e.ctx, e.pid, broker.LoginRequest{Identifier: "ann"}); err != nil {
			t.Fatalf("replica StartLogin within the cache window = %v, want options", err)
		}
		e.clock.Advance(broker.CacheTTL)
		_, err = replica.StartLogin(e.ctx, e.pid, broker.LoginRequest{})
		wantErr(t, "replica StartLogin after CacheTTL", err, broker.ErrComponentDisabled)
		_, err = replica.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
		wantErr(t, "replica FinishLogin of a ceremony begun before", err, broker.ErrComponentDisabled)
		if v, err := replica.ConnectConfig(e.ctx, e.pid, "ann", nil); err != nil || v.Login || !v.Append {
			t.Errorf("ConnectConfig after the switch = %+v, %v; want login off, append on", v, err)
		}
		page, err := e.Broker.UserPasskeys(e.ctx, e.pid, pk.UserID, broker.Page{})
		if got := page.Passkeys; err != nil || len(got) != 1 || got[0].ID != pk.ID {
			t.Errorf("passkeys after the switch = %+v, %v; want the one passkey kept", page, err)
		}
		evs := e.since(t, before)
		if len(evs) != 1 || evs[0].Type != broker.EventRolloutChanged ||
			!cmp.Equal(evs[0].Details, map[string]any{"login": map[string]any{"from": "on", "to": "off"}}) {
			t.Errorf("events = %+v; want one project.rollout_changed with login on -> off", evs)
		}
		// On again: the replica signs in after its cache window.
		if _, err := e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Login: share(broker.SwitchOn)}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(broker.CacheTTL)
		e.inProjectBroker(replica).login(t, a, broker.LoginRequest{Identifier: "ann"})
	})
}

// inProjectBroker returns a copy of e whose helpers use broker b.
func (e *env) inProjectBroker(b *broker.Broker) *env {
	c := *e
	f := *e.Fixture
	f.Broker = b
	c.Fixture = &f
	return &c
}

func TestUpdateRollout(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		r, err := e.Broker.Rollout(e.ctx, e.pid)
		if err != nil || !cmp.Equal(r, broker.DefaultRollout()) {
			t.Fatalf("Rollout of a new project = %+v, %v; want the default", r, err)
		}
		before := e.events(t, broker.EventQuery{})
		for _, tc := range []struct {
			name  string
			in    broker.RolloutChange
			field string // of the validation error; "" for none
		}{
			{"too short a decline period", broker.RolloutChange{DeclinePeriodInSeconds: lifetime(60)}, "declinePeriodInSeconds"},
			{"a bad requirement", broker.RolloutChange{Require: list("os:beos")}, "require"},
			{"a bad identifier", broker.RolloutChange{Allow: list("a\x00b")}, "allow"},
			{"a share out of range", broker.RolloutChange{Login: share(10001)}, "login"},
		} {
			_, err := e.Broker.UpdateRollout(e.ctx, e.pid, tc.in)
			wantValidation(t, tc.name, err, tc.field)
		}
		r, err = e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Append: share(1000), Require: list("os:macos", "platformAuthenticator", "os:macos"),
			DeclinePeriodInSeconds: lifetime(3600)})
		if err != nil || r.Append != 1000 || len(r.Require) != 2 || r.DeclinePeriodInSeconds != 3600 || r.Login != broker.SwitchOn {
			t.Fatalf("UpdateRollout = %+v, %v", r, err)
		}
		if again, err := e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Append: share(1000)}); err != nil || !again.UpdatedAt.Equal(r.UpdatedAt) {
			t.Errorf("UpdateRollout with no change = %+v, %v; want the rollout unchanged", again, err)
		}
		if _, err := e.Broker.UpdateRollout(e.ctx, "prj-nope", broker.RolloutChange{Login: share(0)}); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("UpdateRollout(unknown project) = %v, want ErrNotFound", err)
		}
		evs := e.since(t, before)
		if len(evs) != 1 || evs[0].Type != broker.EventRolloutChanged || len(evs[0].Details) != 3 {
			t.Errorf("events = %+v; want one project.rollout_changed with append, require, declinePeriodInSeconds", evs)
		}
		// Capabilities gate what is shown, not what the broker accepts.
		yes := true
		for _, tc := range []struct {
			c    *broker.Client
			want bool
		}{{nil, false}, {&broker.Client{OS: "macos"}, false}, {&broker.Client{OS: "windows", PlatformAuthenticator: &yes}, false},
			{&broker.Client{OS: "macos", PlatformAuthenticator: &yes}, true}} {
			v, err := e.Broker.ConnectConfig(e.ctx, e.pid, "", tc.c)
			if err != nil || v.Login != tc.want {
				t.Errorf("ConnectConfig(client %+v).Login = %v, %v; want %v", tc.c, v.Login, err, tc.want)
			}
		}
		e.login(t, e.registered(t, "ann"), broker.LoginRequest{Identifier: "ann"})
	})
}

// registered registers a passkey for identifier with a new authenticator and returns it.
func (e *env) registered(t *testing.T, identifier string) *softauthn.Authenticator {
	t.Helper()
	a := newAuthenticator()
	if _, err := e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Allow: list(identifier)}); err != nil {
		t.Fatal(err)
	}
	e.register(t, a, identifier)
	return a
}

// TestUpgradeSkip checks the automatic upgrade's answers: a ceremony for a user who should
// be offered a passkey, else a skip with its reason and no ceremony; "Not now" holds for the
// decline period, across devices (the broker remembers it), and is not consumed.
func TestUpgradeSkip(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		upgrade := func(id string, c *broker.Client) (broker.AppendStart, error) {
			return e.Broker.StartAppendWith(e.ctx, e.pid, broker.AppendRequest{ConnectToken: e.mint(t, connecttoken.TypeAppend, id).Secret,
				Upgrade: true, Conditional: true, Client: c})
		}
		wantSkip := func(name string, got broker.AppendStart, err error, reason string) {
			t.Helper()
			if err != nil || got.Skip == nil || got.Skip.Reason != reason || got.CeremonyID != "" {
				t.Errorf("%s: StartAppendWith(upgrade) = %+v, %v; want skip %s", name, got, err, reason)
			}
		}
		got, err := upgrade("ann", &broker.Client{OS: "android"})
		if err != nil || got.Skip != nil || got.CeremonyID == "" || got.Mediation != "conditional" || got.Rollout == nil || !got.Rollout.Append {
			t.Fatalf("upgrade(ann) = %+v, %v; want a conditional ceremony", got, err)
		}
		// "Not now": remembered until the decline period ends; the token stays usable.
		tok := e.mint(t, connecttoken.TypeAppend, "ann")
		until, err := e.Broker.DeclineAppend(e.ctx, e.pid, tok.Secret)
		if err != nil || !until.Equal(e.clock.Now().Add(broker.DefaultDecline)) {
			t.Fatalf("DeclineAppend = %v, %v; want now + %v", until, err, broker.DefaultDecline)
		}
		got, err = upgrade("ann", nil)
		wantSkip("after Not now", got, err, "declined")
		if got.Rollout == nil || got.Rollout.DeclinedUntil == nil || !got.Rollout.DeclinedUntil.Equal(until) {
			t.Errorf("after Not now: rollout %+v, want declinedUntil %v", got.Rollout, until)
		}
		if _, err := e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, false); err != nil {
			t.Errorf("StartAppend with the token that declined = %v; the user may still add a passkey", err)
		}
		e.clock.Advance(broker.DefaultDecline)
		if got, err := upgrade("ann", nil); err != nil || got.Skip != nil {
			t.Errorf("after the decline period: %+v, %v; want a ceremony", got, err)
		}
		// Check only: no ceremony either way.
		got, err = e.Broker.StartAppendWith(e.ctx, e.pid, broker.AppendRequest{ConnectToken: e.mint(t, connecttoken.TypeAppend, "ann").Secret,
			Upgrade: true, CheckOnly: true})
		if err != nil || got.Skip != nil || got.CeremonyID != "" || got.Rollout == nil {
			t.Errorf("check only = %+v, %v; want the rollout alone", got, err)
		}
		// Signed in with a passkey on this device just now.
		got, err = upgrade("ann", &broker.Client{PasskeyLoginUsername: "ann"})
		wantSkip("recent passkey login", got, err, "recent_passkey_login")
		// Holds a passkey of this platform's provider: Google Password Manager on Android.
		gpm := newAuthenticator()
		id := uuid.MustParse("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4")
		gpm.AAGUID = id[:]
		e.register(t, gpm, "bob")
		got, err = upgrade("bob", &broker.Client{OS: "android"})
		wantSkip("GPM passkey on Android", got, err, "has_platform_passkey")
		if got, err := upgrade("bob", &broker.Client{OS: "windows"}); err != nil || got.Skip != nil {
			t.Errorf("GPM passkey, on Windows: %+v, %v; want a ceremony (Windows Hello would make another passkey)", got, err)
		}
		// Append off for this visitor.
		if _, err := e.Broker.UpdateRollout(e.ctx, e.pid, broker.RolloutChange{Deny: list("cat")}); err != nil {
			t.Fatal(err)
		}
		got, err = upgrade("cat", nil)
		wantSkip("denied", got, err, "append_off")
		_, err = e.Broker.DeclineAppend(e.ctx, e.pid, e.mint(t, connecttoken.TypeLogin, "ann").Secret)
		wantErr(t, "DeclineAppend with a login token", err, broker.ErrInvalidConnectToken)
		e.clock.Advance(time.Second)
	})
}
