package broker

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/signeddata"
)

// Verification results of verifySignedData, per the contract.
const (
	ResultSuccess          = "success"
	ResultInvalidSignature = "invalid_signature"
	ResultInvalidChallenge = "invalid_challenge"
	ResultUserMismatch     = "user_mismatch"
	ResultGenericError     = "generic_error"
)

// Verification is the answer of verifySignedData.
type Verification struct {
	Result       string `json:"verificationResult"`
	Reason       string `json:"reason"`
	UserID       string `json:"userID"`
	Username     string `json:"username"`
	CredentialID string `json:"credentialID"`
}

// VerifySignedData checks token against the project's published keys, its issuer and times,
// and username when given; the first successful verification records the token's jti, so
// that every later one answers invalid_challenge. A failed check changes nothing but the
// audit log. Only store failures come back as errors.
func (b *Broker) VerifySignedData(ctx context.Context, projectID, token, username string) (Verification, error) {
	v, err := b.verifySignedData(ctx, projectID, token, username, "")
	return b.verified(ctx, projectID, v, err)
}

// VerifySignedDataWithSecret is VerifySignedData for a backend that presents the API secret
// secret: unless secret is a live secret of the project, it fails with ErrUnauthenticated,
// having written nothing (no jti, no event) and told nothing about the token.
//
// A secret that was live when this broker last read the project's secrets (knownSecret) is
// not read again first: the statement that records the token confirms it (on PostgreSQL,
// one round trip instead of two). Any other answer than success, and any secret not known,
// reads the secrets before anything is answered or written, as Authenticate does.
func (b *Broker) VerifySignedDataWithSecret(ctx context.Context, projectID, secret, token, username string) (Verification, error) {
	pending := b.knownSecret(projectID, secret)
	if pending == "" {
		if _, err := b.Authenticate(ctx, projectID, secret); err != nil {
			return Verification{}, err
		}
	}
	v, err := b.verifySignedData(ctx, projectID, token, username, pending)
	switch {
	case errors.Is(err, sqlstore.ErrSecretNotLive):
		b.cache.secrets.forget(projectID)
		return Verification{}, ErrUnauthenticated
	case pending != "" && (err != nil || v.Result != ResultSuccess):
		// Nothing confirmed the secret yet.
		if _, aerr := b.Authenticate(ctx, projectID, secret); aerr != nil {
			return Verification{}, aerr
		}
	}
	return b.verified(ctx, projectID, v, err)
}

// verified tells the observer of a verification and records the event of a rejection.
func (b *Broker) verified(ctx context.Context, projectID string, v Verification, err error) (Verification, error) {
	if err == nil {
		b.observer.SignedDataVerified(projectID, v.Result)
	}
	if err == nil && v.Result != ResultSuccess {
		b.recordAlone(ctx, projectID, verificationEvent(v, signeddata.Claims{}))
	}
	return v, err
}

// verifySignedData is VerifySignedData without the audit event of a rejection. With
// secretHash set, the token is recorded only if the project has a live secret of that hash
// (sqlstore.Verified.SecretHash), and sqlstore.ErrSecretNotLive comes back otherwise.
func (b *Broker) verifySignedData(ctx context.Context, projectID, token, username, secretHash string) (Verification, error) {
	keys, err := b.verificationKeys(ctx, projectID, false)
	if err != nil {
		return Verification{}, err
	}
	now := b.Now()
	// A token this process signed is checked against the claims it recorded then, without
	// verifying its signature again (see issued.go); any other is verified in full.
	sum := b.issued.sum(token)
	issued, fast := b.issued.lookup(sum)
	verify := func(keys []signeddata.PublicKey) (signeddata.Claims, error) {
		if fast {
			return issued.verify(keys, projectID, now)
		}
		return signeddata.Verify(token, keys, projectID, now, signeddata.DefaultLeeway)
	}
	c, err := verify(keys)
	if errors.Is(err, signeddata.ErrUnknownKey) { // perhaps a key added since the list was read
		if keys, err = b.verificationKeys(ctx, projectID, true); err != nil {
			return Verification{}, err
		}
		c, err = verify(keys)
	}
	switch {
	case errors.Is(err, signeddata.ErrExpired):
		return Verification{Result: ResultInvalidChallenge, Reason: "the token has expired"}, nil
	case errors.Is(err, signeddata.ErrNotYetValid):
		return Verification{Result: ResultInvalidChallenge, Reason: "the token is not valid yet"}, nil
	case errors.Is(err, signeddata.ErrWrongIssuer):
		return Verification{Result: ResultInvalidSignature, Reason: "the token was issued for another project"}, nil
	case errors.Is(err, signeddata.ErrUnknownKey):
		return Verification{Result: ResultInvalidSignature, Reason: "the token was signed by an unknown key"}, nil
	case errors.Is(err, signeddata.ErrMalformed):
		return Verification{Result: ResultInvalidSignature, Reason: "the token is malformed"}, nil
	case errors.Is(err, signeddata.ErrInvalidSignature):
		return Verification{Result: ResultInvalidSignature, Reason: "the signature or algorithm is invalid"}, nil
	case err != nil:
		return Verification{Result: ResultGenericError, Reason: "the token could not be verified"}, nil
	}
	v := Verification{UserID: c.Subject, Username: c.Username, CredentialID: c.Credential}
	if username != "" && username != c.Username {
		v.Result, v.Reason = ResultUserMismatch, "the token was issued for another user"
		return v, nil
	}
	evs, err := b.eventRows(ctx, projectID, verificationEvent(Verification{Result: ResultSuccess, UserID: v.UserID, CredentialID: v.CredentialID}, c))
	if err != nil {
		return Verification{}, err
	}
	// The jti and the event in one statement on PostgreSQL. With a username, the name in the
	// token must still be its user's: a token issued before a rename must not vouch for
	// whoever holds the old name now.
	row := sqlstore.VerifiedToken{ProjectID: projectID, JTI: c.ID, VerifiedAt: ms(now), ExpiresAt: ms(c.Expires.Add(signeddata.DefaultLeeway))}
	recorded, err := b.store.RecordVerified(ctx, sqlstore.Verified{Token: row, Event: evs[0], UserID: c.Subject, Identifier: username, SecretHash: secretHash})
	switch {
	case err == nil && !recorded: // renamed or deleted since the token was issued
		v.Result, v.Reason = ResultUserMismatch, "the user no longer has this identifier"
		return v, nil
	case errors.Is(err, ErrAlreadyExists):
		b.issued.forget(sum)
		v.Result, v.Reason = ResultInvalidChallenge, "the token was already verified once"
		return v, nil
	case err != nil:
		return Verification{}, err
	}
	b.issued.forget(sum) // used up: a replay is refused by the verified_tokens row
	v.Result = ResultSuccess
	return v, nil
}

// DeleteExpired removes ceremonies, connect tokens and verified jtis that expired before
// now, at most limit rows of each, and returns how many rows it removed.
func (b *Broker) DeleteExpired(ctx context.Context, limit int) (int64, error) {
	return b.store.DeleteExpired(ctx, ms(b.Now()), limit)
}

// SweepResult is what one SweepExpired did.
type SweepResult struct {
	Deleted int64 // rows removed
	Batches int   // DeleteExpired calls made
	// Backlog is how many expired rows are left: 0 unless the time budget ran out first.
	Backlog int64
}

// SweepExpired calls DeleteExpired with batches of batch rows until one removes nothing or
// budget has passed (on the broker's clock), so that a sweep keeps up with any rate of
// expiry, and counts the expired rows left. Replicas may sweep at once: each batch is
// statements of its own, and a row deleted by one is skipped by the others.
func (b *Broker) SweepExpired(ctx context.Context, batch int, budget time.Duration) (SweepResult, error) {
	var r SweepResult
	start := b.Now()
	for {
		n, err := b.DeleteExpired(ctx, batch)
		r.Deleted += n
		r.Batches++
		if err != nil {
			return r, err
		}
		if n == 0 {
			return r, nil
		}
		if b.Now().Sub(start) >= budget {
			break
		}
	}
	var err error
	r.Backlog, err = b.store.ExpiredBacklog(ctx, ms(b.Now()))
	return r, err
}
