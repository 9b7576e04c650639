package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/signeddata"
)

// CacheTTL bounds how old the project configuration a broker uses may be: a project's RP ID,
// RP name, origins, policy, rollout, native apps and passkey endpoints are read from the store at most CacheTTL before use. A change
// made through another replica or the command line (a new origin, a stricter policy) is in
// effect on every replica within CacheTTL; one made through this broker, at once.
//
// Online verification of signedPasskeyData may also use a list of signing keys read up to
// CacheTTL ago, which can lack only keys too new to matter (see verificationKeys). The usual
// login signs with the key that list names and checks it in the statement that writes the
// login, signing again when a key rotated in to sign at once made it stale (see signingKey).
//
// The hashes of a project's live API secrets are kept CacheTTL too, but only as a hint: online
// verification checks a secret against them and has the store confirm it in the statement
// that records the token, or reads them again before answering anything else (see
// VerifySignedDataWithSecret), so that a revoked secret is refused at once everywhere.
//
// Nothing else is cached for a time: ceremonies, connect tokens, verified token IDs, users and passkeys are read on every
// request. Only facts that never change are kept longer: parsed public keys and decrypted
// private keys, by key ID.
const CacheTTL = 5 * time.Second

// maxCachedProjects bounds each cache's entries; a full cache drops its expired entries, and
// all of them if none has expired.
const maxCachedProjects = 4096

// brokerCache is what a Broker caches; its zero value is ready to use.
type brokerCache struct {
	projects   ttlMap[*projectConfig]
	keyRows    ttlMap[[]sqlstore.SigningKey] // project ID -> its signing keys (verificationKeys, signingKey)
	secrets    ttlMap[[]string]              // project ID -> its live API secrets' hashes (knownSecret)
	publicKeys sync.Map                      // kid -> *ecdsa.PublicKey
}

// projectConfig is a project as requests need it: its configuration and its relying party
// (or why there is none: a project with only Android origins has no web relying party).
type projectConfig struct {
	project     Project
	rollout     Rollout
	apps        []App
	endpoints   PasskeyEndpoints
	web, opaque []string // the origins its ceremonies accept (acceptedOrigins)
	rp          *webauthn.WebAuthn
	rpErr       error
}

func (c *projectConfig) relyingParty() (*webauthn.WebAuthn, error) { return c.rp, c.rpErr }

// ttlMap is a map whose entries expire CacheTTL after they were read from the store, on the
// broker's clock.
type ttlMap[V any] struct {
	mu sync.Mutex
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v      V
	readAt time.Time
}

func fresh(readAt, now time.Time) bool {
	return !now.Before(readAt) && now.Sub(readAt) < CacheTTL
}

func (t *ttlMap[V]) get(key string, now time.Time) (V, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[key]
	if !ok || !fresh(e.readAt, now) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v for key as read from the store at readAt (taken before the read began).
func (t *ttlMap[V]) put(key string, v V, readAt time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]ttlEntry[V]{}
	}
	if _, ok := t.m[key]; !ok && len(t.m) >= maxCachedProjects {
		for k, e := range t.m {
			if !fresh(e.readAt, readAt) {
				delete(t.m, k)
			}
		}
		if len(t.m) >= maxCachedProjects {
			clear(t.m)
		}
	}
	t.m[key] = ttlEntry[V]{v, readAt}
}

func (t *ttlMap[V]) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// projectConfig returns the project with id and its relying party, as read from the store at
// most CacheTTL ago. Errors: ErrNotFound, which is never cached.
func (b *Broker) projectConfig(ctx context.Context, id string) (*projectConfig, error) {
	now := b.Now()
	if c, ok := b.cache.projects.get(id, now); ok {
		return c, nil
	}
	p, err := b.Project(ctx, id)
	if err != nil {
		return nil, err
	}
	apps, err := b.appsOf(ctx, p)
	if err != nil {
		return nil, err
	}
	e, err := b.PasskeyEndpoints(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := b.readRollout(ctx, b.store, id)
	if err != nil {
		return nil, err
	}
	c := &projectConfig{project: p, rollout: r, apps: apps, endpoints: e}
	c.web, c.opaque = acceptedOrigins(p, apps)
	c.rp, c.rpErr = relyingParty(p, c.web, c.opaque)
	b.cache.projects.put(id, c, now)
	return c, nil
}

// CachedProject is Project as read from the store at most CacheTTL ago, for the hot paths
// (the frontend API's CORS check). It returns ErrNotFound for an unknown project.
func (b *Broker) CachedProject(ctx context.Context, id string) (Project, error) {
	c, err := b.projectConfig(ctx, id)
	if err != nil {
		return Project{}, err
	}
	return c.project, nil
}

// forgetProject drops what the broker cached of a project, after changing it.
func (b *Broker) forgetProject(id string) { b.cache.projects.forget(id) }

// parsedPublicKey returns the public key of a signing key row, parsed once per key ID.
func (b *Broker) parsedPublicKey(r sqlstore.SigningKey) (*ecdsa.PublicKey, error) {
	if k, ok := b.cache.publicKeys.Load(r.ID); ok {
		return k.(*ecdsa.PublicKey), nil
	}
	der, err := unb64(r.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("key %s: bad public key: %w", r.ID, err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: bad public key: %w", r.ID, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key %s: not an ECDSA key", r.ID)
	}
	b.cache.publicKeys.Store(r.ID, ec)
	return ec, nil
}

// keyRows returns the project's signing key rows as read at most CacheTTL before now, or
// read now when fresh is set (and then kept for the next caller).
func (b *Broker) keyRows(ctx context.Context, projectID string, now time.Time, fresh bool) ([]sqlstore.SigningKey, error) {
	if rows, ok := b.cache.keyRows.get(projectID, now); ok && !fresh {
		return rows, nil
	}
	rows, err := b.store.SigningKeys(ctx, projectID)
	if err != nil {
		return nil, err
	}
	if len(rows) > 0 {
		b.cache.keyRows.put(projectID, rows, now)
	}
	return rows, nil
}

// verificationKeys returns the project's published public keys, computed at the broker's
// time from signing key rows read at most CacheTTL ago, or now when fresh is set. Rows are
// only ever added, each active no earlier than it was added, so a list up to CacheTTL old
// lacks only keys that cannot yet have retired an older one: a token signed by one of them
// meets signeddata.ErrUnknownKey, and the caller asks again with fresh.
func (b *Broker) verificationKeys(ctx context.Context, projectID string, fresh bool) ([]signeddata.PublicKey, error) {
	now := b.Now()
	rows, err := b.keyRows(ctx, projectID, now, fresh)
	if err != nil {
		return nil, err
	}
	var out []signeddata.PublicKey
	for i, st := range keyStates(rows, now) {
		if !st.Published {
			continue
		}
		ec, err := b.parsedPublicKey(rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, signeddata.PublicKey{ID: rows[i].ID, Key: ec})
	}
	return out, nil
}
