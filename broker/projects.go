package broker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/latchkey/latchkey/broker/sqlstore"
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
	if b.sealer == nil {
		return Project{}, "", ErrNoSecretKey
	}
	now := b.Now()
	var secret string
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.InsertProject(ctx, sqlstore.Project{ID: p.ID, Name: p.Name, RPID: p.RPID, RPName: p.RPName,
			Origins: p.Origins, CreatedAt: ms(now), Policy: p.Policy.row()}); err != nil {
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

// projectFromRow returns the project a row of projects holds.
func projectFromRow(r sqlstore.Project) (Project, error) {
	p := Project{ID: r.ID, Name: r.Name, RPID: r.RPID, RPName: r.RPName, Origins: []string(r.Origins)}
	var err error
	if p.Policy, err = policyFromRow(r.Policy); err != nil {
		return Project{}, fmt.Errorf("project %s: %w", r.ID, err)
	}
	return p, nil
}

// Project returns the project with id, or ErrNotFound.
func (b *Broker) Project(ctx context.Context, id string) (Project, error) {
	r, err := b.store.Project(ctx, id)
	if err != nil {
		return Project{}, err
	}
	return projectFromRow(r)
}

// Projects returns every project, oldest first.
func (b *Broker) Projects(ctx context.Context) ([]Project, error) {
	rows, err := b.store.Projects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Project, 0, len(rows))
	for _, r := range rows {
		p, err := projectFromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// SecretInfo describes one API secret without revealing it.
type SecretInfo struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"-"`
	RevokedAt *time.Time `json:"-"`
}

const apiSecretPrefix = "lks_"

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (b *Broker) addSecret(ctx context.Context, tx *sqlstore.Tx, projectID string) (id, secret string, err error) {
	raw, err := randomBytes(32)
	if err != nil {
		return "", "", err
	}
	if id, err = newID("sec-"); err != nil {
		return "", "", err
	}
	secret = apiSecretPrefix + b64(raw)
	err = tx.InsertAPISecret(ctx, sqlstore.APISecret{ID: id, ProjectID: projectID, SecretHash: hashSecret(secret), CreatedAt: ms(b.Now())})
	if err != nil {
		return "", "", err
	}
	return id, secret, b.record(ctx, tx, projectID, Event{Type: EventAPISecretAdded, Details: map[string]any{"secretID": id}})
}

// AddSecret creates another API secret for the project and returns its ID and the secret,
// shown once. It returns ErrNotFound for an unknown project.
func (b *Broker) AddSecret(ctx context.Context, projectID string) (id, secret string, err error) {
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.RequireProject(ctx, projectID); err != nil {
			return err
		}
		id, secret, err = b.addSecret(ctx, tx, projectID)
		return err
	})
	return id, secret, err
}

// RevokeSecret revokes one API secret of the project; it returns ErrNotFound if the project
// has no such live secret.
func (b *Broker) RevokeSecret(ctx context.Context, projectID, secretID string) error {
	err := b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.RevokeAPISecret(ctx, projectID, secretID, ms(b.Now())); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventAPISecretRevoked, Details: map[string]any{"secretID": secretID}})
	})
	if err == nil {
		b.cache.secrets.forget(projectID)
	}
	return err
}

// Secrets lists the project's API secrets, live and revoked.
func (b *Broker) Secrets(ctx context.Context, projectID string) ([]SecretInfo, error) {
	rows, err := b.store.APISecrets(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := make([]SecretInfo, 0, len(rows))
	for _, r := range rows {
		s := SecretInfo{ID: r.ID, CreatedAt: fromMS(r.CreatedAt)}
		if r.RevokedAt != nil {
			t := fromMS(*r.RevokedAt)
			s.RevokedAt = &t
		}
		out = append(out, s)
	}
	return out, nil
}

// Authenticate returns the project when secret is one of its live API secrets, and
// ErrUnauthenticated otherwise, without telling whether the project exists.
func (b *Broker) Authenticate(ctx context.Context, projectID, secret string) (Project, error) {
	readAt := b.Now()
	hashes, err := b.store.LiveSecretHashes(ctx, projectID)
	if err != nil {
		return Project{}, err
	}
	if len(hashes) > 0 {
		b.cache.secrets.put(projectID, hashes, readAt)
	}
	if _, ok := matchSecret(hashes, secret); !ok {
		return Project{}, ErrUnauthenticated
	}
	return b.CachedProject(ctx, projectID)
}

// matchSecret returns the hash of secret and whether it is one of hashes, comparing with
// every one of them in constant time.
func matchSecret(hashes []string, secret string) (string, bool) {
	got := hashSecret(secret)
	ok := 0
	for _, h := range hashes {
		ok |= subtle.ConstantTimeCompare([]byte(got), []byte(h))
	}
	return got, ok == 1 && strings.HasPrefix(secret, apiSecretPrefix)
}

// SecretKnown reports whether secret was a live secret of the project when this broker last
// read them, at most CacheTTL ago: a hint that VerifySignedDataWithSecret will confirm it in
// its write rather than read the secrets first.
func (b *Broker) SecretKnown(projectID, secret string) bool {
	return b.knownSecret(projectID, secret) != ""
}

// knownSecret returns the hash of secret if it was a live secret of the project when this
// broker last read them, at most CacheTTL ago, and "" otherwise. It is only a hint: whoever
// acts on it has the store confirm the hash before anything is written or answered (see
// VerifySignedDataWithSecret).
func (b *Broker) knownSecret(projectID, secret string) string {
	hashes, ok := b.cache.secrets.get(projectID, b.Now())
	if !ok {
		return ""
	}
	if h, ok := matchSecret(hashes, secret); ok {
		return h
	}
	return ""
}
