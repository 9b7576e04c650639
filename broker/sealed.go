package broker

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// A login ceremony without a connect token is not stored when it starts: its state is sealed
// into its ID with XChaCha20-Poly1305 (random 192-bit nonces, safe for any number of
// ceremonies under one key) under a key derived from the broker's secret key, bound to its
// project and kind. Any replica with the same secret key can open it, nobody else can read or
// forge it, and starting one writes nothing, so strangers cannot fill a shared resource by
// starting logins. Single use is recorded when it finishes (ceremony_outcomes, keyed by
// sealedKey of the ID).

// sealedPrefix starts the ID of a sealed login ceremony.
const sealedPrefix = "cls-"

// sealedCeremony is the state of a login ceremony that its ID carries.
type sealedCeremony struct {
	ExpiresAt   time.Time
	Conditional bool
	Challenge   []byte // 32 random bytes, as go-webauthn makes them
	UserID      string // "" for usernameless and conditional logins
}

const sealedVersion = 1

func newCeremonyAEAD(secretKey []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secretKey, nil, "latchkey sealed ceremony v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(key)
}

func sealedAAD(projectID, kind string) []byte {
	return []byte("latchkey ceremony|" + kind + "|" + projectID)
}

// sealCeremony returns the ID of a login ceremony of the project with state c.
func (b *Broker) sealCeremony(projectID string, c sealedCeremony) (string, error) {
	if b.ceremonyAEAD == nil {
		return "", ErrNoSecretKey
	}
	if len(c.Challenge) == 0 || len(c.Challenge) > 64 || len(c.UserID) > 255 {
		return "", errors.New("sealed ceremony: challenge or user ID out of range")
	}
	plain := make([]byte, 0, 12+len(c.Challenge)+len(c.UserID))
	plain = append(plain, sealedVersion)
	plain = binary.BigEndian.AppendUint64(plain, uint64(c.ExpiresAt.UnixMilli()))
	var flags byte
	if c.Conditional {
		flags |= 1
	}
	plain = append(plain, flags, byte(len(c.Challenge)))
	plain = append(plain, c.Challenge...)
	plain = append(plain, byte(len(c.UserID)))
	plain = append(plain, c.UserID...)
	nonce, err := randomBytes(b.ceremonyAEAD.NonceSize())
	if err != nil {
		return "", err
	}
	return sealedPrefix + b64(b.ceremonyAEAD.Seal(nonce, nonce, plain, sealedAAD(projectID, kindLogin))), nil
}

// openCeremony returns the state sealed into id for the project's login ceremonies, or
// ErrCeremonyNotFound for an ID that is not one (another project's, another kind's, forged
// or damaged). It does not check expiry.
func (b *Broker) openCeremony(projectID, id string) (sealedCeremony, error) {
	rest, ok := strings.CutPrefix(id, sealedPrefix)
	if !ok || b.ceremonyAEAD == nil {
		return sealedCeremony{}, ErrCeremonyNotFound
	}
	raw, err := unb64(rest)
	n := b.ceremonyAEAD.NonceSize()
	if err != nil || len(raw) < n+b.ceremonyAEAD.Overhead() {
		return sealedCeremony{}, ErrCeremonyNotFound
	}
	plain, err := b.ceremonyAEAD.Open(nil, raw[:n], raw[n:], sealedAAD(projectID, kindLogin))
	if err != nil || len(plain) < 12 || plain[0] != sealedVersion {
		return sealedCeremony{}, ErrCeremonyNotFound
	}
	var c sealedCeremony
	c.ExpiresAt = time.UnixMilli(int64(binary.BigEndian.Uint64(plain[1:9]))).UTC()
	c.Conditional = plain[9]&1 != 0
	p := plain[10:]
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return sealedCeremony{}, ErrCeremonyNotFound
	}
	c.Challenge, p = p[1:1+int(p[0])], p[1+int(p[0]):]
	if len(p) < 1 || len(p) != 1+int(p[0]) {
		return sealedCeremony{}, ErrCeremonyNotFound
	}
	c.UserID = string(p[1:])
	return c, nil
}

// outcomeKey is the key of a ceremony in ceremony_outcomes: a hash of its ID.
func outcomeKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return b64(sum[:])
}
