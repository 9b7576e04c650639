package broker

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// User is a project's user, known by the app's identifier.
type User struct {
	ID          string
	ProjectID   string
	Identifier  string
	DisplayName string
	// WebAuthnB64 is the WebAuthn user handle, base64url.
	WebAuthnB64 string
	CreatedAt   time.Time
}

func userFromRow(r sqlstore.User) User {
	return User{ID: r.ID, ProjectID: r.ProjectID, Identifier: r.Identifier, DisplayName: r.DisplayName,
		WebAuthnB64: r.WebAuthnID, CreatedAt: fromMS(r.CreatedAt)}
}

func (u User) row() sqlstore.User {
	return sqlstore.User{ID: u.ID, ProjectID: u.ProjectID, Identifier: u.Identifier, DisplayName: u.DisplayName,
		WebAuthnID: u.WebAuthnB64, CreatedAt: ms(u.CreatedAt)}
}

// webauthnUser adapts a User and its passkeys to go-webauthn's webauthn.User.
type webauthnUser struct {
	u     User
	creds []webauthn.Credential
}

func (w webauthnUser) WebAuthnID() []byte {
	id, _ := unb64(w.u.WebAuthnB64)
	return id
}
func (w webauthnUser) WebAuthnName() string                       { return w.u.Identifier }
func (w webauthnUser) WebAuthnDisplayName() string                { return w.u.DisplayName }
func (w webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// Passkey is a stored WebAuthn credential. Its JSON form is the contract's Passkey object.
type Passkey struct {
	ID             string     `json:"id"`
	Label          string     `json:"label"`
	ProviderName   string     `json:"providerName"`
	AAGUID         string     `json:"aaguid"`
	Transports     []string   `json:"transports"`
	BackupEligible bool       `json:"backupEligible"`
	BackedUp       bool       `json:"backedUp"`
	CreatedAt      time.Time  `json:"createdAt"`
	LastUsedAt     *time.Time `json:"lastUsedAt"`
	UserID         string     `json:"-"`
	// PublicKey is the credential's COSE_Key, base64url.
	PublicKey         string `json:"-"`
	SignCount         int64  `json:"-"`
	UserVerified      bool   `json:"-"`
	AttestationFormat string `json:"-"`
}

func (b *Broker) passkeyFromRow(r sqlstore.Passkey) Passkey {
	p := Passkey{ID: r.CredentialID, Label: r.Label, ProviderName: b.providers.Name(r.AAGUID), AAGUID: r.AAGUID,
		Transports: []string(r.Transports), BackupEligible: r.BackupEligible, BackedUp: r.BackupState,
		CreatedAt: fromMS(r.CreatedAt), UserID: r.UserID, PublicKey: r.PublicKey, SignCount: r.SignCount,
		UserVerified: r.UserVerified, AttestationFormat: r.AttestationFormat}
	if p.Transports == nil {
		p.Transports = []string{}
	}
	if r.LastUsedAt != nil {
		t := fromMS(*r.LastUsedAt)
		p.LastUsedAt = &t
	}
	return p
}

func (b *Broker) passkeysFromRows(rows []sqlstore.Passkey) []Passkey {
	out := make([]Passkey, len(rows))
	for i, r := range rows {
		out[i] = b.passkeyFromRow(r)
	}
	return out
}

// credential returns the go-webauthn view of p.
func (p Passkey) credential() webauthn.Credential {
	id, _ := unb64(p.ID)
	pub, _ := unb64(p.PublicKey)
	var transports []protocol.AuthenticatorTransport
	for _, t := range p.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                id,
		PublicKey:         pub,
		AttestationFormat: p.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.CredentialFlags{UserPresent: true, UserVerified: p.UserVerified, BackupEligible: p.BackupEligible, BackupState: p.BackedUp},
		Authenticator:     webauthn.Authenticator{SignCount: uint32(p.SignCount)},
	}
}

// Signal is what the client passes to PublicKeyCredential.signalAllAcceptedCredentials.
type Signal struct {
	AllAcceptedCredentials AllAcceptedCredentials `json:"allAcceptedCredentials"`
}

// AllAcceptedCredentials lists every credential ID the RP accepts for one user.
type AllAcceptedCredentials struct {
	RPID                     string   `json:"rpId"`
	UserID                   string   `json:"userId"`
	AllAcceptedCredentialIDs []string `json:"allAcceptedCredentialIds"`
}

func (b *Broker) userByIdentifier(ctx context.Context, q reader, projectID, identifier string) (User, error) {
	r, err := q.UserByIdentifier(ctx, projectID, identifier)
	return userFromRow(r), err
}

func (b *Broker) userByID(ctx context.Context, q reader, projectID, id string) (User, error) {
	r, err := q.UserByID(ctx, projectID, id)
	return userFromRow(r), err
}

func (b *Broker) passkeysOf(ctx context.Context, q reader, projectID, userID string) ([]Passkey, error) {
	rows, err := q.PasskeysOf(ctx, projectID, userID)
	if err != nil {
		return nil, err
	}
	return b.passkeysFromRows(rows), nil
}

// reader is the reads the broker makes on the store or in a transaction; *sqlstore.Store and
// *sqlstore.Tx both have them.
type reader interface {
	UserByIdentifier(ctx context.Context, projectID, identifier string) (sqlstore.User, error)
	UserByID(ctx context.Context, projectID, id string) (sqlstore.User, error)
	PasskeysOf(ctx context.Context, projectID, userID string) ([]sqlstore.Passkey, error)
	ConnectTokenByHash(ctx context.Context, projectID, hash string) (sqlstore.ConnectToken, error)
}

// ensureUser returns the user with identifier, creating it with displayName if it does not
// exist, and updating its display name if displayName is given and differs.
func (b *Broker) ensureUser(ctx context.Context, tx *sqlstore.Tx, projectID, identifier, displayName string) (User, error) {
	u, err := b.userByIdentifier(ctx, tx, projectID, identifier)
	if isNotFound(err) {
		var created bool
		if u, created, err = b.insertUser(ctx, tx, projectID, NewUser{Identifier: identifier, DisplayName: displayName}); err == nil && created {
			return u, b.record(ctx, tx, projectID, userCreated(u, "connect_token"))
		}
	}
	switch {
	case err != nil:
		return User{}, err
	case displayName != "" && displayName != u.DisplayName:
		if err := tx.SetUserDisplayName(ctx, projectID, u.ID, displayName); err != nil {
			return User{}, err
		}
		u.DisplayName = displayName
	}
	return u, nil
}

func (b *Broker) signal(p Project, u User, ps []Passkey) Signal {
	ids := make([]string, 0, len(ps))
	for _, pk := range ps {
		ids = append(ids, pk.ID)
	}
	return Signal{AllAcceptedCredentials{RPID: p.RPID, UserID: u.WebAuthnB64, AllAcceptedCredentialIDs: ids}}
}

// validText checks a user-supplied string: valid UTF-8, no control characters, and at most
// max characters; min 1 unless optional.
func validText(field, s string, max int, required bool) error {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return &ValidationError{field, "must be valid UTF-8"}
	case required && strings.TrimSpace(s) == "":
		return &ValidationError{field, "is required"}
	case n > max:
		return &ValidationError{field, fmt.Sprintf("must be at most %d characters", max)}
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return &ValidationError{field, "must not contain control characters"}
	}
	return nil
}
