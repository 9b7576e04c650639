package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/connecttoken"
	"github.com/latchkey/latchkey/signeddata"
)

// Ceremony kinds.
const (
	kindAppend = "append"
	kindLogin  = "login"
)

// AppendStart is what append/start returns: the options to pass to navigator.credentials.create.
type AppendStart struct {
	CeremonyID string                                      `json:"ceremonyID"`
	PublicKey  protocol.PublicKeyCredentialCreationOptions `json:"publicKey"`
	Mediation  protocol.CredentialMediationRequirement     `json:"mediation,omitempty"`
	// Rollout is what is on for this user (see Visitor), with DeclinedUntil.
	Rollout *Visitor `json:"rollout,omitempty"`
	// Skip, in the answer to an upgrade, says why no passkey should be offered; then there
	// is no ceremony.
	Skip *Skip `json:"skip,omitempty"`
}

// AppendRequest is the body of append/start.
type AppendRequest struct {
	ConnectToken string `json:"connectToken"`
	Conditional  bool   `json:"conditional"`
	// Upgrade marks the automatic passkey upgrade after a password sign-in: when the offer
	// should not be made (see Skip), the answer is a Skip and no ceremony starts.
	Upgrade bool `json:"upgrade"`
	// CheckOnly, with Upgrade, only answers whether to offer: a Skip, or the rollout alone.
	CheckOnly bool    `json:"checkOnly"`
	Client    *Client `json:"client"`
}

// LoginStart is what login/start returns: options for navigator.credentials.get, or a
// fallback when the identifier has no passkey.
type LoginStart struct {
	CeremonyID string                                      `json:"ceremonyID,omitempty"`
	PublicKey  *protocol.PublicKeyCredentialRequestOptions `json:"publicKey,omitempty"`
	Mediation  protocol.CredentialMediationRequirement     `json:"mediation,omitempty"`
	Fallback   *Fallback                                   `json:"fallback,omitempty"`
	// Rollout is what is on for this visitor (see Visitor).
	Rollout *Visitor `json:"rollout,omitempty"`
}

// Fallback tells the page to offer its other sign-in method.
type Fallback struct {
	Reason string `json:"reason"`
}

// LoginRequest is the body of login/start.
type LoginRequest struct {
	Identifier        string `json:"identifier"`
	LoginConnectToken string `json:"loginConnectToken"`
	Conditional       bool   `json:"conditional"`
	// Client is what the SDK reports of the browser, for the answer's rollout.
	Client *Client `json:"client"`
}

// LoginResult is what login/finish returns.
type LoginResult struct {
	SignedPasskeyData string `json:"signedPasskeyData"`
	Username          string `json:"username"`
}

// relyingParty returns go-webauthn's relying party for p, accepting the web and opaque
// (Android) origins given (see acceptedOrigins).
func relyingParty(p Project, web, opaque []string) (*webauthn.WebAuthn, error) {
	// The options' timeout is the ceremony's lifetime, which the broker enforces itself.
	lifetime := webauthn.TimeoutConfig{Timeout: p.Policy.CeremonyLifetime(), TimeoutUVD: p.Policy.CeremonyLifetime()}
	return webauthn.New(&webauthn.Config{
		RPID:            p.RPID,
		RPDisplayName:   p.RPName,
		RPOrigins:       web,
		RPOpaqueOrigins: opaque,
		Timeouts:        webauthn.TimeoutsConfig{Login: lifetime, Registration: lifetime},
	})
}

// saveCeremony stores a new ceremony that lives for lifetime, unless its project already has
// the broker's cap of unexpired ones (ErrTooManyCeremonies; see sqlstore's InsertCeremony).
func (b *Broker) saveCeremony(ctx context.Context, r sqlstore.Ceremony, session *webauthn.SessionData, lifetime time.Duration) (string, error) {
	id, err := newID("cer-")
	if err != nil {
		return "", err
	}
	raw, err := json.Marshal(session)
	if err != nil {
		return "", err
	}
	now := b.Now()
	r.ID, r.Session, r.CreatedAt, r.ExpiresAt = id, string(raw), ms(now), ms(now.Add(lifetime))
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		saved, err := tx.InsertCeremony(ctx, r, b.maxPending)
		if err != nil {
			return err
		}
		if !saved {
			return ErrTooManyCeremonies
		}
		return b.record(ctx, tx, r.ProjectID, ceremonyEvent(EventCeremonyStarted, id, r))
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// MaxFailedFinishes is how many failed finishes close a ceremony: after them it is
// ErrCeremonyNotFound, like a finished one.
const MaxFailedFinishes = 5

// loadCeremony returns the live stored ceremony id of the project and kind, or
// ErrCeremonyNotFound. (One that failed MaxFailedFinishes times is refused when the finish
// claims it, see endCeremony.)
func (b *Broker) loadCeremony(ctx context.Context, projectID, id, kind string) (sqlstore.Ceremony, webauthn.SessionData, error) {
	var s webauthn.SessionData
	r, err := b.store.Ceremony(ctx, projectID, id, kind)
	if isNotFound(err) || (err == nil && !b.Now().Before(fromMS(r.ExpiresAt))) {
		return r, s, ErrCeremonyNotFound
	} else if err != nil {
		return r, s, err
	}
	if err := json.Unmarshal([]byte(r.Session), &s); err != nil {
		return r, s, fmt.Errorf("ceremony %s: bad session: %w", id, err)
	}
	return r, s, nil
}

// loadLogin returns the live login ceremony id of project p: a sealed one, opened (see
// sealed.go; whether it already finished is decided when the finish claims it), or a stored
// one. Errors: ErrCeremonyNotFound.
func (b *Broker) loadLogin(ctx context.Context, p Project, id string) (sqlstore.Ceremony, webauthn.SessionData, error) {
	if !strings.HasPrefix(id, sealedPrefix) {
		return b.loadCeremony(ctx, p.ID, id, kindLogin)
	}
	c, err := b.openCeremony(p.ID, id)
	if err != nil || !b.Now().Before(c.ExpiresAt) {
		return sqlstore.Ceremony{}, webauthn.SessionData{}, ErrCeremonyNotFound
	}
	r := sqlstore.Ceremony{ID: id, ProjectID: p.ID, Kind: kindLogin, Conditional: c.Conditional, ExpiresAt: ms(c.ExpiresAt)}
	if c.UserID != "" {
		r.UserID = &c.UserID
	}
	// The session go-webauthn made at the start, less what the finish sets: the user handle
	// and allowed credential of an identifier-first login.
	s := webauthn.SessionData{Challenge: b64(c.Challenge), RelyingPartyID: p.RPID, Expires: c.ExpiresAt,
		UserVerification: p.Policy.userVerification()}
	return r, s, nil
}

// endLogin claims login ceremony cer inside tx, sealed or stored: only one caller can, the
// others get ErrCeremonyNotFound, so a ceremony finishes at most once.
func (b *Broker) endLogin(ctx context.Context, tx *sqlstore.Tx, cer sqlstore.Ceremony, now time.Time) error {
	if !strings.HasPrefix(cer.ID, sealedPrefix) {
		return b.endCeremony(ctx, tx, cer, now)
	}
	if sealedExpired(cer, now) {
		return ErrCeremonyNotFound
	}
	ok, err := tx.FinishSealedCeremony(ctx, cer.ProjectID, outcomeKey(cer.ID), cer.ExpiresAt, MaxFailedFinishes)
	if err == nil && !ok {
		err = ErrCeremonyNotFound
	}
	return err
}

// sealedExpired reports whether the sealed ceremony cer can no longer be finished at now.
func sealedExpired(cer sqlstore.Ceremony, now time.Time) bool {
	return !now.Before(fromMS(cer.ExpiresAt))
}

// endCeremony deletes the stored ceremony inside tx unless it failed MaxFailedFinishes
// times; only one caller can delete it, the others get ErrCeremonyNotFound, so a ceremony
// finishes at most once.
func (b *Broker) endCeremony(ctx context.Context, tx *sqlstore.Tx, cer sqlstore.Ceremony, now time.Time) error {
	err := tx.EndCeremony(ctx, cer.ID, ms(now))
	if isNotFound(err) {
		return ErrCeremonyNotFound
	} else if err != nil {
		return err
	}
	o, err := tx.CeremonyOutcome(ctx, cer.ProjectID, outcomeKey(cer.ID), cer.ExpiresAt)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return err
	case o.Failures >= MaxFailedFinishes:
		return ErrCeremonyNotFound // closed: the deletion rolls back with the transaction
	}
	return nil
}

// StartAppend begins registering a passkey for the user of a passkey-append connect token.
// The token is checked, not consumed. Errors: ErrInvalidConnectToken, ErrNotFound (project).
func (b *Broker) StartAppend(ctx context.Context, projectID, secret string, conditional bool) (AppendStart, error) {
	return b.StartAppendWith(ctx, projectID, AppendRequest{ConnectToken: secret, Conditional: conditional})
}

// StartAppendWith is StartAppend with the whole request: the answer carries the rollout for
// the token's user, and an upgrade (req.Upgrade) answers a Skip instead of a ceremony when
// no passkey should be offered. The project's rollout must give append to the token's user
// (ErrComponentDisabled otherwise; an upgrade gets Skip append_off). Errors as StartAppend,
// and *ValidationError.
func (b *Broker) StartAppendWith(ctx context.Context, projectID string, req AppendRequest) (AppendStart, error) {
	if err := req.Client.validate(); err != nil {
		return AppendStart{}, err
	}
	conditional := req.Conditional
	pc, err := b.projectConfig(ctx, projectID)
	if err != nil {
		return AppendStart{}, err
	}
	p := pc.project
	tok, err := b.checkToken(ctx, b.store, projectID, req.ConnectToken, connecttoken.TypeAppend)
	if err != nil {
		return AppendStart{}, err
	}
	if !req.Upgrade && !pc.rollout.enabled(ComponentAppend, projectID, tok.Identifier) {
		return AppendStart{}, detailf(ErrComponentDisabled, "adding a passkey is turned off for this user")
	}
	var u User
	if err := b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		u, err = b.ensureUser(ctx, tx, projectID, tok.Identifier, tok.DisplayName)
		return err
	}); err != nil {
		return AppendStart{}, err
	}
	existing, err := b.passkeysOf(ctx, b.store, projectID, u.ID)
	if err != nil {
		return AppendStart{}, err
	}
	visitor := pc.rollout.visitor(projectID, u.Identifier, req.Client)
	skip, declined, err := b.upgradeSkip(ctx, pc, u, existing, req.Client)
	if err != nil {
		return AppendStart{}, err
	}
	visitor.DeclinedUntil = declined
	if req.Upgrade && skip != nil {
		return AppendStart{Rollout: visitor, Skip: skip}, nil
	}
	if req.Upgrade && req.CheckOnly {
		return AppendStart{Rollout: visitor}, nil
	}
	wu := webauthnUser{u: u}
	for _, pk := range existing {
		wu.creds = append(wu.creds, pk.credential())
	}
	rp, err := pc.relyingParty()
	if err != nil {
		return AppendStart{}, err
	}
	mediation := protocol.MediationDefault
	if conditional {
		mediation = protocol.MediationConditional
	}
	creation, session, err := rp.BeginMediatedRegistration(wu, mediation,
		append(p.Policy.registrationOptions(), webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()))...)
	if err != nil {
		return AppendStart{}, fmt.Errorf("beginning registration: %w", err)
	}
	id, err := b.saveCeremony(ctx, sqlstore.Ceremony{ProjectID: projectID, Kind: kindAppend, UserID: &u.ID, ConnectTokenID: &tok.ID, Conditional: conditional},
		session, p.Policy.CeremonyLifetime())
	if err != nil {
		return AppendStart{}, err
	}
	b.observer.CeremonyStarted(projectID, kindAppend)
	return AppendStart{CeremonyID: id, PublicKey: creation.Response, Mediation: creation.Mediation, Rollout: visitor}, nil
}

// FinishAppend verifies the attestation credential of an append ceremony, stores the passkey
// and consumes the ceremony and its connect token, all or nothing. Errors: ErrCeremonyNotFound,
// ErrInvalidConnectToken, ErrVerificationFailed, ErrAlreadyExists (credential registered),
// *ValidationError (credential unparsable), ErrComponentDisabled (append off, or the user on
// the rollout's deny list).
func (b *Broker) FinishAppend(ctx context.Context, projectID, ceremonyID string, credential []byte) (_ Passkey, err error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return Passkey{}, &ValidationError{"credential", "is not a valid registration response: " + protocolDetail(err)}
	}
	pc, err := b.projectConfig(ctx, projectID)
	if err != nil {
		return Passkey{}, err
	}
	p := pc.project
	var cer sqlstore.Ceremony
	defer func() { b.finishObserved(projectID, kindAppend, cer.ConnectTokenID != nil, err) }()
	cer, session, err := b.loadCeremony(ctx, projectID, ceremonyID, kindAppend)
	if err != nil {
		return Passkey{}, err
	}
	defer func() { b.ceremonyFailed(ctx, cer, eventSubject{}, err) }()
	u, err := b.userByID(ctx, b.store, projectID, deref(cer.UserID))
	if err != nil {
		return Passkey{}, err
	}
	if pc.rollout.stopped(ComponentAppend, u.Identifier) {
		return Passkey{}, detailf(ErrComponentDisabled, "adding a passkey is turned off for this user")
	}
	rp, err := pc.relyingParty()
	if err != nil {
		return Passkey{}, err
	}
	if err := pc.checkOrigin(parsed.Response.CollectedClientData.Origin, androidPackageName(parsed.Raw.AttestationResponse.ClientDataJSON)); err != nil {
		return Passkey{}, err
	}
	cred, err := rp.CreateCredential(webauthnUser{u: u}, session, parsed)
	if err != nil {
		return Passkey{}, detailf(ErrVerificationFailed, "%s", protocolDetail(err))
	}
	if err := p.checkRegistration(cred, parsed); err != nil {
		return Passkey{}, err
	}
	now := b.Now()
	aaguid := ""
	if id, err := uuid.FromBytes(cred.Authenticator.AAGUID); err == nil {
		aaguid = id.String()
	}
	row := sqlstore.Passkey{
		ProjectID: projectID, CredentialID: b64(cred.ID), UserID: u.ID, PublicKey: b64(cred.PublicKey),
		SignCount: int64(cred.Authenticator.SignCount), BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		UserVerified: cred.Flags.UserVerified, Transports: cleanTransports(cred.Transport), AAGUID: aaguid,
		AttestationFormat: cred.AttestationFormat, Label: b.providers.Name(aaguid), CreatedAt: ms(now),
	}
	if row.Label == "" {
		row.Label = "Passkey"
	}
	pk := b.passkeyFromRow(row)
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := b.endCeremony(ctx, tx, cer, now); err != nil {
			return err
		}
		if cer.ConnectTokenID != nil {
			if err := b.consumeToken(ctx, tx, *cer.ConnectTokenID, now); err != nil {
				return err
			}
		}
		err := tx.InsertPasskey(ctx, row)
		if errors.Is(err, ErrAlreadyExists) {
			return detailf(ErrAlreadyExists, "this passkey is already registered")
		} else if err != nil {
			return err
		}
		if err := b.record(ctx, tx, projectID, finishedEvents(cer, pk.UserID, pk.ID, Event{Type: EventPasskeyAdded,
			Details: map[string]any{"ceremonyID": cer.ID, "aaguid": pk.AAGUID, "label": pk.Label}})...); err != nil {
			return err
		}
		return b.count(ctx, tx, projectID, now, addedCounts(ctx, pk)...)
	})
	if err != nil {
		return Passkey{}, err
	}
	return pk, nil
}

// StartLogin begins a login: identifier-first (allowCredentials are the user's passkeys, or a
// no_passkey fallback for an unknown user or one without passkeys, the same answer for both),
// bound to a passkey-login connect token, or usernameless/conditional (empty allowCredentials).
// ErrComponentDisabled when the project's rollout turned passkey login off, or off for the
// identifier the login names.
func (b *Broker) StartLogin(ctx context.Context, projectID string, req LoginRequest) (LoginStart, error) {
	if err := validText("identifier", req.Identifier, 255, false); err != nil {
		return LoginStart{}, err
	}
	if err := req.Client.validate(); err != nil {
		return LoginStart{}, err
	}
	pc, err := b.projectConfig(ctx, projectID)
	if err != nil {
		return LoginStart{}, err
	}
	if pc.rollout.stopped(ComponentLogin, "") {
		return LoginStart{}, detailf(ErrComponentDisabled, "passkey login is turned off for this project")
	}
	p := pc.project
	rp, err := pc.relyingParty()
	if err != nil {
		return LoginStart{}, err
	}
	row := sqlstore.Ceremony{ProjectID: projectID, Kind: kindLogin, Conditional: req.Conditional}
	identifier := req.Identifier
	if req.LoginConnectToken != "" {
		tok, err := b.checkToken(ctx, b.store, projectID, req.LoginConnectToken, connecttoken.TypeLogin)
		if err != nil {
			return LoginStart{}, err
		}
		if identifier != "" && identifier != tok.Identifier {
			return LoginStart{}, detailf(ErrInvalidConnectToken, "token is for another identifier")
		}
		identifier, row.ConnectTokenID = tok.Identifier, &tok.ID
	}
	// A known visitor must be in the rollout; an unknown one (usernameless, autofill) is
	// checked at the finish against the kill switch and the deny list.
	if identifier != "" && !pc.rollout.enabled(ComponentLogin, projectID, identifier) {
		return LoginStart{}, detailf(ErrComponentDisabled, "passkey login is turned off for this user")
	}
	visitor := pc.rollout.visitor(projectID, identifier, req.Client)
	// With usernameless login off, a login names its user; conditional UI is usernameless.
	if !p.Policy.Usernameless && req.Conditional {
		return LoginStart{}, &ValidationError{"conditional", "is not allowed: this project does not allow conditional (autofill) login"}
	}
	if !p.Policy.Usernameless && identifier == "" {
		return LoginStart{}, &ValidationError{"identifier", "is required: this project does not allow usernameless login"}
	}
	mediation := protocol.MediationDefault
	if req.Conditional {
		mediation = protocol.MediationConditional
	}
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
	)
	uv := webauthn.WithUserVerification(p.Policy.userVerification())
	if identifier == "" {
		assertion, session, err = rp.BeginDiscoverableMediatedLogin(mediation, uv)
	} else {
		// One query finds the user and its passkeys, so that an unknown identifier and one
		// without passkeys cost the same and get the same answer.
		ur, pks, perr := b.store.PasskeysByIdentifier(ctx, projectID, identifier)
		if perr != nil {
			return LoginStart{}, perr
		}
		u := userFromRow(ur)
		var creds []webauthn.Credential
		for _, r := range pks {
			if pk := b.passkeyFromRow(r); p.Policy.accepts(pk) {
				creds = append(creds, pk.credential())
			}
		}
		if len(creds) == 0 {
			// The fallback answer stays exactly the contract's, the same for an unknown
			// identifier and one without passkeys.
			return LoginStart{Fallback: &Fallback{Reason: "no_passkey"}}, nil
		}
		row.UserID = &u.ID
		assertion, session, err = rp.BeginMediatedLogin(webauthnUser{u: u, creds: creds}, mediation, uv)
	}
	if err != nil {
		return LoginStart{}, fmt.Errorf("beginning login: %w", err)
	}
	var id string
	if row.ConnectTokenID != nil {
		// Bound to a connect token, which only the app backend can mint: stored.
		id, err = b.saveCeremony(ctx, row, session, p.Policy.CeremonyLifetime())
	} else {
		id, err = b.sealLogin(projectID, row, session, p.Policy.CeremonyLifetime())
	}
	if err != nil {
		return LoginStart{}, err
	}
	b.observer.CeremonyStarted(projectID, kindLogin)
	return LoginStart{CeremonyID: id, PublicKey: &assertion.Response, Mediation: assertion.Mediation, Rollout: visitor}, nil
}

// sealLogin returns the ID of a login ceremony that carries its own state (sealed.go); it
// stores nothing.
func (b *Broker) sealLogin(projectID string, row sqlstore.Ceremony, session *webauthn.SessionData, lifetime time.Duration) (string, error) {
	challenge, err := unb64(session.Challenge)
	if err != nil {
		return "", fmt.Errorf("beginning login: unexpected challenge: %w", err)
	}
	return b.sealCeremony(projectID, sealedCeremony{ExpiresAt: b.Now().Add(lifetime), Conditional: row.Conditional,
		Challenge: challenge, UserID: deref(row.UserID)})
}

// FinishLogin verifies the assertion of a login ceremony, updates the passkey's counter,
// backup state and last use, consumes the ceremony (and its connect token), and returns
// signedPasskeyData, all or nothing. Errors: ErrCeremonyNotFound, *UnknownCredentialError,
// ErrVerificationFailed (also for a counter that went backwards), ErrInvalidConnectToken,
// *ValidationError, ErrComponentDisabled (login off, or the user on the rollout's deny list).
func (b *Broker) FinishLogin(ctx context.Context, projectID, ceremonyID string, credential []byte) (_ LoginResult, err error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return LoginResult{}, &ValidationError{"credential", "is not a valid authentication response: " + protocolDetail(err)}
	}
	pc, err := b.projectConfig(ctx, projectID)
	if err != nil {
		return LoginResult{}, err
	}
	p := pc.project
	if pc.rollout.stopped(ComponentLogin, "") {
		return LoginResult{}, detailf(ErrComponentDisabled, "passkey login is turned off for this project")
	}
	var cer sqlstore.Ceremony
	defer func() { b.finishObserved(projectID, kindLogin, cer.ConnectTokenID != nil, err) }()
	cer, session, err := b.loadLogin(ctx, p, ceremonyID)
	if err != nil {
		return LoginResult{}, err
	}
	credID := b64(parsed.RawID)
	who := eventSubject{CredentialID: credID} // whom a failure concerns, for the audit log
	defer func() { b.ceremonyFailed(ctx, cer, who, err) }()
	pr, ur, err := b.store.PasskeyWithUser(ctx, projectID, credID)
	if isNotFound(err) {
		return LoginResult{}, &UnknownCredentialError{RPID: p.RPID, CredentialID: credID}
	} else if err != nil {
		return LoginResult{}, err
	}
	pk, u := b.passkeyFromRow(pr), userFromRow(ur)
	who.UserID = pk.UserID
	if pc.rollout.stopped(ComponentLogin, u.Identifier) {
		return LoginResult{}, detailf(ErrComponentDisabled, "passkey login is turned off for this user")
	}
	if cer.UserID != nil && *cer.UserID != pk.UserID {
		return LoginResult{}, detailf(ErrVerificationFailed, "the credential belongs to another user")
	}
	// go-webauthn checks the credential against the user's credentials and the ceremony's
	// allowed list: the passkey used is the one that matters, and it must have been offered.
	wu := webauthnUser{u: u, creds: []webauthn.Credential{pk.credential()}}
	if cer.UserID != nil {
		if strings.HasPrefix(cer.ID, sealedPrefix) {
			// A sealed ceremony names its user, not the passkeys offered: the user's passkey
			// that the policy accepts now (checkAssertion below) is one it would offer.
			session.UserID = wu.WebAuthnID()
		} else if !slices.ContainsFunc(session.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, parsed.RawID) }) {
			return LoginResult{}, detailf(ErrVerificationFailed, "the credential is not one this login offered")
		}
		session.AllowedCredentialIDs = [][]byte{parsed.RawID}
	}
	rp, err := pc.relyingParty()
	if err != nil {
		return LoginResult{}, err
	}
	if err := pc.checkOrigin(parsed.Response.CollectedClientData.Origin, androidPackageName(parsed.Raw.AssertionResponse.ClientDataJSON)); err != nil {
		return LoginResult{}, err
	}
	var cred *webauthn.Credential
	if cer.UserID != nil {
		cred, err = rp.ValidateLogin(wu, session, parsed)
	} else {
		cred, err = rp.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			return wu, nil
		}, session, parsed)
	}
	if err != nil {
		return LoginResult{}, detailf(ErrVerificationFailed, "%s", protocolDetail(err))
	}
	_ = cred
	flags := parsed.Response.AuthenticatorData.Flags
	if err := p.checkAssertion(parsed, pk, cer.UserID == nil); err != nil {
		return LoginResult{}, err
	}
	newCount := int64(parsed.Response.AuthenticatorData.Counter)

	sealed := strings.HasPrefix(cer.ID, sealedPrefix) && cer.ConnectTokenID == nil
	// The usual login (sealed) signs with the key its cached rows name and checks it in the
	// statement that writes the login; the others read the store's keys now.
	key, err := b.signingKey(ctx, projectID, sealed)
	if err != nil {
		return LoginResult{}, err
	}
	now := b.Now()
	jti, err := newID("spd-")
	if err != nil {
		return LoginResult{}, err
	}
	attachment := string(parsed.AuthenticatorAttachment) // platform, cross-platform or "" (go-webauthn drops others)
	claims := signeddata.Claims{
		Issuer: projectID, Subject: u.ID, Username: u.Identifier, WebAuthnID: u.WebAuthnB64, Credential: credID,
		ProcessID: ceremonyID, ID: jti, IssuedAt: now, NotBefore: now, Expires: now.Add(SignedDataLifetime),
		IsCUI: cer.Conditional, UV: flags.HasUserVerified(), ConnectTokenID: deref(cer.ConnectTokenID),
		BackupEligible: flags.HasBackupEligible(), BackedUp: flags.HasBackupState(), AuthenticatorAttachment: attachment,
		CrossDevice: crossDevice(parsed.AuthenticatorAttachment, pk.Transports), AAGUID: pk.AAGUID, ProviderName: pk.ProviderName,
	}
	token, err := signeddata.Sign(key, claims)
	if err != nil {
		return LoginResult{}, err
	}
	use := sqlstore.PasskeyUse{ProjectID: projectID, CredentialID: credID, SignCount: newCount,
		BackupState: flags.HasBackupState(), UserVerified: flags.HasUserVerified(), At: ms(now)}
	evs := finishedEvents(cer, u.ID, credID, Event{Type: EventPasskeyUsed,
		Details: map[string]any{"ceremonyID": cer.ID, "uv": flags.HasUserVerified(), "conditional": cer.Conditional,
			"backupEligible": claims.BackupEligible, "backedUp": claims.BackedUp, "authenticatorAttachment": claims.AuthenticatorAttachment,
			"crossDevice": claims.CrossDevice, "aaguid": claims.AAGUID, "providerName": claims.ProviderName}})
	login := sqlstore.Count{Series: seriesLogin, Dim: loginKind(cer), Value: 1}
	// The counter must increase, unless it is and stays 0 (providers that do not count): a
	// counter that falls back to 0 is a clone's as much as one that falls back to 3. It is
	// checked after this request has claimed the ceremony, and by the database, so that two
	// logins racing with one counter value cannot both pass and a request that lost the race
	// for the ceremony is told so (410), not "counter".
	refused := func(ctx context.Context, q interface {
		PasskeyByID(context.Context, string, string) (sqlstore.Passkey, error)
	}) error {
		now, err := q.PasskeyByID(ctx, projectID, credID)
		if err != nil {
			return detailf(ErrVerificationFailed, "the passkey was deleted during the login")
		}
		return counterRegression(newCount, now.SignCount)
	}
	if sealed {
		// The usual login: its writes in one statement on PostgreSQL (Store.FinishLogin).
		if sealedExpired(cer, now) {
			return LoginResult{}, ErrCeremonyNotFound
		}
		rows, err := b.eventRows(ctx, projectID, evs...)
		if err != nil {
			return LoginResult{}, err
		}
		bucket, shard := countSlot(now)
		w, err := b.store.FinishLogin(ctx, sqlstore.FinishedLogin{ProjectID: projectID, CeremonyKey: outcomeKey(cer.ID),
			ExpiresAt: cer.ExpiresAt, MaxFailures: MaxFailedFinishes, Use: use, Events: rows,
			BucketStart: bucket, Shard: shard, Count: login})
		switch {
		case err != nil:
			return LoginResult{}, err
		case !w.Claimed:
			return LoginResult{}, ErrCeremonyNotFound
		case !w.Used:
			return LoginResult{}, refused(ctx, b.store)
		}
		if w.SigningKeyID != key.ID {
			// The cached rows lacked a key rotated in to sign at once (through another
			// replica, or the command line): sign again with the store's signing key, as the
			// login's statement saw it. Rare; its writes are committed already.
			if key, err = b.signingKey(ctx, projectID, false); err != nil {
				return LoginResult{}, err
			}
			if token, err = signeddata.Sign(key, claims); err != nil {
				return LoginResult{}, err
			}
		}
		b.issued.remember(token, key.ID, claims, now)
		return LoginResult{SignedPasskeyData: token, Username: u.Identifier}, nil
	}
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := b.endLogin(ctx, tx, cer, now); err != nil {
			return err
		}
		if cer.ConnectTokenID != nil {
			if err := b.consumeToken(ctx, tx, *cer.ConnectTokenID, now); err != nil {
				return err
			}
		}
		updated, err := tx.RecordPasskeyUse(ctx, use)
		if err != nil {
			return err
		}
		if !updated {
			return refused(ctx, tx)
		}
		if err := b.record(ctx, tx, projectID, evs...); err != nil {
			return err
		}
		// The login path's one statement for analytics, last, so that the counter's row is
		// held only until the commit that follows.
		return b.count(ctx, tx, projectID, now, login)
	})
	if err != nil {
		return LoginResult{}, err
	}
	b.issued.remember(token, key.ID, claims, now)
	return LoginResult{SignedPasskeyData: token, Username: u.Identifier}, nil
}

// crossDevice reports whether a login was most likely made with a phone over the hybrid
// transport (scanning a QR code): the client reported a cross-platform attachment and the
// passkey's transports, stored at registration, include hybrid. A security key over USB or
// NFC is cross-platform too but does not list hybrid; a passkey without stored transports
// counts as not cross-device. Both inputs come from the client: this is a hint, not proof.
func crossDevice(attachment protocol.AuthenticatorAttachment, transports []string) bool {
	return attachment == protocol.CrossPlatform && slices.Contains(transports, string(protocol.Hybrid))
}

// protocolDetail returns go-webauthn's short description of what failed, fit for a client.
// Its developer detail is left out: it can quote the ceremony's challenge.
func protocolDetail(err error) string {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		if perr.Details != "" {
			return perr.Details
		}
	}
	var uerr *protocol.ErrorUnknownCredential
	if errors.As(err, &uerr) {
		return "the credential is not one of the user's"
	}
	return "the response is invalid"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
