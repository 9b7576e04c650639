// Package web is Latchkey's HTTP layer: echo routes and handlers for the backend API, the
// frontend API and the JWKS, the contract's error envelope, CORS and request IDs. It
// translates HTTP to calls on broker and holds no domain logic.
package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 64 << 10

// Context keys.
const (
	ctxRequestID = "latchkey.requestID"
	ctxProject   = "latchkey.project"
	ctxSecret    = "latchkey.secret" // the API secret that basicAuthInHandler left to its handler
	ctxError     = "latchkey.error"
	ctxClientIP  = "latchkey.clientIP"
)

// Server serves the broker over HTTP.
type Server struct {
	broker *broker.Broker
	log    *slog.Logger

	limits                                    Limits // rate limits (web/ratelimit.go)
	now                                       func() time.Time
	ipLimiter, identifierLimiter, authLimiter *limiter
	unknownLimiter                            *limiter

	memory projectMemory // projects, missing projects and JWK sets (web/memory.go)
	ready  readiness     // the last database ping of /readyz

	exampleAppURL string // linked from the page at / (WithExampleApp)

	observer Observer            // WithObserver (nil: none)
	routeSet map[string]struct{} // the route patterns, for the observer's labels
}

// New returns the HTTP handler of the broker: every route, with request IDs, request
// logging, the body limit and the contract's error envelope, and the rate limits of opts.
func New(b *broker.Broker, log *slog.Logger, opts ...Option) *echo.Echo {
	s := &Server{broker: b, log: log}
	precompressAssets()
	for _, o := range opts {
		o(s)
	}
	s.initLimits()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.requestLog, s.recoverPanic, s.securityHeaders)
	s.routes(e)
	s.routeSet = map[string]struct{}{}
	for _, r := range e.Routes() {
		s.routeSet[r.Path] = struct{}{}
	}
	return e
}

// requestLog gives each request an ID, sends it as X-Request-ID and logs one line per request.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		id := newRequestID()
		c.Set(ctxRequestID, id)
		ip := clientIP(c.Request(), s.limits.TrustedProxies)
		c.Set(ctxClientIP, ip)
		c.Response().Header().Set("X-Request-ID", id)
		c.SetRequest(c.Request().WithContext(broker.WithRequestInfo(c.Request().Context(), s.requestInfo(c, id))))
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		attrs := []any{
			slog.String("request_id", id),
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.String("client_ip", ipOrUnknown(ip)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
		}
		level := slog.LevelInfo
		if e, ok := c.Get(ctxError).(error); ok && e != nil {
			if status >= 500 {
				level = slog.LevelError
				attrs = append(attrs, slog.String("error", e.Error()))
			} else {
				attrs = append(attrs, slog.String("error_kind", errorKindName(e)))
				// The reason the client was not told (a connect token's type or state).
				if d := (*broker.DetailError)(nil); errors.As(e, &d) && d.Reason != "" {
					attrs = append(attrs, slog.String("reason", d.Reason))
				}
			}
		}
		s.log.Log(c.Request().Context(), level, "request", attrs...)
		if s.observer != nil {
			s.observe(c, status, time.Since(start))
		}
		return nil
	}
}

// remoteIP returns the client address of the request, as requestLog found it once: the same
// address for the log, the rate limits and the audit log.
func (s *Server) remoteIP(c echo.Context) netip.Addr {
	if ip, ok := c.Get(ctxClientIP).(netip.Addr); ok {
		return ip
	}
	return clientIP(c.Request(), s.limits.TrustedProxies)
}

func ipOrUnknown(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	return ip.String()
}

// errorKindName names a client error for the log without its text, which may quote input.
func errorKindName(err error) string {
	var v *broker.ValidationError
	if errors.As(err, &v) {
		return "validation_error " + v.Field
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.typ
		}
	}
	var u *broker.UnknownCredentialError
	if errors.As(err, &u) {
		return "unknown_credential"
	}
	return "other"
}

func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic", slog.String("request_id", requestID(c)), slog.Any("panic", r))
				err = errors.New("panic in handler")
			}
		}()
		return next(c)
	}
}

func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Every answer is uncacheable unless its handler says otherwise (the JWKS on success).
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "req-" + hex.EncodeToString(b)
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

func project(c echo.Context) broker.Project {
	p, _ := c.Get(ctxProject).(broker.Project)
	return p
}

// decode reads a JSON request body of at most MaxBodyBytes into v.
func decode(c echo.Context, v any) error { return decodeLimit(c, v, MaxBodyBytes) }

// decodeLimit is decode for a body of at most limit bytes.
func decodeLimit(c echo.Context, v any, limit int64) error {
	req := c.Request()
	if req.ContentLength > limit {
		return errTooLarge
	}
	if !jsonContentType(req.Header.Get("Content-Type")) {
		return errContentType
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return errInvalidJSON
	}
	if int64(len(body)) > limit {
		return errTooLarge
	}
	if err := checkJSON(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var terr *json.UnmarshalTypeError
		if errors.As(err, &terr) && terr.Field != "" {
			return &broker.ValidationError{Field: terr.Field, Message: "must be of type " + jsonType(terr.Type.Kind().String())}
		}
		return errInvalidJSON
	}
	if dec.More() {
		return errInvalidJSON
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); err != io.EOF {
		return errInvalidJSON
	}
	return nil
}

// jsonContentType reports whether a Content-Type header says JSON in UTF-8:
// application/json, with no charset or charset utf-8 (in any case). A body in another
// charset would be read as UTF-8 and mean something else than its sender meant.
func jsonContentType(header string) bool {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// jsonType names, as JSON Schema (and so openapi.yaml) does, the type a Go field of kind
// kind decodes from: a fractional or out-of-range number sent for an integer field is told
// "must be of type integer", not "number", which it is.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	}
	return "number"
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers whether the store answers, pinging it at most once per readyTTL.
func (s *Server) readyz(c echo.Context) error {
	if err := s.ready.check(c.Request().Context(), s.now, s.broker.Store().Ping); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
