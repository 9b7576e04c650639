package broker_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
)

// loginScene is a store where alice has registered one passkey with her authenticator and
// has started an identifier-first login.
type loginScene struct {
	*env
	alice  *softauthn.Authenticator
	credID string
	start  broker.LoginStart
}

func newLoginScene(t *testing.T, dialect string) *loginScene {
	t.Helper()
	e := newEnv(t, dialect)
	alice := newAuthenticator()
	pk := e.register(t, alice, "alice")
	return &loginScene{env: e, alice: alice, credID: pk.ID, start: e.startLogin(t, broker.LoginRequest{Identifier: "alice"})}
}

// cloneOf returns an authenticator for rpID and origin holding a copy of alice's credential.
func (s *loginScene) cloneOf(rpID, origin string) *softauthn.Authenticator {
	a := softauthn.NewAuthenticator(rpID, origin)
	a.Import(s.alice, s.credID)
	return a
}

func TestFinishLoginFailures(t *testing.T) {
	tests := []struct {
		name string
		// answer prepares the failing finish: the ceremony to finish and the credential.
		answer func(t *testing.T, s *loginScene) (ceremonyID string, credential []byte)
		want   error
	}{
		{
			name: "wrong origin",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return s.start.CeremonyID, getWith(t, s.cloneOf(brokertest.RPID, "https://evil.example"), s.start, s.credID)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "wrong RP ID hash",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return s.start.CeremonyID, getWith(t, s.cloneOf("evil.example", brokertest.Origin), s.start, s.credID)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "challenge of another ceremony",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				other := s.startLogin(t, broker.LoginRequest{Identifier: "alice"})
				return s.start.CeremonyID, get(t, s.alice, other)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "replayed ceremony",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				cred := get(t, s.alice, s.start)
				if _, err := s.Broker.FinishLogin(s.ctx, s.pid, s.start.CeremonyID, cred); err != nil {
					t.Fatalf("first FinishLogin() = %v", err)
				}
				return s.start.CeremonyID, cred
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "expired ceremony",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				cred := get(t, s.alice, s.start)
				s.clock.Advance(6 * time.Minute)
				return s.start.CeremonyID, cred
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "unknown ceremony",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return "cer-000000000000000000000000", get(t, s.alice, s.start)
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "ceremony of another project",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				other := s.addProject(t).startLogin(t, broker.LoginRequest{})
				return other.CeremonyID, get(t, s.alice, other)
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "append ceremony",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return s.startAppend(t, "bob").CeremonyID, get(t, s.alice, s.start)
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "clientDataJSON type changed",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return s.start.CeremonyID, tamper(t, get(t, s.alice, s.start), "clientDataJSON", `"webauthn.get"`, `"webauthn.create"`)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			// The other origin is allowed too: only the signature can tell.
			name: "clientDataJSON origin changed after signing",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return s.start.CeremonyID, tamper(t, get(t, s.alice, s.start), "clientDataJSON", "localhost:8080", "localhost:3000")
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "authenticatorData flags byte flipped",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return s.start.CeremonyID, softauthn.Tamper(get(t, s.alice, s.start), "authenticatorData", func(b []byte) []byte {
					b[32] ^= 0x04 // UV
					return b
				})
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "authenticatorData counter raised",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return s.start.CeremonyID, softauthn.Tamper(get(t, s.alice, s.start), "authenticatorData", func(b []byte) []byte {
					b[36]++
					return b
				})
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "signature byte flipped",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				return s.start.CeremonyID, softauthn.Tamper(get(t, s.alice, s.start), "signature", func(b []byte) []byte {
					b[len(b)-1] ^= 0x01
					return b
				})
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "credential of another user",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				bob := newAuthenticator()
				pk := s.register(t, bob, "bob")
				return s.start.CeremonyID, getWith(t, bob, s.start, pk.ID)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			// userHandle is not signed; it must still name the credential's owner.
			name: "user handle of another user",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				bobStart := s.startAppend(t, "bob")
				bobHandle := userHandleOf(t, bobStart)
				if _, err := s.Broker.FinishAppend(s.ctx, s.pid, bobStart.CeremonyID, create(t, newAuthenticator(), bobStart)); err != nil {
					t.Fatalf("FinishAppend(bob) = %v", err)
				}
				start := s.startLogin(t, broker.LoginRequest{})
				return start.CeremonyID, softauthn.Tamper(get(t, s.alice, start), "userHandle", func([]byte) []byte {
					return unb64(t, bobHandle)
				})
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "counter went backwards",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				s.alice.CountStep = 0
				s.alice.SetCounter(s.credID, 5)
				s.login(t, s.alice, broker.LoginRequest{Identifier: "alice"})
				s.alice.SetCounter(s.credID, 3)
				return s.start.CeremonyID, get(t, s.alice, s.start)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "counter repeated",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				s.alice.CountStep = 0
				s.alice.SetCounter(s.credID, 5)
				s.login(t, s.alice, broker.LoginRequest{Identifier: "alice"})
				return s.start.CeremonyID, get(t, s.alice, s.start)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "cloned authenticator",
			answer: func(t *testing.T, s *loginScene) (string, []byte) {
				clone := s.cloneOf(brokertest.RPID, brokertest.Origin)
				s.login(t, s.alice, broker.LoginRequest{Identifier: "alice"})   // counter 1
				s.login(t, s.alice, broker.LoginRequest{Identifier: "alice"})   // counter 2
				return s.start.CeremonyID, getWith(t, clone, s.start, s.credID) // counter 1
			},
			want: broker.ErrVerificationFailed,
		},
	}
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := newLoginScene(t, d)
					ceremonyID, cred := tc.answer(t, s)
					before := s.Snapshot(t)
					res, err := s.Broker.FinishLogin(s.ctx, s.pid, ceremonyID, cred)
					wantErr(t, "FinishLogin()", err, tc.want)
					if res.SignedPasskeyData != "" {
						t.Errorf("FinishLogin() failed but returned signedPasskeyData")
					}
					s.unchanged(t, before)
				})
			}
		})
	}
}

// appendScene is a store where alice's app has minted an append token and started a ceremony.
type appendScene struct {
	*env
	alice *softauthn.Authenticator
	token broker.ConnectToken
	start broker.AppendStart
}

func newAppendScene(t *testing.T, dialect string) *appendScene {
	t.Helper()
	e := newEnv(t, dialect)
	tok := e.mint(t, connecttoken.TypeAppend, "alice")
	start, err := e.Broker.StartAppend(e.ctx, e.pid, tok.Secret, false)
	if err != nil {
		t.Fatalf("StartAppend() = %v", err)
	}
	return &appendScene{env: e, alice: newAuthenticator(), token: tok, start: start}
}

func TestFinishAppendFailures(t *testing.T) {
	tests := []struct {
		name   string
		answer func(t *testing.T, s *appendScene) (ceremonyID string, credential []byte)
		want   error
	}{
		{
			name: "wrong origin",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				return s.start.CeremonyID, create(t, softauthn.NewAuthenticator(brokertest.RPID, "https://evil.example"), s.start)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "wrong RP ID hash",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				return s.start.CeremonyID, create(t, softauthn.NewAuthenticator("evil.example", brokertest.Origin), s.start)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "challenge of another ceremony",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				return s.start.CeremonyID, create(t, s.alice, s.startAppend(t, "alice"))
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "replayed ceremony",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				cred := create(t, s.alice, s.start)
				if _, err := s.Broker.FinishAppend(s.ctx, s.pid, s.start.CeremonyID, cred); err != nil {
					t.Fatalf("first FinishAppend() = %v", err)
				}
				return s.start.CeremonyID, cred
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "expired ceremony",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				cred := create(t, s.alice, s.start)
				s.clock.Advance(6 * time.Minute)
				return s.start.CeremonyID, cred
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "unknown ceremony",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				return "cer-000000000000000000000000", create(t, s.alice, s.start)
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "ceremony of another project",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				other := s.addProject(t).startAppend(t, "alice")
				return other.CeremonyID, create(t, s.alice, other)
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "login ceremony",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				return s.startLogin(t, broker.LoginRequest{}).CeremonyID, create(t, s.alice, s.start)
			},
			want: broker.ErrCeremonyNotFound,
		},
		{
			name: "clientDataJSON type changed",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				return s.start.CeremonyID, tamper(t, create(t, s.alice, s.start), "clientDataJSON", `"webauthn.create"`, `"webauthn.get"`)
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "clientDataJSON origin changed after signing",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				return s.start.CeremonyID, tamper(t, create(t, s.alice, s.start), "clientDataJSON", "localhost:8080", "localhost:3000")
			},
			want: broker.ErrVerificationFailed,
		},
		{
			name: "credential already registered to the same user",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				other := newAuthenticator()
				s.register(t, other, "alice")
				return s.start.CeremonyID, attestWith(t, other.RP, other.Creds[0], s.start)
			},
			want: broker.ErrAlreadyExists,
		},
		{
			name: "credential already registered to another user",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				bob := newAuthenticator()
				s.register(t, bob, "bob")
				return s.start.CeremonyID, attestWith(t, bob.RP, bob.Creds[0], s.start)
			},
			want: broker.ErrAlreadyExists,
		},
		{
			name: "token consumed by another ceremony",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				other, err := s.Broker.StartAppend(s.ctx, s.pid, s.token.Secret, false)
				if err != nil {
					t.Fatalf("second StartAppend() with the same token = %v, want it allowed until the token is used", err)
				}
				if _, err := s.Broker.FinishAppend(s.ctx, s.pid, other.CeremonyID, create(t, newAuthenticator(), other)); err != nil {
					t.Fatalf("FinishAppend(other ceremony) = %v", err)
				}
				return s.start.CeremonyID, create(t, s.alice, s.start)
			},
			want: broker.ErrInvalidConnectToken,
		},
		{
			name: "token expired before finish",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				tok := s.mintReq(t, broker.MintRequest{Type: string(connecttoken.TypeAppend),
					Data: broker.ConnectTokenData{Identifier: "alice", DisplayName: "Alice"}, MaxLifetimeInSeconds: lifetime(60)})
				start, err := s.Broker.StartAppend(s.ctx, s.pid, tok.Secret, false)
				if err != nil {
					t.Fatalf("StartAppend() = %v", err)
				}
				s.clock.Advance(61 * time.Second)
				return start.CeremonyID, create(t, s.alice, start)
			},
			want: broker.ErrInvalidConnectToken,
		},
		{
			name: "token revoked before finish",
			answer: func(t *testing.T, s *appendScene) (string, []byte) {
				if err := s.Broker.RevokeConnectToken(s.ctx, s.pid, s.token.ID); err != nil {
					t.Fatalf("RevokeConnectToken() = %v", err)
				}
				return s.start.CeremonyID, create(t, s.alice, s.start)
			},
			want: broker.ErrInvalidConnectToken,
		},
	}
	for _, d := range brokertest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := newAppendScene(t, d)
					ceremonyID, cred := tc.answer(t, s)
					before := s.Snapshot(t)
					_, err := s.Broker.FinishAppend(s.ctx, s.pid, ceremonyID, cred)
					wantErr(t, "FinishAppend()", err, tc.want)
					s.unchanged(t, before)
				})
			}
		})
	}
}

// A response of the other ceremony type, or no response at all, is a validation error of the
// credential field.
func TestFinishWithMalformedCredential(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		loginStart := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		assertion := get(t, a, loginStart)
		appendStart := e.startAppend(t, "alice")
		attestation := create(t, newAuthenticator(), appendStart)

		for _, tc := range []struct {
			name       string
			credential []byte
		}{
			{"empty", nil},
			{"not JSON", []byte("garbage")},
			{"truncated JSON", assertion[:len(assertion)/2]},
			{"JSON null", []byte("null")},
			{"empty object", []byte("{}")},
			{"array", []byte("[1,2,3]")},
			{"id only", []byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key"}`)},
			{"bad base64 in response", []byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"!!!","authenticatorData":"!!!","signature":"!!!"}}`)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.Snapshot(t)
				_, err := e.Broker.FinishLogin(e.ctx, e.pid, loginStart.CeremonyID, tc.credential)
				wantValidation(t, "FinishLogin()", err, "credential")
				_, err = e.Broker.FinishAppend(e.ctx, e.pid, appendStart.CeremonyID, tc.credential)
				wantValidation(t, "FinishAppend()", err, "credential")
				e.unchanged(t, before)
			})
		}

		t.Run("registration response at login", func(t *testing.T) {
			before := e.Snapshot(t)
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, loginStart.CeremonyID, attestation)
			wantValidation(t, "FinishLogin(registration response)", err, "credential")
			e.unchanged(t, before)
		})
		t.Run("authentication response at append", func(t *testing.T) {
			before := e.Snapshot(t)
			_, err := e.Broker.FinishAppend(e.ctx, e.pid, appendStart.CeremonyID, assertion)
			wantValidation(t, "FinishAppend(authentication response)", err, "credential")
			e.unchanged(t, before)
		})

		// The ceremonies are still open: the failures above consumed nothing.
		if _, err := e.Broker.FinishLogin(e.ctx, e.pid, loginStart.CeremonyID, assertion); err != nil {
			t.Errorf("FinishLogin(valid assertion) after the failures = %v", err)
		}
		if _, err := e.Broker.FinishAppend(e.ctx, e.pid, appendStart.CeremonyID, attestation); err != nil {
			t.Errorf("FinishAppend(valid attestation) after the failures = %v", err)
		}
	})
}

func TestLoginWithCredentialOfAnotherProject(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.register(t, newAuthenticator(), "alice") // project 1 has users, just not this credential
		a := newAuthenticator()
		pk := e.addProject(t).register(t, a, "alice")

		start := e.startLogin(t, broker.LoginRequest{})
		cred := get(t, a, start)
		before := e.Snapshot(t)
		_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred)
		var unknown *broker.UnknownCredentialError
		if !errors.As(err, &unknown) {
			t.Fatalf("FinishLogin(credential of project 2) = %v, want *UnknownCredentialError", err)
		}
		if unknown.RPID != brokertest.RPID || unknown.CredentialID != pk.ID {
			t.Errorf("UnknownCredentialError = %+v, want RPID %s, CredentialID %s", unknown, brokertest.RPID, pk.ID)
		}
		e.unchanged(t, before)
	})
}

// tamper replaces old by new in the base64url member response.<field> of credential, and
// fails the test if old is not there.
func tamper(t *testing.T, credential []byte, field, old, new string) []byte {
	t.Helper()
	found := false
	out := softauthn.Tamper(credential, field, func(b []byte) []byte {
		found = bytes.Contains(b, []byte(old))
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	})
	if !found {
		t.Fatalf("response.%s does not contain %q", field, old)
	}
	return out
}

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decoding base64url %q: %v", s, err)
	}
	return b
}
