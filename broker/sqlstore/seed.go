package sqlstore

import "context"

// seedBatch is how many rows one INSERT statement carries (14 parameters a passkey row keeps
// a statement under SQLite's and PostgreSQL's parameter limits).
const seedBatch = 500

// Seed adds users and passkeys in one transaction with multi-row INSERTs, after checking
// that project exists: the fast path of `latchkey bench seed`, for load tests only. Errors:
// ErrNotFound (project), ErrAlreadyExists (a user or credential is taken).
func (s *Store) Seed(ctx context.Context, projectID string, users []User, passkeys []Passkey) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if err := tx.RequireProject(ctx, projectID); err != nil {
			return err
		}
		if s.dialect == SQLite {
			// Random keys touch pages all over five indexes: let the transaction keep them in
			// memory (this connection's cache, 256 MiB) rather than spill them to the WAL.
			if err := tx.execOnce(ctx, `PRAGMA cache_size = -262144`); err != nil {
				return err
			}
		}
		for start := 0; start < len(users); start += seedBatch {
			batch := users[start:min(start+seedBatch, len(users))]
			args := make([]any, 0, 6*len(batch))
			for _, u := range batch {
				args = append(args, u.ID, u.ProjectID, u.Identifier, u.DisplayName, u.WebAuthnID, u.CreatedAt)
			}
			if err := tx.execOnce(ctx, `INSERT INTO users (`+userColumns+`) VALUES `+values(len(batch), 6), args...); err != nil {
				return err
			}
		}
		for start := 0; start < len(passkeys); start += seedBatch {
			batch := passkeys[start:min(start+seedBatch, len(passkeys))]
			args := make([]any, 0, 14*len(batch))
			for _, p := range batch {
				args = append(args, p.ProjectID, p.CredentialID, p.UserID, p.PublicKey, p.SignCount, p.BackupEligible, p.BackupState,
					p.UserVerified, p.Transports, p.AAGUID, p.AttestationFormat, p.Label, p.CreatedAt, p.LastUsedAt)
			}
			if err := tx.execOnce(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES `+values(len(batch), 14), args...); err != nil {
				return err
			}
		}
		return nil
	})
}
