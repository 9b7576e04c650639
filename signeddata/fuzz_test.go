package signeddata

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds Verify arbitrary tokens: it must never panic, every refusal must carry
// one of the package's error kinds, and whatever it accepts must be a valid token of the
// expected issuer.
func FuzzVerify(f *testing.F) {
	key := katKey(f)
	keys := []PublicKey{key.Public()}
	claims := katClaims()
	issuer := claims.Issuer
	now := claims.IssuedAt.Add(time.Minute)
	valid := mustSign(f, key, claims)

	p := strings.Split(valid, ".")
	algNone := b64.EncodeToString([]byte(`{"alg":"none","kid":"`+key.ID+`","typ":"JWT"}`)) + "." + p[1] + "."
	for _, seed := range []string{
		valid,
		katToken,
		algNone,
		valid[:len(valid)/2],
		valid[:len(valid)-1],
		valid[:strings.LastIndex(valid, ".")],
		valid[:strings.LastIndex(valid, ".")+1],
		p[0] + "." + p[1] + "." + p[1],
		"",
		".",
		"..",
		"a.b.c",
		"eyJ9.eyJ9.eyJ9",
		"e30.e30.",
		"{}",
		"\x00\xff.\n.\t",
	} {
		f.Add(seed)
	}
	kinds := []error{ErrMalformed, ErrInvalidSignature, ErrUnknownKey, ErrWrongIssuer, ErrExpired, ErrNotYetValid}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Verify(token, keys, issuer, now, DefaultLeeway)
		if err != nil {
			for _, kind := range kinds {
				if errors.Is(err, kind) {
					return
				}
			}
			t.Fatalf("Verify(%q) = %v, want an error of one of the package's kinds", token, err)
		}
		if c.Issuer != issuer {
			t.Fatalf("Verify(%q) accepted issuer %q, want %q", token, c.Issuer, issuer)
		}
		if c.Subject == "" || c.ID == "" || !now.Before(c.Expires.Add(DefaultLeeway)) || now.Before(c.NotBefore.Add(-DefaultLeeway)) {
			t.Fatalf("Verify(%q) accepted claims %+v at %v", token, c, now)
		}
	})
}
