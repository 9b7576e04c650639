package sqlstore

import (
	"context"
	"errors"
	"fmt"
)

// Project is a row of projects: a relying party and its security policy.
type Project struct {
	ID        string       `db:"id"`
	Name      string       `db:"name"`
	RPID      string       `db:"rp_id"`
	RPName    string       `db:"rp_name"`
	Origins   List[string] `db:"origins"`
	CreatedAt int64        `db:"created_at"`
	Policy
}

// Policy is the policy columns of projects. Lifetimes are seconds.
type Policy struct {
	UserVerification        string       `db:"user_verification"`
	ResidentKey             string       `db:"resident_key"`
	Algorithms              List[int64]  `db:"algorithms"`
	Attestation             string       `db:"attestation"`
	AAGUIDAllow             List[string] `db:"aaguid_allow"`
	AAGUIDDeny              List[string] `db:"aaguid_deny"`
	Usernameless            bool         `db:"usernameless"`
	ConnectTokenMaxLifetime int64        `db:"connect_token_max_lifetime"`
	CeremonyLifetime        int64        `db:"ceremony_lifetime"`
}

const projectColumns = `id, name, rp_id, rp_name, origins, created_at, user_verification, resident_key, algorithms,
	attestation, aaguid_allow, aaguid_deny, usernameless, connect_token_max_lifetime, ceremony_lifetime`

// InsertProject adds p. Errors: ErrAlreadyExists (ID taken).
func (q queries) InsertProject(ctx context.Context, p Project) error {
	_, err := q.exec(ctx, `INSERT INTO projects (`+projectColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Name, p.RPID, p.RPName, p.Origins, p.CreatedAt, p.UserVerification, p.ResidentKey, p.Algorithms,
		p.Attestation, p.AAGUIDAllow, p.AAGUIDDeny, p.Usernameless, p.ConnectTokenMaxLifetime, p.CeremonyLifetime)
	return err
}

// Project returns the project with id. Errors: ErrNotFound.
func (q queries) Project(ctx context.Context, id string) (Project, error) {
	var p Project
	err := q.byKey().get(ctx, &p, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id)
	return p, err
}

// Projects returns every project, oldest first.
func (q queries) Projects(ctx context.Context) ([]Project, error) {
	var ps []Project
	err := q.selectRows(ctx, &ps, `SELECT `+projectColumns+` FROM projects ORDER BY created_at, id`)
	return ps, err
}

// RequireProject returns nil if the project with id exists. Errors: ErrNotFound.
func (q queries) RequireProject(ctx context.Context, id string) error {
	var n int
	if err := q.byKey().get(ctx, &n, `SELECT COUNT(*) FROM projects WHERE id = ?`, id); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("project %s: %w", id, ErrNotFound)
	}
	return nil
}

// SetPolicy replaces the policy of the project with id. Errors: ErrNotFound.
func (q queries) SetPolicy(ctx context.Context, id string, p Policy) error {
	return q.execOne(ctx, "project "+id, `UPDATE projects SET user_verification = ?, resident_key = ?, algorithms = ?,
		attestation = ?, aaguid_allow = ?, aaguid_deny = ?, usernameless = ?, connect_token_max_lifetime = ?, ceremony_lifetime = ?
		WHERE id = ?`, p.UserVerification, p.ResidentKey, p.Algorithms, p.Attestation, p.AAGUIDAllow, p.AAGUIDDeny,
		p.Usernameless, p.ConnectTokenMaxLifetime, p.CeremonyLifetime, id)
}

// APISecret is a row of api_secrets: the SHA-256 of a project's API secret.
type APISecret struct {
	ID         string `db:"id"`
	ProjectID  string `db:"project_id"`
	SecretHash string `db:"secret_hash"`
	CreatedAt  int64  `db:"created_at"`
	RevokedAt  *int64 `db:"revoked_at"`
}

// InsertAPISecret adds s. Errors: ErrAlreadyExists.
func (q queries) InsertAPISecret(ctx context.Context, s APISecret) error {
	_, err := q.exec(ctx, `INSERT INTO api_secrets (id, project_id, secret_hash, created_at) VALUES (?, ?, ?, ?)`,
		s.ID, s.ProjectID, s.SecretHash, s.CreatedAt)
	return err
}

// RevokeAPISecret sets revoked_at of the project's live secret id; only one caller can
// revoke a secret. Errors: ErrNotFound (no such live secret).
func (q queries) RevokeAPISecret(ctx context.Context, projectID, id string, at int64) error {
	return q.execOne(ctx, "secret "+id, `UPDATE api_secrets SET revoked_at = ? WHERE id = ? AND project_id = ? AND revoked_at IS NULL`,
		at, id, projectID)
}

// APISecrets returns the project's secrets, live and revoked, oldest first.
func (q queries) APISecrets(ctx context.Context, projectID string) ([]APISecret, error) {
	var out []APISecret
	err := q.byKey().selectRows(ctx, &out, `SELECT id, project_id, secret_hash, created_at, revoked_at FROM api_secrets
		WHERE project_id = ? ORDER BY created_at, id`, projectID)
	return out, err
}

// LiveSecretHashes returns the hashes of the project's secrets that are not revoked (none
// for an unknown project).
func (q queries) LiveSecretHashes(ctx context.Context, projectID string) ([]string, error) {
	var out []string
	err := q.byKey().selectRows(ctx, &out, `SELECT secret_hash FROM api_secrets WHERE project_id = ? AND revoked_at IS NULL`, projectID)
	return out, err
}

// SecretLive reports whether the project has a live (not revoked) secret of hash hash.
func (q queries) SecretLive(ctx context.Context, projectID, hash string) (bool, error) {
	var n int64
	err := q.byKey().get(ctx, &n, `SELECT COUNT(*) FROM api_secrets WHERE project_id = ? AND secret_hash = ? AND revoked_at IS NULL`, projectID, hash)
	return n > 0, err
}

// SigningKey is a row of signing_keys: a project's signedPasskeyData key, its private half
// sealed by the broker.
type SigningKey struct {
	ID         string `db:"id"`
	ProjectID  string `db:"project_id"`
	PrivateKey string `db:"private_key"`
	PublicKey  string `db:"public_key"`
	ActiveFrom int64  `db:"active_from"`
	CreatedAt  int64  `db:"created_at"`
}

const signingKeyColumns = `id, project_id, private_key, public_key, active_from, created_at`

// InsertSigningKey adds k. Errors: ErrAlreadyExists.
func (q queries) InsertSigningKey(ctx context.Context, k SigningKey) error {
	_, err := q.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.ProjectID, k.PrivateKey, k.PublicKey, k.ActiveFrom, k.CreatedAt)
	return err
}

// SigningKeys returns the project's keys ordered by active_from (none for an unknown
// project).
func (q queries) SigningKeys(ctx context.Context, projectID string) ([]SigningKey, error) {
	var out []SigningKey
	err := q.byKey().selectRows(ctx, &out, `SELECT `+signingKeyColumns+` FROM signing_keys WHERE project_id = ? ORDER BY active_from, id`, projectID)
	return out, err
}

// signingKeyAt is the ID of a project's key that signs at a time (ms): the one active from
// then or earlier that became active last, as the broker's keyStates decides.
const signingKeyAt = `SELECT id FROM signing_keys WHERE project_id = ? AND active_from <= ? ORDER BY active_from DESC, id DESC LIMIT 1`

// SigningKeyAt returns the ID of the project's key that signs at at (ms), or "" if none does.
func (q queries) SigningKeyAt(ctx context.Context, projectID string, at int64) (string, error) {
	var id string
	err := q.byKey().row(ctx, signingKeyAt, []any{projectID, at}, &id)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return id, err
}

// NewestSigningKey returns the key created last in the whole store. Errors: ErrNotFound
// (an empty store).
func (q queries) NewestSigningKey(ctx context.Context) (SigningKey, error) {
	var k SigningKey
	err := q.get(ctx, &k, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at DESC, id DESC LIMIT 1`)
	return k, err
}

// ReplaceRelyingParty sets the origins and RP name of the project with id to origins and
// rpName if they are still fromOrigins and fromRPName, and reports whether it did: the
// comparison and the write are one statement, so concurrent changes never lose one another.
func (q queries) ReplaceRelyingParty(ctx context.Context, id string, fromOrigins []string, fromRPName string, origins []string, rpName string) (bool, error) {
	n, err := q.exec(ctx, `UPDATE projects SET origins = ?, rp_name = ? WHERE id = ? AND origins = ? AND rp_name = ?`,
		List[string](origins), rpName, id, List[string](fromOrigins), fromRPName)
	return n == 1, err
}
