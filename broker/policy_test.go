package broker_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
)

// setPolicy changes the policy of e's project with change.
func (e *env) setPolicy(t *testing.T, change func(p *broker.Policy)) broker.Project {
	t.Helper()
	p, err := e.Broker.Project(e.ctx, e.pid)
	if err != nil {
		t.Fatal(err)
	}
	change(&p.Policy)
	got, err := e.Broker.SetPolicy(e.ctx, e.pid, p.Policy)
	if err != nil {
		t.Fatalf("SetPolicy(%+v) = %v", p.Policy, err)
	}
	return got
}

func TestDefaultPolicy(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		p, err := e.Broker.Project(e.ctx, e.pid)
		if err != nil {
			t.Fatal(err)
		}
		want := broker.Policy{UserVerification: "preferred", ResidentKey: "preferred", Algorithms: []int64{-7, -8, -257},
			Attestation: "none", AAGUIDAllow: []string{}, AAGUIDDeny: []string{}, Usernameless: true,
			ConnectTokenMaxLifetimeInSeconds: 3600, CeremonyLifetimeInSeconds: 300}
		if diff := cmp.Diff(want, p.Policy); diff != "" {
			t.Errorf("policy of a new project (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, broker.DefaultPolicy()); diff != "" {
			t.Errorf("DefaultPolicy() (-want +got):\n%s", diff)
		}
	})
}

func TestSetPolicy(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		got := e.setPolicy(t, func(p *broker.Policy) {
			p.UserVerification, p.ResidentKey, p.Attestation = "required", "required", "direct"
			p.Algorithms = []int64{-8, -7}
			p.AAGUIDDeny = []string{"ADCE0002-35BC-C60A-648B-0B25F1F05503", "adce0002-35bc-c60a-648b-0b25f1f05503"}
			p.Usernameless = false
			p.ConnectTokenMaxLifetimeInSeconds, p.CeremonyLifetimeInSeconds = 120, 60
		})
		want := broker.Policy{UserVerification: "required", ResidentKey: "required", Algorithms: []int64{-8, -7},
			Attestation: "direct", AAGUIDAllow: []string{}, AAGUIDDeny: []string{"adce0002-35bc-c60a-648b-0b25f1f05503"},
			ConnectTokenMaxLifetimeInSeconds: 120, CeremonyLifetimeInSeconds: 60}
		if diff := cmp.Diff(want, got.Policy); diff != "" {
			t.Errorf("SetPolicy() (-want +got):\n%s", diff)
		}
		reread, err := e.Broker.Project(e.ctx, e.pid)
		if err != nil || !cmp.Equal(want, reread.Policy) {
			t.Errorf("Project() after SetPolicy = %+v, %v; want %+v", reread.Policy, err, want)
		}
		other := e.addProject(t)
		if p, _ := e.Broker.Project(e.ctx, other.pid); !cmp.Equal(broker.DefaultPolicy(), p.Policy) {
			t.Errorf("another project's policy changed to %+v", p.Policy)
		}
		if _, err := e.Broker.SetPolicy(e.ctx, "prj-000000000000000000000000", broker.DefaultPolicy()); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("SetPolicy(unknown project) = %v, want ErrNotFound", err)
		}
	})
}

func TestSetPolicyValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *broker.Policy)
		field  string
	}{
		{"user verification discouraged", func(p *broker.Policy) { p.UserVerification = "discouraged" }, "userVerification"},
		{"user verification empty", func(p *broker.Policy) { p.UserVerification = "" }, "userVerification"},
		{"resident key discouraged", func(p *broker.Policy) { p.ResidentKey = "discouraged" }, "residentKey"},
		{"attestation indirect", func(p *broker.Policy) { p.Attestation = "indirect" }, "attestation"},
		{"attestation enterprise", func(p *broker.Policy) { p.Attestation = "enterprise" }, "attestation"},
		{"no algorithms", func(p *broker.Policy) { p.Algorithms = nil }, "algorithms"},
		{"unknown algorithm", func(p *broker.Policy) { p.Algorithms = []int64{-7, -65535} }, "algorithms"},
		{"repeated algorithm", func(p *broker.Policy) { p.Algorithms = []int64{-7, -7} }, "algorithms"},
		{"allow and deny", func(p *broker.Policy) {
			p.AAGUIDAllow, p.AAGUIDDeny = []string{"adce0002-35bc-c60a-648b-0b25f1f05503"}, []string{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"}
		}, "aaguidAllow"},
		{"AAGUID not a UUID", func(p *broker.Policy) { p.AAGUIDAllow = []string{"apple"} }, "aaguidAllow"},
		{"AAGUID without dashes", func(p *broker.Policy) { p.AAGUIDDeny = []string{"adce000235bcc60a648b0b25f1f05503"} }, "aaguidDeny"},
		{"token lifetime zero", func(p *broker.Policy) { p.ConnectTokenMaxLifetimeInSeconds = 0 }, "connectTokenMaxLifetimeInSeconds"},
		{"token lifetime over an hour", func(p *broker.Policy) { p.ConnectTokenMaxLifetimeInSeconds = 3601 }, "connectTokenMaxLifetimeInSeconds"},
		{"ceremony lifetime too short", func(p *broker.Policy) { p.CeremonyLifetimeInSeconds = 29 }, "ceremonyLifetimeInSeconds"},
		{"ceremony lifetime over five minutes", func(p *broker.Policy) { p.CeremonyLifetimeInSeconds = 301 }, "ceremonyLifetimeInSeconds"},
	}
	forDialects(t, func(t *testing.T, e *env) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p := broker.DefaultPolicy()
				tc.change(&p)
				before := e.Snapshot(t)
				_, err := e.Broker.SetPolicy(e.ctx, e.pid, p)
				wantValidation(t, "SetPolicy()", err, tc.field)
				if got, _ := e.Broker.Project(e.ctx, e.pid); !cmp.Equal(broker.DefaultPolicy(), got.Policy) {
					t.Errorf("the refused policy was stored: %+v", got.Policy)
				}
				e.unchanged(t, before)
			})
		}
	})
}

// creationOptions returns the publicKey of an append/start as a JSON object.
func creationOptions(t *testing.T, start broker.AppendStart) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, start.PublicKey), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPolicyShapesOptions(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.register(t, newAuthenticator(), "alice")
		e.setPolicy(t, func(p *broker.Policy) {
			p.UserVerification, p.ResidentKey, p.Attestation = "required", "required", "direct"
			p.Algorithms = []int64{-8, -7}
			p.CeremonyLifetimeInSeconds = 90
		})
		opts := creationOptions(t, e.startAppend(t, "bob"))
		sel, _ := opts["authenticatorSelection"].(map[string]any)
		if sel["userVerification"] != "required" || sel["residentKey"] != "required" || sel["requireResidentKey"] != true {
			t.Errorf("authenticatorSelection = %v, want userVerification and residentKey required", sel)
		}
		if opts["attestation"] != "direct" {
			t.Errorf("attestation = %v, want direct", opts["attestation"])
		}
		var algs []float64
		for _, p := range opts["pubKeyCredParams"].([]any) {
			algs = append(algs, p.(map[string]any)["alg"].(float64))
		}
		if !cmp.Equal(algs, []float64{-8, -7}) {
			t.Errorf("pubKeyCredParams algs = %v, want [-8 -7] in that order", algs)
		}
		if ext, _ := opts["extensions"].(map[string]any); ext["credProps"] != true {
			t.Errorf("extensions = %v, want credProps requested when a resident key is required", opts["extensions"])
		}
		if opts["timeout"] != float64(90000) {
			t.Errorf("timeout = %v, want 90000 ms (the ceremony lifetime)", opts["timeout"])
		}
		for _, req := range []broker.LoginRequest{{Identifier: "alice"}, {}} {
			start := e.startLogin(t, req)
			if start.PublicKey.UserVerification != "required" || start.PublicKey.Timeout != 90000 {
				t.Errorf("StartLogin(%+v): userVerification %q, timeout %d; want required, 90000", req, start.PublicKey.UserVerification, start.PublicKey.Timeout)
			}
		}
	})
}

// A project that requires user verification refuses responses without the UV flag, also
// when the ceremony was started while it only preferred it: the flag is read from the
// authenticator data at finish, not taken from the options.
func TestUserVerificationRequired(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		noUV := newAuthenticator()
		noUV.NoUserVerification = true

		t.Run("registration, options said required", func(t *testing.T) {
			e.setPolicy(t, func(p *broker.Policy) { p.UserVerification = "required" })
			start := e.startAppend(t, "alice")
			cred := create(t, noUV, start)
			before := e.Snapshot(t)
			_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
			wantErr(t, "FinishAppend(no UV)", err, broker.ErrVerificationFailed)
			e.unchanged(t, before)
			if _, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, newAuthenticator(), start)); err != nil {
				t.Fatalf("FinishAppend(UV) after the refusal = %v", err)
			}
		})
		t.Run("registration, options said preferred", func(t *testing.T) {
			e.setPolicy(t, func(p *broker.Policy) { p.UserVerification = "preferred" })
			start := e.startAppend(t, "bob")
			cred := create(t, noUV, start)
			e.setPolicy(t, func(p *broker.Policy) { p.UserVerification = "required" })
			before := e.Snapshot(t)
			_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
			wantErr(t, "FinishAppend(no UV, policy tightened after start)", err, broker.ErrVerificationFailed)
			if !strings.Contains(broker.Detail(err), "user verification") {
				t.Errorf("Detail = %q, want it to name user verification", broker.Detail(err))
			}
			e.unchanged(t, before)
		})
		t.Run("login, options said preferred", func(t *testing.T) {
			e.setPolicy(t, func(p *broker.Policy) { p.UserVerification = "preferred" })
			e.register(t, noUV, "carol")
			for _, req := range []broker.LoginRequest{{Identifier: "carol"}, {}} {
				start := e.startLogin(t, req)
				cred := get(t, noUV, start)
				e.setPolicy(t, func(p *broker.Policy) { p.UserVerification = "required" })
				before := e.Snapshot(t)
				_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred)
				wantErr(t, "FinishLogin(no UV)", err, broker.ErrVerificationFailed)
				e.unchanged(t, before)
				e.setPolicy(t, func(p *broker.Policy) { p.UserVerification = "preferred" })
			}
		})
		t.Run("login, options said required", func(t *testing.T) {
			e.setPolicy(t, func(p *broker.Policy) { p.UserVerification = "required" })
			start := e.startLogin(t, broker.LoginRequest{Identifier: "carol"})
			before := e.Snapshot(t)
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, noUV, start))
			wantErr(t, "FinishLogin(no UV)", err, broker.ErrVerificationFailed)
			e.unchanged(t, before)
			// The same passkey signs in when the authenticator verifies the user.
			noUV.NoUserVerification = false
			res, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, noUV, start))
			if err != nil {
				t.Fatalf("FinishLogin(UV) = %v", err)
			}
			if !e.claims(t, res.SignedPasskeyData).UV {
				t.Error("claims uv = false after a verified login")
			}
		})
	})
}

// forgeAppend starts an append ceremony for identifier and answers it with the forging
// authenticator's key k (attestation "none"), flags UP|UV and aaguid.
func (e *env) forgeAppend(t *testing.T, identifier string, k softauthn.Key, aaguid []byte) (broker.AppendStart, []byte) {
	t.Helper()
	start := e.startAppend(t, identifier)
	return start, k.Registration(mustJSON(t, start.PublicKey), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, aaguid, nil)
}

func TestAlgorithmPolicy(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		rsaKey, edKey, ecKey := softauthn.NewRSAKey(2048), softauthn.NewEd25519Key(), softauthn.NewES256Key()
		e.setPolicy(t, func(p *broker.Policy) { p.Algorithms = []int64{-7} })
		for name, k := range map[string]softauthn.Key{"RS256": rsaKey, "EdDSA": edKey} {
			start, cred := e.forgeAppend(t, "alice", k, nil)
			before := e.Snapshot(t)
			_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
			wantErr(t, "FinishAppend("+name+" with only ES256 allowed)", err, broker.ErrVerificationFailed)
			e.unchanged(t, before)
		}
		e.setPolicy(t, func(p *broker.Policy) { p.Algorithms = []int64{-7, -8, -257} })
		ids := map[string]string{}
		for name, k := range map[string]softauthn.Key{"RS256": rsaKey, "EdDSA": edKey, "ES256": ecKey} {
			start, cred := e.forgeAppend(t, "user-"+name, k, nil)
			pk, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
			if err != nil {
				t.Fatalf("FinishAppend(%s, allowed) = %v", name, err)
			}
			ids[name] = pk.ID
			login := e.startLogin(t, broker.LoginRequest{Identifier: "user-" + name})
			if _, err := e.Broker.FinishLogin(e.ctx, e.pid, login.CeremonyID,
				k.Assertion(mustJSON(t, login.PublicKey), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, 1, nil, nil)); err != nil {
				t.Fatalf("FinishLogin(%s) = %v", name, err)
			}
		}
		// Removing RS256 retires the RSA passkey: login/start no longer offers it, and a
		// ceremony started before the change cannot finish with it.
		pending := e.startLogin(t, broker.LoginRequest{Identifier: "user-RS256"})
		e.setPolicy(t, func(p *broker.Policy) { p.Algorithms = []int64{-7, -8} })
		if start, err := e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{Identifier: "user-RS256"}); err != nil || start.Fallback == nil {
			t.Errorf("StartLogin(passkey of a removed algorithm) = %+v, %v; want the no_passkey fallback", start, err)
		}
		before := e.Snapshot(t)
		_, err := e.Broker.FinishLogin(e.ctx, e.pid, pending.CeremonyID,
			rsaKey.Assertion(mustJSON(t, pending.PublicKey), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, 2, nil, nil))
		wantErr(t, "FinishLogin(RS256 after it was removed)", err, broker.ErrVerificationFailed)
		e.unchanged(t, before)
		if start := e.startLogin(t, broker.LoginRequest{Identifier: "user-EdDSA"}); len(start.PublicKey.AllowedCredentials) != 1 {
			t.Errorf("StartLogin(EdDSA passkey) offers %d credentials, want 1", len(start.PublicKey.AllowedCredentials))
		}
	})
}

func TestCredentialKeyChecks(t *testing.T) {
	ec := softauthn.NewES256Key()
	xy := func() ([]byte, []byte) {
		cose := ec.COSE()
		var m map[int]any
		if err := softauthn.CBORUnmarshal(cose, &m); err != nil {
			panic(err)
		}
		return m[-2].([]byte), m[-3].([]byte)
	}
	x, y := xy()
	offCurve := append([]byte{}, y...)
	offCurve[31] ^= 1
	tests := []struct {
		name string
		key  []byte
	}{
		{"ES256 key on P-384", softauthn.COSEEC2(-7, 2, x, y)},
		{"point off the curve", softauthn.COSEEC2(-7, 1, x, offCurve)},
		{"short coordinate", softauthn.COSEEC2(-7, 1, x[1:], y)},
		{"ES256 with an OKP key type", softauthn.CBOR(map[int]any{1: 1, 3: -7, -1: 6, -2: x})},
		{"EdDSA key of 31 bytes", softauthn.CBOR(map[int]any{1: 1, 3: -8, -1: 6, -2: x[:31]})},
		{"RSA key of 1024 bits", softauthn.NewRSAKey(1024).COSE()},
		{"unknown key type", softauthn.CBOR(map[int]any{1: 99, 3: -7})},
		{"not CBOR", []byte{0xff, 0x00}},
	}
	forDialects(t, func(t *testing.T, e *env) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				start := e.startAppend(t, "alice")
				cred := ec.Registration(mustJSON(t, start.PublicKey), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, nil,
					func(ad *softauthn.AuthData) { ad.PublicKey = tc.key })
				before := e.Snapshot(t)
				_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
				var verr *broker.ValidationError
				if !errors.Is(err, broker.ErrVerificationFailed) && !errors.As(err, &verr) {
					t.Fatalf("FinishAppend(%s) = %v, want ErrVerificationFailed or a ValidationError", tc.name, err)
				}
				e.unchanged(t, before)
			})
		}
	})
}

func TestAAGUIDPolicy(t *testing.T) {
	const (
		allowed = "0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6"
		denied  = "adce0002-35bc-c60a-648b-0b25f1f05503"
	)
	aaguid := func(s string) []byte {
		raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	forDialects(t, func(t *testing.T, e *env) {
		// prepare starts an append and returns its finish with a key of model.
		prepare := func(identifier string, k softauthn.Key, model string) func() (broker.Passkey, error) {
			start, cred := e.forgeAppend(t, identifier, k, aaguid(model))
			return func() (broker.Passkey, error) { return e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred) }
		}
		finish := func(identifier string, k softauthn.Key, model string) (broker.Passkey, error) {
			return prepare(identifier, k, model)()
		}
		t.Run("allow list", func(t *testing.T) {
			e.setPolicy(t, func(p *broker.Policy) { p.AAGUIDAllow, p.AAGUIDDeny = []string{allowed}, nil })
			for _, model := range []string{denied, "00000000-0000-0000-0000-000000000000"} {
				do := prepare("alice", softauthn.NewES256Key(), model)
				before := e.Snapshot(t)
				_, err := do()
				wantErr(t, "FinishAppend(model "+model+" not in the allow list)", err, broker.ErrVerificationFailed)
				e.unchanged(t, before)
			}
			if pk, err := finish("alice", softauthn.NewES256Key(), allowed); err != nil || pk.AAGUID != allowed {
				t.Fatalf("FinishAppend(allowed model) = %+v, %v", pk, err)
			}
		})
		t.Run("deny list", func(t *testing.T) {
			e.setPolicy(t, func(p *broker.Policy) { p.AAGUIDAllow, p.AAGUIDDeny = nil, []string{denied} })
			do := prepare("bob", softauthn.NewES256Key(), denied)
			before := e.Snapshot(t)
			_, err := do()
			wantErr(t, "FinishAppend(denied model)", err, broker.ErrVerificationFailed)
			e.unchanged(t, before)
			if _, err := finish("bob", softauthn.NewES256Key(), allowed); err != nil {
				t.Fatalf("FinishAppend(model not denied) = %v", err)
			}
		})
		t.Run("a model denied later can no longer sign in", func(t *testing.T) {
			e.setPolicy(t, func(p *broker.Policy) { p.AAGUIDAllow, p.AAGUIDDeny = nil, nil })
			k := softauthn.NewES256Key()
			if _, err := finish("carol", k, denied); err != nil {
				t.Fatal(err)
			}
			pending := e.startLogin(t, broker.LoginRequest{Identifier: "carol"})
			e.setPolicy(t, func(p *broker.Policy) { p.AAGUIDDeny = []string{denied} })
			if start, err := e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{Identifier: "carol"}); err != nil || start.Fallback == nil {
				t.Errorf("StartLogin(passkey of a denied model) = %+v, %v; want the no_passkey fallback", start, err)
			}
			before := e.Snapshot(t)
			_, err := e.Broker.FinishLogin(e.ctx, e.pid, pending.CeremonyID,
				k.Assertion(mustJSON(t, pending.PublicKey), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, 1, nil, nil))
			wantErr(t, "FinishLogin(denied model)", err, broker.ErrVerificationFailed)
			e.unchanged(t, before)
		})
	})
}

func TestAttestationDirect(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.setPolicy(t, func(p *broker.Policy) { p.Attestation = "direct" })
		model := []byte{0x0e, 0xa2, 0x42, 0xb4, 0x43, 0xc4, 0x4a, 0x1b, 0x8b, 0x17, 0xdd, 0x6d, 0x0b, 0x6b, 0xae, 0xc6}
		attKey, cert := softauthn.NewAttestationCert(model)
		flags := byte(softauthn.FlagUP | softauthn.FlagUV)
		refused := map[string]func(k softauthn.Key, publicKey []byte) []byte{
			"attestation none": func(k softauthn.Key, pk []byte) []byte {
				return k.Registration(pk, brokertest.Origin, flags, model, nil)
			},
			"self attestation": func(k softauthn.Key, pk []byte) []byte {
				return k.PackedRegistration(pk, brokertest.Origin, flags, model, nil, nil)
			},
			"certificate of another model": func(k softauthn.Key, pk []byte) []byte {
				return k.PackedRegistration(pk, brokertest.Origin, flags, make([]byte, 16), attKey, cert)
			},
		}
		for name, answer := range refused {
			start := e.startAppend(t, "alice")
			cred := answer(softauthn.NewES256Key(), mustJSON(t, start.PublicKey))
			before := e.Snapshot(t)
			_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred)
			wantErr(t, "FinishAppend("+name+") under attestation direct", err, broker.ErrVerificationFailed)
			e.unchanged(t, before)
		}
		start := e.startAppend(t, "alice")
		pk, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID,
			softauthn.NewES256Key().PackedRegistration(mustJSON(t, start.PublicKey), brokertest.Origin, flags, model, attKey, cert))
		if err != nil {
			t.Fatalf("FinishAppend(packed attestation with a certificate) = %v", err)
		}
		if pk.AttestationFormat != "packed" || pk.AAGUID != "0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6" {
			t.Errorf("passkey = format %q, aaguid %q; want packed, the certificate's model", pk.AttestationFormat, pk.AAGUID)
		}
		// Under "none", the same self attestation is accepted.
		e.setPolicy(t, func(p *broker.Policy) { p.Attestation = "none" })
		start = e.startAppend(t, "bob")
		if _, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID,
			softauthn.NewES256Key().PackedRegistration(mustJSON(t, start.PublicKey), brokertest.Origin, flags, model, nil, nil)); err != nil {
			t.Fatalf("FinishAppend(self attestation) under attestation none = %v", err)
		}
	})
}

// withCredProps sets clientExtensionResults.credProps.rk of a registration response.
func withCredProps(t *testing.T, cred []byte, rk bool) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cred, &m); err != nil {
		t.Fatal(err)
	}
	m["clientExtensionResults"] = map[string]any{"credProps": map[string]any{"rk": rk}}
	return mustJSON(t, m)
}

func TestResidentKeyRequired(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.setPolicy(t, func(p *broker.Policy) { p.ResidentKey = "required" })
		k := softauthn.NewES256Key()
		start, cred := e.forgeAppend(t, "alice", k, nil)
		before := e.Snapshot(t)
		_, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, withCredProps(t, cred, false))
		wantErr(t, "FinishAppend(credProps.rk = false)", err, broker.ErrVerificationFailed)
		e.unchanged(t, before)
		if _, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, withCredProps(t, cred, true)); err != nil {
			t.Fatalf("FinishAppend(credProps.rk = true) = %v", err)
		}
		// A client that does not report credProps cannot be checked, and is accepted.
		start, cred = e.forgeAppend(t, "bob", softauthn.NewES256Key(), nil)
		if _, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, cred); err != nil {
			t.Fatalf("FinishAppend(no credProps) = %v", err)
		}
	})
}

func TestUsernamelessDisabled(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		pending := e.startLogin(t, broker.LoginRequest{})
		e.setPolicy(t, func(p *broker.Policy) { p.Usernameless = false })
		before := e.Snapshot(t)
		for _, tc := range []struct {
			req   broker.LoginRequest
			field string
		}{
			{broker.LoginRequest{}, "identifier"},
			{broker.LoginRequest{Conditional: true}, "conditional"},
			{broker.LoginRequest{Identifier: "alice", Conditional: true}, "conditional"},
		} {
			_, err := e.Broker.StartLogin(e.ctx, e.pid, tc.req)
			wantValidation(t, "StartLogin(usernameless disabled)", err, tc.field)
		}
		_, err := e.Broker.FinishLogin(e.ctx, e.pid, pending.CeremonyID, get(t, a, pending))
		wantErr(t, "FinishLogin(usernameless ceremony started before the change)", err, broker.ErrVerificationFailed)
		e.unchanged(t, before)
		// Identifier-first and connect-token logins still work.
		e.login(t, a, broker.LoginRequest{Identifier: "alice"})
		e.login(t, a, broker.LoginRequest{LoginConnectToken: e.mint(t, connecttoken.TypeLogin, "alice").Secret})
	})
}

func TestPolicyLifetimes(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.setPolicy(t, func(p *broker.Policy) { p.ConnectTokenMaxLifetimeInSeconds, p.CeremonyLifetimeInSeconds = 120, 60 })
		now := e.clock.Now()
		if tok := e.mint(t, connecttoken.TypeList, "alice"); tok.Expires != now.Add(120*time.Second).Unix() {
			t.Errorf("default token lifetime: expires %d, want %d (capped at the project's 120 s)", tok.Expires, now.Add(120*time.Second).Unix())
		}
		if tok := e.mintReq(t, broker.MintRequest{Type: "passkey-list", Data: broker.ConnectTokenData{Identifier: "a"}, MaxLifetimeInSeconds: lifetime(120)}); tok.Expires != now.Unix()+120 {
			t.Errorf("token of 120 s: expires %d, want %d", tok.Expires, now.Unix()+120)
		}
		_, err := e.Broker.MintConnectToken(e.ctx, e.pid, broker.MintRequest{Type: "passkey-list", Data: broker.ConnectTokenData{Identifier: "a"}, MaxLifetimeInSeconds: lifetime(121)})
		wantValidation(t, "MintConnectToken(121 s over a 120 s limit)", err, "maxLifetimeInSeconds")

		a := newAuthenticator()
		e.register(t, a, "alice")
		start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		late := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		cred, lateCred := get(t, a, start), get(t, a, late)
		e.clock.Advance(60*time.Second - time.Millisecond)
		if _, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred); err != nil {
			t.Fatalf("FinishLogin() 1 ms before the 60 s lifetime ends = %v", err)
		}
		e.clock.Advance(time.Millisecond)
		_, err = e.Broker.FinishLogin(e.ctx, e.pid, late.CeremonyID, lateCred)
		wantErr(t, "FinishLogin() when the 60 s lifetime ends", err, broker.ErrCeremonyNotFound)
	})
}

func TestPendingCeremonyCap(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		e.Broker = e.NewBroker(t, broker.Config{MaxPendingCeremonies: 3, Now: e.clock.Now})
		a := newAuthenticator()
		pk := e.register(t, a, "alice") // its ceremony is finished, so it does not count
		// Logins without a connect token store nothing and so take no place: anyone may start
		// them, and however many are pending, nobody else's start is refused for them.
		var logins []broker.LoginStart
		for range 5 {
			logins = append(logins, e.startLogin(t, broker.LoginRequest{}))
		}
		tok := e.mint(t, connecttoken.TypeLogin, "alice")
		bound, err := e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{LoginConnectToken: tok.Secret})
		if err != nil {
			t.Fatalf("StartLogin(login token) = %v", err)
		}
		e.startAppend(t, "bob")
		e.startAppend(t, "dave")
		carol := e.mint(t, connecttoken.TypeAppend, "carol")
		tok2 := e.mint(t, connecttoken.TypeLogin, "alice")
		before := e.Snapshot(t)
		_, err = e.Broker.StartAppend(e.ctx, e.pid, carol.Secret, false)
		wantErr(t, "StartAppend() beyond the cap", err, broker.ErrTooManyCeremonies)
		_, err = e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{LoginConnectToken: tok2.Secret})
		wantErr(t, "StartLogin(login token) beyond the cap", err, broker.ErrTooManyCeremonies)
		e.unchanged(t, before)
		e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		e.startLogin(t, broker.LoginRequest{Conditional: true})

		// The cap is per project.
		other := e.addProject(t)
		other.startAppend(t, "bob")

		// Finishing a ceremony frees its place.
		if _, err := e.Broker.FinishLogin(e.ctx, e.pid, bound.CeremonyID, getWith(t, a, bound, pk.ID)); err != nil {
			t.Fatal(err)
		}
		e.startAppend(t, "erin")
		_, err = e.Broker.StartAppend(e.ctx, e.pid, carol.Secret, false)
		wantErr(t, "StartAppend() at the cap again", err, broker.ErrTooManyCeremonies)
		// The sealed logins started before still finish.
		if _, err := e.Broker.FinishLogin(e.ctx, e.pid, logins[0].CeremonyID, getWith(t, a, logins[0], pk.ID)); err != nil {
			t.Fatalf("FinishLogin(sealed) = %v", err)
		}

		// So does expiry, before the sweeper deletes the rows.
		e.clock.Advance(broker.CeremonyLifetime)
		e.startAppend(t, "frank")

		// A negative cap is no cap.
		e.Broker = e.NewBroker(t, broker.Config{MaxPendingCeremonies: -1, Now: e.clock.Now})
		for _, name := range []string{"g", "h", "i", "j", "k"} {
			e.startAppend(t, name)
		}
	})
}

// A counter that falls back to 0 after counting is a clone's: it is refused like one that
// goes backwards, while a counter that is always 0 keeps working (TestLoginWithZeroCounter).
func TestCounterResetToZeroIsRefused(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		e.login(t, a, broker.LoginRequest{Identifier: "alice"}) // counter 1
		a.CountStep = 0
		a.SetCounter(pk.ID, 0)
		start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		cred := get(t, a, start)
		before := e.Snapshot(t)
		_, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred)
		wantErr(t, "FinishLogin(counter back to 0)", err, broker.ErrVerificationFailed)
		e.unchanged(t, before)
	})
}
