package web

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// Rate is a token bucket: Burst requests at once, refilled evenly at Burst per Per. The zero
// Rate (Burst 0) is no limit.
type Rate struct {
	Burst int
	Per   time.Duration
}

// Off reports whether r imposes no limit.
func (r Rate) Off() bool { return r.Burst <= 0 || r.Per <= 0 }

// String gives r as ParseRate reads it.
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return strconv.Itoa(r.Burst) + "/" + r.Per.String()
}

// ParseRate reads a rate written N/DURATION ("300/1m": 300 requests at once, refilled at 300
// a minute), or "off" or "0" for no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	burst, err := strconv.Atoi(n)
	if !ok || err != nil || burst < 1 || burst > 1_000_000 {
		return Rate{}, fmt.Errorf("rate %q: want N/DURATION such as 300/1m, or off", s)
	}
	if !strings.ContainsAny(per, "0123456789") {
		per = "1" + per // "10/m" means 10/1m
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return Rate{}, fmt.Errorf("rate %q: the period must be a duration from 1s to 24h, such as 1m", s)
	}
	return Rate{Burst: burst, Per: d}, nil
}

// Limits is the abuse resistance of a Server. The buckets live in the process: with several
// replicas, each replica limits on its own (a client that the load balancer spreads over n
// replicas gets up to n times the rate).
type Limits struct {
	// FrontendPerIP limits every frontend API request per client IP address (IPv6: per /64).
	FrontendPerIP Rate
	// LoginPerIdentifier limits login/start with an identifier, per project and identifier.
	LoginPerIdentifier Rate
	// FailedAuthPerIP limits failed Basic authentications of the backend API, per project and
	// client IP: once the bucket is empty, that client's wrong secrets for the project are
	// answered 429 instead of 401. The secret is always checked first, so a valid secret is
	// never refused, whoever else shares its address.
	FailedAuthPerIP Rate
	// UnknownProjectsPerIP limits, per client IP, the requests without credentials (Basic
	// authentication before its secret is checked, the JWKS, the frontend API) that name a
	// project ID this process does not know to exist: each costs a token, given back when
	// the project turns out to exist. Without a token, the request is refused with 429
	// before the store is asked. Project IDs found not to exist are remembered briefly
	// and answered from memory, still at a token each.
	UnknownProjectsPerIP Rate
	// TrustedProxies are the proxies whose X-Forwarded-For is believed: a request from one of
	// them counts against the rightmost address in X-Forwarded-For that is not a trusted
	// proxy. Without any, the peer address is the client.
	TrustedProxies []netip.Prefix
	// MaxKeys bounds the keys each limiter remembers (default 100,000); the least recently
	// seen are forgotten first.
	MaxKeys int
}

// DefaultLimits are the limits `latchkey serve` applies unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{
		FrontendPerIP:      Rate{Burst: 300, Per: time.Minute},
		LoginPerIdentifier: Rate{Burst: 20, Per: time.Minute},
		FailedAuthPerIP:    Rate{Burst: 20, Per: time.Minute},
		// A process learns each live project on its first request; a client that names
		// more than this many IDs that do not exist is probing.
		UnknownProjectsPerIP: Rate{Burst: 30, Per: time.Minute},
	}
}

// ParseTrustedProxies reads a comma-separated list of CIDR prefixes or addresses
// ("10.0.0.0/8, 192.0.2.7").
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want a CIDR prefix such as 10.0.0.0/8 or an address", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Option configures New.
type Option func(*Server)

// WithLimits applies rate limits (New without it applies none).
func WithLimits(l Limits) Option {
	return func(s *Server) { s.limits = l }
}

// WithClock sets the clock of the rate limits; tests pass a fake one.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// rateLimitError is a request refused by a limit; it is an errRateLimited.
type rateLimitError struct {
	limiter    string // one of Limiters
	what       string
	retryAfter time.Duration
}

func (e *rateLimitError) Error() string   { return "rate limited: " + e.what }
func (e *rateLimitError) Is(t error) bool { return t == errRateLimited }

// retryAfterSeconds returns the Retry-After of a 429: the wait of a rate limit, rounded up
// to whole seconds, or 5 seconds for the cap on pending ceremonies.
func retryAfterSeconds(err error) string {
	var rl *rateLimitError
	if errors.As(err, &rl) {
		return strconv.Itoa(max(1, int(math.Ceil(rl.retryAfter.Seconds()))))
	}
	return "5"
}

// initLimits makes the limiters of s.limits.
func (s *Server) initLimits() {
	if s.now == nil {
		s.now = time.Now
	}
	n := s.limits.MaxKeys
	if n <= 0 {
		n = 100_000
	}
	s.ipLimiter = newLimiter(s.limits.FrontendPerIP, n, s.now)
	s.identifierLimiter = newLimiter(s.limits.LoginPerIdentifier, n, s.now)
	s.authLimiter = newLimiter(s.limits.FailedAuthPerIP, n, s.now)
	s.unknownLimiter = newLimiter(s.limits.UnknownProjectsPerIP, n, s.now)
}

// limitFrontend limits frontend API requests per client IP, before anything else looks at
// them (frontendCORS, which looks the project up, runs after it). A 429 carries the CORS
// headers the page needs to read it when this process knows the project and its origins.
func (s *Server) limitFrontend(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if wait, ok := s.ipLimiter.take(ipKey(s.remoteIP(c))); !ok {
			if p, ok := s.memory.project(c.Param("projectID")); ok {
				allowCORS(c, p)
			}
			return &rateLimitError{LimiterFrontendPerIP, "client IP", wait}
		}
		return next(c)
	}
}

// limitIdentifier limits login/start per project and identifier.
func (s *Server) limitIdentifier(projectID, identifier string) error {
	if identifier == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(projectID + "\x00" + identifier))
	if wait, ok := s.identifierLimiter.take(string(sum[:16])); !ok {
		return &rateLimitError{LimiterLoginPerIdentifier, "identifier", wait}
	}
	return nil
}

// authFailed counts a failed Basic authentication for projectID and returns its answer:
// ErrUnauthenticated, or a 429 once the client has used up its failures for the project.
func (s *Server) authFailed(c echo.Context, projectID string) error {
	if wait, ok := s.authLimiter.take(projectID + " " + ipKey(s.remoteIP(c))); !ok {
		return &rateLimitError{LimiterFailedAuthPerIP, "failed authentications", wait}
	}
	return broker.ErrUnauthenticated
}

// clientIP returns the address a request comes from: its peer, or when the peer is a trusted
// proxy, the rightmost X-Forwarded-For address that is not a trusted proxy (the last address
// a trusted hop saw). Addresses a client writes into X-Forwarded-For itself lie to the left
// of that and are never used.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i, seen := len(hops)-1, 0; i >= 0 && seen < 64; i, seen = i-1, seen+1 {
		a := parseHost(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			break
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client
}

// parseHost reads an address with or without a port ("192.0.2.1", "[2001:db8::1]:443").
// Zoned IPv6 addresses ("fe80::1%eth0") are refused: the zone is free text, and no client
// on the Internet has one.
func parseHost(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ipKey is the rate limit key of an address: IPv4 as it is, IPv6 by its /64, which one
// subscriber usually holds whole.
func ipKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// limiter is a set of token buckets by key, in memory, with at most max keys: keys live in
// two generations, and when the current one is half full the older one is dropped, so that
// a key seen recently is kept and memory stays bounded.
type limiter struct {
	rate Rate
	max  int
	now  func() time.Time

	mu       sync.Mutex
	cur, old map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(r Rate, max int, now func() time.Time) *limiter {
	return &limiter{rate: r, max: max, now: now, cur: map[string]*bucket{}, old: map[string]*bucket{}}
}

// bucket returns key's bucket refilled to now; l.mu is held.
func (l *limiter) bucket(key string) *bucket {
	now := l.now()
	b, ok := l.cur[key]
	if !ok {
		if b, ok = l.old[key]; ok {
			delete(l.old, key)
		} else {
			b = &bucket{tokens: float64(l.rate.Burst), at: now}
		}
		if len(l.cur) >= max(l.max/2, 1) {
			l.old, l.cur = l.cur, make(map[string]*bucket, len(l.cur))
		}
		l.cur[key] = b
	}
	if now.After(b.at) {
		b.tokens = min(float64(l.rate.Burst), b.tokens+now.Sub(b.at).Seconds()*float64(l.rate.Burst)/l.rate.Per.Seconds())
		b.at = now
	}
	return b
}

// wait returns how long b needs to hold one token.
func (l *limiter) wait(b *bucket) time.Duration {
	return time.Duration((1 - b.tokens) * float64(l.rate.Per) / float64(l.rate.Burst))
}

// take takes a token of key's bucket; when there is none, it returns false and how long
// until there is one.
func (l *limiter) take(key string) (time.Duration, bool) {
	if l.rate.Off() {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	if b.tokens < 1 {
		return l.wait(b), false
	}
	b.tokens--
	return 0, true
}

// give puts back a token that take took, up to the burst.
func (l *limiter) give(key string) {
	if l.rate.Off() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	b.tokens = min(float64(l.rate.Burst), b.tokens+1)
}

// check reports whether key's bucket holds a token, without taking it.
func (l *limiter) check(key string) (time.Duration, bool) {
	if l.rate.Off() {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.bucket(key); b.tokens < 1 {
		return l.wait(b), false
	}
	return 0, true
}

// keys returns how many keys l remembers (for tests).
func (l *limiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.old)
}
