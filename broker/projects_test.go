package broker_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/connecttoken"
)

func TestCreateProject(t *testing.T) {
	apkHash := sha256.Sum256([]byte("signing certificate"))
	apkOrigin := "android:apk-key-hash:" + b64(apkHash[:])
	tests := []struct {
		name        string
		in          broker.NewProject
		wantRPID    string
		wantOrigins []string
	}{
		{"web origin", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"https://example.com"}},
			"example.com", []string{"https://example.com"}},
		{"subdomains, ports and normalisation", broker.NewProject{Name: "Shop", RPID: " Example.COM ",
			Origins: []string{"https://login.example.com", "https://EXAMPLE.com:443", "https://example.com/", "https://example.com:8443"}},
			"example.com", []string{"https://login.example.com", "https://example.com", "https://example.com:8443"}},
		{"http on localhost", broker.NewProject{Name: "Dev", RPID: "localhost", Origins: []string{"http://localhost:8080", "http://localhost"}},
			"localhost", []string{"http://localhost:8080", "http://localhost"}},
		{"android app", broker.NewProject{Name: "App", RPID: "example.com", Origins: []string{"https://example.com", apkOrigin}},
			"example.com", []string{"https://example.com", apkOrigin}},
		{"android app with padding", broker.NewProject{Name: "App", RPID: "example.com", Origins: []string{apkOrigin + "="}},
			"example.com", []string{apkOrigin}},
	}
	forDialects(t, func(t *testing.T, e *env) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				p, secret, err := e.Broker.CreateProject(e.ctx, tc.in)
				if err != nil {
					t.Fatalf("CreateProject(%+v) = %v", tc.in, err)
				}
				want := broker.Project{ID: p.ID, Name: tc.in.Name, RPID: tc.wantRPID, RPName: tc.in.Name, Origins: tc.wantOrigins,
					Policy: broker.DefaultPolicy()}
				if diff := cmp.Diff(want, p); diff != "" {
					t.Errorf("CreateProject() (-want +got):\n%s", diff)
				}
				if got, err := e.Broker.Project(e.ctx, p.ID); err != nil || !cmp.Equal(want, got) {
					t.Errorf("Project(%s) = %+v, %v; want %+v", p.ID, got, err, want)
				}
				if _, err := e.Broker.Authenticate(e.ctx, p.ID, secret); err != nil {
					t.Errorf("Authenticate(new project, its secret) = %v", err)
				}
				if keys := e.inProject(p).publishedKeys(t); len(keys) != 1 {
					t.Errorf("a new project publishes %d keys, want 1", len(keys))
				}
			})
		}
	})
}

func TestCreateProjectValidation(t *testing.T) {
	apkHash := sha256.Sum256([]byte("signing certificate"))
	tests := []struct {
		name      string
		in        broker.NewProject
		wantField string
	}{
		{"no name", broker.NewProject{RPID: "example.com", Origins: []string{"https://example.com"}}, "name"},
		{"no RP ID", broker.NewProject{Name: "Shop", Origins: []string{"https://example.com"}}, "rpID"},
		{"RP ID with scheme", broker.NewProject{Name: "Shop", RPID: "https://example.com", Origins: []string{"https://example.com"}}, "rpID"},
		{"RP ID with port", broker.NewProject{Name: "Shop", RPID: "example.com:8443", Origins: []string{"https://example.com:8443"}}, "rpID"},
		{"RP ID with path", broker.NewProject{Name: "Shop", RPID: "example.com/login", Origins: []string{"https://example.com"}}, "rpID"},
		{"RP ID with a space", broker.NewProject{Name: "Shop", RPID: "exa mple.com", Origins: []string{"https://example.com"}}, "rpID"},
		{"RP ID an IP address", broker.NewProject{Name: "Shop", RPID: "192.0.2.1", Origins: []string{"https://192.0.2.1"}}, "rpID"},
		{"RP ID with an empty label", broker.NewProject{Name: "Shop", RPID: "example..com", Origins: []string{"https://example.com"}}, "rpID"},
		{"no origins", broker.NewProject{Name: "Shop", RPID: "example.com"}, "origins"},
		{"origin not under the RP ID", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"https://example.org"}}, "origins"},
		{"origin merely ending like the RP ID", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"https://badexample.com"}}, "origins"},
		{"origin of the parent domain", broker.NewProject{Name: "Shop", RPID: "login.example.com", Origins: []string{"https://example.com"}}, "origins"},
		{"http origin", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"http://example.com"}}, "origins"},
		{"origin with a path", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"https://example.com/login"}}, "origins"},
		{"origin with a query", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"https://example.com?x=1"}}, "origins"},
		{"origin with user info", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"https://me@example.com"}}, "origins"},
		{"origin without scheme", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"example.com"}}, "origins"},
		{"other scheme", broker.NewProject{Name: "Shop", RPID: "example.com", Origins: []string{"ftp://example.com"}}, "origins"},
		{"android hash too short", broker.NewProject{Name: "App", RPID: "example.com", Origins: []string{"android:apk-key-hash:" + b64(apkHash[:31])}}, "origins"},
		{"android hash not base64url", broker.NewProject{Name: "App", RPID: "example.com", Origins: []string{"android:apk-key-hash:not/base64+url!"}}, "origins"},
		{"android hash in hex", broker.NewProject{Name: "App", RPID: "example.com", Origins: []string{"android:apk-key-hash:" + hex.EncodeToString(apkHash[:])}}, "origins"},
		{"android prefix only", broker.NewProject{Name: "App", RPID: "example.com", Origins: []string{"android:apk-key-hash:"}}, "origins"},
	}
	forDialects(t, func(t *testing.T, e *env) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := e.Counts(t)
				_, secret, err := e.Broker.CreateProject(e.ctx, tc.in)
				wantValidation(t, "CreateProject()", err, tc.wantField)
				if secret != "" {
					t.Errorf("CreateProject() failed but returned a secret")
				}
				if diff := cmp.Diff(before, e.Counts(t)); diff != "" {
					t.Errorf("a refused CreateProject() wrote rows (-before +after):\n%s", diff)
				}
			})
		}
	})
}

func TestAuthenticate(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		secrets, err := e.Broker.Secrets(e.ctx, e.pid)
		if err != nil || len(secrets) != 1 {
			t.Fatalf("Secrets() = %v, %v; want the fixture's one secret", secrets, err)
		}
		secondID, second, err := e.Broker.AddSecret(e.ctx, e.pid)
		if err != nil {
			t.Fatalf("AddSecret() = %v", err)
		}
		other, otherSecret := e.AddProject(t, "example.com", "https://example.com")

		check := func(name, projectID, secret string, ok bool) {
			t.Helper()
			p, err := e.Broker.Authenticate(e.ctx, projectID, secret)
			switch {
			case ok && err != nil:
				t.Errorf("%s: Authenticate() = %v, want the project", name, err)
			case ok && p.ID != projectID:
				t.Errorf("%s: Authenticate() = project %q, want %q", name, p.ID, projectID)
			case !ok:
				wantErr(t, name+": Authenticate()", err, broker.ErrUnauthenticated)
			}
		}
		check("first secret", e.pid, e.APISecret, true)
		check("second secret", e.pid, second, true)
		check("wrong secret", e.pid, "lks_"+strings.Repeat("A", 43), false)
		check("secret with a character changed", e.pid, e.APISecret[:len(e.APISecret)-1]+flip(e.APISecret[len(e.APISecret)-1]), false)
		check("empty secret", e.pid, "", false)
		check("another project's secret", e.pid, otherSecret, false)
		check("secret of this project at another", other.ID, e.APISecret, false)
		check("unknown project", "prj-000000000000000000000000", e.APISecret, false)
		check("empty project", "", e.APISecret, false)

		if err := e.Broker.RevokeSecret(e.ctx, e.pid, secrets[0].ID); err != nil {
			t.Fatalf("RevokeSecret() = %v", err)
		}
		check("revoked secret", e.pid, e.APISecret, false)
		check("the secret left", e.pid, second, true)
		wantErr(t, "RevokeSecret(already revoked)", e.Broker.RevokeSecret(e.ctx, e.pid, secrets[0].ID), broker.ErrNotFound)
		wantErr(t, "RevokeSecret(another project's secret)", e.Broker.RevokeSecret(e.ctx, other.ID, secondID), broker.ErrNotFound)
		check("a secret another project failed to revoke", e.pid, second, true)
		_, _, err = e.Broker.AddSecret(e.ctx, "prj-000000000000000000000000")
		wantErr(t, "AddSecret(unknown project)", err, broker.ErrNotFound)

		if dump := e.Snapshot(t); strings.Contains(dump, second) || strings.Contains(dump, strings.TrimPrefix(second, "lks_")) {
			t.Errorf("the store holds an API secret in the clear")
		}
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// pkcs8P256Prefix starts the PKCS#8 DER encoding of every P-256 private key.
var pkcs8P256Prefix = []byte{0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20}

func TestSigningKeysAreStoredEncrypted(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		if _, err := e.Broker.RotateKey(e.ctx, e.pid); err != nil {
			t.Fatalf("RotateKey() = %v", err)
		}
		db := openRaw(t, e)
		var rows []struct {
			ID         string `db:"id"`
			PrivateKey string `db:"private_key"`
			PublicKey  string `db:"public_key"`
		}
		if err := db.SelectContext(e.ctx, &rows, `SELECT id, private_key, public_key FROM signing_keys`); err != nil {
			t.Fatalf("reading signing_keys: %v", err)
		}
		if len(rows) != 2 {
			t.Fatalf("signing_keys has %d rows, want 2", len(rows))
		}
		for _, r := range rows {
			// The public half is stored as is (and this shows the columns are what we think).
			pub, err := x509.ParsePKIXPublicKey(unb64(t, r.PublicKey))
			if _, ok := pub.(*ecdsa.PublicKey); err != nil || !ok {
				t.Errorf("key %s: public_key does not parse as an ECDSA key: %v", r.ID, err)
			}
			sealed := unb64(t, r.PrivateKey)
			if _, err := x509.ParsePKCS8PrivateKey(sealed); err == nil {
				t.Errorf("key %s: private_key is a plain PKCS#8 key", r.ID)
			}
			if bytes.Contains(sealed, pkcs8P256Prefix) || strings.Contains(r.PrivateKey, b64(pkcs8P256Prefix)) {
				t.Errorf("key %s: private_key holds PKCS#8 key bytes in the clear", r.ID)
			}
		}
	})
}

func TestWrongSecretKeyCannotSign(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		e.register(t, a, "alice")
		wrong, err := broker.New(e.Store, broker.Config{SecretKey: bytes.Repeat([]byte{7}, 32), Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}

		wantErr(t, "CheckSecretKey(wrong key)", wrong.CheckSecretKey(e.ctx), broker.ErrWrongSecretKey)
		if err := e.Broker.CheckSecretKey(e.ctx); err != nil {
			t.Errorf("CheckSecretKey(right key) = %v", err)
		}

		// A login ceremony's state is sealed under the secret key: a broker with another key
		// cannot finish it (nor sign), and uses nothing up.
		start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		cred := get(t, a, start)
		before := e.Snapshot(t)
		res, err := wrong.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred)
		if err == nil || res.SignedPasskeyData != "" {
			t.Fatalf("FinishLogin() with the wrong secret key = %q, %v; want an error", res.SignedPasskeyData, err)
		}
		e.unchanged(t, before)
		// A stored ceremony (bound to a login token) gets as far as signing, and fails there.
		tok := e.mint(t, connecttoken.TypeLogin, "alice")
		bound, err := wrong.StartLogin(e.ctx, e.pid, broker.LoginRequest{LoginConnectToken: tok.Secret})
		if err != nil {
			t.Fatalf("StartLogin(login token) with the wrong secret key = %v (it needs no private key)", err)
		}
		boundCred := get(t, a, bound)
		before = e.Snapshot(t)
		if res, err := wrong.FinishLogin(e.ctx, e.pid, bound.CeremonyID, boundCred); err == nil || res.SignedPasskeyData != "" {
			t.Fatalf("FinishLogin(login token) with the wrong secret key = %q, %v; want an error", res.SignedPasskeyData, err)
		}
		e.unchanged(t, before)
		// Nothing was used up: a broker with the right key finishes both ceremonies (in the
		// order of their counters).
		res, err = e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred)
		if err != nil {
			t.Fatalf("FinishLogin() with the right secret key = %v", err)
		}
		e.claims(t, res.SignedPasskeyData)
		res, err = e.Broker.FinishLogin(e.ctx, e.pid, bound.CeremonyID, boundCred)
		if err != nil {
			t.Fatalf("FinishLogin(login token) with the right secret key = %v", err)
		}
		e.claims(t, res.SignedPasskeyData)
	})
}
