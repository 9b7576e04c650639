package exampleapp

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits of the app's own endpoints. Any backend that checks passwords or mints connect
// tokens needs both: without them, one client can try passwords without end, or have the
// app mint tokens (and call the broker) as fast as it can send requests.
const (
	// passwordFailures failed sign-ins per account and client address, refilled evenly over
	// passwordWindow: the owner who mistypes a few times is not slowed, a guesser is.
	passwordFailures = 10
	passwordWindow   = 15 * time.Minute
	// connectTokens connect tokens per signed-in user, refilled evenly over a minute: a
	// page asks for one per passkey action.
	connectTokens       = 20
	connectTokensWindow = time.Minute
)

// limiter is a set of token buckets by key, in memory: burst at once, refilled evenly at
// burst per window. It remembers at most about maxKeys keys, forgetting the least recently
// used first. With several instances of the app, each limits on its own.
type limiter struct {
	burst  int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	cur, old map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxKeys = 100_000

func newLimiter(burst int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{burst: burst, window: window, now: now, cur: map[string]*bucket{}, old: map[string]*bucket{}}
}

// bucket returns key's bucket refilled to now; l.mu is held.
func (l *limiter) bucket(key string) *bucket {
	now := l.now()
	b, ok := l.cur[key]
	if !ok {
		if b, ok = l.old[key]; ok {
			delete(l.old, key)
		} else {
			b = &bucket{tokens: float64(l.burst), at: now}
		}
		if len(l.cur) >= maxKeys/2 {
			l.old, l.cur = l.cur, map[string]*bucket{}
		}
		l.cur[key] = b
	}
	if now.After(b.at) {
		b.tokens = min(float64(l.burst), b.tokens+now.Sub(b.at).Seconds()*float64(l.burst)/l.window.Seconds())
		b.at = now
	}
	return b
}

// wait returns how long until key's bucket holds a token: 0 if it holds one now.
func (l *limiter) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.window) / float64(l.burst))
}

// take takes a token from key's bucket and returns 0, or returns how long until it holds
// one (and takes nothing).
func (l *limiter) take(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.window) / float64(l.burst))
	}
	b.tokens--
	return 0
}

// clientAddress is the address a request comes from. Behind a reverse proxy, use the
// address the proxy reports instead (and only from the proxy), or every client will share
// the proxy's.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// tooMany answers 429 with Retry-After and a message that says what to do.
func tooMany(w http.ResponseWriter, wait time.Duration, message string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeError(w, http.StatusTooManyRequests, "rate_limited", message)
}

// inMinutes says wait in words: "in a minute", "in 4 minutes".
func inMinutes(wait time.Duration) string {
	m := int(math.Ceil(wait.Minutes()))
	if m <= 1 {
		return "in a minute"
	}
	return "in " + strconv.Itoa(m) + " minutes"
}
