package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// Errors of the HTTP layer itself; the rest come from broker.
var (
	errInvalidJSON     = errors.New("the request body is not valid JSON")
	errContentType     = errors.New("the request body must be application/json")
	errTooLarge        = errors.New("the request body is larger than 64 KiB")
	errForbiddenOrigin = errors.New("this origin is not allowed for the project")
	errRateLimited     = errors.New("too many requests")
)

// errorKind is one row of the table that maps errors to the contract's error types.
type errorKind struct {
	err     error
	status  int
	typ     string
	message string
}

// kinds maps every error kind to its status, contract type and message; first match wins.
var kinds = []errorKind{
	{errInvalidJSON, http.StatusBadRequest, "invalid_json", "The request body is not valid JSON."},
	{errContentType, http.StatusBadRequest, "invalid_json", "The request body must be sent as application/json."},
	{errTooLarge, http.StatusRequestEntityTooLarge, "payload_too_large", "The request body is too large."},
	{errForbiddenOrigin, http.StatusForbidden, "forbidden_origin", "This origin is not allowed for the project."},
	{errRateLimited, http.StatusTooManyRequests, "rate_limited", "Too many requests; retry later."},
	{broker.ErrTooManyCeremonies, http.StatusTooManyRequests, "rate_limited", "Too many unfinished ceremonies for this project; retry later."},
	{broker.ErrUnauthenticated, http.StatusUnauthorized, "login_error", "Wrong or missing project credentials."},
	{broker.ErrInvalidConnectToken, http.StatusUnauthorized, "invalid_connect_token", "The connect token is invalid."},
	{broker.ErrNotFound, http.StatusNotFound, "not_found", "Not found."},
	{broker.ErrAlreadyExists, http.StatusConflict, "already_exists", "It already exists."},
	{broker.ErrCeremonyNotFound, http.StatusGone, "ceremony_not_found", "The ceremony is unknown, expired or already finished."},
	{broker.ErrComponentDisabled, http.StatusForbidden, "component_disabled", "Passkeys are turned off here for now; use the other sign-in method."},
	{broker.ErrVerificationFailed, http.StatusBadRequest, "verification_failed", "The WebAuthn response did not verify."},
	{broker.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "The service is temporarily unavailable; retry later."},
}

// statusClientClosed is the status logged for a request whose client went away before its
// answer (nginx's 499; no client ever receives it).
const statusClientClosed = 499

type envelope struct {
	HTTPStatusCode int         `json:"httpStatusCode"`
	Message        string      `json:"message"`
	RequestData    requestData `json:"requestData"`
	Error          errorBody   `json:"error"`
}

type requestData struct {
	RequestID string `json:"requestID"`
}

type errorBody struct {
	Type       string             `json:"type"`
	Details    string             `json:"details,omitempty"`
	Validation []fieldError       `json:"validation,omitempty"`
	Signal     *unknownCredSignal `json:"signal,omitempty"`
	Origin     *originMismatch    `json:"origin,omitempty"`
}

// originMismatch says, on a verification_failed for an origin the project does not accept,
// which origin the response presented and which the project expects.
type originMismatch struct {
	Presented             string   `json:"presented"`
	Expected              []string `json:"expected"`
	SHA256CertFingerprint string   `json:"sha256CertFingerprint,omitempty"`
	AndroidPackageName    string   `json:"androidPackageName,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

type unknownCredSignal struct {
	UnknownCredential unknownCredential `json:"unknownCredential"`
}

type unknownCredential struct {
	RPID         string `json:"rpId"`
	CredentialID string `json:"credentialId"`
}

// handleError writes err as the contract's error envelope; it is echo's HTTPErrorHandler.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	env := envelope{RequestData: requestData{RequestID: requestID(c)}}
	var (
		verr  *broker.ValidationError
		uerr  *broker.UnknownCredentialError
		herr  *echo.HTTPError
		found bool
	)
	switch {
	case errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil:
		// The client went away (closed the connection, or a proxy gave up on it) and the
		// request's context was cancelled under the handler: nobody reads this answer, and
		// it is no fault of the server's, so it is logged as nginx's 499 rather than as a
		// 500 that would page someone, and it does not make the replica unready.
		env.HTTPStatusCode, env.Error.Type, env.Message = statusClientClosed, "client_closed_request", "The client closed the request."
		found = true
	case errors.As(err, &verr):
		env.HTTPStatusCode, env.Error.Type = http.StatusBadRequest, "validation_error"
		env.Message = "The request is invalid: " + verr.Error() + "."
		env.Error.Details = verr.Error()
		env.Error.Validation = []fieldError{{verr.Field, verr.Message}}
		found = true
	case errors.As(err, &uerr):
		env.HTTPStatusCode, env.Error.Type = http.StatusNotFound, "unknown_credential"
		env.Message = "This passkey is not known for this site; it may have been deleted."
		env.Error.Signal = &unknownCredSignal{unknownCredential{uerr.RPID, uerr.CredentialID}}
		found = true
	case errors.As(err, &herr):
		env.HTTPStatusCode = herr.Code
		switch herr.Code {
		case http.StatusNotFound:
			env.Error.Type, env.Message = "not_found", "No such route."
		case http.StatusMethodNotAllowed:
			env.Error.Type, env.Message = "not_found", "Method not allowed on this route."
		case http.StatusRequestEntityTooLarge:
			env.Error.Type, env.Message = "payload_too_large", "The request body is too large."
		case http.StatusServiceUnavailable:
			env.Error.Type, env.Message = "unavailable", "The service is temporarily unavailable; retry later."
		default:
			env.HTTPStatusCode, env.Error.Type, env.Message = http.StatusInternalServerError, "internal_error", "Internal error."
		}
		found = true
	}
	if oerr := (*broker.OriginMismatchError)(nil); errors.As(err, &oerr) {
		env.Error.Origin = &originMismatch{oerr.Presented, oerr.Expected, oerr.Fingerprint, oerr.PackageName}
	}
	if !found {
		for _, k := range kinds {
			if errors.Is(err, k.err) {
				env.HTTPStatusCode, env.Error.Type, env.Message = k.status, k.typ, k.message
				env.Error.Details = broker.Detail(err)
				found = true
				break
			}
		}
	}
	if !found {
		env.HTTPStatusCode, env.Error.Type, env.Message = http.StatusInternalServerError, "internal_error", "Internal error."
	}
	switch env.HTTPStatusCode {
	case http.StatusServiceUnavailable:
		c.Response().Header().Set("Retry-After", "5")
		s.ready.unready()
	case http.StatusTooManyRequests:
		c.Response().Header().Set("Retry-After", retryAfterSeconds(err))
	case http.StatusUnauthorized:
		if env.Error.Type == "login_error" {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="latchkey"`)
		}
	}
	c.Set(ctxError, err)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(env.HTTPStatusCode)
		return
	}
	_ = c.JSON(env.HTTPStatusCode, env)
}
