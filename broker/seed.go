package broker

import (
	"context"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// SeedUser is one user with one passkey for SeedPasskeys.
type SeedUser struct {
	Identifier   string
	WebAuthnID   []byte // the user handle
	CredentialID []byte
	PublicKey    []byte // the credential's public key as a COSE_Key
}

// SeedPasskeys stores users, each with one passkey (no attestation, counter 0, backed up),
// in the project in one transaction (sqlstore's Seed). It is the fast path of
// `latchkey bench seed`, which makes a million users practical; it bypasses ceremonies and
// connect tokens, so it is for load tests only. Errors: ErrNotFound (project),
// ErrAlreadyExists (identifier, user handle or credential ID taken), *ValidationError.
func (b *Broker) SeedPasskeys(ctx context.Context, projectID string, users []SeedUser) error {
	for _, u := range users {
		if err := validText("identifier", u.Identifier, 255, true); err != nil {
			return err
		}
		if len(u.WebAuthnID) == 0 || len(u.WebAuthnID) > 64 || len(u.CredentialID) == 0 || len(u.CredentialID) > 1023 || len(u.PublicKey) == 0 {
			return &ValidationError{"users", "need a user handle, a credential ID and a public key"}
		}
	}
	now := ms(b.Now())
	rows := make([]sqlstore.User, len(users))
	keys := make([]sqlstore.Passkey, len(users))
	for i, u := range users {
		id, err := newID("usr-")
		if err != nil {
			return err
		}
		rows[i] = sqlstore.User{ID: id, ProjectID: projectID, Identifier: u.Identifier, DisplayName: u.Identifier,
			WebAuthnID: b64(u.WebAuthnID), CreatedAt: now}
		keys[i] = sqlstore.Passkey{ProjectID: projectID, CredentialID: b64(u.CredentialID), UserID: id, PublicKey: b64(u.PublicKey),
			BackupEligible: true, BackupState: true, UserVerified: true, Transports: []string{"internal", "hybrid"},
			AAGUID: "00000000-0000-0000-0000-000000000000", AttestationFormat: "none", Label: "Passkey", CreatedAt: now}
	}
	return b.store.Seed(ctx, projectID, rows, keys)
}
