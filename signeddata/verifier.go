package signeddata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// ErrFetch means the Verifier could not fetch or parse the JWK set.
var ErrFetch = errors.New("signeddata: fetching jwks failed")

const (
	defaultCacheTTL   = 5 * time.Minute
	defaultMinRefetch = 30 * time.Second
	defaultTimeout    = 10 * time.Second
	maxJWKSSize       = 1 << 20
)

// Verifier verifies signedPasskeyData offline against the project's published JWKS, fetched
// and cached. It is safe for concurrent use and must not be copied after first use.
type Verifier struct {
	JWKSURL    string           // e.g. https://broker/v2/projects/{id}/.well-known/jwks.json
	ProjectID  string           // the expected iss
	Client     *http.Client     // nil: a client with a 10 s timeout
	Leeway     time.Duration    // 0: DefaultLeeway
	CacheTTL   time.Duration    // 0: 5 minutes; how long a fetched set is used without refetching
	MinRefetch time.Duration    // 0: 30 s; the least time between a fetch and a refetch for an unknown kid or after a failure
	Now        func() time.Time // nil: time.Now

	mu        sync.Mutex
	keys      []PublicKey   // nil until a fetch succeeds
	fetchedAt time.Time     // last successful fetch
	triedAt   time.Time     // last fetch attempt
	failed    bool          // the last attempt failed
	lastErr   error         // the error of the last attempt
	inflight  chan struct{} // closed when the running fetch ends
}

// Verify fetches the key set if needed and returns the claims of token, as Verify does with
// the Verifier's ProjectID and leeway. On ErrUnknownKey it refetches the set at most once per
// MinRefetch and tries again. It returns an error wrapping ErrFetch when no key set could be
// fetched, or when the refetch for an unknown kid failed (then also wrapping ErrUnknownKey).
// A failed refresh of an expired cache keeps using the cached keys.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	keys, _, err := v.keySet(ctx, false)
	if keys == nil {
		return Claims{}, err
	}
	c, err := v.verify(token, keys)
	if !errors.Is(err, ErrUnknownKey) {
		return c, err
	}
	keys, fetched, ferr := v.keySet(ctx, true)
	if ferr != nil {
		return Claims{}, fmt.Errorf("%w; %w", err, ferr)
	}
	if !fetched {
		return Claims{}, err
	}
	return v.verify(token, keys)
}

func (v *Verifier) verify(token string, keys []PublicKey) (Claims, error) {
	leeway := v.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	return Verify(token, keys, v.ProjectID, v.now(), leeway)
}

// keySet returns the cached keys (nil if none were ever fetched), whether this call fetched
// or waited for a fetch, and that fetch's error. It fetches when there are no keys, when the
// cache is older than CacheTTL, or when unknownKid is set; it retries after a failure, and
// refetches for an unknown kid, only once MinRefetch has passed since the last attempt.
func (v *Verifier) keySet(ctx context.Context, unknownKid bool) ([]PublicKey, bool, error) {
	v.mu.Lock()
	now := v.now()
	sinceTry := now.Sub(v.triedAt)
	var need bool
	switch {
	case v.keys == nil:
		need = true
	case unknownKid:
		need = sinceTry >= v.minRefetch()
	case now.Sub(v.fetchedAt) >= v.cacheTTL():
		need = !v.failed || sinceTry >= v.minRefetch()
	}
	if !need {
		keys := v.keys
		v.mu.Unlock()
		return keys, false, nil
	}
	if ch := v.inflight; ch != nil {
		if v.keys != nil && !unknownKid {
			// A refresh is under way; the cached keys are still good enough.
			keys := v.keys
			v.mu.Unlock()
			return keys, false, nil
		}
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return v.cachedKeys(), false, fmt.Errorf("%w: %w", ErrFetch, ctx.Err())
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.keys, true, v.lastErr
	}
	ch := make(chan struct{})
	v.inflight = ch
	v.triedAt = now
	v.mu.Unlock()

	keys, err := v.fetch(ctx)

	v.mu.Lock()
	defer v.mu.Unlock()
	v.inflight = nil
	close(ch)
	v.lastErr, v.failed = err, err != nil
	if err == nil {
		v.keys, v.fetchedAt = keys, v.now()
	}
	return v.keys, true, err
}

func (v *Verifier) cachedKeys() []PublicKey {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.keys
}

// fetch GETs and parses the key set; every error wraps ErrFetch.
func (v *Verifier) fetch(ctx context.Context) ([]PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	req.Header.Set("Accept", "application/json")
	client := v.Client
	if client == nil {
		client = &http.Client{Timeout: defaultTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", ErrFetch, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %w", ErrFetch, err)
	}
	if len(body) > maxJWKSSize {
		return nil, fmt.Errorf("%w: body larger than %d bytes", ErrFetch, maxJWKSSize)
	}
	keys, err := ParseJWKS(body)
	if err != nil { // %v: a bad key set is not a malformed token
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return keys, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) cacheTTL() time.Duration {
	if v.CacheTTL > 0 {
		return v.CacheTTL
	}
	return defaultCacheTTL
}

func (v *Verifier) minRefetch() time.Duration {
	if v.MinRefetch > 0 {
		return v.MinRefetch
	}
	return defaultMinRefetch
}
