package broker

import (
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// The kinds of error the broker returns. Callers check them with errors.Is; the web layer
// maps each to one error type of the contract.
// ErrNotFound, ErrAlreadyExists and ErrUnavailable are the store's own kinds.
var (
	ErrNotFound            = sqlstore.ErrNotFound
	ErrAlreadyExists       = sqlstore.ErrAlreadyExists
	ErrUnavailable         = sqlstore.ErrUnavailable
	ErrUnauthenticated     = errors.New("wrong or missing project credentials")
	ErrInvalidConnectToken = errors.New("invalid connect token")
	ErrCeremonyNotFound    = errors.New("ceremony not found, expired or already finished")
	ErrVerificationFailed  = errors.New("webauthn response did not verify")
)

// ValidationError says which input field is wrong and why.
type ValidationError struct {
	Field   string // e.g. "data.identifier"
	Message string // e.g. "is required"
}

func (e *ValidationError) Error() string { return e.Field + " " + e.Message }

// UnknownCredentialError is returned by FinishLogin for a credential the project does not
// know; it carries what the client needs for PublicKeyCredential.signalUnknownCredential.
type UnknownCredentialError struct {
	RPID         string
	CredentialID string // base64url
}

func (e *UnknownCredentialError) Error() string { return "unknown credential " + e.CredentialID }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// DetailError is an error of one kind with a sentence that is safe to show to clients, and
// optionally a reason for the logs only (which may say more than a client should learn).
type DetailError struct {
	Kind   error
	Detail string
	Reason string
}

func (e *DetailError) Error() string {
	if e.Reason != "" {
		return e.Kind.Error() + ": " + e.Detail + " (" + e.Reason + ")"
	}
	return e.Kind.Error() + ": " + e.Detail
}
func (e *DetailError) Unwrap() error { return e.Kind }

func detailf(kind error, format string, args ...any) error {
	return &DetailError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// Detail returns the client-safe sentence carried by err, or "" if it has none.
func Detail(err error) string {
	var d *DetailError
	if errors.As(err, &d) {
		return d.Detail
	}
	var v *ValidationError
	if errors.As(err, &v) {
		return v.Error()
	}
	return ""
}
