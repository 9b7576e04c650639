package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// Observer is told of every request and every rate-limit refusal, for metrics. Its methods
// run on the request's goroutine once the response is written, and must be cheap and must
// not block. Every argument comes from a fixed set: Methods, the route patterns of
// web/routes.go (or RouteUnmatched), Limiters.
type Observer interface {
	Request(method, route string, status int, elapsed time.Duration)
	RateLimited(limiter string)
}

// WithObserver tells o of every request.
func WithObserver(o Observer) Option {
	return func(s *Server) { s.observer = o }
}

// RouteUnmatched is the route of a request that matched no route.
const RouteUnmatched = "unmatched"

// Methods are the methods an Observer is told of; any other is "other".
var Methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// The limiters of RateLimited: the Limits, and the broker's cap on pending ceremonies.
const (
	LimiterFrontendPerIP        = "frontend_per_ip"
	LimiterLoginPerIdentifier   = "login_per_identifier"
	LimiterFailedAuthPerIP      = "failed_auth_per_ip"
	LimiterUnknownProjectsPerIP = "unknown_projects_per_ip"
	LimiterPendingCeremonies    = "pending_ceremonies"
)

// Limiters are the limiters of Observer.RateLimited.
var Limiters = []string{LimiterFrontendPerIP, LimiterLoginPerIdentifier, LimiterFailedAuthPerIP,
	LimiterUnknownProjectsPerIP, LimiterPendingCeremonies}

// observe tells s.observer of the request c, answered with status after elapsed.
func (s *Server) observe(c echo.Context, status int, elapsed time.Duration) {
	route := c.Path()
	if _, ok := s.routeSet[route]; !ok || route == "" {
		route = RouteUnmatched
	}
	method := "other"
	for _, m := range Methods {
		if c.Request().Method == m {
			method = m
			break
		}
	}
	s.observer.Request(method, route, status, elapsed)
	err, _ := c.Get(ctxError).(error)
	var rl *rateLimitError
	switch {
	case err == nil:
	case errors.As(err, &rl):
		s.observer.RateLimited(rl.limiter)
	case errors.Is(err, broker.ErrTooManyCeremonies):
		s.observer.RateLimited(LimiterPendingCeremonies)
	}
}
