package signeddata

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkVerifierVerify is an app backend's offline verification with the Verifier, its
// key set fetched once and then cached: the cost per token after the first.
func BenchmarkVerifierVerify(b *testing.B) {
	key := newKey(b)
	set, err := JWKS([]PublicKey{key.Public()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	defer srv.Close()
	v := &Verifier{JWKSURL: srv.URL, ProjectID: testIssuer, Client: srv.Client(), Now: func() time.Time { return testNow }}
	tok := mustSign(b, key, testClaims())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatalf("Verifier.Verify() = %v", err)
		}
	}
}
