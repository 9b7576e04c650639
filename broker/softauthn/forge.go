package softauthn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Authenticator data flags (WebAuthn §6.1).
const (
	FlagUP = 0x01 // user present
	FlagUV = 0x04 // user verified
	FlagBE = 0x08 // backup eligible
	FlagBS = 0x10 // backed up
	FlagAT = 0x40 // attested credential data included
	FlagED = 0x80 // extension data included
)

// DefaultRPID is the RP ID that forged authenticator data is for when it names none.
const DefaultRPID = "localhost"

// AuthData is authenticator data field by field, for forging responses that no honest
// authenticator sends: the flags need not agree with what follows them.
type AuthData struct {
	RPID     string // hashed when RPIDHash is nil; empty: DefaultRPID
	RPIDHash []byte // 32 bytes; nil: SHA-256 of RPID
	Flags    byte
	Counter  uint32
	// Attested writes attested credential data: AAGUID (16 bytes), the length of CredID
	// (CredIDLength when not nil), CredID and PublicKey (a COSE key).
	Attested     bool
	AAGUID       []byte
	CredID       []byte
	CredIDLength *uint16
	PublicKey    []byte
	// Extensions are appended as they are (CBOR, or garbage).
	Extensions []byte
}

// Bytes encodes a.
func (a AuthData) Bytes() []byte {
	h := a.RPIDHash
	if h == nil {
		rpID := a.RPID
		if rpID == "" {
			rpID = DefaultRPID
		}
		sum := sha256.Sum256([]byte(rpID))
		h = sum[:]
	}
	out := append([]byte{}, h...)
	out = append(out, a.Flags)
	out = binary.BigEndian.AppendUint32(out, a.Counter)
	if a.Attested {
		aaguid := a.AAGUID
		if aaguid == nil {
			aaguid = make([]byte, 16)
		}
		out = append(out, aaguid...)
		n := uint16(len(a.CredID))
		if a.CredIDLength != nil {
			n = *a.CredIDLength
		}
		out = binary.BigEndian.AppendUint16(out, n)
		out = append(out, a.CredID...)
		out = append(out, a.PublicKey...)
	}
	return append(out, a.Extensions...)
}

// ctap2 encodes canonical CBOR, as CTAP2 authenticators write it.
var ctap2 = func() cbor.EncMode {
	em, err := cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// CBOR encodes v as canonical (CTAP2) CBOR, panicking on failure.
func CBOR(v any) []byte {
	b, err := ctap2.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// AttestationObject encodes {fmt, attStmt, authData}; a nil attStmt is the empty map.
func AttestationObject(format string, attStmt map[string]any, authData []byte) []byte {
	if attStmt == nil {
		attStmt = map[string]any{}
	}
	return CBOR(map[string]any{"fmt": format, "attStmt": attStmt, "authData": authData})
}

// ClientData returns clientDataJSON of a ceremony of typ ("webauthn.create" or
// "webauthn.get") for a base64url challenge, from origin.
func ClientData(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// ChallengeOf returns the base64url challenge of creation or request options.
func ChallengeOf(publicKey []byte) string {
	var o struct {
		Challenge string `json:"challenge"`
	}
	_ = json.Unmarshal(publicKey, &o)
	return o.Challenge
}

// RegistrationJSON is a registration response as PublicKeyCredential.toJSON() gives it,
// from a platform authenticator with transport "internal".
func RegistrationJSON(credID, clientDataJSON, attestationObject []byte) []byte {
	return registrationJSON(credID, clientDataJSON, attestationObject, []string{"internal"}, "platform")
}

func registrationJSON(credID, clientDataJSON, attestationObject []byte, transports []string, attachment string) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": b64(credID), "rawId": b64(credID), "type": "public-key", "authenticatorAttachment": attachment,
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64(clientDataJSON), "attestationObject": b64(attestationObject),
			"transports": transports},
	})
	return b
}

// AssertionJSON is an authentication response as PublicKeyCredential.toJSON() gives it; a
// nil userHandle is left out.
func AssertionJSON(credID, clientDataJSON, authData, signature, userHandle []byte) []byte {
	return assertionJSON(credID, clientDataJSON, authData, signature, userHandle, "platform")
}

func assertionJSON(credID, clientDataJSON, authData, signature, userHandle []byte, attachment string) []byte {
	resp := map[string]any{"clientDataJSON": b64(clientDataJSON), "authenticatorData": b64(authData), "signature": b64(signature)}
	if userHandle != nil {
		resp["userHandle"] = b64(userHandle)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64(credID), "rawId": b64(credID), "type": "public-key", "authenticatorAttachment": attachment,
		"clientExtensionResults": map[string]any{}, "response": resp,
	})
	return b
}

// Key is a credential key pair: its credential ID and an ECDSA P-256, Ed25519 or RSA
// private key. Its methods only read it, so one Key may sign from many goroutines.
type Key struct {
	ID     []byte
	Signer crypto.Signer
}

// NewES256Key returns a P-256 credential with a random 16-byte ID.
func NewES256Key() Key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return Key{ID: randomID(), Signer: k}
}

// NewEd25519Key returns an Ed25519 credential.
func NewEd25519Key() Key {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return Key{ID: randomID(), Signer: k}
}

// NewRSAKey returns an RSA credential of bits (RS256).
func NewRSAKey(bits int) Key {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return Key{ID: randomID(), Signer: k}
}

func randomID() []byte { return randomBytes(16) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// COSE returns the public key as a COSE key: EC2 ES256 (both coordinates 32 bytes wide),
// OKP EdDSA or RSA RS256.
func (k Key) COSE() []byte {
	switch pub := k.Signer.Public().(type) {
	case *ecdsa.PublicKey:
		b, _ := pub.Bytes() // 0x04 || X || Y
		return COSEEC2(-7, 1, b[1:33], b[33:])
	case ed25519.PublicKey:
		return CBOR(map[int]any{1: 1, 3: -8, -1: 6, -2: []byte(pub)})
	case *rsa.PublicKey:
		return CBOR(map[int]any{1: 3, 3: -257, -1: pub.N.Bytes(), -2: big.NewInt(int64(pub.E)).Bytes()})
	}
	panic(fmt.Sprintf("softauthn: unsupported key %T", k.Signer))
}

// Alg returns the COSE algorithm the key signs with: -7 (ES256), -8 (EdDSA) or -257 (RS256).
func (k Key) Alg() int64 {
	switch k.Signer.Public().(type) {
	case *ecdsa.PublicKey:
		return -7
	case ed25519.PublicKey:
		return -8
	case *rsa.PublicKey:
		return -257
	}
	panic("softauthn: unsupported key")
}

// COSEEC2 returns an EC2 COSE key with algorithm alg on curve crv (1: P-256, 2: P-384).
func COSEEC2(alg, crv int64, x, y []byte) []byte {
	return CBOR(map[int]any{1: 2, 3: alg, -1: crv, -2: x, -3: y})
}

// Sign signs authData || SHA-256(clientDataJSON) as an authenticator does.
func (k Key) Sign(authData, clientDataJSON []byte) []byte {
	cdh := sha256.Sum256(clientDataJSON)
	msg := append(append([]byte{}, authData...), cdh[:]...)
	if ek, ok := k.Signer.(ed25519.PrivateKey); ok {
		return ed25519.Sign(ek, msg)
	}
	digest := sha256.Sum256(msg)
	var opts crypto.SignerOpts = crypto.SHA256
	sig, err := k.Signer.Sign(rand.Reader, digest[:], opts)
	if err != nil {
		panic(err)
	}
	return sig
}

// Registration answers creation options (the publicKey of append/start) from origin with
// attestation format "none": authenticator data for DefaultRPID with flags, aaguid and this
// key, passed to edit (if not nil) before it is encoded.
func (k Key) Registration(publicKey []byte, origin string, flags byte, aaguid []byte, edit func(*AuthData)) []byte {
	cd := ClientData("webauthn.create", ChallengeOf(publicKey), origin)
	ad := AuthData{Flags: flags | FlagAT, Attested: true, AAGUID: aaguid, CredID: k.ID, PublicKey: k.COSE()}
	if edit != nil {
		edit(&ad)
	}
	return RegistrationJSON(k.ID, cd, AttestationObject("none", nil, ad.Bytes()))
}

// Assertion answers request options (the publicKey of login/start) from origin, signing
// authenticator data for DefaultRPID with flags and counter (passed to edit first, if not
// nil).
func (k Key) Assertion(publicKey []byte, origin string, flags byte, counter uint32, userHandle []byte, edit func(*AuthData)) []byte {
	cd := ClientData("webauthn.get", ChallengeOf(publicKey), origin)
	ad := AuthData{Flags: flags, Counter: counter}
	if edit != nil {
		edit(&ad)
	}
	raw := ad.Bytes()
	return AssertionJSON(k.ID, cd, raw, k.Sign(raw, cd), userHandle)
}

// NewAttestationCert returns an attestation key and a self-signed certificate for it that
// meets the packed format's requirements (WebAuthn §8.2.1), naming aaguid in its
// id-fido-gen-ce-aaguid extension.
func NewAttestationCert(aaguid []byte) (*ecdsa.PrivateKey, []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	ext, err := asn1.Marshal(aaguid)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Latchkey Test Authenticators"},
			OrganizationalUnit: []string{"Authenticator Attestation"}, CommonName: "Latchkey Test Attestation"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}, Value: ext}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		panic(err)
	}
	return k, der
}

// PackedRegistration is Registration with a "packed" attestation statement: signed by
// attKey (ES256) and carrying certDER in x5c, or self attestation (signed by k) when attKey
// is nil.
func (k Key) PackedRegistration(publicKey []byte, origin string, flags byte, aaguid []byte, attKey *ecdsa.PrivateKey, certDER []byte) []byte {
	cd := ClientData("webauthn.create", ChallengeOf(publicKey), origin)
	ad := AuthData{Flags: flags | FlagAT, Attested: true, AAGUID: aaguid, CredID: k.ID, PublicKey: k.COSE()}.Bytes()
	stmt := map[string]any{"alg": int64(-7)}
	if attKey != nil {
		cdh := sha256.Sum256(cd)
		digest := sha256.Sum256(append(append([]byte{}, ad...), cdh[:]...))
		sig, err := ecdsa.SignASN1(rand.Reader, attKey, digest[:])
		if err != nil {
			panic(err)
		}
		stmt["sig"], stmt["x5c"] = sig, []any{certDER}
	} else {
		stmt["sig"] = k.Sign(ad, cd)
		if _, ok := k.Signer.(ed25519.PrivateKey); ok {
			stmt["alg"] = int64(-8)
		}
	}
	return RegistrationJSON(k.ID, cd, AttestationObject("packed", stmt, ad))
}

// CBORUnmarshal decodes CBOR into v, for tests that take a response apart.
func CBORUnmarshal(data []byte, v any) error { return cbor.Unmarshal(data, v) }
