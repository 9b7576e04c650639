package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// How long the HTTP layer answers from memory. Requests without credentials (the JWKS, the
// frontend API, Basic authentication before its secret is checked, /readyz) name projects
// freely, so what they cost the store must not grow with their number.
const (
	// unknownProjectTTL is how long a project ID found not to exist is answered 404 (or
	// 401) without asking the store. Project IDs are random and made by the store, so a
	// request names a project before it exists only by guessing its ID.
	unknownProjectTTL = broker.CacheTTL
	// jwksTTL is how long a project's JWK set is served from memory: a key added through
	// another process is published within it (within broker.CacheTTL, as the broker's own
	// caches promise). A key that this process signs with is published at once.
	jwksTTL = 2 * time.Second
	// readyTTL is how long /readyz answers the result of its last database ping.
	readyTTL = time.Second
	// maxRemembered bounds each of the memories below (twice this, in two generations).
	maxRemembered = 4096
)

// projectMemory is what the HTTP layer remembers of projects: which exist (with the
// project as last read, when a request read it), which do not, and their JWK sets. It is
// bounded; what it forgets is read again.
type projectMemory struct {
	mu      sync.Mutex
	known   generations[*broker.Project] // nil: exists, not read here
	unknown generations[time.Time]       // when it was found missing
	jwks    generations[jwksEntry]
}

type jwksEntry struct {
	body []byte
	at   time.Time
}

// remember records that the project id exists; p, if not nil, is the project as read.
func (m *projectMemory) remember(id string, p *broker.Project) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.known.get(id); ok && p == nil {
		p = old
	}
	m.known.put(id, p)
	m.unknown.delete(id)
}

// forget records that the project id was not found at now.
func (m *projectMemory) forget(id string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known.delete(id)
	m.jwks.delete(id)
	m.unknown.put(id, now)
}

// state says whether id is known to exist, or was found missing less than
// unknownProjectTTL before now.
func (m *projectMemory) state(id string, now time.Time) (known, missing bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.known.get(id); ok {
		return true, false
	}
	at, ok := m.unknown.get(id)
	return false, ok && !now.Before(at) && now.Sub(at) < unknownProjectTTL
}

// project returns the project id as a request last read it.
func (m *projectMemory) project(id string) (broker.Project, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.known.get(id)
	if !ok || p == nil {
		return broker.Project{}, false
	}
	return *p, true
}

// cachedJWKS returns the project's JWK set if it was read less than jwksTTL before now.
func (m *projectMemory) cachedJWKS(id string, now time.Time) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jwks.get(id)
	if !ok || now.Before(e.at) || now.Sub(e.at) >= jwksTTL {
		return nil, false
	}
	return e.body, true
}

func (m *projectMemory) putJWKS(id string, body []byte, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jwks.put(id, jwksEntry{body, at})
}

// signedWith drops the project's remembered JWK set if it lacks the key that signed token,
// so that a key this process signs with is published by it at once.
func (m *projectMemory) signedWith(id, token string) {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		Kid string `json:"kid"`
	}
	if err != nil || json.Unmarshal(raw, &h) != nil || h.Kid == "" {
		return
	}
	kid, _ := json.Marshal(h.Kid)
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.jwks.get(id); ok && !bytes.Contains(e.body, append([]byte(`"kid":`), kid...)) {
		m.jwks.delete(id)
	}
}

// generations is a map of at most 2*maxRemembered entries in two generations: when the
// current one is full, the older one is dropped, so that recently used keys stay.
type generations[V any] struct {
	cur, old map[string]V
}

func (g *generations[V]) get(k string) (V, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	v, ok := g.old[k]
	if ok {
		g.put(k, v)
	}
	return v, ok
}

func (g *generations[V]) put(k string, v V) {
	if g.cur == nil {
		g.cur = map[string]V{}
	}
	if _, ok := g.cur[k]; !ok && len(g.cur) >= maxRemembered {
		g.old, g.cur = g.cur, make(map[string]V, maxRemembered)
	}
	g.cur[k] = v
	delete(g.old, k)
}

func (g *generations[V]) delete(k string) {
	delete(g.cur, k)
	delete(g.old, k)
}

func (g *generations[V]) len() int { return len(g.cur) + len(g.old) }

// mayLookUp decides whether a request without credentials may have the store look the
// project id up. A project this process knows exists: yes. One it found missing a moment
// ago: no, ErrNotFound (or 429) from memory. Any other: only with a token from the client's
// budget of unknown projects (else 429); the caller gives it back, by found, when the
// project exists.
func (s *Server) mayLookUp(c echo.Context, id string) (found func(), err error) {
	known, missing := s.memory.state(id, s.now())
	switch {
	case known:
		return func() {}, nil
	case missing:
		return nil, s.unknownProject(c, id, false)
	}
	key := ipKey(s.remoteIP(c))
	if wait, ok := s.unknownLimiter.take(key); !ok {
		return nil, &rateLimitError{LimiterUnknownProjectsPerIP, "unknown projects", wait}
	}
	return func() { s.unknownLimiter.give(key) }, nil
}

// unknownProject remembers that the project id does not exist and returns the answer:
// ErrNotFound, or 429 when the client has no token left for unknown projects. looked says
// whether the request already paid its token to look the project up.
func (s *Server) unknownProject(c echo.Context, id string, looked bool) error {
	if looked {
		s.memory.forget(id, s.now())
		return broker.ErrNotFound
	}
	if wait, ok := s.unknownLimiter.take(ipKey(s.remoteIP(c))); !ok {
		return &rateLimitError{LimiterUnknownProjectsPerIP, "unknown projects", wait}
	}
	return broker.ErrNotFound
}

// lookUpProject returns the project id for a request without credentials, read at most
// broker.CacheTTL ago, or ErrNotFound, or a 429 from mayLookUp.
func (s *Server) lookUpProject(c echo.Context, id string) (broker.Project, error) {
	found, err := s.mayLookUp(c, id)
	if err != nil {
		return broker.Project{}, err
	}
	p, err := s.broker.CachedProject(c.Request().Context(), id)
	if errors.Is(err, broker.ErrNotFound) {
		return broker.Project{}, s.unknownProject(c, id, true)
	}
	if err != nil {
		return broker.Project{}, err
	}
	found()
	s.memory.remember(id, &p)
	return p, nil
}

// projectJWKS returns the project's JWK set, from memory when it was read less than
// jwksTTL ago.
func (s *Server) projectJWKS(c echo.Context, id string) ([]byte, error) {
	now := s.now()
	if body, ok := s.memory.cachedJWKS(id, now); ok {
		return body, nil
	}
	found, err := s.mayLookUp(c, id)
	if err != nil {
		return nil, err
	}
	body, err := s.broker.JWKS(c.Request().Context(), id)
	if errors.Is(err, broker.ErrNotFound) {
		return nil, s.unknownProject(c, id, true)
	}
	if err != nil {
		return nil, err
	}
	found()
	s.memory.remember(id, nil)
	s.memory.putJWKS(id, body, now)
	return body, nil
}

// readiness is the last answer of /readyz's database ping; at most one ping runs at a time.
type readiness struct {
	last atomic.Pointer[readyResult]
	mu   sync.Mutex
}

type readyResult struct {
	err error
	at  time.Time
}

// check returns the result of a database ping made less than readyTTL before now, pinging
// with ping if there is none.
func (r *readiness) check(ctx context.Context, now func() time.Time, ping func(context.Context) error) error {
	fresh := func() (error, bool) {
		l := r.last.Load()
		t := now()
		if l == nil || t.Before(l.at) || t.Sub(l.at) >= readyTTL {
			return nil, false
		}
		return l.err, true
	}
	if err, ok := fresh(); ok {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err, ok := fresh(); ok {
		return err
	}
	at := now()
	err := ping(ctx)
	r.last.Store(&readyResult{err, at})
	return err
}

// unready forgets the last ping's answer when a request found the store unavailable.
func (r *readiness) unready() {
	if l := r.last.Load(); l != nil && l.err == nil {
		r.last.CompareAndSwap(l, nil)
	}
}
