package broker_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/connecttoken"
)

func TestMintConnectToken(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		now := e.clock.Now()
		tests := []struct {
			name        string
			req         broker.MintRequest
			wantExpires time.Time
		}{
			{"append, default lifetime", broker.MintRequest{Type: "passkey-append", Data: broker.ConnectTokenData{Identifier: "user-42", DisplayName: "Jane Doe"}}, now.Add(600 * time.Second)},
			{"list without display name", broker.MintRequest{Type: "passkey-list", Data: broker.ConnectTokenData{Identifier: "user-42"}, MaxLifetimeInSeconds: lifetime(1)}, now.Add(time.Second)},
			{"delete, longest lifetime", broker.MintRequest{Type: "passkey-delete", Data: broker.ConnectTokenData{Identifier: "user-42"}, MaxLifetimeInSeconds: lifetime(3600)}, now.Add(time.Hour)},
			{"login", broker.MintRequest{Type: "passkey-login", Data: broker.ConnectTokenData{Identifier: "user-42"}, MaxLifetimeInSeconds: lifetime(120)}, now.Add(2 * time.Minute)},
			{"255 characters", broker.MintRequest{Type: "passkey-append", Data: broker.ConnectTokenData{Identifier: strings.Repeat("é", 255), DisplayName: strings.Repeat("名", 255)}}, now.Add(600 * time.Second)},
			{"email and unicode", broker.MintRequest{Type: "passkey-append", Data: broker.ConnectTokenData{Identifier: "jane.doe+test@example.com", DisplayName: "Jöhn Dœ 🙂"}}, now.Add(600 * time.Second)},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tok, err := e.Broker.MintConnectToken(e.ctx, e.pid, tc.req)
				if err != nil {
					t.Fatalf("MintConnectToken(%+v) = %v", tc.req, err)
				}
				if !strings.HasPrefix(tok.ID, "ctk-") || !strings.HasPrefix(tok.Secret, connecttoken.Prefix) {
					t.Errorf("MintConnectToken() id %q, secret %q: want ctk- and %s prefixes", tok.ID, tok.Secret, connecttoken.Prefix)
				}
				want := broker.ConnectToken{ID: tok.ID, Type: connecttoken.Type(tc.req.Type), Data: tc.req.Data, Status: "initial",
					Expires: tc.wantExpires.Unix(), Secret: tok.Secret}
				if diff := cmp.Diff(want, tok); diff != "" {
					t.Errorf("MintConnectToken() (-want +got):\n%s", diff)
				}
				got, err := e.Broker.ConnectToken(e.ctx, e.pid, tok.ID)
				want.Secret = ""
				if err != nil {
					t.Fatalf("ConnectToken(%s) = %v", tok.ID, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("ConnectToken() (-want +got):\n%s", diff)
				}
			})
		}

		t.Run("the secret is stored only as a hash", func(t *testing.T) {
			tok := e.mint(t, connecttoken.TypeList, "user-42")
			if dump := e.Snapshot(t); strings.Contains(dump, tok.Secret) || strings.Contains(dump, strings.TrimPrefix(tok.Secret, connecttoken.Prefix)) {
				t.Errorf("the store holds the connect token secret in the clear")
			}
		})
		t.Run("unknown and foreign IDs", func(t *testing.T) {
			tok := e.mint(t, connecttoken.TypeList, "user-42")
			other := e.addProject(t)
			_, err := other.Broker.ConnectToken(e.ctx, other.pid, tok.ID)
			wantErr(t, "ConnectToken(another project's token)", err, broker.ErrNotFound)
			wantErr(t, "RevokeConnectToken(another project's token)", other.Broker.RevokeConnectToken(e.ctx, other.pid, tok.ID), broker.ErrNotFound)
			_, err = e.Broker.ConnectToken(e.ctx, e.pid, "ctk-000000000000000000000000")
			wantErr(t, "ConnectToken(unknown)", err, broker.ErrNotFound)
			wantErr(t, "RevokeConnectToken(unknown)", e.Broker.RevokeConnectToken(e.ctx, e.pid, "ctk-000000000000000000000000"), broker.ErrNotFound)
			if _, _, err := e.Broker.ListPasskeys(e.ctx, e.pid, tok.Secret); err != nil {
				t.Errorf("ListPasskeys() after another project failed to revoke the token = %v", err)
			}
		})
	})
}

func TestMintConnectTokenValidation(t *testing.T) {
	data := func(identifier, displayName string) broker.ConnectTokenData {
		return broker.ConnectTokenData{Identifier: identifier, DisplayName: displayName}
	}
	tests := []struct {
		name      string
		req       broker.MintRequest
		wantField string
	}{
		{"missing identifier", broker.MintRequest{Type: "passkey-list", Data: data("", "")}, "data.identifier"},
		{"blank identifier", broker.MintRequest{Type: "passkey-list", Data: data("   ", "")}, "data.identifier"},
		{"256-character identifier", broker.MintRequest{Type: "passkey-list", Data: data(strings.Repeat("a", 256), "")}, "data.identifier"},
		{"invalid UTF-8 identifier", broker.MintRequest{Type: "passkey-list", Data: data("user\xff", "")}, "data.identifier"},
		{"NUL in identifier", broker.MintRequest{Type: "passkey-list", Data: data("ali\x00ce", "")}, "data.identifier"},
		{"newline in identifier", broker.MintRequest{Type: "passkey-list", Data: data("alice\n", "")}, "data.identifier"},
		{"C1 control in identifier", broker.MintRequest{Type: "passkey-list", Data: data("alice\u0085", "")}, "data.identifier"},
		{"missing displayName for append", broker.MintRequest{Type: "passkey-append", Data: data("alice", "")}, "data.displayName"},
		{"256-character displayName", broker.MintRequest{Type: "passkey-append", Data: data("alice", strings.Repeat("b", 256))}, "data.displayName"},
		{"invalid UTF-8 displayName", broker.MintRequest{Type: "passkey-append", Data: data("alice", "Al\xc3ice")}, "data.displayName"},
		{"tab in displayName", broker.MintRequest{Type: "passkey-append", Data: data("alice", "Alice\tSmith")}, "data.displayName"},
		{"unknown type", broker.MintRequest{Type: "passkey-steal", Data: data("alice", "Alice")}, "type"},
		{"missing type", broker.MintRequest{Data: data("alice", "Alice")}, "type"},
		{"type in another case", broker.MintRequest{Type: "Passkey-Append", Data: data("alice", "Alice")}, "type"},
		{"lifetime 0", broker.MintRequest{Type: "passkey-list", Data: data("alice", ""), MaxLifetimeInSeconds: lifetime(0)}, "maxLifetimeInSeconds"},
		{"lifetime 3601", broker.MintRequest{Type: "passkey-list", Data: data("alice", ""), MaxLifetimeInSeconds: lifetime(3601)}, "maxLifetimeInSeconds"},
		{"negative lifetime", broker.MintRequest{Type: "passkey-list", Data: data("alice", ""), MaxLifetimeInSeconds: lifetime(-1)}, "maxLifetimeInSeconds"},
	}
	forDialects(t, func(t *testing.T, e *env) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := e.Snapshot(t)
				tok, err := e.Broker.MintConnectToken(e.ctx, e.pid, tc.req)
				wantValidation(t, "MintConnectToken()", err, tc.wantField)
				if tok.Secret != "" {
					t.Errorf("MintConnectToken() failed but returned a secret")
				}
				e.unchanged(t, before)
			})
		}
	})
}

// tokenScene is a store where alice has two passkeys and bob one.
type tokenScene struct {
	*env
	alice, alice2, bob string // credential IDs
}

func TestConnectTokenFailures(t *testing.T) {
	expired := func(t *testing.T, s *tokenScene, typ connecttoken.Type) string {
		tok := s.mintReq(t, broker.MintRequest{Type: string(typ), Data: broker.ConnectTokenData{Identifier: "alice", DisplayName: "Alice"},
			MaxLifetimeInSeconds: lifetime(1)})
		s.clock.Advance(2 * time.Second)
		return tok.Secret
	}
	revoked := func(t *testing.T, s *tokenScene, typ connecttoken.Type) string {
		tok := s.mint(t, typ, "alice")
		if err := s.Broker.RevokeConnectToken(s.ctx, s.pid, tok.ID); err != nil {
			t.Fatalf("RevokeConnectToken() = %v", err)
		}
		return tok.Secret
	}
	foreign := func(t *testing.T, s *tokenScene, typ connecttoken.Type) string {
		return s.addProject(t).mint(t, typ, "alice").Secret
	}
	appendStart := func(s *tokenScene, secret string) error {
		_, err := s.Broker.StartAppend(s.ctx, s.pid, secret, false)
		return err
	}
	list := func(s *tokenScene, secret string) error {
		passkeys, _, err := s.Broker.ListPasskeys(s.ctx, s.pid, secret)
		if err != nil && len(passkeys) != 0 {
			return fmt.Errorf("ListPasskeys() failed (%v) but returned %d passkeys", err, len(passkeys))
		}
		return err
	}
	deleteAlice := func(s *tokenScene, secret string) error {
		_, _, err := s.Broker.DeletePasskey(s.ctx, s.pid, secret, s.alice)
		return err
	}
	loginStart := func(s *tokenScene, secret string) error {
		_, err := s.Broker.StartLogin(s.ctx, s.pid, broker.LoginRequest{LoginConnectToken: secret})
		return err
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, s *tokenScene) string // returns the token secret to use
		call    func(s *tokenScene, secret string) error // the failing call; the store must not change
		want    error
	}{
		{"list token at append/start", mintOf(connecttoken.TypeList), appendStart, broker.ErrInvalidConnectToken},
		{"login token at append/start", mintOf(connecttoken.TypeLogin), appendStart, broker.ErrInvalidConnectToken},
		{"append token at list", mintOf(connecttoken.TypeAppend), list, broker.ErrInvalidConnectToken},
		{"delete token at list", mintOf(connecttoken.TypeDelete), list, broker.ErrInvalidConnectToken},
		{"list token at delete", mintOf(connecttoken.TypeList), deleteAlice, broker.ErrInvalidConnectToken},
		{"append token at login/start", mintOf(connecttoken.TypeAppend), loginStart, broker.ErrInvalidConnectToken},
		{"list token at login/start", mintOf(connecttoken.TypeList), loginStart, broker.ErrInvalidConnectToken},

		{"expired at append/start", func(t *testing.T, s *tokenScene) string { return expired(t, s, connecttoken.TypeAppend) }, appendStart, broker.ErrInvalidConnectToken},
		{"expired at list", func(t *testing.T, s *tokenScene) string { return expired(t, s, connecttoken.TypeList) }, list, broker.ErrInvalidConnectToken},
		{"expired at delete", func(t *testing.T, s *tokenScene) string { return expired(t, s, connecttoken.TypeDelete) }, deleteAlice, broker.ErrInvalidConnectToken},
		{"expired at login/start", func(t *testing.T, s *tokenScene) string { return expired(t, s, connecttoken.TypeLogin) }, loginStart, broker.ErrInvalidConnectToken},

		{"consumed at append/start", func(t *testing.T, s *tokenScene) string {
			tok := s.mint(t, connecttoken.TypeAppend, "alice")
			start, err := s.Broker.StartAppend(s.ctx, s.pid, tok.Secret, false)
			if err != nil {
				t.Fatalf("StartAppend() = %v", err)
			}
			if _, err := s.Broker.FinishAppend(s.ctx, s.pid, start.CeremonyID, create(t, newAuthenticator(), start)); err != nil {
				t.Fatalf("FinishAppend() = %v", err)
			}
			return tok.Secret
		}, appendStart, broker.ErrInvalidConnectToken},
		{"consumed at list", func(t *testing.T, s *tokenScene) string {
			tok := s.mint(t, connecttoken.TypeList, "alice")
			if _, _, err := s.Broker.ListPasskeys(s.ctx, s.pid, tok.Secret); err != nil {
				t.Fatalf("first ListPasskeys() = %v", err)
			}
			return tok.Secret
		}, list, broker.ErrInvalidConnectToken},
		{"consumed at delete", func(t *testing.T, s *tokenScene) string {
			tok := s.mint(t, connecttoken.TypeDelete, "alice")
			if _, _, err := s.Broker.DeletePasskey(s.ctx, s.pid, tok.Secret, s.alice); err != nil {
				t.Fatalf("first DeletePasskey() = %v", err)
			}
			return tok.Secret
		}, func(s *tokenScene, secret string) error {
			_, _, err := s.Broker.DeletePasskey(s.ctx, s.pid, secret, s.alice2)
			return err
		}, broker.ErrInvalidConnectToken},

		{"revoked at append/start", func(t *testing.T, s *tokenScene) string { return revoked(t, s, connecttoken.TypeAppend) }, appendStart, broker.ErrInvalidConnectToken},
		{"revoked at list", func(t *testing.T, s *tokenScene) string { return revoked(t, s, connecttoken.TypeList) }, list, broker.ErrInvalidConnectToken},
		{"revoked at delete", func(t *testing.T, s *tokenScene) string { return revoked(t, s, connecttoken.TypeDelete) }, deleteAlice, broker.ErrInvalidConnectToken},
		{"revoked at login/start", func(t *testing.T, s *tokenScene) string { return revoked(t, s, connecttoken.TypeLogin) }, loginStart, broker.ErrInvalidConnectToken},

		{"another project's token at append/start", func(t *testing.T, s *tokenScene) string { return foreign(t, s, connecttoken.TypeAppend) }, appendStart, broker.ErrInvalidConnectToken},
		{"another project's token at list", func(t *testing.T, s *tokenScene) string { return foreign(t, s, connecttoken.TypeList) }, list, broker.ErrInvalidConnectToken},
		{"another project's token at delete", func(t *testing.T, s *tokenScene) string { return foreign(t, s, connecttoken.TypeDelete) }, deleteAlice, broker.ErrInvalidConnectToken},
		{"another project's token at login/start", func(t *testing.T, s *tokenScene) string { return foreign(t, s, connecttoken.TypeLogin) }, loginStart, broker.ErrInvalidConnectToken},

		{"empty token", secretOf(""), appendStart, broker.ErrInvalidConnectToken},
		{"malformed token", secretOf("not-a-token"), list, broker.ErrInvalidConnectToken},
		{"prefix only", secretOf(connecttoken.Prefix), deleteAlice, broker.ErrInvalidConnectToken},
		{"token too short", func(t *testing.T, s *tokenScene) string {
			sec := s.mint(t, connecttoken.TypeList, "alice").Secret
			return sec[:len(sec)-1]
		}, list, broker.ErrInvalidConnectToken},
		{"token with a character changed", func(t *testing.T, s *tokenScene) string {
			sec := []byte(s.mint(t, connecttoken.TypeList, "alice").Secret)
			if sec[10] == 'A' {
				sec[10] = 'B'
			} else {
				sec[10] = 'A'
			}
			return string(sec)
		}, list, broker.ErrInvalidConnectToken},
		{"well-formed unknown token", func(t *testing.T, s *tokenScene) string {
			sec, _, err := connecttoken.New()
			if err != nil {
				t.Fatal(err)
			}
			return sec
		}, loginStart, broker.ErrInvalidConnectToken},

		{"login token with another identifier", mintOf(connecttoken.TypeLogin), func(s *tokenScene, secret string) error {
			_, err := s.Broker.StartLogin(s.ctx, s.pid, broker.LoginRequest{Identifier: "bob", LoginConnectToken: secret})
			return err
		}, broker.ErrInvalidConnectToken},
		{"delete of another user's passkey", mintOf(connecttoken.TypeDelete), func(s *tokenScene, secret string) error {
			_, _, err := s.Broker.DeletePasskey(s.ctx, s.pid, secret, s.bob)
			return err
		}, broker.ErrNotFound},
		{"delete of an unknown passkey", mintOf(connecttoken.TypeDelete), func(s *tokenScene, secret string) error {
			_, _, err := s.Broker.DeletePasskey(s.ctx, s.pid, secret, b64([]byte("no such credential")))
			return err
		}, broker.ErrNotFound},
		{"delete for a user without passkeys", func(t *testing.T, s *tokenScene) string {
			return s.mint(t, connecttoken.TypeDelete, "nobody").Secret
		}, deleteAlice, broker.ErrNotFound},
	}
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := newTokenScene(t, d)
					secret := tc.prepare(t, s)
					before := s.Snapshot(t)
					wantErr(t, tc.name, tc.call(s, secret), tc.want)
					s.unchanged(t, before)
				})
			}
		})
	}
}

func newTokenScene(t *testing.T, dialect string) *tokenScene {
	t.Helper()
	e := newEnv(t, dialect)
	s := &tokenScene{env: e}
	s.alice = e.register(t, newAuthenticator(), "alice").ID
	s.alice2 = e.register(t, newAuthenticator(), "alice").ID
	s.bob = e.register(t, newAuthenticator(), "bob").ID
	return s
}

func mintOf(typ connecttoken.Type) func(*testing.T, *tokenScene) string {
	return func(t *testing.T, s *tokenScene) string { return s.mint(t, typ, "alice").Secret }
}

func secretOf(secret string) func(*testing.T, *tokenScene) string {
	return func(*testing.T, *tokenScene) string { return secret }
}

func TestDeletePasskeyValidation(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.register(t, newAuthenticator(), "alice")
		tok := e.mint(t, connecttoken.TypeDelete, "alice")
		for _, id := range []string{"", "not base64url!", "AAAA====", strings.Repeat("A", 2000)} {
			before := e.Snapshot(t)
			_, _, err := e.Broker.DeletePasskey(e.ctx, e.pid, tok.Secret, id)
			wantValidation(t, "DeletePasskey("+id+")", err, "credentialID")
			e.unchanged(t, before)
		}
	})
}
