// Package softauthn is a software WebAuthn authenticator: it answers a relying party's
// creation and request options with what PublicKeyCredential.toJSON() gives in a browser,
// signing with its own keys. It also forges responses that no honest authenticator sends
// (forge.go). The tests and the load generator share it; it is built on fxamacker/cbor and
// Go's crypto, and it does not import testing.
package softauthn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// RelyingParty is the relying party an authenticator acts for, and the origin of the page
// that calls it.
type RelyingParty struct {
	ID     string
	Name   string
	Origin string
}

// Credential is a passkey: a key pair with its credential ID, the user handle it was
// created for, and its signature counter.
type Credential struct {
	Key
	UserHandle []byte
	Counter    uint32
}

// NewCredential returns a P-256 credential with a random 32-byte ID. Its COSE key always
// carries 32-byte coordinates, whatever their leading bytes.
func NewCredential() Credential {
	k := NewES256Key()
	k.ID = randomBytes(32)
	return Credential{Key: k}
}

// Authenticator is a software passkey provider: it answers the publicKey options of
// append/start and login/start with what PublicKeyCredential.toJSON() would give, signing
// with its own P-256 keys. It keeps each credential's user handle and counter, like a real
// authenticator.
//
// Create, Get, GetWith, SetCounter and Import change it and are not safe for concurrent
// use; Attest and Assert only read it, so many goroutines may call them at once while no
// one changes its fields.
type Authenticator struct {
	// RP is the relying party it signs for. An empty RP.ID takes the RP ID the options name
	// (rp.id or rpId), as a browser does.
	RP RelyingParty
	// AAGUID goes into the attested credential data of new credentials (nil: zeros).
	AAGUID []byte
	// Attestation is the attestation statement format: "packed" (self attestation, signed
	// by the new credential) or "none" (also when empty).
	Attestation string
	// Creds are the credentials created so far, in order.
	Creds []Credential
	// CountStep is added to a credential's counter before each assertion (0: counter stays 0,
	// as many passkey providers do).
	CountStep uint32
	// BackupEligible and BackedUp set the BE and BS flags of new responses.
	BackupEligible, BackedUp bool
	// NoUserVerification clears the UV flag.
	NoUserVerification bool
	// Attachment is the authenticatorAttachment its responses report ("": platform).
	Attachment string
	// Transports are the transports its registrations report (nil: internal and hybrid).
	Transports []string
	// AndroidPackage, when set, makes it answer as Android's Credential Manager does for a
	// native app: clientDataJSON carries androidPackageName and no crossOrigin (RP.Origin is
	// then the app's android:apk-key-hash: origin).
	AndroidPackage string
	// NoExtensionResults leaves clientExtensionResults out of its responses, as some native
	// clients do.
	NoExtensionResults bool
}

// clientData returns the clientDataJSON of a ceremony of typ for challenge.
func (a *Authenticator) clientData(typ, challenge string) []byte {
	if a.AndroidPackage == "" {
		return ClientData(typ, challenge, a.RP.Origin)
	}
	b, _ := json.Marshal(struct {
		Type               string `json:"type"`
		Challenge          string `json:"challenge"`
		Origin             string `json:"origin"`
		AndroidPackageName string `json:"androidPackageName"`
	}{typ, challenge, a.RP.Origin, a.AndroidPackage})
	return b
}

// withoutExtensionResults removes clientExtensionResults from a response if a leaves them out.
func (a *Authenticator) withoutExtensionResults(resp []byte) []byte {
	if !a.NoExtensionResults {
		return resp
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(resp, &m); err != nil {
		return resp
	}
	delete(m, "clientExtensionResults")
	out, _ := json.Marshal(m)
	return out
}

// attachment returns the authenticatorAttachment of its responses.
func (a *Authenticator) attachment() string {
	if a.Attachment == "" {
		return "platform"
	}
	return a.Attachment
}

// NewAuthenticator returns an authenticator that acts for rpID from origin, with a random
// AAGUID, packed self attestation and a counter that steps by 1.
func NewAuthenticator(rpID, origin string) *Authenticator {
	return &Authenticator{
		RP:          RelyingParty{ID: rpID, Name: rpID, Origin: origin},
		AAGUID:      randomBytes(16),
		Attestation: "packed",
		CountStep:   1,
	}
}

// flags returns the authenticator data flags of its responses, without AT.
func (a *Authenticator) flags() byte {
	f := byte(FlagUP)
	if !a.NoUserVerification {
		f |= FlagUV
	}
	if a.BackupEligible {
		f |= FlagBE
	}
	if a.BackedUp {
		f |= FlagBS
	}
	return f
}

// rpID returns the RP ID it signs for: its own, else the one the options name.
func (a *Authenticator) rpID(named string) string {
	if a.RP.ID != "" {
		return a.RP.ID
	}
	return named
}

// Create answers creation options (the publicKey object of append/start) with a new
// credential for the options' user, refusing as a browser would when one of its credentials
// is excluded.
func (a *Authenticator) Create(publicKey []byte) ([]byte, error) {
	o, err := parseCreation(publicKey)
	if err != nil {
		return nil, err
	}
	for _, c := range a.Creds {
		if o.ExcludeCredentials.has(c.ID) {
			return nil, errors.New("InvalidStateError: the authenticator already holds an excluded credential")
		}
	}
	cred := NewCredential()
	cred.UserHandle = o.userHandle
	resp, err := a.attest(o, cred)
	if err != nil {
		return nil, err
	}
	a.Creds = append(a.Creds, cred)
	return resp, nil
}

// Attest answers creation options with cred, an existing credential, ignoring
// excludeCredentials as a misbehaving authenticator would; it does not keep cred.
func (a *Authenticator) Attest(publicKey []byte, cred Credential) ([]byte, error) {
	o, err := parseCreation(publicKey)
	if err != nil {
		return nil, err
	}
	return a.attest(o, cred)
}

func (a *Authenticator) attest(o *options, cred Credential) ([]byte, error) {
	cd := a.clientData("webauthn.create", o.challenge)
	ad := AuthData{RPID: a.rpID(o.RP.ID), Flags: a.flags() | FlagAT, Counter: cred.Counter, Attested: true,
		AAGUID: a.AAGUID, CredID: cred.ID, PublicKey: cred.COSE()}.Bytes()
	var att []byte
	switch a.Attestation {
	case "", "none":
		att = AttestationObject("none", nil, ad)
	case "packed":
		att = AttestationObject("packed", map[string]any{"alg": cred.Alg(), "sig": cred.Sign(ad, cd)}, ad)
	default:
		return nil, fmt.Errorf("softauthn: unsupported attestation format %q", a.Attestation)
	}
	transports := a.Transports
	if transports == nil {
		transports = []string{"internal", "hybrid"}
	}
	return a.withoutExtensionResults(registrationJSON(cred.ID, cd, att, transports, a.attachment())), nil
}

// Get answers request options (the publicKey object of login/start): with allowCredentials
// it uses the most recent of its credentials listed there; without, its most recent
// credential (a discoverable login).
func (a *Authenticator) Get(publicKey []byte) ([]byte, error) {
	o, err := parseRequest(publicKey)
	if err != nil {
		return nil, err
	}
	var cred *Credential
	for i := range a.Creds {
		if len(o.AllowCredentials) == 0 || o.AllowCredentials.has(a.Creds[i].ID) {
			cred = &a.Creds[i]
		}
	}
	if cred == nil {
		return nil, errors.New("NotAllowedError: no matching credential")
	}
	cred.Counter += a.CountStep
	return a.assert(o, *cred), nil
}

// GetWith answers request options with the credential whose base64url ID is credID, after
// adding CountStep to its counter.
func (a *Authenticator) GetWith(publicKey []byte, credID string) ([]byte, error) {
	o, err := parseRequest(publicKey)
	if err != nil {
		return nil, err
	}
	for i := range a.Creds {
		c := &a.Creds[i]
		if b64(c.ID) != credID {
			continue
		}
		c.Counter += a.CountStep
		return a.assert(o, *c), nil
	}
	return nil, fmt.Errorf("no credential %s", credID)
}

// Assert answers request options with cred at its counter, whatever allowCredentials
// lists; it changes neither a nor cred.
func (a *Authenticator) Assert(publicKey []byte, cred Credential) ([]byte, error) {
	o, err := parseRequest(publicKey)
	if err != nil {
		return nil, err
	}
	return a.assert(o, cred), nil
}

func (a *Authenticator) assert(o *options, cred Credential) []byte {
	cd := a.clientData("webauthn.get", o.challenge)
	ad := AuthData{RPID: a.rpID(o.RPID), Flags: a.flags(), Counter: cred.Counter}.Bytes()
	var handle []byte
	if len(cred.UserHandle) > 0 {
		handle = cred.UserHandle
	}
	return a.withoutExtensionResults(assertionJSON(cred.ID, cd, ad, cred.Sign(ad, cd), handle, a.attachment()))
}

// SetCounter sets the counter of credential credID (for counter regression tests).
func (a *Authenticator) SetCounter(credID string, n uint32) {
	for i := range a.Creds {
		if b64(a.Creds[i].ID) == credID {
			a.Creds[i].Counter = n
		}
	}
}

// Import adds a credential made by another authenticator (a cloned key), with its user
// handle and counter.
func (a *Authenticator) Import(from *Authenticator, credID string) {
	for _, c := range from.Creds {
		if b64(c.ID) == credID {
			a.Creds = append(a.Creds, c)
		}
	}
}

// options is what an authenticator reads of creation or request options.
type options struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	ExcludeCredentials descriptors `json:"excludeCredentials"`
	AllowCredentials   descriptors `json:"allowCredentials"`
	// PublicKey holds the options when they come wrapped as {"publicKey": ...}.
	PublicKey *options `json:"publicKey"`

	challenge  string // the challenge, re-encoded as base64url
	userHandle []byte
}

type descriptors []struct {
	ID string `json:"id"`
}

// has reports whether ds lists id. It encodes id on the stack (for IDs up to 96 bytes), so
// that a search through many credentials (the benchmarks' authenticator holds one per user)
// allocates nothing.
func (ds descriptors) has(id []byte) bool {
	var buf [128]byte
	enc := base64.RawURLEncoding.AppendEncode(buf[:0], id)
	for _, d := range ds {
		if d.ID == string(enc) {
			return true
		}
	}
	return false
}

func parseOptions(raw []byte) (*options, error) {
	var o options
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	if o.PublicKey != nil {
		o = *o.PublicKey
	}
	if o.Challenge == "" {
		return nil, errors.New("no challenge")
	}
	c, err := base64.RawURLEncoding.DecodeString(o.Challenge)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	o.challenge = b64(c)
	for _, ds := range []descriptors{o.ExcludeCredentials, o.AllowCredentials} {
		for _, d := range ds {
			if d.ID == "" {
				return nil, errors.New("a credential descriptor has an empty id")
			}
		}
	}
	return &o, nil
}

func parseCreation(raw []byte) (*options, error) {
	o, err := parseOptions(raw)
	if err == nil {
		o.userHandle, err = base64.RawURLEncoding.DecodeString(o.User.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing creation options: %w", err)
	}
	return o, nil
}

func parseRequest(raw []byte) (*options, error) {
	o, err := parseOptions(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing request options: %w", err)
	}
	return o, nil
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
// signature. It panics when credential is not such JSON.
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
