// Package broker holds Latchkey's domain: projects and their API secrets, users, passkeys,
// connect tokens, WebAuthn ceremonies and signedPasskeyData signing keys, and the SQL store
// behind them. It knows nothing about HTTP.
package broker

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Default lifetimes.
const (
	CeremonyLifetime = 5 * time.Minute
	// KeyActivationDelay is how long a rotated-in signing key is published before it signs,
	// so that verifiers' cached key sets (the JWKS is cacheable for JWKSMaxAge) learn it first.
	KeyActivationDelay = 10 * time.Minute
	// JWKSMaxAge is how long clients may cache the JWKS.
	JWKSMaxAge = 5 * time.Minute
	// SignedDataLifetime is exp - iat of signedPasskeyData.
	SignedDataLifetime = 5 * time.Minute
)

// Broker runs the passkey operations of every project on one Store.
type Broker struct {
	store  *Store
	sealer cipher.AEAD
	// Now is the clock; tests replace it.
	Now func() time.Time
	// cache holds the project configuration and keys the broker read (see cache.go).
	cache brokerCache
	// MaxPendingCeremonies caps each project's unexpired, unfinished ceremonies, counted in
	// the database so that the cap holds across replicas (0: no cap). A start beyond it fails
	// with ErrTooManyCeremonies.
	MaxPendingCeremonies int

	keyCache sync.Map   // kid -> signeddata.Key, decrypted private keys
	events   eventClock // orders the audit events this broker writes
}

// New returns a Broker over store whose signing keys are sealed with secretKey (32 bytes,
// AES-256-GCM).
func New(store *Store, secretKey []byte) (*Broker, error) {
	if len(secretKey) != 32 {
		return nil, errors.New("secret key must be 32 bytes")
	}
	block, err := aes.NewCipher(secretKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Broker{store: store, sealer: aead, Now: time.Now, MaxPendingCeremonies: DefaultMaxPendingCeremonies}, nil
}

// Store returns the broker's store.
func (b *Broker) Store() *Store { return b.store }

// ParseSecretKey decodes LATCHKEY_SECRET_KEY: 32 bytes in standard or URL base64.
func ParseSecretKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("secret key must be 32 random bytes in base64 (openssl rand -base64 32)")
}

// NewSecretKey returns 32 random bytes in base64, as LATCHKEY_SECRET_KEY takes them.
func NewSecretKey() (string, error) {
	b, err := randomBytes(32)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func (b *Broker) seal(plain []byte, aad string) (string, error) {
	nonce, err := randomBytes(b.sealer.NonceSize())
	if err != nil {
		return "", err
	}
	return b64(b.sealer.Seal(nonce, nonce, plain, []byte(aad))), nil
}

func (b *Broker) open(sealed, aad string) ([]byte, error) {
	raw, err := unb64(sealed)
	if err != nil || len(raw) < b.sealer.NonceSize() {
		return nil, errors.New("sealed value is malformed")
	}
	n := b.sealer.NonceSize()
	plain, err := b.sealer.Open(nil, raw[:n], raw[n:], []byte(aad))
	if err != nil {
		return nil, errors.New("cannot decrypt signing key: wrong LATCHKEY_SECRET_KEY?")
	}
	return plain, nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	return b, nil
}

// newID returns prefix + 24 hex characters (96 random bits).
func newID(prefix string) (string, error) {
	b, err := randomBytes(12)
	if err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
