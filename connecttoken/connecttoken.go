// Package connecttoken mints and checks Latchkey's connect tokens: typed, short-lived,
// single-use secrets that an app backend hands to its frontend to authorise one passkey
// operation for one user. The package is pure: it creates secrets, hashes them for storage
// and decides whether a stored token authorises an operation; the broker stores them.
package connecttoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Type is the one kind of operation a token authorises.
type Type string

// The token types of the contract.
const (
	TypeAppend Type = "passkey-append"
	TypeList   Type = "passkey-list"
	TypeDelete Type = "passkey-delete"
	TypeLogin  Type = "passkey-login"
)

// Prefix starts every connect token secret; it lets secret scanners and humans recognise one.
const Prefix = "ctk1_"

// secretBytes is the number of random bytes in a secret (256 bits, base64url: 43 characters).
const secretBytes = 32

// Lifetime bounds, per the contract.
const (
	DefaultLifetime = 600 * time.Second
	MaxLifetime     = 3600 * time.Second
)

// Errors returned by this package.
var (
	ErrMalformed   = errors.New("connecttoken: malformed token")
	ErrUnknownType = errors.New("connecttoken: unknown token type")
	ErrLifetime    = errors.New("connecttoken: lifetime must be between 1 and 3600 seconds")
	ErrExpired     = errors.New("connecttoken: token expired")
	ErrConsumed    = errors.New("connecttoken: token already used")
	ErrWrongType   = errors.New("connecttoken: token of another type")
)

// ParseType returns the Type named s, or ErrUnknownType.
func ParseType(s string) (Type, error) {
	switch t := Type(s); t {
	case TypeAppend, TypeList, TypeDelete, TypeLogin:
		return t, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownType, s)
}

// Lifetime returns the lifetime for a requested maxLifetimeInSeconds: DefaultLifetime when
// seconds is nil, else seconds if it lies in 1..3600, else ErrLifetime.
func Lifetime(seconds *int64) (time.Duration, error) {
	if seconds == nil {
		return DefaultLifetime, nil
	}
	if *seconds < 1 || *seconds > int64(MaxLifetime/time.Second) {
		return 0, ErrLifetime
	}
	return time.Duration(*seconds) * time.Second, nil
}

// New returns a fresh secret from crypto/rand and the hash to store in its place.
func New() (secret, hash string, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("connecttoken: reading random bytes: %w", err)
	}
	secret = Prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, hashOf(secret), nil
}

// Hash checks that secret has the form New produces and returns its storage hash (hex SHA-256).
// It returns ErrMalformed for anything else.
func Hash(secret string) (string, error) {
	body, ok := strings.CutPrefix(secret, Prefix)
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return "", ErrMalformed
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(b) != secretBytes {
		return "", ErrMalformed
	}
	return hashOf(secret), nil
}

func hashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// State is what the broker knows of a stored token when it is presented.
type State struct {
	Type      Type
	ExpiresAt time.Time
	Consumed  bool
}

// Authorizes reports whether a token in state s may perform an operation of type want at now.
// It returns ErrWrongType, ErrConsumed or ErrExpired, in that order of precedence.
func (s State) Authorizes(want Type, now time.Time) error {
	switch {
	case s.Type != want:
		return fmt.Errorf("%w: have %s, need %s", ErrWrongType, s.Type, want)
	case s.Consumed:
		return ErrConsumed
	case !now.Before(s.ExpiresAt):
		return ErrExpired
	}
	return nil
}
