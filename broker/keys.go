package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/signeddata"
)

// KeyInfo describes one signing key of a project.
type KeyInfo struct {
	ID         string    `json:"kid"`
	ActiveFrom time.Time `json:"activeFrom"`
	// Signing is true for the key that signs now.
	Signing bool `json:"signing"`
	// Published is true while the key is in the JWKS.
	Published bool `json:"published"`
}

func keyAAD(projectID, kid string) string { return "latchkey signing key " + projectID + "/" + kid }

// addSigningKey creates a key for the project that starts signing at activeFrom.
func (b *Broker) addSigningKey(ctx context.Context, tx *sqlstore.Tx, projectID string, activeFrom time.Time) (signeddata.Key, error) {
	k, err := signeddata.GenerateKey()
	if err != nil {
		return signeddata.Key{}, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return signeddata.Key{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	if err != nil {
		return signeddata.Key{}, err
	}
	sealed, err := b.seal(priv, keyAAD(projectID, k.ID))
	if err != nil {
		return signeddata.Key{}, err
	}
	return k, tx.InsertSigningKey(ctx, sqlstore.SigningKey{ID: k.ID, ProjectID: projectID, PrivateKey: sealed,
		PublicKey: b64(pub), ActiveFrom: ms(activeFrom), CreatedAt: ms(b.Now())})
}

// RotateKey adds a signing key to the project that is published at once and signs from
// KeyActivationDelay on; the current key stays published until the tokens it signed expired.
// It returns ErrNotFound for an unknown project.
func (b *Broker) RotateKey(ctx context.Context, projectID string) (KeyInfo, error) {
	return b.RotateKeyIn(ctx, projectID, KeyActivationDelay)
}

// RotateKeyIn is RotateKey with the delay before the new key signs; 0 makes it sign at once
// (after a leak: offline verifiers refetch the JWKS when they meet an unknown key ID).
func (b *Broker) RotateKeyIn(ctx context.Context, projectID string, delay time.Duration) (KeyInfo, error) {
	if delay < 0 {
		return KeyInfo{}, &ValidationError{"activateIn", "must not be negative"}
	}
	var info KeyInfo
	err := b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.RequireProject(ctx, projectID); err != nil {
			return err
		}
		from := b.Now().Add(delay)
		k, err := b.addSigningKey(ctx, tx, projectID, from)
		info = KeyInfo{ID: k.ID, ActiveFrom: from.UTC().Truncate(time.Millisecond), Published: true}
		if err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventSigningKeyRotated, Details: map[string]any{"kid": k.ID, "activeFrom": info.ActiveFrom}})
	})
	if err == nil {
		b.cache.keyRows.forget(projectID)
	}
	return info, err
}

// keyStates decides, for rows ordered by active_from, which key signs at now and which are
// published: every key not yet active, the signing key, and each older key until its
// successor has signed for longer than a token lives (plus leeway).
func keyStates(rows []sqlstore.SigningKey, now time.Time) []KeyInfo {
	out := make([]KeyInfo, len(rows))
	signing := -1
	for i, r := range rows {
		out[i] = KeyInfo{ID: r.ID, ActiveFrom: fromMS(r.ActiveFrom)}
		if !out[i].ActiveFrom.After(now) {
			signing = i
		}
	}
	retireAfter := SignedDataLifetime + signeddata.DefaultLeeway
	for i := range out {
		switch {
		case i >= signing:
			out[i].Published = true
		default:
			// Superseded at out[i+1].ActiveFrom.
			out[i].Published = now.Before(out[i+1].ActiveFrom.Add(retireAfter))
		}
	}
	if signing >= 0 {
		out[signing].Signing = true
	}
	return out
}

// Keys describes the project's signing keys at the broker's current time.
func (b *Broker) Keys(ctx context.Context, projectID string) ([]KeyInfo, error) {
	rows, err := b.store.SigningKeys(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return keyStates(rows, b.Now()), nil
}

// publicKeys returns the project's published verification keys.
func (b *Broker) publicKeys(ctx context.Context, projectID string) ([]signeddata.PublicKey, error) {
	rows, err := b.store.SigningKeys(ctx, projectID)
	if err != nil {
		return nil, err
	}
	var out []signeddata.PublicKey
	for i, st := range keyStates(rows, b.Now()) {
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

// JWKS returns the project's published keys as a JWK set, or ErrNotFound for an unknown project.
func (b *Broker) JWKS(ctx context.Context, projectID string) ([]byte, error) {
	keys, err := b.publicKeys(ctx, projectID)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("project %s: %w", projectID, ErrNotFound)
	}
	return signeddata.JWKS(keys)
}

// signingKey returns the key that signs for the project now, decrypted, as the store's rows
// say (which it keeps for verificationKeys too), or with cached as rows read up to CacheTTL
// ago: those may lack a key rotated in to sign at once since, so the caller must check the
// key against the store (sqlstore.LoginWritten.SigningKeyID) before it hands out what it
// signed.
func (b *Broker) signingKey(ctx context.Context, projectID string, cached bool) (signeddata.Key, error) {
	now := b.Now()
	rows, err := b.keyRows(ctx, projectID, now, !cached)
	if err != nil {
		return signeddata.Key{}, err
	}
	for i, st := range keyStates(rows, now) {
		if !st.Signing {
			continue
		}
		if k, ok := b.keyCache.Load(st.ID); ok {
			return k.(signeddata.Key), nil
		}
		plain, err := b.open(rows[i].PrivateKey, keyAAD(projectID, st.ID))
		if err != nil {
			return signeddata.Key{}, err
		}
		parsed, err := x509.ParsePKCS8PrivateKey(plain)
		if err != nil {
			return signeddata.Key{}, fmt.Errorf("key %s: %w", st.ID, err)
		}
		ec, ok := parsed.(*ecdsa.PrivateKey)
		if !ok {
			return signeddata.Key{}, fmt.Errorf("key %s: not an ECDSA key", st.ID)
		}
		k := signeddata.Key{ID: st.ID, Private: ec}
		b.keyCache.Store(st.ID, k)
		return k, nil
	}
	return signeddata.Key{}, errors.New("project has no active signing key")
}

// ErrWrongSecretKey means LATCHKEY_SECRET_KEY does not open the signing keys in the store.
var ErrWrongSecretKey = errors.New("LATCHKEY_SECRET_KEY does not decrypt the signing keys in this database")

// CheckSecretKey returns ErrWrongSecretKey unless the broker's secret key opens the newest
// signing key in the store (an empty store passes), so that a server or tool run with the
// wrong key stops at once instead of writing keys nobody can read.
func (b *Broker) CheckSecretKey(ctx context.Context) error {
	if b.sealer == nil {
		return ErrNoSecretKey
	}
	r, err := b.store.NewestSigningKey(ctx)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return err
	}
	if _, err := b.open(r.PrivateKey, keyAAD(r.ProjectID, r.ID)); err != nil {
		return ErrWrongSecretKey
	}
	return nil
}
