package signeddata

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// JWKS returns keys as a JSON JWK set: kty EC, crv P-256, x, y, kid, alg ES256, use sig, and
// never a private part. It returns ErrInvalidKey when a key is not P-256 or has no ID.
func JWKS(keys []PublicKey) ([]byte, error) {
	set := jwk.NewSet()
	for _, k := range keys {
		if k.ID == "" || k.Key == nil || k.Key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: want a P-256 public key with an id", ErrInvalidKey)
		}
		jk, err := jwk.FromRaw(k.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		for _, f := range []struct {
			name  string
			value any
		}{
			{jwk.KeyIDKey, k.ID},
			{jwk.AlgorithmKey, jwa.ES256},
			{jwk.KeyUsageKey, jwk.ForSignature},
		} {
			if err := jk.Set(f.name, f.value); err != nil {
				return nil, fmt.Errorf("signeddata: setting %s: %w", f.name, err)
			}
		}
		if err := set.AddKey(jk); err != nil {
			return nil, fmt.Errorf("signeddata: adding key %q: %w", k.ID, err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("signeddata: encoding jwks: %w", err)
	}
	return b, nil
}

// ParseJWKS returns the usable keys of the JSON JWK set b: EC P-256 keys with a valid point,
// a kid, and alg ES256 and use sig when those are present; it skips every other key. It
// returns ErrMalformed when b is not a JSON object with a "keys" array.
func ParseJWKS(b []byte) ([]PublicKey, error) {
	var set struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("%w: jwks: %v", ErrMalformed, err)
	}
	if set.Keys == nil {
		return nil, fmt.Errorf("%w: jwks: no keys array", ErrMalformed)
	}
	keys := make([]PublicKey, 0, len(*set.Keys))
	for _, raw := range *set.Keys {
		// One key jwx cannot read (another kty, a bad field) must not hide the others.
		jk, err := jwk.ParseKey(raw)
		if err != nil {
			continue
		}
		if jk.KeyType() != jwa.EC || jk.KeyID() == "" {
			continue
		}
		if alg := jk.Algorithm().String(); alg != "" && alg != jwa.ES256.String() {
			continue
		}
		if use := jk.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
			continue
		}
		raw, err := jwk.PublicRawKeyOf(jk)
		if err != nil {
			continue
		}
		pub, ok := raw.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			continue
		}
		if _, err := pub.ECDH(); err != nil { // not a point on the curve
			continue
		}
		keys = append(keys, PublicKey{ID: jk.KeyID(), Key: pub})
	}
	return keys, nil
}
