package sqlstore

import (
	"context"
)

// Passkey is a row of passkeys: a WebAuthn credential of a user. CredentialID (base64url)
// is unique per project.
type Passkey struct {
	ProjectID         string       `db:"project_id"`
	CredentialID      string       `db:"credential_id"`
	UserID            string       `db:"user_id"`
	PublicKey         string       `db:"public_key"` // base64url COSE_Key
	SignCount         int64        `db:"sign_count"`
	BackupEligible    bool         `db:"backup_eligible"`
	BackupState       bool         `db:"backup_state"`
	UserVerified      bool         `db:"user_verified"`
	Transports        List[string] `db:"transports"`
	AAGUID            string       `db:"aaguid"`
	AttestationFormat string       `db:"attestation_format"`
	Label             string       `db:"label"`
	CreatedAt         int64        `db:"created_at"`
	LastUsedAt        *int64       `db:"last_used_at"`
}

const passkeyColumns = `project_id, credential_id, user_id, public_key, sign_count, backup_eligible, backup_state,
	user_verified, transports, aaguid, attestation_format, label, created_at, last_used_at`

// InsertPasskey adds p. Errors: ErrAlreadyExists (the project has the credential ID).
func (q queries) InsertPasskey(ctx context.Context, p Passkey) error {
	_, err := q.exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ProjectID, p.CredentialID, p.UserID, p.PublicKey, p.SignCount, p.BackupEligible, p.BackupState, p.UserVerified,
		p.Transports, p.AAGUID, p.AttestationFormat, p.Label, p.CreatedAt, p.LastUsedAt)
	return err
}

// PasskeyByID returns the project's passkey with credentialID. Errors: ErrNotFound.
func (q queries) PasskeyByID(ctx context.Context, projectID, credentialID string) (Passkey, error) {
	var p Passkey
	err := q.byKey().get(ctx, &p, `SELECT `+passkeyColumns+` FROM passkeys WHERE project_id = ? AND credential_id = ?`, projectID, credentialID)
	return p, err
}

// PasskeysOf returns the passkeys of the project's user userID, oldest first (none for an
// unknown user).
func (q queries) PasskeysOf(ctx context.Context, projectID, userID string) ([]Passkey, error) {
	var ps []Passkey
	err := q.byKey().selectRows(ctx, &ps, `SELECT `+passkeyColumns+` FROM passkeys
		WHERE project_id = ? AND user_id = ? ORDER BY created_at, credential_id`, projectID, userID)
	return ps, err
}

// PasskeyPage selects a page of one user's passkeys, oldest first: after the passkey created
// at AfterCreatedAt with credential ID After, if After is set.
type PasskeyPage struct {
	ProjectID, UserID string
	After             string
	AfterCreatedAt    int64
	Limit             int
}

// PasskeysPage returns the passkeys f selects, ordered by (created_at, credential_id).
func (q queries) PasskeysPage(ctx context.Context, f PasskeyPage) ([]Passkey, error) {
	var ps []Passkey
	var err error
	if f.After == "" {
		err = q.selectRows(ctx, &ps, `SELECT `+passkeyColumns+` FROM passkeys WHERE project_id = ? AND user_id = ?
			ORDER BY created_at, credential_id LIMIT ?`, f.ProjectID, f.UserID, f.Limit)
	} else {
		err = q.selectRows(ctx, &ps, `SELECT `+passkeyColumns+` FROM passkeys WHERE project_id = ? AND user_id = ?
			AND (created_at, credential_id) > (?, ?) ORDER BY created_at, credential_id LIMIT ?`,
			f.ProjectID, f.UserID, f.AfterCreatedAt, f.After, f.Limit)
	}
	return ps, err
}

// passkeyUser is a passkey with the columns of its user, read by one join.
type passkeyUser struct {
	Passkey
	UserIdentifier  string `db:"u_identifier"`
	UserDisplayName string `db:"u_display_name"`
	UserWebAuthnID  string `db:"u_webauthn_id"`
	UserCreatedAt   int64  `db:"u_created_at"`
}

func (r passkeyUser) user() User {
	return User{ID: r.UserID, ProjectID: r.ProjectID, Identifier: r.UserIdentifier, DisplayName: r.UserDisplayName,
		WebAuthnID: r.UserWebAuthnID, CreatedAt: r.UserCreatedAt}
}

const selectPasskeysWithUsers = `SELECT p.project_id, p.credential_id, p.user_id, p.public_key, p.sign_count,
	p.backup_eligible, p.backup_state, p.user_verified, p.transports, p.aaguid, p.attestation_format, p.label,
	p.created_at, p.last_used_at, u.identifier AS u_identifier, u.display_name AS u_display_name,
	u.webauthn_id AS u_webauthn_id, u.created_at AS u_created_at
	FROM passkeys p JOIN users u ON u.id = p.user_id`

// PasskeysByIdentifier returns the project's user with identifier and its passkeys, oldest
// first, in one query: an unknown user and a user without passkeys both give a zero User and
// no passkeys, at the same cost.
func (q queries) PasskeysByIdentifier(ctx context.Context, projectID, identifier string) (User, []Passkey, error) {
	var rows []passkeyUser
	if err := q.byKey().selectRows(ctx, &rows, selectPasskeysWithUsers+`
		WHERE p.project_id = ? AND u.project_id = ? AND u.identifier = ? ORDER BY p.created_at, p.credential_id`,
		projectID, projectID, identifier); err != nil {
		return User{}, nil, err
	}
	if len(rows) == 0 {
		return User{}, nil, nil
	}
	ps := make([]Passkey, len(rows))
	for i := range rows {
		ps[i] = rows[i].Passkey
	}
	return rows[0].user(), ps, nil
}

// PasskeyWithUser returns the project's passkey with credentialID and its user, in one
// query. Errors: ErrNotFound.
func (q queries) PasskeyWithUser(ctx context.Context, projectID, credentialID string) (Passkey, User, error) {
	var r passkeyUser
	if err := q.byKey().get(ctx, &r, selectPasskeysWithUsers+` WHERE p.project_id = ? AND p.credential_id = ?`, projectID, credentialID); err != nil {
		return Passkey{}, User{}, err
	}
	return r.Passkey, r.user(), nil
}

// PasskeyUse is what a successful login changes of a passkey.
type PasskeyUse struct {
	ProjectID, CredentialID string
	SignCount               int64
	BackupState             bool
	UserVerified            bool // ORed into the stored flag: once verified, always
	At                      int64
}

// RecordPasskeyUse stores u if the counter rule holds, and reports whether it did: the
// signature counter must increase, unless it is and stays 0 (providers that do not count).
// The rule is checked by the database in the update itself, so that of two logins racing
// with one counter value only one passes. false means the rule failed or the passkey is gone.
func (q queries) RecordPasskeyUse(ctx context.Context, u PasskeyUse) (bool, error) {
	// CAST: PostgreSQL types a bare parameter compared with 0 as integer (int4), which cannot
	// hold counters of 2^31 and above.
	n, err := q.exec(ctx, `UPDATE passkeys SET sign_count = CASE WHEN CAST(? AS BIGINT) > sign_count THEN CAST(? AS BIGINT) ELSE sign_count END,
		backup_state = ?, user_verified = (user_verified OR ?), last_used_at = ?
		WHERE project_id = ? AND credential_id = ? AND ((CAST(? AS BIGINT) = 0 AND sign_count = 0) OR sign_count < CAST(? AS BIGINT))`,
		u.SignCount, u.SignCount, u.BackupState, u.UserVerified, u.At, u.ProjectID, u.CredentialID, u.SignCount, u.SignCount)
	return n == 1, err
}

// SetPasskeyLabel changes the label of the project's passkey. Errors: ErrNotFound.
func (q queries) SetPasskeyLabel(ctx context.Context, projectID, credentialID, label string) error {
	return q.execOne(ctx, "passkey "+credentialID, `UPDATE passkeys SET label = ? WHERE project_id = ? AND credential_id = ?`, label, projectID, credentialID)
}

// DeletePasskey deletes the project's passkey credentialID; with userID set, only if it is
// that user's. Errors: ErrNotFound.
func (q queries) DeletePasskey(ctx context.Context, projectID, credentialID, userID string) error {
	if userID == "" {
		return q.execOne(ctx, "passkey "+credentialID, `DELETE FROM passkeys WHERE project_id = ? AND credential_id = ?`, projectID, credentialID)
	}
	return q.execOne(ctx, "passkey "+credentialID, `DELETE FROM passkeys WHERE project_id = ? AND credential_id = ? AND user_id = ?`,
		projectID, credentialID, userID)
}

// DeletedPasskey names a passkey that DeletePasskeysOf deleted.
type DeletedPasskey struct {
	CredentialID string `db:"credential_id"`
	CreatedAt    int64  `db:"created_at"`
}

// DeletePasskeysOf deletes every passkey of the project's user userID and returns exactly
// the rows it deleted (DELETE ... RETURNING), in no particular order.
func (q queries) DeletePasskeysOf(ctx context.Context, projectID, userID string) ([]DeletedPasskey, error) {
	var out []DeletedPasskey
	err := q.selectRows(ctx, &out, `DELETE FROM passkeys WHERE project_id = ? AND user_id = ? RETURNING credential_id, created_at`,
		projectID, userID)
	return out, err
}
