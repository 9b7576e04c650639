package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// rsaKey returns a private RSA JWK with key ID kid for RS256, and its public key set.
func rsaKey(t *testing.T, kid string) (jwk.Key, jwk.Set) {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, kid)
	_ = key.Set(jwk.AlgorithmKey, jwa.RS256)
	pub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	return key, set
}

// TestHankoVerify checks the token verification the peer driver does in place of
// verifySignedData, on tokens shaped like the peer's (RS256; sub, aud, exp, cred), against a
// JWKS served over HTTP.
func TestHankoVerify(t *testing.T) {
	key, set := rsaKey(t, "k1")
	other, _ := rsaKey(t, "k1") // same key ID, another key
	tenant := uuid.NewString()
	var fetches int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+tenant+"/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		fetches++
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	c := newHankoClient(Config{URL: srv.URL, Tenant: tenant, APIKey: "k", Origin: "http://localhost:8080", Workers: 1})

	const user, cred = "4b0c5a52-6b43-4c3e-9f55-1a0d6e1c2f10", "Y3JlZGVudGlhbA"
	sign := func(k jwk.Key, edit func(jwt.Token)) string {
		tok := jwt.New()
		_ = tok.Set(jwt.SubjectKey, user)
		_ = tok.Set(jwt.IssuedAtKey, time.Now())
		_ = tok.Set(jwt.ExpirationKey, time.Now().Add(5*time.Minute))
		_ = tok.Set(jwt.AudienceKey, []string{"localhost"})
		_ = tok.Set("cred", cred)
		if edit != nil {
			edit(tok)
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, k))
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	}
	good := sign(key, nil)
	tampered := []byte(good)
	tampered[len(tampered)-5] ^= 'A' ^ 'B' // a bit of the signature
	if bytes.Equal(tampered, []byte(good)) {
		tampered[len(tampered)-5] ^= 1
	}
	tests := []struct {
		name, token, rpID, user, cred string
		want                          string // "" for valid, else a part of the error
	}{
		{"valid", good, "localhost", user, cred, ""},
		{"another audience", good, "example.com", user, cred, "invalid token"},
		{"another user", good, "localhost", uuid.NewString(), cred, "another user"},
		{"another credential", good, "localhost", user, "b3RoZXI", "another credential"},
		{"signature altered", string(tampered), "localhost", user, cred, "invalid token"},
		{"signed by another key", sign(other, nil), "localhost", user, cred, "invalid token"},
		{"expired", sign(key, func(tok jwt.Token) { _ = tok.Set(jwt.ExpirationKey, time.Now().Add(-time.Minute)) }), "localhost", user, cred, "invalid token"},
		{"not a JWT", "abc.def", "localhost", user, cred, "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.verify(context.Background(), tt.token, tt.rpID, tt.user, tt.cred)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("verify() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("verify() = %v, want an error with %q", err, tt.want)
			}
		})
	}
	if fetches != 1 {
		t.Errorf("the JWKS was fetched %d times, want once (cached)", fetches)
	}
}

func TestCheckHanko(t *testing.T) {
	base := func() Config {
		return Config{Target: TargetHanko, URL: "http://127.0.0.1:1", Origin: "http://localhost:8080", Workers: 1,
			Scenario: ScenarioLogin, Sample: time.Second, Tenant: uuid.NewString(), APIKey: "key"}
	}
	if _, err := (&Config{}).check(); err == nil {
		t.Errorf("check(zero Config) succeeded")
	}
	ok := base()
	if _, err := ok.check(); err != nil {
		t.Errorf("check(hanko) = %v, want nil", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unknown target", func(c *Config) { c.Target = "keycloak" }, `--target "keycloak"`},
		{"no tenant", func(c *Config) { c.Tenant = "" }, "--tenant"},
		{"tenant not a UUID", func(c *Config) { c.Tenant = "acme" }, "--tenant"},
		{"no API key", func(c *Config) { c.APIKey = "" }, "--api-key"},
		{"a Latchkey secret", func(c *Config) { c.Secret = "lks_x" }, "not --project, --secret"},
		{"a seed file", func(c *Config) { c.SeedFile = "seed.json" }, "not --project, --secret or --seed-file"},
		{"verify-offline", func(c *Config) { c.Scenario = ScenarioVerifyOffline }, "runs the scenarios"},
		{"mixed", func(c *Config) { c.Scenario = "mixed" }, "runs the scenarios"},
		{"negative warm-up", func(c *Config) { c.Warmup = -time.Second }, "--warmup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.edit(&cfg)
			if _, err := cfg.check(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("check() = %v, want a usage error with %q", err, tt.want)
			}
		})
	}
}

func TestBackendOf(t *testing.T) {
	tests := []struct {
		title string
		want  bool
	}{
		{"postgres: 15/main: latchkey peer_bench 127.0.0.1(44594) idle\x00\x00", true},
		{"postgres: 15/main: latchkey peer_bench 127.0.0.1(44594) SELECT", true},
		{"postgres: latchkey peer_bench [local] idle in transaction", true},
		{"postgres: 15/main: latchkey peer_bench_2 127.0.0.1(44594) idle", false},
		{"postgres: 15/main: peer_bench latchkey 127.0.0.1(44594) idle", false}, // a user named like the database
		{"postgres: 15/main: checkpointer", false},
		{"/usr/lib/postgresql/15/bin/postgres\x00-D\x00/var/lib/postgresql/15/main", false},
	}
	for _, tt := range tests {
		if got := backendOf(tt.title, "peer_bench"); got != tt.want {
			t.Errorf("backendOf(%q, peer_bench) = %v, want %v", tt.title, got, tt.want)
		}
	}
}
