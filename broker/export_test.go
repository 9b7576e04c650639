package broker

import (
	"context"

	"github.com/latchkey/latchkey/signeddata"
)

// IssuedLookups returns how many verifications found their token among those b signed and
// took the fast path (hits), and how many verified it in full (misses).
func (b *Broker) IssuedLookups() (hits, misses int64) {
	return b.issued.hits.Load(), b.issued.misses.Load()
}

// IssuedLen returns how many tokens b remembers having signed.
func (b *Broker) IssuedLen() int { return b.issued.len() }

// SigningKeyOf returns the key that signs for the project now, so that tests can sign tokens
// the broker did not issue.
func (b *Broker) SigningKeyOf(ctx context.Context, projectID string) (signeddata.Key, error) {
	return b.signingKey(ctx, projectID)
}
