package broker

import (
	"context"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/signeddata"
)

// IssuedLookups returns how many verifications found their token among those b signed and
// took the fast path (hits), and how many verified it in full (misses).
func (b *Broker) IssuedLookups() (hits, misses int64) {
	return b.issued.hits.Load(), b.issued.misses.Load()
}

// IssuedLen returns how many tokens b remembers having signed.
func (b *Broker) IssuedLen() int { return b.issued.len() }

// SigningKeyOf returns the key that signs for the project now, so that tests can sign tokens
// the broker did not issue.
func (b *Broker) SigningKeyOf(ctx context.Context, projectID string) (signeddata.Key, error) {
	return b.signingKey(ctx, projectID, false)
}

// StartWithChallenge stores a ceremony of kind ("append" or "login") for the project whose
// challenge is challenge (base64url), made as StartAppend or a usernameless StartLogin makes
// one, so that tests can replay a response recorded elsewhere. An append ceremony is for the
// user userID; a login one names no user.
func (b *Broker) StartWithChallenge(ctx context.Context, projectID, kind, userID, challenge string) (string, error) {
	pc, err := b.projectConfig(ctx, projectID)
	if err != nil {
		return "", err
	}
	rp, err := pc.relyingParty()
	if err != nil {
		return "", err
	}
	p := pc.project
	row := sqlstore.Ceremony{ProjectID: projectID, Kind: kind}
	var session *webauthn.SessionData
	if kind == kindAppend {
		u, err := b.userByID(ctx, b.store, projectID, userID)
		if err != nil {
			return "", err
		}
		row.UserID = &u.ID
		_, session, err = rp.BeginMediatedRegistration(webauthnUser{u: u}, protocol.MediationDefault, p.Policy.registrationOptions()...)
		if err != nil {
			return "", err
		}
	} else {
		_, session, err = rp.BeginDiscoverableMediatedLogin(protocol.MediationDefault, webauthn.WithUserVerification(p.Policy.userVerification()))
		if err != nil {
			return "", err
		}
	}
	session.Challenge = challenge
	return b.saveCeremony(ctx, row, session, p.Policy.CeremonyLifetime())
}
