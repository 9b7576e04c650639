package broker

import "github.com/latchkey/latchkey/connecttoken"

// Observer is told of the broker's outcomes, for metrics. Its methods run on the request's
// goroutine after the outcome is decided and must be cheap and must not block. Every
// argument comes from a fixed set (CeremonyKinds, FailureReasons, the connect token types,
// the Result* constants) except the project ID, which is always one of an existing project.
type Observer interface {
	CeremonyStarted(projectID, kind string)
	CeremonyFinished(projectID, kind string)
	CeremonyFailed(projectID, kind, reason string)
	ConnectTokenMinted(projectID, tokenType string)
	ConnectTokenConsumed(projectID, tokenType string)
	SignedDataVerified(projectID, result string)
}

// CeremonyKinds are the kinds an Observer is told of.
var CeremonyKinds = []string{kindAppend, kindLogin}

// FailureReasons are the reasons of Observer.CeremonyFailed: failureKind's, and "other" for
// the rest (an invalid credential, the store's errors).
var FailureReasons = []string{"counter_regression", "unknown_credential", "verification_failed",
	"invalid_connect_token", "ceremony_not_found", "already_registered", "other"}

// VerificationResults are the results of Observer.SignedDataVerified.
var VerificationResults = []string{ResultSuccess, ResultInvalidSignature, ResultInvalidChallenge, ResultUserMismatch, ResultGenericError}

// nopObserver is the Observer of a broker built without one.
type nopObserver struct{}

func (nopObserver) CeremonyStarted(string, string)        {}
func (nopObserver) CeremonyFinished(string, string)       {}
func (nopObserver) CeremonyFailed(string, string, string) {}
func (nopObserver) ConnectTokenMinted(string, string)     {}
func (nopObserver) ConnectTokenConsumed(string, string)   {}
func (nopObserver) SignedDataVerified(string, string)     {}

// finishObserved tells the observer how the finish of a ceremony of kind in projectID (an
// existing project) ended; withToken says the ceremony was bound to a connect token, which a
// successful finish consumed.
func (b *Broker) finishObserved(projectID, kind string, withToken bool, err error) {
	if err != nil {
		reason := failureKind(err)
		if reason == "" {
			reason = "other"
		}
		b.observer.CeremonyFailed(projectID, kind, reason)
		return
	}
	b.observer.CeremonyFinished(projectID, kind)
	if withToken {
		typ := connecttoken.TypeLogin
		if kind == kindAppend {
			typ = connecttoken.TypeAppend
		}
		b.observer.ConnectTokenConsumed(projectID, string(typ))
	}
}
