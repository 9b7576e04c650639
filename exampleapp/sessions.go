package exampleapp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Session lifetimes and cookie names.
const (
	accessTTL     = 15 * time.Minute
	refreshTTL    = 30 * 24 * time.Hour
	accessCookie  = "app_access"
	refreshCookie = "app_refresh"
	tokenIssuer   = "latchkey-example-app"
)

// How a session was created, as /api/me reports it.
const (
	methodPassword = "password"
	methodPasskey  = "passkey"
)

// session is what an access or refresh token says.
type session struct {
	UserID  string
	Method  string // methodPassword or methodPasskey
	Version int64  // the user's refresh version (refresh tokens only)
	Issued  time.Time
}

// sessionKeys signs and checks the app's session tokens (HS256 with a key of its own).
type sessionKeys struct {
	key []byte
	now func() time.Time
}

// loadKey returns the 32-byte session key kept in DataDir/exampleapp.key, creating it once.
func loadKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "exampleapp.key")
	if raw, err := os.ReadFile(path); err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%s: want 32 bytes in base64", path)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
}

// issue signs a token of kind "access" or "refresh" for s.
func (k sessionKeys) issue(kind string, s session, ttl time.Duration) (string, error) {
	now := k.now()
	b := jwt.NewBuilder().Issuer(tokenIssuer).Audience([]string{kind}).Subject(s.UserID).
		IssuedAt(now).Expiration(now.Add(ttl)).Claim("method", s.Method)
	if kind == "refresh" {
		b = b.Claim("ver", s.Version)
	}
	tok, err := b.Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, k.key))
	return string(signed), err
}

// parse checks a token of kind "access" or "refresh" (signature, issuer, audience, expiry)
// and returns what it says.
func (k sessionKeys) parse(kind, raw string) (session, error) {
	tok, err := jwt.ParseString(raw, jwt.WithKey(jwa.HS256, k.key), jwt.WithValidate(true),
		jwt.WithIssuer(tokenIssuer), jwt.WithAudience(kind), jwt.WithClock(jwt.ClockFunc(k.now)))
	if err != nil {
		return session{}, err
	}
	s := session{UserID: tok.Subject(), Issued: tok.IssuedAt()}
	if v, ok := tok.PrivateClaims()["method"].(string); ok && (v == methodPassword || v == methodPasskey) {
		s.Method = v
	} else {
		return session{}, errors.New("token without a valid method")
	}
	if kind == "refresh" {
		v, ok := tok.PrivateClaims()["ver"].(float64)
		if !ok {
			return session{}, errors.New("refresh token without a version")
		}
		s.Version = int64(v)
	}
	return s, nil
}

// setCookie sets an HttpOnly, SameSite=Lax session cookie (Secure when served over HTTPS).
func setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(r),
	})
}

// clearCookies removes both session cookies.
func clearCookies(w http.ResponseWriter, r *http.Request) {
	setCookie(w, r, accessCookie, "", "/", -time.Second)
	setCookie(w, r, refreshCookie, "", "/", -time.Second)
}

func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}
