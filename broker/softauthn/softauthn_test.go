package softauthn_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/broker/softauthn"
)

const origin = "http://localhost:8080"

// user is the relying party's side of one user, for go-webauthn.
type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "alice" }
func (u *user) WebAuthnDisplayName() string                { return "Alice" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func relyingParty(t *testing.T) *webauthn.WebAuthn {
	t.Helper()
	wa, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "Test", RPOrigins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return wa
}

// register runs a registration with go-webauthn as the relying party, answered by answer.
func register(t *testing.T, wa *webauthn.WebAuthn, u *user, answer func(publicKey []byte) ([]byte, error)) (*webauthn.Credential, error) {
	t.Helper()
	creation, session, err := wa.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	publicKey, _ := json.Marshal(creation.Response)
	resp, err := answer(publicKey)
	if err != nil {
		t.Fatalf("answering creation options: %v", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
	if err != nil {
		return nil, err
	}
	return wa.CreateCredential(u, *session, parsed)
}

// login runs a login with go-webauthn as the relying party, answered by answer.
func login(t *testing.T, wa *webauthn.WebAuthn, u *user, answer func(publicKey []byte) ([]byte, error)) (*webauthn.Credential, error) {
	t.Helper()
	assertion, session, err := wa.BeginLogin(u)
	if err != nil {
		t.Fatal(err)
	}
	publicKey, _ := json.Marshal(assertion.Response)
	resp, err := answer(publicKey)
	if err != nil {
		t.Fatalf("answering request options: %v", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(resp)
	if err != nil {
		return nil, err
	}
	return wa.ValidateLogin(u, *session, parsed)
}

func TestAuthenticatorCeremonies(t *testing.T) {
	for _, format := range []string{"packed", "none"} {
		t.Run(format, func(t *testing.T) {
			wa := relyingParty(t)
			a := softauthn.NewAuthenticator("localhost", origin)
			a.Attestation = format
			a.BackupEligible = true
			u := &user{id: []byte("user-handle-1")}
			cred, err := register(t, wa, u, a.Create)
			if err != nil {
				t.Fatalf("registration = %v", err)
			}
			if cred.AttestationFormat != format || !bytes.Equal(cred.ID, a.Creds[0].ID) || len(cred.ID) != 32 {
				t.Errorf("registered format %q, ID %x; want %s, the authenticator's 32-byte ID %x", cred.AttestationFormat, cred.ID, format, a.Creds[0].ID)
			}
			if !bytes.Equal(cred.Authenticator.AAGUID, a.AAGUID) || !cred.Flags.UserVerified || !cred.Flags.BackupEligible || cred.Flags.BackupState {
				t.Errorf("registered AAGUID %x, flags %+v; want %x, UV and BE", cred.Authenticator.AAGUID, cred.Flags, a.AAGUID)
			}
			if !bytes.Equal(a.Creds[0].UserHandle, u.id) {
				t.Errorf("credential user handle = %q, want %q", a.Creds[0].UserHandle, u.id)
			}
			u.creds = append(u.creds, *cred)
			for want := uint32(1); want <= 2; want++ {
				got, err := login(t, wa, u, a.Get)
				if err != nil {
					t.Fatalf("login %d = %v", want, err)
				}
				if got.Authenticator.SignCount != want {
					t.Errorf("login %d: counter %d, want %d", want, got.Authenticator.SignCount, want)
				}
			}
			// Excluded: the authenticator refuses to create a second credential for the user.
			creation, _, err := wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
			if err != nil {
				t.Fatal(err)
			}
			publicKey, _ := json.Marshal(creation.Response)
			if _, err := a.Create(publicKey); err == nil || !strings.Contains(err.Error(), "InvalidStateError") {
				t.Errorf("Create(options excluding its credential) = %v, want InvalidStateError", err)
			}
			if len(a.Creds) != 1 {
				t.Errorf("after a refused Create, the authenticator holds %d credentials, want 1", len(a.Creds))
			}
		})
	}
}

func TestAuthenticatorFlagsAndUserHandle(t *testing.T) {
	a := softauthn.NewAuthenticator("localhost", origin)
	a.NoUserVerification, a.BackupEligible, a.BackedUp, a.CountStep = true, true, true, 0
	publicKey := []byte(`{"challenge":"AAAA","rp":{"id":"localhost"},"user":{"id":"dQ"}}`)
	if _, err := a.Create(publicKey); err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Response struct {
			AuthenticatorData string `json:"authenticatorData"`
			UserHandle        string `json:"userHandle"`
		} `json:"response"`
	}
	raw, err := a.Get([]byte(`{"publicKey":{"challenge":"AAAA","rpId":"localhost"}}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(raw, &resp)
	ad, _ := base64.RawURLEncoding.DecodeString(resp.Response.AuthenticatorData)
	rpHash := sha256.Sum256([]byte("localhost"))
	want := append(rpHash[:], softauthn.FlagUP|softauthn.FlagBE|softauthn.FlagBS, 0, 0, 0, 0)
	if !bytes.Equal(ad, want) || resp.Response.UserHandle != "dQ" {
		t.Errorf("assertion authenticatorData %x, userHandle %q; want %x, %q", ad, resp.Response.UserHandle, want, "dQ")
	}
	if _, err := a.Get([]byte(`{"challenge":"AAAA","allowCredentials":[{"type":"public-key","id":"AAAA"}]}`)); err == nil {
		t.Errorf("Get(another credential allowed) succeeded")
	}
	for _, bad := range []string{`{}`, `{"challenge":"!!"}`, `not json`} {
		if _, err := a.Get([]byte(bad)); err == nil {
			t.Errorf("Get(%s) succeeded", bad)
		}
	}
}

// A P-256 coordinate with a leading zero byte is still written in 32 bytes, exactly as the
// load generator's hand-written COSE key was, and go-webauthn accepts it.
func TestCOSEKeyCoordinatesAre32Bytes(t *testing.T) {
	seed := bytes.Repeat([]byte{0xab}, 32)
	found := 0
	for i := 0; found < 2; i++ {
		c, err := softauthn.DeriveCredential(seed, i)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := c.Signer.(*ecdsa.PrivateKey).PublicKey.Bytes() // 0x04 || X || Y
		want := append([]byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20}, pub[1:33]...)
		want = append(append(want, 0x22, 0x58, 0x20), pub[33:]...)
		if got := c.COSE(); !bytes.Equal(got, want) {
			t.Fatalf("COSE(credential %d) = %x, want %x", i, got, want)
		}
		if pub[1] != 0 && pub[33] != 0 {
			continue
		}
		found++ // a short coordinate: it must also pass a relying party
		wa := relyingParty(t)
		u := &user{id: c.UserHandle}
		a := softauthn.NewAuthenticator("localhost", origin)
		if _, err := register(t, wa, u, func(pk []byte) ([]byte, error) { return a.Attest(pk, c) }); err != nil {
			t.Errorf("registration of credential %d (X %x..., Y %x...) = %v", i, pub[1:3], pub[33:35], err)
		}
	}
}

// The "none" attestation object is the canonical CBOR the load generator wrote by hand.
func TestNoneAttestationObject(t *testing.T) {
	for _, n := range []int{37, 200, 300} {
		ad := bytes.Repeat([]byte{7}, n)
		want := []byte{0xa3, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa0,
			0x68, 'a', 'u', 't', 'h', 'D', 'a', 't', 'a'}
		if n < 256 {
			want = append(want, 0x58, byte(n))
		} else {
			want = binary.BigEndian.AppendUint16(append(want, 0x59), uint16(n))
		}
		want = append(want, ad...)
		if got := softauthn.AttestationObject("none", nil, ad); !bytes.Equal(got, want) {
			t.Errorf("AttestationObject(none, %d bytes) = %x, want %x", n, got, want)
		}
	}
}

// DeriveCredential must keep deriving what it derived when seed files were first written.
func TestDeriveCredentialKnownAnswer(t *testing.T) {
	c, err := softauthn.DeriveCredential(bytes.Repeat([]byte{0xab}, 32), 2)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{hex.EncodeToString(c.ID), hex.EncodeToString(c.UserHandle), c.Signer.(*ecdsa.PrivateKey).D.Text(16)}
	want := []string{
		"9db61e2efa6480bed8788c65001360c3",
		"09d437c7a40e632a0eb330ba7f4045cea22abf1493f9982564537e33eaca0046",
		"2c5c79c56aca4ff7619a7fcabf086ebec4f4ba4c4e2a4a04aa8d9ef77c98bd28",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("DeriveCredential(0xab..., 2) = ID, handle, scalar %q, want %q", got, want)
			break
		}
	}
}

// Attest and Assert only read the authenticator: one may answer for many goroutines.
func TestAttestAndAssertFromManyGoroutines(t *testing.T) {
	wa := relyingParty(t)
	a := &softauthn.Authenticator{RP: softauthn.RelyingParty{Origin: origin}, Attestation: "none", BackupEligible: true, BackedUp: true}
	cred := softauthn.Credential{Key: softauthn.NewES256Key(), UserHandle: []byte("u1")}
	u := &user{id: cred.UserHandle}
	registered, err := register(t, wa, u, func(pk []byte) ([]byte, error) { return a.Attest(pk, cred) })
	if err != nil {
		t.Fatalf("registration = %v", err)
	}
	u.creds = []webauthn.Credential{*registered}
	type challenge struct {
		publicKey []byte
		session   *webauthn.SessionData
	}
	const n = 16
	challenges := make([]challenge, n)
	for i := range challenges {
		assertion, session, err := wa.BeginLogin(u)
		if err != nil {
			t.Fatal(err)
		}
		challenges[i].publicKey, _ = json.Marshal(assertion.Response)
		challenges[i].session = session
	}
	answers := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i], errs[i] = a.Assert(challenges[i].publicKey, cred) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Assert %d = %v", i, errs[i])
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(answers[i])
		if err != nil {
			t.Fatalf("parsing assertion %d: %v", i, err)
		}
		if _, err := wa.ValidateLogin(u, *challenges[i].session, parsed); err != nil {
			t.Errorf("assertion %d = %v", i, err)
		}
	}
}
