package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// SeedUser is one user with one passkey for SeedPasskeys.
type SeedUser struct {
	Identifier   string
	WebAuthnID   []byte // the user handle
	CredentialID []byte
	PublicKey    []byte // the credential's public key as a COSE_Key
}

// seedBatch is how many rows one INSERT statement carries (13 parameters a passkey row keeps
// a statement under SQLite's and PostgreSQL's parameter limits).
const seedBatch = 500

// SeedPasskeys stores users, each with one passkey (no attestation, counter 0, backed up),
// in the project with multi-row INSERTs in one transaction. It is the fast path of
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
	return b.store.inTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, b.store.q(`SELECT COUNT(*) FROM projects WHERE id = ?`), projectID); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("project %s: %w", projectID, ErrNotFound)
		}
		if b.store.dialect == "sqlite" {
			// Random keys touch pages all over five indexes: let the transaction keep them in
			// memory (this connection's cache, 256 MiB) rather than spill them to the WAL.
			if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
				return err
			}
		}
		for start := 0; start < len(users); start += seedBatch {
			batch := users[start:min(start+seedBatch, len(users))]
			ids := make([]string, len(batch))
			userArgs := make([]any, 0, 6*len(batch))
			keyArgs := make([]any, 0, 13*len(batch))
			for i, u := range batch {
				id, err := newID("usr-")
				if err != nil {
					return err
				}
				ids[i] = id
				userArgs = append(userArgs, id, projectID, u.Identifier, u.Identifier, b64(u.WebAuthnID), now)
				keyArgs = append(keyArgs, projectID, b64(u.CredentialID), id, b64(u.PublicKey), 0, true, true, true,
					`["internal","hybrid"]`, "00000000-0000-0000-0000-000000000000", "none", "Passkey", now)
			}
			if _, err := tx.ExecContext(ctx, b.store.q(`INSERT INTO users (id, project_id, identifier, display_name, webauthn_id, created_at) VALUES `+
				values(len(batch), 6)), userArgs...); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, b.store.q(`INSERT INTO passkeys (project_id, credential_id, user_id, public_key, sign_count,
				backup_eligible, backup_state, user_verified, transports, aaguid, attestation_format, label, created_at) VALUES `+
				values(len(batch), 13)), keyArgs...); err != nil {
				return err
			}
		}
		return nil
	})
}

// values returns rows groups of n placeholders: "(?, ?), (?, ?)".
func values(rows, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}
