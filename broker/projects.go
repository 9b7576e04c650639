package broker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/jmoiron/sqlx"
)

// Project is one relying party: an RP ID, its name, and the origins allowed to use it.
type Project struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	RPID    string   `json:"rpID"`
	RPName  string   `json:"rpName"`
	Origins []string `json:"origins"`
	// Policy is the project's security policy (DefaultPolicy for a new project).
	Policy Policy `json:"policy"`
}

// WebOrigins returns the project's http(s) origins, the ones CORS and the browser use.
func (p Project) WebOrigins() []string {
	var out []string
	for _, o := range p.Origins {
		if !strings.HasPrefix(o, androidOriginPrefix) {
			out = append(out, o)
		}
	}
	return out
}

// AllowsWebOrigin reports whether origin is one of the project's web origins.
func (p Project) AllowsWebOrigin(origin string) bool {
	for _, o := range p.WebOrigins() {
		if o == origin {
			return true
		}
	}
	return false
}

const androidOriginPrefix = "android:apk-key-hash:"

// NewProject is what CreateProject needs.
type NewProject struct {
	Name, RPID, RPName string
	Origins            []string
}

// CreateProject validates p, stores the project with a first API secret and a first signing
// key, and returns the project and the secret (shown once, stored only as a hash).
func (b *Broker) CreateProject(ctx context.Context, in NewProject) (Project, string, error) {
	p, err := validateProject(in)
	if err != nil {
		return Project{}, "", err
	}
	if p.ID, err = newID("prj-"); err != nil {
		return Project{}, "", err
	}
	origins, _ := json.Marshal(p.Origins)
	now := b.Now()
	var secret string
	err = b.store.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, b.store.q(`INSERT INTO projects (id, name, rp_id, rp_name, origins, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`), p.ID, p.Name, p.RPID, p.RPName, string(origins), ms(now)); err != nil {
			return err
		}
		if _, secret, err = b.addSecret(ctx, tx, p.ID); err != nil {
			return err
		}
		_, err := b.addSigningKey(ctx, tx, p.ID, now)
		return err
	})
	if err != nil {
		return Project{}, "", err
	}
	return p, secret, nil
}

func validateProject(in NewProject) (Project, error) {
	p := Project{Name: strings.TrimSpace(in.Name), RPID: strings.ToLower(strings.TrimSpace(in.RPID)), RPName: strings.TrimSpace(in.RPName),
		Policy: DefaultPolicy()}
	if p.Name == "" || len(p.Name) > 255 || !utf8.ValidString(p.Name) {
		return p, &ValidationError{"name", "is required, at most 255 characters"}
	}
	if p.RPName == "" {
		p.RPName = p.Name
	}
	if len(p.RPName) > 255 || !utf8.ValidString(p.RPName) {
		return p, &ValidationError{"rpName", "must be at most 255 characters"}
	}
	if err := protocol.ValidateRPID(p.RPID); err != nil || p.RPID == "" || strings.Contains(p.RPID, ":") {
		return p, &ValidationError{"rpID", "must be a domain name such as example.com"}
	}
	if len(in.Origins) == 0 {
		return p, &ValidationError{"origins", "needs at least one origin"}
	}
	seen := map[string]bool{}
	for _, o := range in.Origins {
		norm, err := normalizeOrigin(o, p.RPID)
		if err != nil {
			return p, &ValidationError{"origins", fmt.Sprintf("%q: %v", o, err)}
		}
		if !seen[norm] {
			seen[norm] = true
			p.Origins = append(p.Origins, norm)
		}
	}
	return p, nil
}

// normalizeOrigin checks one origin against rpID and returns its canonical form.
func normalizeOrigin(o, rpID string) (string, error) {
	if rest, ok := strings.CutPrefix(o, androidOriginPrefix); ok {
		if h, err := unb64(strings.TrimRight(rest, "=")); err != nil || len(h) != sha256.Size {
			return "", fmt.Errorf("an Android origin is %s<base64url SHA-256 of the signing certificate>", androidOriginPrefix)
		}
		return androidOriginPrefix + strings.TrimRight(rest, "="), nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("is not an origin (scheme://host[:port])")
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (host == "localhost" || net.ParseIP(host).IsLoopback()):
	default:
		return "", fmt.Errorf("must use https (http only for localhost)")
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", fmt.Errorf("host must be the RP ID %s or a subdomain of it", rpID)
	}
	out := u.Scheme + "://" + host
	if port := u.Port(); port != "" {
		if !(u.Scheme == "https" && port == "443") && !(u.Scheme == "http" && port == "80") {
			out += ":" + port
		}
	}
	return out, nil
}

type projectRow struct {
	ID      string `db:"id"`
	Name    string `db:"name"`
	RPID    string `db:"rp_id"`
	RPName  string `db:"rp_name"`
	Origins string `db:"origins"`
	policyRow
}

// projectColumns are the columns projectRow reads.
const projectColumns = `id, name, rp_id, rp_name, origins, ` + policyColumns

func (r projectRow) project() (Project, error) {
	p := Project{ID: r.ID, Name: r.Name, RPID: r.RPID, RPName: r.RPName}
	if err := json.Unmarshal([]byte(r.Origins), &p.Origins); err != nil {
		return Project{}, fmt.Errorf("project %s: bad origins column: %w", r.ID, err)
	}
	var err error
	if p.Policy, err = r.policy(); err != nil {
		return Project{}, fmt.Errorf("project %s: %w", r.ID, err)
	}
	return p, nil
}

// Project returns the project with id, or ErrNotFound.
func (b *Broker) Project(ctx context.Context, id string) (Project, error) {
	var r projectRow
	if err := b.store.db.GetContext(ctx, &r, b.store.q(`SELECT `+projectColumns+` FROM projects WHERE id = ?`), id); err != nil {
		return Project{}, classify(err)
	}
	return r.project()
}

// Projects returns every project, oldest first.
func (b *Broker) Projects(ctx context.Context) ([]Project, error) {
	var rows []projectRow
	if err := b.store.db.SelectContext(ctx, &rows, `SELECT `+projectColumns+` FROM projects ORDER BY created_at, id`); err != nil {
		return nil, classify(err)
	}
	out := make([]Project, 0, len(rows))
	for _, r := range rows {
		p, err := r.project()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// SecretInfo describes one API secret without revealing it.
type SecretInfo struct {
	ID        string `db:"id" json:"id"`
	CreatedAt int64  `db:"created_at" json:"-"`
	RevokedAt *int64 `db:"revoked_at" json:"-"`
}

const apiSecretPrefix = "lks_"

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (b *Broker) addSecret(ctx context.Context, tx *sqlx.Tx, projectID string) (id, secret string, err error) {
	raw, err := randomBytes(32)
	if err != nil {
		return "", "", err
	}
	if id, err = newID("sec-"); err != nil {
		return "", "", err
	}
	secret = apiSecretPrefix + b64(raw)
	_, err = tx.ExecContext(ctx, b.store.q(`INSERT INTO api_secrets (id, project_id, secret_hash, created_at) VALUES (?, ?, ?, ?)`),
		id, projectID, hashSecret(secret), ms(b.Now()))
	if err != nil {
		return "", "", err
	}
	return id, secret, b.record(ctx, tx, projectID, Event{Type: EventAPISecretAdded, Details: map[string]any{"secretID": id}})
}

// AddSecret creates another API secret for the project and returns its ID and the secret,
// shown once. It returns ErrNotFound for an unknown project.
func (b *Broker) AddSecret(ctx context.Context, projectID string) (id, secret string, err error) {
	err = b.store.inTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, b.store.q(`SELECT COUNT(*) FROM projects WHERE id = ?`), projectID); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("project %s: %w", projectID, ErrNotFound)
		}
		id, secret, err = b.addSecret(ctx, tx, projectID)
		return err
	})
	return id, secret, err
}

// RevokeSecret revokes one API secret of the project; it returns ErrNotFound if the project
// has no such live secret.
func (b *Broker) RevokeSecret(ctx context.Context, projectID, secretID string) error {
	return b.store.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, b.store.q(`UPDATE api_secrets SET revoked_at = ? WHERE id = ? AND project_id = ? AND revoked_at IS NULL`),
			ms(b.Now()), secretID, projectID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("secret %s: %w", secretID, ErrNotFound)
		}
		return b.record(ctx, tx, projectID, Event{Type: EventAPISecretRevoked, Details: map[string]any{"secretID": secretID}})
	})
}

// Secrets lists the project's API secrets, live and revoked.
func (b *Broker) Secrets(ctx context.Context, projectID string) ([]SecretInfo, error) {
	var out []SecretInfo
	err := b.store.db.SelectContext(ctx, &out, b.store.q(`SELECT id, created_at, revoked_at FROM api_secrets WHERE project_id = ? ORDER BY created_at, id`), projectID)
	return out, classify(err)
}

// Authenticate returns the project when secret is one of its live API secrets, and
// ErrUnauthenticated otherwise, without telling whether the project exists.
func (b *Broker) Authenticate(ctx context.Context, projectID, secret string) (Project, error) {
	var hashes []string
	if err := b.store.selectContext(ctx, b.store.db, &hashes, `SELECT secret_hash FROM api_secrets WHERE project_id = ? AND revoked_at IS NULL`, projectID); err != nil {
		return Project{}, err
	}
	got := hashSecret(secret)
	ok := 0
	for _, h := range hashes {
		ok |= subtle.ConstantTimeCompare([]byte(got), []byte(h))
	}
	if ok != 1 || !strings.HasPrefix(secret, apiSecretPrefix) {
		return Project{}, ErrUnauthenticated
	}
	return b.CachedProject(ctx, projectID)
}
