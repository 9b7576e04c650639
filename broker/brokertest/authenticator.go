package brokertest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/descope/virtualwebauthn"
)

// Authenticator is a software passkey provider: it answers the publicKey options of
// append/start and login/start with what PublicKeyCredential.toJSON() would give, signing
// with its own P-256 keys (packed self-attestation). It keeps each credential's user handle
// and counter, like a real authenticator. Not safe for concurrent use.
type Authenticator struct {
	RP   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	// Creds are the credentials created so far, in order.
	Creds []virtualwebauthn.Credential
	// handles maps base64url credential ID to the user handle it was created for.
	handles map[string][]byte
	// CountStep is added to a credential's counter before each assertion (0: counter stays 0,
	// as many passkey providers do).
	CountStep uint32
	// BackupEligible and BackedUp set the BE and BS flags of new responses.
	BackupEligible, BackedUp bool
	// NoUserVerification clears the UV flag.
	NoUserVerification bool
	// AAGUID, when not zero, is the authenticator model that new credentials name.
	AAGUID [16]byte
}

// NewAuthenticator returns an authenticator that acts for rpID from origin.
func NewAuthenticator(rpID, origin string) *Authenticator {
	return &Authenticator{
		RP:        virtualwebauthn.RelyingParty{ID: rpID, Name: rpID, Origin: origin},
		auth:      virtualwebauthn.NewAuthenticator(),
		handles:   map[string][]byte{},
		CountStep: 1,
	}
}

func (a *Authenticator) options() {
	a.auth.Options.BackupEligible = a.BackupEligible
	a.auth.Options.BackupState = a.BackedUp
	a.auth.Options.UserNotVerified = a.NoUserVerification
	if a.AAGUID != [16]byte{} {
		a.auth.Aaguid = a.AAGUID
	}
}

// Create answers creation options (the publicKey object of append/start) with a new
// credential, refusing as a browser would when one of its credentials is excluded.
func (a *Authenticator) Create(publicKey []byte) ([]byte, error) {
	opts, err := virtualwebauthn.ParseAttestationOptions(string(publicKey))
	if err != nil {
		return nil, fmt.Errorf("parsing creation options: %w", err)
	}
	for _, c := range a.Creds {
		if c.IsExcludedForAttestation(*opts) {
			return nil, errors.New("InvalidStateError: the authenticator already holds an excluded credential")
		}
	}
	cred := NewCredential()
	a.options()
	resp := virtualwebauthn.CreateAttestationResponse(a.RP, a.auth, cred, *opts)
	a.Creds = append(a.Creds, cred)
	a.handles[b64(cred.ID)] = []byte(opts.UserID)
	return withTransports([]byte(resp))
}

// withTransports adds response.transports and the other toJSON() members browsers send.
func withTransports(resp []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(resp, &m); err != nil {
		return nil, err
	}
	if r, ok := m["response"].(map[string]any); ok {
		r["transports"] = []string{"internal", "hybrid"}
	}
	m["authenticatorAttachment"] = "platform"
	m["clientExtensionResults"] = map[string]any{}
	return json.Marshal(m)
}

// Get answers request options (the publicKey object of login/start): with allowCredentials
// it uses the first of its credentials listed there; without, its most recent credential
// (a discoverable login).
func (a *Authenticator) Get(publicKey []byte) ([]byte, error) {
	opts, err := virtualwebauthn.ParseAssertionOptions(string(publicKey))
	if err != nil {
		return nil, fmt.Errorf("parsing request options: %w", err)
	}
	var cred *virtualwebauthn.Credential
	if len(opts.AllowCredentials) > 0 {
		cred = a.auth.FindAllowedCredential(*opts)
		if cred == nil {
			for i := range a.Creds {
				if a.Creds[i].IsAllowedForAssertion(*opts) {
					cred = &a.Creds[i]
				}
			}
		}
	} else if len(a.Creds) > 0 {
		cred = &a.Creds[len(a.Creds)-1]
	}
	if cred == nil {
		return nil, errors.New("NotAllowedError: no matching credential")
	}
	return a.GetWith(publicKey, b64(cred.ID))
}

// GetWith answers request options with the credential whose base64url ID is credID.
func (a *Authenticator) GetWith(publicKey []byte, credID string) ([]byte, error) {
	opts, err := virtualwebauthn.ParseAssertionOptions(string(publicKey))
	if err != nil {
		return nil, fmt.Errorf("parsing request options: %w", err)
	}
	for i := range a.Creds {
		c := &a.Creds[i]
		if b64(c.ID) != credID {
			continue
		}
		c.Counter += a.CountStep
		a.options()
		a.auth.Options.UserHandle = a.handles[credID]
		resp := virtualwebauthn.CreateAssertionResponse(a.RP, a.auth, *c, *opts)
		return withAttachment([]byte(resp))
	}
	return nil, fmt.Errorf("no credential %s", credID)
}

func withAttachment(resp []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(resp, &m); err != nil {
		return nil, err
	}
	m["authenticatorAttachment"] = "platform"
	m["clientExtensionResults"] = map[string]any{}
	return json.Marshal(m)
}

// SetCounter sets the counter of credential credID (for counter regression tests).
func (a *Authenticator) SetCounter(credID string, n uint32) {
	for i := range a.Creds {
		if b64(a.Creds[i].ID) == credID {
			a.Creds[i].Counter = n
		}
	}
}

// Import adds a credential made by another authenticator (a cloned key), with its handle.
func (a *Authenticator) Import(from *Authenticator, credID string) {
	for _, c := range from.Creds {
		if b64(c.ID) == credID {
			a.Creds = append(a.Creds, c)
			a.handles[credID] = from.handles[credID]
		}
	}
}

// PublicKeyOf extracts the "publicKey" member of a start response.
func PublicKeyOf(startResponse []byte) []byte {
	var m struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	_ = json.Unmarshal(startResponse, &m)
	return m.PublicKey
}

// Tamper decodes the base64url member response.<field> of a credential JSON, passes it to
// edit, and puts the result back; it lets tests alter clientDataJSON, authenticatorData or
// signature.
func Tamper(credential []byte, field string, edit func([]byte) []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(credential, &m); err != nil {
		panic(err)
	}
	r := m["response"].(map[string]any)
	raw, err := base64.RawURLEncoding.DecodeString(r[field].(string))
	if err != nil {
		panic(err)
	}
	r[field] = b64(edit(bytes.Clone(raw)))
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// NewCredential returns a P-256 credential whose public key coordinates are both 32 bytes.
// virtualwebauthn writes a coordinate with a leading zero byte as 31 bytes (about one key in
// 128), which a relying party rightly refuses; such keys are drawn again.
func NewCredential() virtualwebauthn.Credential {
	for {
		cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		k, err := x509.ParsePKCS8PrivateKey(cred.Key.Data)
		if err != nil {
			panic(err)
		}
		pub, err := k.(*ecdsa.PrivateKey).PublicKey.Bytes() // 0x04 || X || Y, fixed width
		if err != nil {
			panic(err)
		}
		if pub[1] != 0 && pub[33] != 0 {
			return cred
		}
	}
}
