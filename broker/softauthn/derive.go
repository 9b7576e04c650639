package softauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
)

// DeriveCredential returns the i-th P-256 credential of seed, the same for the same seed and
// index, so that a load test can store a million passkeys and later sign in with any of
// them while keeping only the seed. With d(label) = HMAC-SHA256(seed, label || uint64 i):
// the user handle is d("handle"), the credential ID the first 16 bytes of d("credential"),
// and the private key's scalar d("key0") (or "key1", ... in the rare case that is not a
// valid scalar). Its counter is 0.
func DeriveCredential(seed []byte, i int) (Credential, error) {
	d := func(label string) []byte {
		m := hmac.New(sha256.New, seed)
		m.Write([]byte(label))
		m.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
		return m.Sum(nil)
	}
	c := Credential{Key: Key{ID: d("credential")[:16]}, UserHandle: d("handle")}
	for attempt := 0; ; attempt++ {
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d("key"+strconv.Itoa(attempt)))
		if err == nil {
			c.Signer = k
			return c, nil
		}
		if attempt > 8 {
			return Credential{}, err
		}
	}
}
