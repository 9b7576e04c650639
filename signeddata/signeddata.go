// Package signeddata issues and verifies signedPasskeyData: the compact ES256 JWS the broker
// hands out after a passkey login, the JWK sets that publish its keys, and an offline
// Verifier that app backends use against a project's published key set.
package signeddata

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// MaxLifetime is the longest exp - iat a token may have.
const MaxLifetime = 300 * time.Second

// DefaultLeeway is the clock skew allowed on exp and nbf.
const DefaultLeeway = 10 * time.Second

// maxTokenLen is the longest token Verify looks at.
const maxTokenLen = 8 << 10

var (
	// ErrMalformed means the token is not a canonical compact JWS, has bad base64 or JSON,
	// or lacks a required claim.
	ErrMalformed = errors.New("signeddata: malformed token")
	// ErrInvalidSignature means alg is not ES256, typ is not JWT, or the signature does not
	// verify or is not in its canonical low-S form.
	ErrInvalidSignature = errors.New("signeddata: invalid signature")
	// ErrUnknownKey means the kid is missing or not in the key set.
	ErrUnknownKey = errors.New("signeddata: unknown key")
	// ErrWrongIssuer means iss is not the expected project ID.
	ErrWrongIssuer = errors.New("signeddata: wrong issuer")
	// ErrExpired means exp has passed, beyond the leeway.
	ErrExpired = errors.New("signeddata: expired")
	// ErrNotYetValid means nbf is in the future, beyond the leeway.
	ErrNotYetValid = errors.New("signeddata: not yet valid")
	// ErrInvalidKey means a key given to Sign or JWKS is not a P-256 key with an ID.
	ErrInvalidKey = errors.New("signeddata: invalid key")
	// ErrInvalidClaims means Sign refused the claims.
	ErrInvalidClaims = errors.New("signeddata: invalid claims")
)

// Claims are the claims of a signedPasskeyData token. Times travel as whole unix seconds.
type Claims struct {
	Issuer     string // iss: the project ID
	Subject    string // sub: the broker's user ID
	Username   string // username: the app's identifier for the user
	WebAuthnID string // webauthnId: the WebAuthn user handle, base64url
	Credential string // credential: the credential ID, base64url
	ProcessID  string // processId: the ceremony ID
	ID         string // jti: unique token ID

	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	Expires   time.Time // exp

	IsCUI bool // isCUI: the login came from conditional UI
	UV    bool // uv: the authenticator verified the user

	ConnectTokenID string // connectTokenID: omitted when empty

	// What the login tells about the passkey, for risk decisions. Tokens signed before these
	// claims existed lack them and verify with their zero values; the broker's tokens always
	// carry the three booleans.
	BackupEligible bool // backupEligible: the BE flag of the assertion: a passkey that can sync
	BackedUp       bool // backedUp: the BS flag of the assertion: the passkey is synced now
	// AuthenticatorAttachment is authenticatorAttachment: "platform" or "cross-platform" as
	// the client reported it (not signed by the authenticator); omitted when not reported.
	AuthenticatorAttachment string
	// CrossDevice is crossDevice: the client reported a cross-platform attachment for a
	// passkey whose stored transports include hybrid, i.e. a phone reached over hybrid.
	CrossDevice  bool
	AAGUID       string // aaguid: the provider's AAGUID stored at registration; omitted when empty
	ProviderName string // providerName: the provider's name by its AAGUID; omitted when unknown
}

// wireClaims is the JSON payload; the pointers find missing numeric claims.
type wireClaims struct {
	Issuer         string `json:"iss"`
	Subject        string `json:"sub"`
	Username       string `json:"username"`
	WebAuthnID     string `json:"webauthnId"`
	Credential     string `json:"credential"`
	ProcessID      string `json:"processId"`
	ID             string `json:"jti"`
	IssuedAt       *int64 `json:"iat"`
	NotBefore      *int64 `json:"nbf"`
	Expires        *int64 `json:"exp"`
	IsCUI          bool   `json:"isCUI"`
	UV             bool   `json:"uv"`
	ConnectTokenID string `json:"connectTokenID,omitempty"`

	BackupEligible          bool   `json:"backupEligible"`
	BackedUp                bool   `json:"backedUp"`
	AuthenticatorAttachment string `json:"authenticatorAttachment,omitempty"`
	CrossDevice             bool   `json:"crossDevice"`
	AAGUID                  string `json:"aaguid,omitempty"`
	ProviderName            string `json:"providerName,omitempty"`
}

// Key is one signing key: Private is a P-256 key, ID is its kid.
type Key struct {
	ID      string
	Private *ecdsa.PrivateKey
}

// PublicKey is one verification key: Key is a P-256 key, ID is its kid.
type PublicKey struct {
	ID  string
	Key *ecdsa.PublicKey
}

// GenerateKey returns a new P-256 key from crypto/rand with a random 128-bit kid.
func GenerateKey() (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("signeddata: generating key: %w", err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return Key{}, fmt.Errorf("signeddata: generating key id: %w", err)
	}
	return Key{ID: base64.RawURLEncoding.EncodeToString(id), Private: priv}, nil
}

// Public returns the verification half of k; its Key is nil when k has no private key.
func (k Key) Public() PublicKey {
	if k.Private == nil {
		return PublicKey{ID: k.ID}
	}
	return PublicKey{ID: k.ID, Key: &k.Private.PublicKey}
}

// Sign returns c as a compact ES256 JWS signed by k. A zero NotBefore becomes IssuedAt.
// It returns ErrInvalidKey when k is not a P-256 key with an ID, and ErrInvalidClaims when
// Issuer, Subject or ID is empty or Expires - IssuedAt is not in (0, MaxLifetime].
func Sign(k Key, c Claims) (string, error) {
	if k.ID == "" || k.Private == nil || k.Private.Curve != elliptic.P256() {
		return "", fmt.Errorf("%w: want a P-256 private key with an id", ErrInvalidKey)
	}
	switch {
	case c.Issuer == "":
		return "", fmt.Errorf("%w: empty iss", ErrInvalidClaims)
	case c.Subject == "":
		return "", fmt.Errorf("%w: empty sub", ErrInvalidClaims)
	case c.ID == "":
		return "", fmt.Errorf("%w: empty jti", ErrInvalidClaims)
	}
	c = c.Canonical()
	iat, nbf, exp := c.IssuedAt.Unix(), c.NotBefore.Unix(), c.Expires.Unix()
	if !validLifetime(iat, exp) {
		return "", fmt.Errorf("%w: exp - iat must be in (0, %v]", ErrInvalidClaims, MaxLifetime)
	}
	payload, err := json.Marshal(wireClaims{
		Issuer:         c.Issuer,
		Subject:        c.Subject,
		Username:       c.Username,
		WebAuthnID:     c.WebAuthnID,
		Credential:     c.Credential,
		ProcessID:      c.ProcessID,
		ID:             c.ID,
		IssuedAt:       &iat,
		NotBefore:      &nbf,
		Expires:        &exp,
		IsCUI:          c.IsCUI,
		UV:             c.UV,
		ConnectTokenID: c.ConnectTokenID,

		BackupEligible:          c.BackupEligible,
		BackedUp:                c.BackedUp,
		AuthenticatorAttachment: c.AuthenticatorAttachment,
		CrossDevice:             c.CrossDevice,
		AAGUID:                  c.AAGUID,
		ProviderName:            c.ProviderName,
	})
	if err != nil {
		return "", fmt.Errorf("signeddata: encoding claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, k.ID); err != nil {
		return "", fmt.Errorf("signeddata: setting kid: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("signeddata: setting typ: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256, k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("signeddata: signing: %w", err)
	}
	return lowS(string(tok))
}

// p256HalfOrder is n/2 for the order n of P-256: a canonical signature has s <= n/2.
var p256HalfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// lowS returns the compact ES256 JWS token with its signature (r, s) in the canonical form
// (r, min(s, n-s)). Both forms verify, so a token with a high s has a twin with another
// text; Sign issues only the low one and Verify accepts only the low one.
func lowS(token string) (string, error) {
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || len(sig) != 64 {
		return "", errors.New("signeddata: signing: unexpected ES256 signature")
	}
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(p256HalfOrder) <= 0 {
		return token, nil
	}
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig), nil
}

// highS reports whether an ES256 signature, r || s, has s > n/2.
func highS(sig []byte) bool {
	return len(sig) == 64 && new(big.Int).SetBytes(sig[32:]).Cmp(p256HalfOrder) > 0
}

// Canonical returns c as Verify returns it from the token Sign makes of c: times in whole
// seconds and UTC, and a zero NotBefore replaced by IssuedAt.
func (c Claims) Canonical() Claims {
	if c.NotBefore.IsZero() {
		c.NotBefore = c.IssuedAt
	}
	for _, t := range []*time.Time{&c.IssuedAt, &c.NotBefore, &c.Expires} {
		*t = time.Unix(t.Unix(), 0).UTC()
	}
	return c
}

// Verify checks token against keys, issuer and the time now (with leeway) and returns its
// claims. It checks, in order: the form (ErrMalformed), the header: alg ES256 and typ JWT
// (ErrInvalidSignature) and a kid found in keys (ErrUnknownKey), the signature, which must
// verify and have the canonical low S (ErrInvalidSignature), the claims (ErrMalformed), then
// Claims.Check: iss (ErrWrongIssuer), exp (ErrExpired) and nbf (ErrNotYetValid). jwx parses
// the token once.
func Verify(token string, keys []PublicKey, issuer string, now time.Time, leeway time.Duration) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	// jwx decodes base64 leniently (padding, the standard alphabet), and Go's decoders skip
	// CR and LF even in strict mode; accept only the one canonical spelling so that a token
	// has exactly one text.
	if strings.IndexFunc(token, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return Claims{}, fmt.Errorf("%w: a character outside base64url", ErrMalformed)
	}
	if n := strings.Count(token, "."); n != 2 {
		return Claims{}, fmt.Errorf("%w: want 3 parts, got %d", ErrMalformed, n+1)
	}
	for p := range strings.SplitSeq(token, ".") {
		if err := canonicalBase64URL(p); err != nil {
			return Claims{}, fmt.Errorf("%w: bad base64url: %v", ErrMalformed, err)
		}
	}
	var msg jws.Message
	kp := headerKeys{keys: keys}
	_, err := jws.Verify([]byte(token), jws.WithCompact(), jws.WithKeyProvider(&kp), jws.WithMessage(&msg))
	switch {
	case !kp.called && err != nil: // jwx could not parse the token
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	case kp.err != nil:
		return Claims{}, kp.err
	case err != nil:
		return Claims{}, fmt.Errorf("%w: signature does not verify with key %q", ErrInvalidSignature, kp.kid)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return Claims{}, fmt.Errorf("%w: want 1 signature, got %d", ErrMalformed, len(sigs))
	}
	// (r, n-s) verifies wherever (r, s) does: accept only the form Sign issues, so that a
	// token has exactly one text.
	if highS(sigs[0].Signature()) {
		return Claims{}, fmt.Errorf("%w: the signature is not in its canonical low-S form", ErrInvalidSignature)
	}
	c, err := decodeClaims(msg.Payload())
	if err != nil {
		return Claims{}, err
	}
	if err := c.Check(issuer, now, leeway); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// headerKeys is the jws.KeyProvider of Verify: it refuses a protected header that Sign would
// not have made and offers the keys of keys with the header's kid, always as ES256. err is
// why it refused, with the package's error kind, and kid the kid it looked up.
type headerKeys struct {
	keys   []PublicKey
	called bool
	kid    string
	err    error
}

func (p *headerKeys) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	p.called = true
	p.err = p.fetch(sink, sig)
	return p.err
}

func (p *headerKeys) fetch(sink jws.KeySink, sig *jws.Signature) error {
	hdr := sig.ProtectedHeaders()
	if alg := hdr.Algorithm(); alg != jwa.ES256 {
		return fmt.Errorf("%w: alg %q is not ES256", ErrInvalidSignature, alg)
	}
	if typ := hdr.Type(); typ != "JWT" {
		return fmt.Errorf("%w: typ %q is not JWT", ErrInvalidSignature, typ)
	}
	// We never set crit or b64; a token that does was not made by Sign.
	for _, name := range []string{jws.CriticalKey, "b64"} {
		if _, ok := hdr.Get(name); ok {
			return fmt.Errorf("%w: unexpected header %q", ErrInvalidSignature, name)
		}
	}
	p.kid = hdr.KeyID()
	if p.kid == "" {
		return fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	found := false
	for _, k := range p.keys {
		if k.ID != p.kid || k.Key == nil || k.Key.Curve != elliptic.P256() {
			continue
		}
		found = true
		// The algorithm comes from us, never from the token's header; jwx tries each key.
		sink.Key(jwa.ES256, k.Key)
	}
	if !found {
		return fmt.Errorf("%w: kid %q", ErrUnknownKey, p.kid)
	}
	return nil
}

// canonicalBase64URL returns an error unless s, made of base64url characters only, is the
// one unpadded spelling of its bytes. Lenient decoders also accept a last character whose
// unused bits are set; strict decoding of the last, partial group refuses it.
func canonicalBase64URL(s string) error {
	tail := s[len(s)-len(s)%4:]
	var buf [3]byte
	_, err := base64.RawURLEncoding.Strict().Decode(buf[:], []byte(tail))
	return err
}

// Check returns an error unless c is for issuer and valid at now, give or take leeway (a
// negative leeway counts as 0): ErrWrongIssuer, ErrExpired or ErrNotYetValid, checked in
// that order, as Verify does.
func (c Claims) Check(issuer string, now time.Time, leeway time.Duration) error {
	if c.Issuer != issuer {
		return fmt.Errorf("%w: %q, want %q", ErrWrongIssuer, c.Issuer, issuer)
	}
	leeway = max(leeway, 0)
	if !now.Before(c.Expires.Add(leeway)) {
		return fmt.Errorf("%w: at %v", ErrExpired, c.Expires)
	}
	if now.Before(c.NotBefore.Add(-leeway)) {
		return fmt.Errorf("%w: until %v", ErrNotYetValid, c.NotBefore)
	}
	return nil
}

// decodeClaims parses a verified payload; it returns ErrMalformed when the JSON is bad, a
// required claim (iss, sub, jti, iat, nbf, exp) is missing, or exp - iat is not in
// (0, MaxLifetime].
func decodeClaims(payload []byte) (Claims, error) {
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	for _, req := range []struct {
		name    string
		missing bool
	}{
		{"iss", w.Issuer == ""},
		{"sub", w.Subject == ""},
		{"jti", w.ID == ""},
		{"iat", w.IssuedAt == nil},
		{"nbf", w.NotBefore == nil},
		{"exp", w.Expires == nil},
	} {
		if req.missing {
			return Claims{}, fmt.Errorf("%w: missing %s", ErrMalformed, req.name)
		}
	}
	if !validLifetime(*w.IssuedAt, *w.Expires) {
		return Claims{}, fmt.Errorf("%w: exp - iat not in (0, %v]", ErrMalformed, MaxLifetime)
	}
	return Claims{
		Issuer:         w.Issuer,
		Subject:        w.Subject,
		Username:       w.Username,
		WebAuthnID:     w.WebAuthnID,
		Credential:     w.Credential,
		ProcessID:      w.ProcessID,
		ID:             w.ID,
		IssuedAt:       time.Unix(*w.IssuedAt, 0).UTC(),
		NotBefore:      time.Unix(*w.NotBefore, 0).UTC(),
		Expires:        time.Unix(*w.Expires, 0).UTC(),
		IsCUI:          w.IsCUI,
		UV:             w.UV,
		ConnectTokenID: w.ConnectTokenID,

		BackupEligible:          w.BackupEligible,
		BackedUp:                w.BackedUp,
		AuthenticatorAttachment: w.AuthenticatorAttachment,
		CrossDevice:             w.CrossDevice,
		AAGUID:                  w.AAGUID,
		ProviderName:            w.ProviderName,
	}, nil
}

// validLifetime reports whether exp - iat, in seconds, is in (0, MaxLifetime], without overflow.
func validLifetime(iat, exp int64) bool {
	d := exp - iat
	return exp > iat && d > 0 && d <= int64(MaxLifetime/time.Second)
}
