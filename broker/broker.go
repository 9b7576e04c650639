// Package broker holds Latchkey's rules: projects and their API secrets, users, passkeys,
// connect tokens, WebAuthn ceremonies, signedPasskeyData signing keys, the policy and the
// audit log. It asks its store (package sqlstore) for rows and knows nothing about SQL or
// HTTP.
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

	"github.com/latchkey/latchkey/broker/aaguids"
	"github.com/latchkey/latchkey/broker/sqlstore"
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

// Broker runs the passkey operations of every project on one store.
type Broker struct {
	store  *sqlstore.Store
	sealer cipher.AEAD // nil without a secret key
	// ceremonyAEAD seals login ceremonies into their IDs (see sealed.go); nil without a key.
	ceremonyAEAD cipher.AEAD
	// Now is the clock (Config.Now); tests may move it.
	Now func() time.Time
	// cache holds the project configuration and keys the broker read (see cache.go).
	cache brokerCache
	// maxPending caps each project's unexpired, unfinished ceremonies (0: no cap).
	maxPending int

	keyCache sync.Map   // kid -> signeddata.Key, decrypted private keys
	events   eventClock // orders the audit events this broker writes

	issued issuedTokens // the signedPasskeyData this broker signed (see issued.go)

	providers *aaguids.Names // provider names by AAGUID (Config.Providers)
	observer  Observer       // Config.Observer, or one that does nothing

	webhookAllowPrivate bool // Config.WebhookAllowPrivate
}

// Config is what a Broker is built with.
type Config struct {
	// SecretKey seals the signing keys (32 bytes, AES-256-GCM; see ParseSecretKey). Without
	// it the broker cannot create projects, rotate keys or sign: those fail with
	// ErrNoSecretKey. Commands that only read or change settings leave it out.
	SecretKey []byte
	// MaxPendingCeremonies caps each project's unexpired, unfinished ceremonies, counted in
	// the database so that the cap holds across replicas; a start beyond it fails with
	// ErrTooManyCeremonies. 0 means DefaultMaxPendingCeremonies, a negative value no cap.
	MaxPendingCeremonies int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Providers names passkey providers by AAGUID (nil: the embedded community data,
	// aaguids.Embedded).
	Providers *aaguids.Names
	// Observer is told of ceremonies, connect tokens and verifications, for metrics (nil:
	// nobody).
	Observer Observer
	// WebhookAllowPrivate lets webhook endpoints use http and private, loopback and other
	// non-public addresses (LATCHKEY_WEBHOOK_ALLOW_PRIVATE=1, for tests and intranets).
	WebhookAllowPrivate bool
}

// ErrNoSecretKey is returned by operations that need the secret key of a broker built
// without one.
var ErrNoSecretKey = errors.New("this broker has no LATCHKEY_SECRET_KEY")

// New returns a Broker over store configured by cfg. It fails for a secret key that is not
// 32 bytes long.
func New(store *sqlstore.Store, cfg Config) (*Broker, error) {
	b := &Broker{store: store, Now: cfg.Now, maxPending: cfg.MaxPendingCeremonies, providers: cfg.Providers, observer: cfg.Observer,
		webhookAllowPrivate: cfg.WebhookAllowPrivate}
	if b.providers == nil {
		b.providers = aaguids.Embedded()
	}
	if b.observer == nil {
		b.observer = nopObserver{}
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	switch {
	case b.maxPending == 0:
		b.maxPending = DefaultMaxPendingCeremonies
	case b.maxPending < 0:
		b.maxPending = 0
	}
	if cfg.SecretKey != nil {
		if len(cfg.SecretKey) != 32 {
			return nil, errors.New("secret key must be 32 bytes")
		}
		block, err := aes.NewCipher(cfg.SecretKey)
		if err != nil {
			return nil, err
		}
		if b.sealer, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
		if b.ceremonyAEAD, err = newCeremonyAEAD(cfg.SecretKey); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Store returns the broker's store.
func (b *Broker) Store() *sqlstore.Store { return b.store }

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
	if b.sealer == nil {
		return "", ErrNoSecretKey
	}
	nonce, err := randomBytes(b.sealer.NonceSize())
	if err != nil {
		return "", err
	}
	return b64(b.sealer.Seal(nonce, nonce, plain, []byte(aad))), nil
}

func (b *Broker) open(sealed, aad string) ([]byte, error) {
	if b.sealer == nil {
		return nil, ErrNoSecretKey
	}
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
