package broker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/signeddata"
)

// maxIssuedTokens bounds how many signedPasskeyData a broker remembers having signed.
const maxIssuedTokens = 1 << 15

// maxIssuedTokenLen is the longest token issuedTokens remembers (as signeddata.Verify reads).
const maxIssuedTokenLen = 8 << 10

// issuedTokens remembers the signedPasskeyData this process signed, so that verifySignedData
// need not verify their signature again: by an HMAC-SHA256 of the token under a random key
// of this process, with the claims verifySignedData reads, until the token expires. A token
// of another replica, one signed while the set was full, or one already verified is absent
// and verified in full. Its zero value is ready to use.
//
// Only the exact text this process signed can match: the key never leaves the process, so
// nobody can make another token with a remembered hash. That is also why the map lookup need
// not run in constant time: its timing can only tell things about keyed hashes that a caller
// cannot compute, and a hit needs the whole token, which a caller either holds or does not.
// Hashes rather than tokens are kept so that the process's memory holds no usable token.
type issuedTokens struct {
	once sync.Once
	key  []byte    // from crypto/rand, made on first use
	macs sync.Pool // of *issuedMAC under key

	max int // 0: maxIssuedTokens

	mu sync.Mutex
	m  map[issuedSum]issuedToken
	// nextForget is at or before the earliest forgetAt in m: before it, a full set has no
	// expired entry to evict, so that a set kept full costs one scan per expiry instant
	// (token times are whole seconds), not one per token.
	nextForget time.Time

	hits, misses atomic.Int64 // lookups that found a token, and that did not
}

// issuedSum is the keyed hash of a token.
type issuedSum [sha256.Size]byte

// issuedToken is what verifySignedData needs of a token this process signed.
type issuedToken struct {
	kid    string            // the key that signed it
	claims signeddata.Claims // as signeddata.Verify returns them, less WebAuthnID and ConnectTokenID
	// forgetAt is claims.Expires plus the leeway: from then on verification refuses it.
	forgetAt time.Time
}

// issuedMAC is one HMAC of the pool with its buffers, so that hashing allocates nothing.
type issuedMAC struct {
	mac hash.Hash
	in  []byte
	out issuedSum
}

// sum returns the keyed hash of token.
func (t *issuedTokens) sum(token string) issuedSum {
	t.once.Do(func() {
		t.key = make([]byte, 32)
		if _, err := rand.Read(t.key); err != nil { // crypto/rand does not fail since Go 1.24
			panic(fmt.Sprintf("issued tokens: reading random bytes: %v", err))
		}
		t.macs.New = func() any { return &issuedMAC{mac: hmac.New(sha256.New, t.key)} }
	})
	m := t.macs.Get().(*issuedMAC)
	defer t.macs.Put(m)
	m.mac.Reset()
	if len(token) > maxIssuedTokenLen { // never remembered; not worth keeping a buffer for
		m.mac.Write([]byte(token))
	} else {
		m.in = append(m.in[:0], token...)
		m.mac.Write(m.in)
	}
	m.mac.Sum(m.out[:0])
	return m.out
}

// remember records token, signed with key kid for claims c, at now. When the set is full it
// first evicts the tokens that expired; when it is still full, it leaves token out, and
// token will be verified in full.
func (t *issuedTokens) remember(token, kid string, c signeddata.Claims, now time.Time) {
	c = c.Canonical()
	c.WebAuthnID, c.ConnectTokenID = "", "" // held for nothing otherwise
	e := issuedToken{kid: kid, claims: c, forgetAt: c.Expires.Add(signeddata.DefaultLeeway)}
	if len(token) > maxIssuedTokenLen || !now.Before(e.forgetAt) {
		return
	}
	sum := t.sum(token)
	t.mu.Lock()
	defer t.mu.Unlock()
	limit := t.max
	if limit <= 0 {
		limit = maxIssuedTokens
	}
	if len(t.m) >= limit {
		t.evictExpired(now)
		if len(t.m) >= limit {
			return
		}
	}
	if t.m == nil {
		t.m = map[issuedSum]issuedToken{}
	}
	if len(t.m) == 0 || e.forgetAt.Before(t.nextForget) {
		t.nextForget = e.forgetAt
	}
	t.m[sum] = e
}

// evictExpired deletes the entries that verification refuses at now; t.mu is held.
func (t *issuedTokens) evictExpired(now time.Time) {
	if now.Before(t.nextForget) {
		return
	}
	var next time.Time
	for sum, e := range t.m {
		switch {
		case !now.Before(e.forgetAt):
			delete(t.m, sum)
		case next.IsZero() || e.forgetAt.Before(next):
			next = e.forgetAt
		}
	}
	t.nextForget = next
}

// lookup returns the token with keyed hash sum if this process signed it and has not
// forgotten it.
func (t *issuedTokens) lookup(sum issuedSum) (issuedToken, bool) {
	t.mu.Lock()
	e, ok := t.m[sum]
	t.mu.Unlock()
	if ok {
		t.hits.Add(1)
	} else {
		t.misses.Add(1)
	}
	return e, ok
}

// forget drops the token with keyed hash sum, once it has been used: a later verification of
// it, which must fail, goes the full way.
func (t *issuedTokens) forget(sum issuedSum) {
	t.mu.Lock()
	delete(t.m, sum)
	t.mu.Unlock()
}

// len returns how many tokens t remembers.
func (t *issuedTokens) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// verify returns the claims of e, a token this process signed, as signeddata.Verify would
// return them with keys at now for issuer, without verifying the signature again: its key
// must still be among keys (ErrUnknownKey: a key retired or removed since refuses the token
// as before), then Claims.Check (ErrWrongIssuer, ErrExpired, ErrNotYetValid).
func (e issuedToken) verify(keys []signeddata.PublicKey, issuer string, now time.Time) (signeddata.Claims, error) {
	published := false
	for _, k := range keys {
		if k.ID == e.kid && k.Key != nil {
			published = true
			break
		}
	}
	if !published {
		return signeddata.Claims{}, fmt.Errorf("%w: kid %q", signeddata.ErrUnknownKey, e.kid)
	}
	if err := e.claims.Check(issuer, now, signeddata.DefaultLeeway); err != nil {
		return signeddata.Claims{}, err
	}
	return e.claims, nil
}
