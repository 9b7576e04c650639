package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jmoiron/sqlx"
)

// User is a project's user, known by the app's identifier.
type User struct {
	ID          string `db:"id"`
	ProjectID   string `db:"project_id"`
	Identifier  string `db:"identifier"`
	DisplayName string `db:"display_name"`
	WebAuthnB64 string `db:"webauthn_id"`
	CreatedAt   int64  `db:"created_at"`
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
	ID                string     `db:"credential_id" json:"id"`
	Label             string     `db:"label" json:"label"`
	ProviderName      string     `db:"-" json:"providerName"`
	AAGUID            string     `db:"aaguid" json:"aaguid"`
	Transports        []string   `db:"-" json:"transports"`
	BackupEligible    bool       `db:"backup_eligible" json:"backupEligible"`
	BackedUp          bool       `db:"backup_state" json:"backedUp"`
	CreatedAt         time.Time  `db:"-" json:"createdAt"`
	LastUsedAt        *time.Time `db:"-" json:"lastUsedAt"`
	UserID            string     `db:"user_id" json:"-"`
	PublicKey         string     `db:"public_key" json:"-"`
	SignCount         int64      `db:"sign_count" json:"-"`
	UserVerified      bool       `db:"user_verified" json:"-"`
	AttestationFormat string     `db:"attestation_format" json:"-"`
	TransportsJSON    string     `db:"transports" json:"-"`
	CreatedMS         int64      `db:"created_at" json:"-"`
	LastUsedMS        *int64     `db:"last_used_at" json:"-"`
}

func (p *Passkey) fill() {
	p.ProviderName = providerName(p.AAGUID)
	p.Transports = []string{}
	_ = json.Unmarshal([]byte(p.TransportsJSON), &p.Transports)
	p.CreatedAt = fromMS(p.CreatedMS)
	if p.LastUsedMS != nil {
		t := fromMS(*p.LastUsedMS)
		p.LastUsedAt = &t
	}
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

const passkeyColumns = `credential_id, label, aaguid, backup_eligible, backup_state, user_id, public_key, sign_count,
	user_verified, attestation_format, transports, created_at, last_used_at`

// queryer is what reads need of a *sqlx.DB or a *sqlx.Tx.
type queryer interface {
	sqlx.QueryerContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

func (b *Broker) userByIdentifier(ctx context.Context, q queryer, projectID, identifier string) (User, error) {
	var u User
	err := b.store.getContext(ctx, q, &u, `SELECT id, project_id, identifier, display_name, webauthn_id, created_at
		FROM users WHERE project_id = ? AND identifier = ?`, projectID, identifier)
	return u, classify(err)
}

func (b *Broker) userByID(ctx context.Context, q queryer, projectID, id string) (User, error) {
	var u User
	err := b.store.getContext(ctx, q, &u, `SELECT id, project_id, identifier, display_name, webauthn_id, created_at
		FROM users WHERE project_id = ? AND id = ?`, projectID, id)
	return u, classify(err)
}

func (b *Broker) passkeysOf(ctx context.Context, q queryer, projectID, userID string) ([]Passkey, error) {
	var ps []Passkey
	if err := b.store.selectContext(ctx, q, &ps, `SELECT `+passkeyColumns+` FROM passkeys
		WHERE project_id = ? AND user_id = ? ORDER BY created_at, credential_id`, projectID, userID); err != nil {
		return nil, classify(err)
	}
	for i := range ps {
		ps[i].fill()
	}
	if ps == nil {
		ps = []Passkey{}
	}
	return ps, nil
}

func (b *Broker) passkeyByID(ctx context.Context, q queryer, projectID, credentialID string) (Passkey, error) {
	var p Passkey
	if err := b.store.getContext(ctx, q, &p, `SELECT `+passkeyColumns+` FROM passkeys
		WHERE project_id = ? AND credential_id = ?`, projectID, credentialID); err != nil {
		return Passkey{}, classify(err)
	}
	p.fill()
	return p, nil
}

// passkeyUserRow is a passkey with the columns of its user, read by one join.
type passkeyUserRow struct {
	Passkey
	UserIdentifier  string `db:"u_identifier"`
	UserDisplayName string `db:"u_display_name"`
	UserWebAuthnID  string `db:"u_webauthn_id"`
	UserCreatedAt   int64  `db:"u_created_at"`
}

const selectPasskeysWithUsers = `SELECT p.credential_id, p.label, p.aaguid, p.backup_eligible, p.backup_state, p.user_id,
	p.public_key, p.sign_count, p.user_verified, p.attestation_format, p.transports, p.created_at, p.last_used_at,
	u.identifier AS u_identifier, u.display_name AS u_display_name, u.webauthn_id AS u_webauthn_id, u.created_at AS u_created_at
	FROM passkeys p JOIN users u ON u.id = p.user_id`

func (r passkeyUserRow) user(projectID string) User {
	return User{ID: r.UserID, ProjectID: projectID, Identifier: r.UserIdentifier, DisplayName: r.UserDisplayName,
		WebAuthnB64: r.UserWebAuthnID, CreatedAt: r.UserCreatedAt}
}

// passkeysByIdentifier returns the user with identifier and its passkeys in one query; an
// unknown user and a user without passkeys both give a zero User and no passkeys.
func (b *Broker) passkeysByIdentifier(ctx context.Context, projectID, identifier string) (User, []Passkey, error) {
	var rows []passkeyUserRow
	if err := b.store.selectContext(ctx, b.store.db, &rows, selectPasskeysWithUsers+`
		WHERE p.project_id = ? AND u.project_id = ? AND u.identifier = ? ORDER BY p.created_at, p.credential_id`,
		projectID, projectID, identifier); err != nil {
		return User{}, nil, err
	}
	if len(rows) == 0 {
		return User{}, nil, nil
	}
	pks := make([]Passkey, len(rows))
	for i := range rows {
		rows[i].fill()
		pks[i] = rows[i].Passkey
	}
	return rows[0].user(projectID), pks, nil
}

// passkeyWithUser returns the project's passkey with credentialID and its user in one query,
// or ErrNotFound.
func (b *Broker) passkeyWithUser(ctx context.Context, projectID, credentialID string) (Passkey, User, error) {
	var r passkeyUserRow
	if err := b.store.getContext(ctx, b.store.db, &r, selectPasskeysWithUsers+`
		WHERE p.project_id = ? AND p.credential_id = ?`, projectID, credentialID); err != nil {
		return Passkey{}, User{}, err
	}
	r.fill()
	return r.Passkey, r.user(projectID), nil
}

// ensureUser returns the user with identifier, creating it with displayName if it does not
// exist, and updating its display name if displayName is given and differs.
func (b *Broker) ensureUser(ctx context.Context, tx *sqlx.Tx, projectID, identifier, displayName string) (User, error) {
	u, err := b.userByIdentifier(ctx, tx, projectID, identifier)
	switch {
	case err == nil:
		if displayName != "" && displayName != u.DisplayName {
			if _, err := tx.ExecContext(ctx, b.store.q(`UPDATE users SET display_name = ? WHERE id = ?`), displayName, u.ID); err != nil {
				return User{}, err
			}
			u.DisplayName = displayName
		}
		return u, nil
	case !isNotFound(err):
		return User{}, err
	}
	handle, err := randomBytes(32)
	if err != nil {
		return User{}, err
	}
	id, err := newID("usr-")
	if err != nil {
		return User{}, err
	}
	if displayName == "" {
		displayName = identifier
	}
	u = User{ID: id, ProjectID: projectID, Identifier: identifier, DisplayName: displayName, WebAuthnB64: b64(handle), CreatedAt: ms(b.Now())}
	_, err = tx.ExecContext(ctx, b.store.q(`INSERT INTO users (id, project_id, identifier, display_name, webauthn_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`), u.ID, u.ProjectID, u.Identifier, u.DisplayName, u.WebAuthnB64, u.CreatedAt)
	if err != nil {
		return User{}, err
	}
	return u, b.record(ctx, tx, projectID, userCreated(u, "connect_token"))
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
