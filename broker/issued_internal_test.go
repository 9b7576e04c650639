package broker

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/latchkey/latchkey/signeddata"
)

// issuedClaims returns the claims of token i, issued at iat.
func issuedClaims(i int, iat time.Time) signeddata.Claims {
	return signeddata.Claims{Issuer: "prj-1", Subject: "usr-1", ID: fmt.Sprintf("spd-%d", i),
		IssuedAt: iat, NotBefore: iat, Expires: iat.Add(SignedDataLifetime)}
}

func tokenText(i int) string { return fmt.Sprintf("token-%d", i) }

func (t *issuedTokens) has(token string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[t.sum(token)]
	return ok
}

func TestIssuedTokensBound(t *testing.T) {
	const max = 4
	set := issuedTokens{max: max}
	now := time.Unix(1767225600, 0).UTC()
	forgetAt := now.Add(SignedDataLifetime + signeddata.DefaultLeeway)

	for i := range max + 1 {
		set.remember(tokenText(i), "kid", issuedClaims(i, now), now)
	}
	if n := set.len(); n != max {
		t.Fatalf("after %d tokens: %d remembered, want %d", max+1, n, max)
	}
	for i := range max + 1 {
		if got, want := set.has(tokenText(i)), i < max; got != want {
			t.Errorf("token %d remembered = %v, want %v (a full set leaves new tokens to full verification)", i, got, want)
		}
	}

	// Full of live tokens until the first ones expire: nothing is evicted before.
	set.remember(tokenText(10), "kid", issuedClaims(10, forgetAt.Add(-time.Second)), forgetAt.Add(-time.Second))
	if set.has(tokenText(10)) || set.len() != max {
		t.Errorf("a token remembered while every other lives: %d remembered, want %d and not the new one", set.len(), max)
	}
	// From forgetAt on, verification refuses them: they make room.
	set.remember(tokenText(11), "kid", issuedClaims(11, forgetAt), forgetAt)
	if !set.has(tokenText(11)) || set.len() != 1 {
		t.Errorf("at the expiry of the first tokens: %d remembered, want only the new one", set.len())
	}
	// A token that can no longer verify is not remembered.
	set.remember(tokenText(12), "kid", issuedClaims(12, now), forgetAt)
	if set.has(tokenText(12)) {
		t.Errorf("an expired token was remembered")
	}
	// A used token is forgotten and frees its place.
	set.forget(set.sum(tokenText(11)))
	if set.len() != 0 {
		t.Errorf("after forget: %d remembered, want 0", set.len())
	}

	// Under churn, with tokens of every age, the bound holds and live tokens keep their place.
	rng := rand.New(rand.NewPCG(1, 2))
	clock := forgetAt
	remembered := 0
	for i := range 5000 {
		clock = clock.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
		iat := clock.Add(-time.Duration(rng.IntN(400)) * time.Second)
		set.remember(tokenText(100+i), "kid", issuedClaims(100+i, iat), clock)
		if set.has(tokenText(100 + i)) {
			remembered++
		}
		if n := set.len(); n > max {
			t.Fatalf("after %d tokens under churn: %d remembered, want at most %d", i+1, n, max)
		}
	}
	if remembered <= 2*max { // without eviction, only the first max
		t.Errorf("under churn %d of 5000 tokens were remembered: expired ones are not evicted", remembered)
	}
	set.mu.Lock()
	defer set.mu.Unlock()
	for _, e := range set.m {
		if e.forgetAt.Before(set.nextForget) {
			t.Errorf("an entry is forgotten at %v, before nextForget %v", e.forgetAt, set.nextForget)
		}
	}
}

func TestIssuedTokensRemembersCanonicalClaims(t *testing.T) {
	var set issuedTokens
	now := time.Unix(1767225600, 0).Add(700 * time.Millisecond)
	c := issuedClaims(1, now)
	c.WebAuthnID, c.ConnectTokenID, c.NotBefore = "dXNlcg", "ctk-1", time.Time{}
	set.remember("token", "kid-1", c, now)
	got, ok := set.lookup(set.sum("token"))
	if !ok {
		t.Fatalf("lookup(token) found nothing")
	}
	want := c.Canonical()
	want.WebAuthnID, want.ConnectTokenID = "", ""
	if got.claims != want || got.kid != "kid-1" || !got.forgetAt.Equal(want.Expires.Add(signeddata.DefaultLeeway)) {
		t.Errorf("lookup(token) = %+v, want kid-1 and claims %+v", got, want)
	}
	if _, ok := set.lookup(set.sum("token ")); ok {
		t.Errorf("lookup(another text) found a token")
	}
	if hits, misses := set.hits.Load(), set.misses.Load(); hits != 1 || misses != 1 {
		t.Errorf("after a hit and a miss: hits %d, misses %d", hits, misses)
	}
}

// The hash is keyed per set (per process): nobody can compute it, and another replica's
// set knows nothing of this one's tokens.
func TestIssuedTokensKeyedHash(t *testing.T) {
	var a, b issuedTokens
	if a.sum("token") != a.sum("token") {
		t.Errorf("sum(token) changes between calls")
	}
	if a.sum("token") == a.sum("token2") {
		t.Errorf("sum(token) = sum(token2)")
	}
	if a.sum("token") == b.sum("token") {
		t.Errorf("two sets hash token alike: the key is not random")
	}
	if a.sum("token") == sha256.Sum256([]byte("token")) {
		t.Errorf("sum(token) is the unkeyed SHA-256")
	}
}

// issuedToken.verify answers as signeddata.Verify does for the same token, keys, issuer and
// time: the fast path checks all that full verification checks but the signature.
func TestIssuedTokenVerifyAgreesWithVerify(t *testing.T) {
	key, err := signeddata.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := signeddata.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	iat := time.Unix(1767225600, 0).UTC()
	c := issuedClaims(1, iat)
	c.Username, c.Credential, c.ProcessID = "alice", "Y3JlZA", "cer-1"
	token, err := signeddata.Sign(key, c)
	if err != nil {
		t.Fatal(err)
	}
	var set issuedTokens
	set.remember(token, key.ID, c, iat)
	e, ok := set.lookup(set.sum(token))
	if !ok {
		t.Fatalf("lookup(token) found nothing")
	}
	keys := []signeddata.PublicKey{other.Public(), key.Public()}
	lifetime := SignedDataLifetime + signeddata.DefaultLeeway
	for _, tc := range []struct {
		name    string
		keys    []signeddata.PublicKey
		issuer  string
		now     time.Time
		wantErr error
	}{
		{"valid", keys, "prj-1", iat, nil},
		{"valid until the leeway ends", keys, "prj-1", iat.Add(lifetime - time.Millisecond), nil},
		{"expired", keys, "prj-1", iat.Add(lifetime), signeddata.ErrExpired},
		{"before nbf within the leeway", keys, "prj-1", iat.Add(-signeddata.DefaultLeeway), nil},
		{"before nbf beyond the leeway", keys, "prj-1", iat.Add(-signeddata.DefaultLeeway - time.Millisecond), signeddata.ErrNotYetValid},
		{"another issuer", keys, "prj-2", iat, signeddata.ErrWrongIssuer},
		{"key no longer published", []signeddata.PublicKey{other.Public()}, "prj-1", iat, signeddata.ErrUnknownKey},
		{"no key", nil, "prj-1", iat, signeddata.ErrUnknownKey},
		{"key no longer published and expired", []signeddata.PublicKey{other.Public()}, "prj-1", iat.Add(lifetime), signeddata.ErrUnknownKey},
		{"another issuer and expired", keys, "prj-2", iat.Add(lifetime), signeddata.ErrWrongIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := signeddata.Verify(token, tc.keys, tc.issuer, tc.now, signeddata.DefaultLeeway)
			if !errors.Is(wantErr, tc.wantErr) || (wantErr == nil) != (tc.wantErr == nil) {
				t.Fatalf("signeddata.Verify() = %v, want %v", wantErr, tc.wantErr)
			}
			got, err := e.verify(tc.keys, tc.issuer, tc.now)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("issuedToken.verify() = %v, want %v", err, tc.wantErr)
			}
			want.WebAuthnID, want.ConnectTokenID = "", ""
			if got != want {
				t.Errorf("issuedToken.verify() = %+v, want %+v", got, want)
			}
		})
	}
}
