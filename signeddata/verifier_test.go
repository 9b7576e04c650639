package signeddata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// jwksServer serves a JWK set that a test can swap or break, and counts requests.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	body     []byte
	requests int
}

func newJWKSServer(t *testing.T, keys ...PublicKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serve(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve makes the server answer 200 with the set of keys.
func (s *jwksServer) serve(t *testing.T, keys ...PublicKey) {
	t.Helper()
	b, err := JWKS(keys)
	if err != nil {
		t.Fatalf("JWKS() = %v", err)
	}
	s.respond(http.StatusOK, b)
}

func (s *jwksServer) respond(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// clock is a settable time source for Verifier.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newVerifier(srv *jwksServer, c *clock) *Verifier {
	return &Verifier{JWKSURL: srv.URL, ProjectID: testIssuer, Client: srv.Client(), Now: c.Now}
}

// tokenAt signs testClaims issued at now.
func tokenAt(t testing.TB, k Key, now time.Time) string {
	t.Helper()
	c := testClaims()
	c.IssuedAt, c.NotBefore, c.Expires = now, now, now.Add(MaxLifetime)
	return mustSign(t, k, c)
}

// verifyOK fails the test unless v accepts token.
func verifyOK(t *testing.T, v *Verifier, token string) Claims {
	t.Helper()
	c, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verifier.Verify(%q) = %v, want nil", short(token), err)
	}
	return c
}

func wantRequests(t *testing.T, srv *jwksServer, want int) {
	t.Helper()
	if got := srv.count(); got != want {
		t.Errorf("JWKS requests = %d, want %d", got, want)
	}
}

func TestVerifierCaches(t *testing.T) {
	key := newKey(t)
	srv := newJWKSServer(t, key.Public())
	clk := &clock{t: testNow}
	v := newVerifier(srv, clk)

	verifyOK(t, v, tokenAt(t, key, clk.Now()))
	verifyOK(t, v, tokenAt(t, key, clk.Now()))
	wantRequests(t, srv, 1)

	clk.advance(5*time.Minute - time.Second)
	verifyOK(t, v, tokenAt(t, key, clk.Now()))
	wantRequests(t, srv, 1)

	clk.advance(time.Second) // the cache is now CacheTTL old
	verifyOK(t, v, tokenAt(t, key, clk.Now()))
	wantRequests(t, srv, 2)
}

func TestVerifierRotation(t *testing.T) {
	a, b, c := newKey(t), newKey(t), newKey(t)
	srv := newJWKSServer(t, a.Public())
	clk := &clock{t: testNow}
	v := newVerifier(srv, clk)

	verifyOK(t, v, tokenAt(t, a, clk.Now()))
	wantRequests(t, srv, 1)

	clk.advance(time.Minute)
	srv.serve(t, a.Public(), b.Public())
	verifyOK(t, v, tokenAt(t, b, clk.Now())) // unknown kid: one refetch
	wantRequests(t, srv, 2)
	verifyOK(t, v, tokenAt(t, a, clk.Now()))
	wantRequests(t, srv, 2)

	// Within MinRefetch of the last fetch, an unknown kid does not refetch.
	srv.serve(t, a.Public(), b.Public(), c.Public())
	clk.advance(29 * time.Second)
	tok := tokenAt(t, c, clk.Now())
	for range 5 {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Verifier.Verify(%q) = %v, want %v", short(tok), err, ErrUnknownKey)
		}
	}
	wantRequests(t, srv, 2)

	clk.advance(time.Second)
	verifyOK(t, v, tok)
	wantRequests(t, srv, 3)
}

func TestVerifierUnknownKidRefetchesOncePerInterval(t *testing.T) {
	key := newKey(t)
	srv := newJWKSServer(t, key.Public())
	clk := &clock{t: testNow}
	v := newVerifier(srv, clk)
	v.MinRefetch = time.Minute

	verifyOK(t, v, tokenAt(t, key, clk.Now()))
	for round := 1; round <= 3; round++ {
		clk.advance(time.Minute)
		for range 10 {
			tok := tokenAt(t, newKey(t), clk.Now())
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("Verifier.Verify(%q) = %v, want %v", short(tok), err, ErrUnknownKey)
			}
		}
		wantRequests(t, srv, 1+round)
	}
}

func TestVerifierFetchFailure(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{name: "status 500", status: http.StatusInternalServerError, body: `{"keys":[]}`},
		{name: "status 404", status: http.StatusNotFound, body: `not found`},
		{name: "status 204", status: http.StatusNoContent},
		{name: "not JSON", status: http.StatusOK, body: `<html>`},
		{name: "no keys array", status: http.StatusOK, body: `{}`},
		{name: "larger than 1 MiB", status: http.StatusOK, body: `{"keys":[]}` + strings.Repeat(" ", 1<<20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t)
			srv.respond(tc.status, []byte(tc.body))
			v := newVerifier(srv, &clock{t: testNow})
			tok := tokenAt(t, key, testNow)
			_, err := v.Verify(context.Background(), tok)
			if !errors.Is(err, ErrFetch) {
				t.Fatalf("Verifier.Verify(%q) = %v, want %v", short(tok), err, ErrFetch)
			}
			if errors.Is(err, ErrMalformed) {
				t.Errorf("Verifier.Verify(%q) = %v, want an error that is not %v", short(tok), err, ErrMalformed)
			}
		})
	}
	t.Run("server down", func(t *testing.T) {
		srv := newJWKSServer(t)
		srv.Close()
		v := newVerifier(srv, &clock{t: testNow})
		if _, err := v.Verify(context.Background(), tokenAt(t, key, testNow)); !errors.Is(err, ErrFetch) {
			t.Errorf("Verifier.Verify() = %v, want %v", err, ErrFetch)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		srv := newJWKSServer(t, key.Public())
		v := newVerifier(srv, &clock{t: testNow})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := v.Verify(ctx, tokenAt(t, key, testNow))
		if !errors.Is(err, ErrFetch) || !errors.Is(err, context.Canceled) {
			t.Errorf("Verifier.Verify(canceled) = %v, want %v and %v", err, ErrFetch, context.Canceled)
		}
	})
}

func TestVerifierFirstFetchRetries(t *testing.T) {
	key := newKey(t)
	srv := newJWKSServer(t)
	srv.respond(http.StatusServiceUnavailable, nil)
	v := newVerifier(srv, &clock{t: testNow})
	tok := tokenAt(t, key, testNow)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrFetch) {
		t.Fatalf("Verifier.Verify(%q) = %v, want %v", short(tok), err, ErrFetch)
	}
	srv.serve(t, key.Public())
	verifyOK(t, v, tok)
	wantRequests(t, srv, 2)
}

func TestVerifierKeepsKeysAfterFailure(t *testing.T) {
	key := newKey(t)
	srv := newJWKSServer(t, key.Public())
	clk := &clock{t: testNow}
	v := newVerifier(srv, clk)
	verifyOK(t, v, tokenAt(t, key, clk.Now()))

	srv.respond(http.StatusInternalServerError, nil)
	clk.advance(6 * time.Minute) // past CacheTTL: the refresh fails, the cached keys still verify
	verifyOK(t, v, tokenAt(t, key, clk.Now()))
	wantRequests(t, srv, 2)
	verifyOK(t, v, tokenAt(t, key, clk.Now())) // no retry within MinRefetch of the failure
	wantRequests(t, srv, 2)

	clk.advance(30 * time.Second)
	stranger := tokenAt(t, newKey(t), clk.Now())
	_, err := v.Verify(context.Background(), stranger) // the stale refresh fails again first
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verifier.Verify(%q) = %v, want %v", short(stranger), err, ErrUnknownKey)
	}
	wantRequests(t, srv, 3)

	clk.advance(30 * time.Second)
	v.CacheTTL = time.Hour // only the unknown kid asks for a refetch now
	_, err = v.Verify(context.Background(), stranger)
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrFetch) {
		t.Errorf("Verifier.Verify(%q) = %v, want %v and %v", short(stranger), err, ErrUnknownKey, ErrFetch)
	}
	wantRequests(t, srv, 4)
	verifyOK(t, v, tokenAt(t, key, clk.Now()))

	srv.serve(t, key.Public())
	clk.advance(30 * time.Second)
	v.CacheTTL = 0
	verifyOK(t, v, tokenAt(t, key, clk.Now())) // recovered
	wantRequests(t, srv, 5)
}

func TestVerifierWrongIssuer(t *testing.T) {
	key := newKey(t)
	srv := newJWKSServer(t, key.Public())
	v := newVerifier(srv, &clock{t: testNow})
	v.ProjectID = "prj-other"
	tok := tokenAt(t, key, testNow)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrWrongIssuer) {
		t.Errorf("Verifier.Verify(%q) = %v, want %v", short(tok), err, ErrWrongIssuer)
	}
}

func TestVerifierLeeway(t *testing.T) {
	key := newKey(t)
	srv := newJWKSServer(t, key.Public())
	clk := &clock{t: testNow}
	v := newVerifier(srv, clk)
	tok := tokenAt(t, key, testNow)
	clk.advance(MaxLifetime + 5*time.Second)
	verifyOK(t, v, tok) // within DefaultLeeway

	v.Leeway = time.Second
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Errorf("Verifier.Verify(%q) with 1 s leeway = %v, want %v", short(tok), err, ErrExpired)
	}
}

func TestVerifierDefaults(t *testing.T) {
	key := newKey(t)
	srv := newJWKSServer(t, key.Public())
	v := &Verifier{JWKSURL: srv.URL, ProjectID: testIssuer} // real clock, default client
	got := verifyOK(t, v, tokenAt(t, key, time.Now()))
	if got.Subject != testClaims().Subject {
		t.Errorf("Verifier.Verify().Subject = %q, want %q", got.Subject, testClaims().Subject)
	}
}

func TestVerifierConcurrent(t *testing.T) {
	key := newKey(t)
	srv := newJWKSServer(t, key.Public())
	v := newVerifier(srv, &clock{t: testNow})

	const n = 20
	tokens := make([]string, n)
	for i := range tokens {
		c := testClaims()
		c.ID = fmt.Sprintf("jti-%d", i)
		tokens[i] = mustSign(t, key, c)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := v.Verify(context.Background(), tokens[i])
			if err == nil && c.ID != fmt.Sprintf("jti-%d", i) {
				err = fmt.Errorf("got jti %q", c.ID)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Verifier.Verify(token %d) = %v, want nil", i, err)
		}
	}
	wantRequests(t, srv, 1)
}
