package signeddata

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

const testIssuer = "prj-test"

// testNow is the clock of every Verify test: 2026-01-01T00:00:00Z.
var testNow = time.Unix(1767225600, 0).UTC()

// b64 is base64url without padding, as JOSE spells it.
var b64 = base64.RawURLEncoding

// pubCmp compares ECDSA public keys by value; cmp cannot look inside elliptic.Curve.
var pubCmp = cmp.Comparer(func(a, b *ecdsa.PublicKey) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
})

func newKey(t testing.TB) Key {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey() = %v", err)
	}
	return k
}

// testClaims returns full claims issued at testNow for the full MaxLifetime.
func testClaims() Claims {
	return Claims{
		Issuer:         testIssuer,
		Subject:        "usr-1234",
		Username:       "user-42",
		WebAuthnID:     "dXNlci1oYW5kbGU",
		Credential:     "Y3JlZC0x",
		ProcessID:      "cer-5678",
		ID:             "jti-1",
		IssuedAt:       testNow,
		NotBefore:      testNow,
		Expires:        testNow.Add(MaxLifetime),
		IsCUI:          true,
		UV:             true,
		ConnectTokenID: "ctk-9",
	}
}

func mustSign(t testing.TB, k Key, c Claims) string {
	t.Helper()
	tok, err := Sign(k, c)
	if err != nil {
		t.Fatalf("Sign(%+v) = %v", c, err)
	}
	return tok
}

// signRaw signs payload with jwx directly, so tests can make tokens Sign refuses to make.
// ES256 signatures get the canonical low S, as Sign gives them.
func signRaw(t testing.TB, alg jwa.SignatureAlgorithm, key any, headers map[string]any, payload []byte) string {
	t.Helper()
	hdr := jws.NewHeaders()
	for name, v := range headers {
		if err := hdr.Set(name, v); err != nil {
			t.Fatalf("Headers.Set(%q, %v) = %v", name, v, err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatalf("jws.Sign(%s) = %v", alg, err)
	}
	if alg == jwa.ES256 {
		// As Sign does, so that the token fails only where the test means it to.
		if low, err := lowS(string(tok)); err == nil {
			return low
		}
	}
	return string(tok)
}

// payloadJSON returns the claims of c as Sign puts them on the wire, with edits applied.
func payloadJSON(t testing.TB, c Claims, edit func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"iss": c.Issuer, "sub": c.Subject, "username": c.Username, "webauthnId": c.WebAuthnID,
		"credential": c.Credential, "processId": c.ProcessID, "jti": c.ID,
		"iat": c.IssuedAt.Unix(), "nbf": c.NotBefore.Unix(), "exp": c.Expires.Unix(),
		"isCUI": c.IsCUI, "uv": c.UV,
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parts splits a compact token and decodes its header and payload.
func parts(t testing.TB, tok string) (header, payload, sig []byte) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("token %q has %d parts, want 3", short(tok), len(p))
	}
	var dec [3][]byte
	for i := range p {
		b, err := b64.DecodeString(p[i])
		if err != nil {
			t.Fatalf("part %d of %q: %v", i, short(tok), err)
		}
		dec[i] = b
	}
	return dec[0], dec[1], dec[2]
}

// short keeps failure messages readable for long tokens.
func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func TestVerify(t *testing.T) {
	key := newKey(t)
	keys := []PublicKey{key.Public()}
	claims := testClaims()
	valid := mustSign(t, key, claims)

	other := newKey(t)
	sameKid := Key{ID: key.ID, Private: other.Private}

	noneHeader := b64.EncodeToString([]byte(`{"alg":"none","kid":"` + key.ID + `","typ":"JWT"}`))
	algNone := noneHeader + "." + b64.EncodeToString(payloadJSON(t, claims, nil)) + "."

	pkix, err := x509.MarshalPKIXPublicKey(key.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	jwksBytes, err := JWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]any{"kid": key.ID, "typ": "JWT"}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	vh, vp, vs := parts(t, valid)
	edited := b64.EncodeToString(vh) + "." +
		b64.EncodeToString(payloadJSON(t, claims, func(m map[string]any) { m["sub"] = "usr-evil" })) + "." +
		b64.EncodeToString(vs)
	flipped := append([]byte(nil), vs...)
	flipped[10] ^= 0x01
	flippedSig := b64.EncodeToString(vh) + "." + b64.EncodeToString(vp) + "." + b64.EncodeToString(flipped)
	// The last character of the signature with its unused low bits set: lenient decoders read
	// the same bytes.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, valid[len(valid)-1])
	unusedBits := valid[:len(valid)-1] + string(alphabet[last|0x0f])
	// The same bytes in padded standard base64 still carry a valid signature to a lenient decoder.
	padded := base64.URLEncoding.EncodeToString(vh) + "." + base64.URLEncoding.EncodeToString(vp) + "." + base64.URLEncoding.EncodeToString(vs)

	future := claims
	future.NotBefore = testNow.Add(60 * time.Second)

	tests := []struct {
		name    string
		token   string
		keys    []PublicKey
		issuer  string
		now     time.Time
		wantErr error
	}{
		{name: "valid", token: valid},
		{name: "valid at iat minus leeway", token: valid, now: testNow.Add(-DefaultLeeway)},
		{name: "expired beyond leeway", token: valid, now: claims.Expires.Add(DefaultLeeway), wantErr: ErrExpired},
		{name: "expired within leeway", token: valid, now: claims.Expires.Add(DefaultLeeway - time.Second)},
		{name: "nbf in future beyond leeway", token: mustSign(t, key, future), now: testNow.Add(49 * time.Second), wantErr: ErrNotYetValid},
		{name: "nbf in future within leeway", token: mustSign(t, key, future), now: testNow.Add(50 * time.Second)},
		{name: "issued in the future", token: valid, now: testNow.Add(-DefaultLeeway - time.Second), wantErr: ErrNotYetValid},
		{name: "wrong issuer", token: valid, issuer: "prj-other", wantErr: ErrWrongIssuer},
		{name: "unknown kid", token: valid, keys: []PublicKey{other.Public()}, wantErr: ErrUnknownKey},
		{name: "empty key set", token: valid, keys: []PublicKey{}, wantErr: ErrUnknownKey},
		{name: "token of another project's key", token: mustSign(t, other, claims), wantErr: ErrUnknownKey},
		{name: "no kid", token: signRaw(t, jwa.ES256, key.Private, map[string]any{"typ": "JWT"}, payloadJSON(t, claims, nil)), wantErr: ErrUnknownKey},
		{name: "alg none", token: algNone, wantErr: ErrInvalidSignature},
		{name: "alg unknown", token: b64.EncodeToString([]byte(`{"alg":"XS256","kid":"`+key.ID+`","typ":"JWT"}`)) + "." + b64.EncodeToString(vp) + "." + b64.EncodeToString(vs), wantErr: ErrInvalidSignature},
		{name: "alg none without signature part", token: strings.TrimSuffix(algNone, "."), wantErr: ErrMalformed},
		{name: "HS256 keyed with PKIX public key", token: signRaw(t, jwa.HS256, pkix, hdr, payloadJSON(t, claims, nil)), wantErr: ErrInvalidSignature},
		{name: "HS256 keyed with JWKS bytes", token: signRaw(t, jwa.HS256, jwksBytes, hdr, payloadJSON(t, claims, nil)), wantErr: ErrInvalidSignature},
		{name: "RS256", token: signRaw(t, jwa.RS256, rsaKey, hdr, payloadJSON(t, claims, nil)), wantErr: ErrInvalidSignature},
		{name: "ES384", token: signRaw(t, jwa.ES384, p384, hdr, payloadJSON(t, claims, nil)), wantErr: ErrInvalidSignature},
		{name: "typ not JWT", token: signRaw(t, jwa.ES256, key.Private, map[string]any{"kid": key.ID, "typ": "at+jwt"}, payloadJSON(t, claims, nil)), wantErr: ErrInvalidSignature},
		{name: "typ missing", token: signRaw(t, jwa.ES256, key.Private, map[string]any{"kid": key.ID}, payloadJSON(t, claims, nil)), wantErr: ErrInvalidSignature},
		{name: "crit header", token: signRaw(t, jwa.ES256, key.Private, map[string]any{"kid": key.ID, "typ": "JWT", "crit": []string{"exp"}}, payloadJSON(t, claims, nil)), wantErr: ErrInvalidSignature},
		{name: "b64 false", token: signRaw(t, jwa.ES256, key.Private, map[string]any{"kid": key.ID, "typ": "JWT", "b64": false, "crit": []string{"b64"}}, []byte("abc")), wantErr: ErrInvalidSignature},
		{name: "payload edited after signing", token: edited, wantErr: ErrInvalidSignature},
		{name: "signature bit flipped", token: flippedSig, wantErr: ErrInvalidSignature},
		{name: "signature removed", token: b64.EncodeToString(vh) + "." + b64.EncodeToString(vp) + ".", wantErr: ErrInvalidSignature},
		{name: "re-signed by another key with the same kid", token: mustSign(t, sameKid, claims), wantErr: ErrInvalidSignature},
		{name: "padded base64", token: padded, wantErr: ErrMalformed},
		{name: "unused bits set in the last character", token: unusedBits, wantErr: ErrMalformed},
		{name: "trailing newline (base64 decoders skip it)", token: valid + "\n", wantErr: ErrMalformed},
		{name: "CR LF inside the signature", token: valid[:len(valid)-4] + "\r\n" + valid[len(valid)-4:], wantErr: ErrMalformed},
		{name: "missing jti", token: signRaw(t, jwa.ES256, key.Private, hdr, payloadJSON(t, claims, func(m map[string]any) { delete(m, "jti") })), wantErr: ErrMalformed},
		{name: "missing exp", token: signRaw(t, jwa.ES256, key.Private, hdr, payloadJSON(t, claims, func(m map[string]any) { delete(m, "exp") })), wantErr: ErrMalformed},
		{name: "lifetime beyond MaxLifetime", token: signRaw(t, jwa.ES256, key.Private, hdr, payloadJSON(t, claims, func(m map[string]any) { m["exp"] = testNow.Add(time.Hour).Unix() })), wantErr: ErrMalformed},
		{name: "fractional exp", token: signRaw(t, jwa.ES256, key.Private, hdr, payloadJSON(t, claims, func(m map[string]any) { m["exp"] = 1767225700.5 })), wantErr: ErrMalformed},
		{name: "payload not JSON", token: signRaw(t, jwa.ES256, key.Private, hdr, []byte("hello")), wantErr: ErrMalformed},
		{name: "garbage", token: "not a token", wantErr: ErrMalformed},
		{name: "garbage with dots", token: "a.b.c", wantErr: ErrMalformed},
		{name: "header not JSON", token: b64.EncodeToString([]byte("hello")) + "." + b64.EncodeToString(vp) + "." + b64.EncodeToString(vs), wantErr: ErrMalformed},
		{name: "empty", token: "", wantErr: ErrMalformed},
		{name: "dots only", token: "..", wantErr: ErrMalformed},
		{name: "too long", token: valid + "." + strings.Repeat("A", maxTokenLen), wantErr: ErrMalformed},
		{name: "too long without dots", token: strings.Repeat("A", maxTokenLen+1), wantErr: ErrMalformed},
		{name: "two parts", token: valid[:strings.LastIndex(valid, ".")], wantErr: ErrMalformed},
		{name: "four parts", token: valid + "." + b64.EncodeToString(vs), wantErr: ErrMalformed},
		{name: "JSON serialization", token: `{"payload":"` + b64.EncodeToString(vp) + `","protected":"` + b64.EncodeToString(vh) + `","signature":"` + b64.EncodeToString(vs) + `"}`, wantErr: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, issuer, now := tc.keys, tc.issuer, tc.now
			if ks == nil {
				ks = keys
			}
			if issuer == "" {
				issuer = testIssuer
			}
			if now.IsZero() {
				now = testNow
			}
			got, err := Verify(tc.token, ks, issuer, now, DefaultLeeway)
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("Verify(%q) = %v, want %v", short(tc.token), err, tc.wantErr)
			}
			if err != nil {
				if got != (Claims{}) {
					t.Errorf("Verify(%q) returned claims %+v with error %v, want zero claims", short(tc.token), got, err)
				}
				return
			}
			if got.Issuer != testIssuer || got.Subject != claims.Subject || got.ID != claims.ID {
				t.Errorf("Verify(%q) = %+v, want the signed claims", short(tc.token), got)
			}
		})
	}
}

func TestVerifyTriesEveryKeyWithTheKid(t *testing.T) {
	key := newKey(t)
	stale := newKey(t).Public()
	stale.ID = key.ID
	tok := mustSign(t, key, testClaims())
	if _, err := Verify(tok, []PublicKey{stale, {ID: key.ID}, key.Public()}, testIssuer, testNow, DefaultLeeway); err != nil {
		t.Errorf("Verify(%q) with a colliding kid first = %v, want nil", short(tok), err)
	}
}

func TestVerifyNegativeLeeway(t *testing.T) {
	key := newKey(t)
	c := testClaims()
	tok := mustSign(t, key, c)
	now := c.Expires.Add(-time.Second)
	if _, err := Verify(tok, []PublicKey{key.Public()}, testIssuer, now, -time.Hour); err != nil {
		t.Errorf("Verify(%q) at exp-1s with leeway -1h = %v, want nil (negative leeway counts as 0)", short(tok), err)
	}
}

func TestSignRoundTrip(t *testing.T) {
	key := newKey(t)
	noConnect := testClaims()
	noConnect.ConnectTokenID = ""
	noConnect.IsCUI, noConnect.UV = false, false
	shortLived := testClaims()
	shortLived.Expires = testNow.Add(time.Second)
	noNbf := testClaims()
	noNbf.NotBefore = time.Time{}
	wantNoNbf := testClaims()
	local := testClaims()
	local.IssuedAt, local.NotBefore, local.Expires = local.IssuedAt.Local(), local.NotBefore.Local(), local.Expires.Local()
	fractional := testClaims()
	fractional.IssuedAt, fractional.NotBefore, fractional.Expires = testNow.Add(300*time.Millisecond), testNow.Add(999*time.Millisecond), testNow.Add(MaxLifetime+500*time.Millisecond)
	synced := testClaims()
	synced.BackupEligible, synced.BackedUp, synced.AuthenticatorAttachment = true, true, "platform"
	synced.AAGUID, synced.ProviderName = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "Apple Passwords"
	hybrid := testClaims()
	hybrid.BackupEligible, hybrid.AuthenticatorAttachment, hybrid.CrossDevice = true, "cross-platform", true
	hybrid.AAGUID = "00000000-0000-0000-0000-000000000000"

	tests := []struct {
		name   string
		claims Claims
		want   Claims
	}{
		{name: "all claims", claims: testClaims(), want: testClaims()},
		{name: "no connect token", claims: noConnect, want: noConnect},
		{name: "one second lifetime", claims: shortLived, want: shortLived},
		{name: "zero nbf becomes iat", claims: noNbf, want: wantNoNbf},
		{name: "local times", claims: local, want: testClaims()},
		{name: "fractional seconds", claims: fractional, want: testClaims()},
		{name: "synced platform passkey", claims: synced, want: synced},
		{name: "cross-device, provider unknown", claims: hybrid, want: hybrid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustSign(t, key, tc.claims)
			got, err := Verify(tok, []PublicKey{key.Public()}, testIssuer, testNow, DefaultLeeway)
			if err != nil {
				t.Fatalf("Verify(%q) = %v, want nil", short(tok), err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Verify(Sign(%+v)) mismatch (-want +got):\n%s", tc.claims, diff)
			}
			if diff := cmp.Diff(got, tc.claims.Canonical()); diff != "" {
				t.Errorf("Canonical(%+v) differs from Verify(Sign()) (-verified +canonical):\n%s", tc.claims, diff)
			}
			_, payload, _ := parts(t, tok)
			for _, c := range []struct {
				name string
				want bool
			}{
				{"connectTokenID", tc.claims.ConnectTokenID != ""},
				{"authenticatorAttachment", tc.claims.AuthenticatorAttachment != ""},
				{"aaguid", tc.claims.AAGUID != ""},
				{"providerName", tc.claims.ProviderName != ""},
				{"backupEligible", true},
				{"backedUp", true},
				{"crossDevice", true},
			} {
				if has := strings.Contains(string(payload), `"`+c.name+`":`); has != c.want {
					t.Errorf("payload %s has %s = %v, want %v", payload, c.name, has, c.want)
				}
			}
		})
	}
}

// TestCanonicalS checks that Sign issues only low-S signatures, and that Verify refuses the
// high-S twin (r, n-s) of a valid token, which ECDSA itself accepts.
func TestCanonicalS(t *testing.T) {
	key := newKey(t)
	keys := []PublicKey{key.Public()}
	n := elliptic.P256().Params().N
	half := new(big.Int).Rsh(n, 1)
	for i := range 64 { // a random s is high half the time: 64 signatures miss that with odds 2^-64
		c := testClaims()
		c.ID = fmt.Sprint("jti-", i)
		tok := mustSign(t, key, c)
		_, _, sig := parts(t, tok)
		s := new(big.Int).SetBytes(sig[32:])
		if s.Cmp(half) > 0 {
			t.Fatalf("Sign() #%d: s > n/2, want the canonical low-S signature", i)
		}
		if _, err := Verify(tok, keys, testIssuer, testNow, DefaultLeeway); err != nil {
			t.Fatalf("Verify(Sign() #%d) = %v, want nil", i, err)
		}
		// The twin: replace s with n - s.
		twin := append([]byte{}, sig...)
		new(big.Int).Sub(n, s).FillBytes(twin[32:])
		digest := sha256.Sum256([]byte(tok[:strings.LastIndex(tok, ".")]))
		if !ecdsa.Verify(&key.Private.PublicKey, digest[:], new(big.Int).SetBytes(twin[:32]), new(big.Int).SetBytes(twin[32:])) {
			t.Fatal("the high-S twin does not verify with crypto/ecdsa: the test is wrong")
		}
		high := tok[:strings.LastIndex(tok, ".")+1] + b64.EncodeToString(twin)
		if got, err := Verify(high, keys, testIssuer, testNow, DefaultLeeway); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("Verify(high-S twin #%d) = %+v, %v; want ErrInvalidSignature", i, got, err)
		}
	}
}

func TestSignHeader(t *testing.T) {
	key := newKey(t)
	tok := mustSign(t, key, testClaims())
	header, _, sig := parts(t, tok)
	var got map[string]any
	if err := json.Unmarshal(header, &got); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", header, err)
	}
	want := map[string]any{"alg": "ES256", "kid": key.ID, "typ": "JWT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("protected header mismatch (-want +got):\n%s", diff)
	}
	if len(sig) != 64 {
		t.Errorf("signature is %d bytes, want 64 (r || s)", len(sig))
	}
}

func TestSignRefuses(t *testing.T) {
	key := newKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(c *Claims)) Claims {
		c := testClaims()
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		key     Key
		claims  Claims
		wantErr error
	}{
		{name: "lifetime 301 s", key: key, claims: edit(func(c *Claims) { c.Expires = c.IssuedAt.Add(301 * time.Second) }), wantErr: ErrInvalidClaims},
		{name: "lifetime 1 h", key: key, claims: edit(func(c *Claims) { c.Expires = c.IssuedAt.Add(time.Hour) }), wantErr: ErrInvalidClaims},
		{name: "lifetime 0", key: key, claims: edit(func(c *Claims) { c.Expires = c.IssuedAt }), wantErr: ErrInvalidClaims},
		{name: "lifetime negative", key: key, claims: edit(func(c *Claims) { c.Expires = c.IssuedAt.Add(-time.Minute) }), wantErr: ErrInvalidClaims},
		{name: "sub-second lifetime", key: key, claims: edit(func(c *Claims) { c.Expires = c.IssuedAt.Add(500 * time.Millisecond) }), wantErr: ErrInvalidClaims},
		{name: "zero times", key: key, claims: edit(func(c *Claims) { c.IssuedAt, c.Expires = time.Time{}, time.Time{} }), wantErr: ErrInvalidClaims},
		{name: "empty iss", key: key, claims: edit(func(c *Claims) { c.Issuer = "" }), wantErr: ErrInvalidClaims},
		{name: "empty sub", key: key, claims: edit(func(c *Claims) { c.Subject = "" }), wantErr: ErrInvalidClaims},
		{name: "empty jti", key: key, claims: edit(func(c *Claims) { c.ID = "" }), wantErr: ErrInvalidClaims},
		{name: "no private key", key: Key{ID: "k1"}, claims: testClaims(), wantErr: ErrInvalidKey},
		{name: "no kid", key: Key{Private: key.Private}, claims: testClaims(), wantErr: ErrInvalidKey},
		{name: "P-384 key", key: Key{ID: "k1", Private: p384}, claims: testClaims(), wantErr: ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Sign(tc.key, tc.claims)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Sign(%+v) = %q, %v, want %v", tc.claims, tok, err, tc.wantErr)
			}
			if tok != "" {
				t.Errorf("Sign(%+v) returned token %q with an error", tc.claims, tok)
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	a, b := newKey(t), newKey(t)
	if a.Private.Curve != elliptic.P256() {
		t.Errorf("GenerateKey() curve = %s, want P-256", a.Private.Curve.Params().Name)
	}
	if id, err := b64.DecodeString(a.ID); err != nil || len(id) != 16 {
		t.Errorf("GenerateKey() kid = %q (%d bytes, %v), want 16 base64url bytes", a.ID, len(id), err)
	}
	if a.ID == b.ID || a.Private.Equal(b.Private) {
		t.Errorf("GenerateKey() twice gave the same kid or key: %q, %q", a.ID, b.ID)
	}
	pub := a.Public()
	if pub.ID != a.ID || !pub.Key.Equal(&a.Private.PublicKey) {
		t.Errorf("Key.Public() = %+v, want kid %q and the matching public key", pub, a.ID)
	}
	if got := (Key{ID: "x"}).Public(); got != (PublicKey{ID: "x"}) {
		t.Errorf("Key{ID: x}.Public() = %+v, want {ID: x}", got)
	}
}

// The known-answer key is the P-256 test key of RFC 6979, appendix A.2.5.
const (
	katScalar = "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"
	katX      = "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
	katY      = "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
	katKid    = "kat-key-1"
)

func katKey(t testing.TB) Key {
	t.Helper()
	d, err := hex.DecodeString(katScalar)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatalf("ecdsa.ParseRawPrivateKey() = %v", err)
	}
	return Key{ID: katKid, Private: priv}
}

func katClaims() Claims {
	return Claims{
		Issuer:         "prj-kat",
		Subject:        "usr-kat",
		Username:       "jane@example.com",
		WebAuthnID:     "AAECAwQFBgc",
		Credential:     "8J-UkQ",
		ProcessID:      "cer-kat",
		ID:             "jti-kat",
		IssuedAt:       time.Unix(1767225600, 0).UTC(),
		NotBefore:      time.Unix(1767225600, 0).UTC(),
		Expires:        time.Unix(1767225900, 0).UTC(),
		IsCUI:          false,
		UV:             true,
		ConnectTokenID: "ctk-kat",
	}
}

const (
	katHeader = `{"alg":"ES256","kid":"kat-key-1","typ":"JWT"}`
	// katPayload is what Sign(katKey, katClaims) encodes: the claims of katToken and the
	// richer claims' booleans, which Sign always writes.
	katPayload = `{"iss":"prj-kat","sub":"usr-kat","username":"jane@example.com","webauthnId":"AAECAwQFBgc","credential":"8J-UkQ","processId":"cer-kat","jti":"jti-kat","iat":1767225600,"nbf":1767225600,"exp":1767225900,"isCUI":false,"uv":true,"connectTokenID":"ctk-kat","backupEligible":false,"backedUp":false,"crossDevice":false}`
	// katSigningInput is the header and payload of katToken: katPayload without the richer
	// claims, as Sign wrote it before they existed.
	katSigningInput = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImthdC1rZXktMSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJwcmota2F0Iiwic3ViIjoidXNyLWthdCIsInVzZXJuYW1lIjoiamFuZUBleGFtcGxlLmNvbSIsIndlYmF1dGhuSWQiOiJBQUVDQXdRRkJnYyIsImNyZWRlbnRpYWwiOiI4Si1Va1EiLCJwcm9jZXNzSWQiOiJjZXIta2F0IiwianRpIjoianRpLWthdCIsImlhdCI6MTc2NzIyNTYwMCwibmJmIjoxNzY3MjI1NjAwLCJleHAiOjE3NjcyMjU5MDAsImlzQ1VJIjpmYWxzZSwidXYiOnRydWUsImNvbm5lY3RUb2tlbklEIjoiY3RrLWthdCJ9"
	// katToken was made once by Sign(katKey, katClaims), before the richer claims existed;
	// it must verify forever, to katClaims (the richer claims zero). Its signature is
	// canonical: s <= n/2.
	katToken = katSigningInput + ".0xMwgT_VTND2KKkozlhWEjedYImoPHC1_Uz9juJCtdgJznE9iRBlGslWfhIo3P8N6gN6pAx9UI5ANaTzMF-yvA"
	// katHighS is katToken with s replaced by n-s: a valid ECDSA signature of the same input
	// (it is what Sign first stored, before it normalised s), which Verify must refuse.
	katHighS = katSigningInput + ".0xMwgT_VTND2KKkozlhWEjedYImoPHC1_Uz9juJCtdj2MY7Bdu-a5japge3XIwDx0uOACZqaTfazhCXPzANylQ"
)

// katRichClaims are katClaims with every richer claim set: a synced Google Password Manager
// passkey used from a phone over hybrid.
func katRichClaims() Claims {
	c := katClaims()
	c.ID = "jti-kat-rich"
	c.BackupEligible, c.BackedUp, c.AuthenticatorAttachment, c.CrossDevice = true, true, "cross-platform", true
	c.AAGUID, c.ProviderName = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4", "Google Password Manager"
	return c
}

const (
	katRichPayload = `{"iss":"prj-kat","sub":"usr-kat","username":"jane@example.com","webauthnId":"AAECAwQFBgc","credential":"8J-UkQ","processId":"cer-kat","jti":"jti-kat-rich","iat":1767225600,"nbf":1767225600,"exp":1767225900,"isCUI":false,"uv":true,"connectTokenID":"ctk-kat","backupEligible":true,"backedUp":true,"authenticatorAttachment":"cross-platform","crossDevice":true,"aaguid":"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4","providerName":"Google Password Manager"}`
	// katRichToken was made once by Sign(katKey, katRichClaims); it must verify forever.
	katRichToken = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImthdC1rZXktMSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJwcmota2F0Iiwic3ViIjoidXNyLWthdCIsInVzZXJuYW1lIjoiamFuZUBleGFtcGxlLmNvbSIsIndlYmF1dGhuSWQiOiJBQUVDQXdRRkJnYyIsImNyZWRlbnRpYWwiOiI4Si1Va1EiLCJwcm9jZXNzSWQiOiJjZXIta2F0IiwianRpIjoianRpLWthdC1yaWNoIiwiaWF0IjoxNzY3MjI1NjAwLCJuYmYiOjE3NjcyMjU2MDAsImV4cCI6MTc2NzIyNTkwMCwiaXNDVUkiOmZhbHNlLCJ1diI6dHJ1ZSwiY29ubmVjdFRva2VuSUQiOiJjdGsta2F0IiwiYmFja3VwRWxpZ2libGUiOnRydWUsImJhY2tlZFVwIjp0cnVlLCJhdXRoZW50aWNhdG9yQXR0YWNobWVudCI6ImNyb3NzLXBsYXRmb3JtIiwiY3Jvc3NEZXZpY2UiOnRydWUsImFhZ3VpZCI6ImVhOWI4ZDY2LTRkMDEtMWQyMS0zY2U0LWI2YjQ4Y2I1NzVkNCIsInByb3ZpZGVyTmFtZSI6Ikdvb2dsZSBQYXNzd29yZCBNYW5hZ2VyIn0.ZaDMpUfZ1U-rpANTXPjeT_KW8PBGfP4VE9fm3fGkL1wy1eeXeSTmloKnXHm5Jo03vje_a5OIlRut66JJOxXOiQ"
)

// TestKnownAnswerRicherClaims checks the wire form of the richer claims (backup flags,
// attachment, cross-device, provider) and a stored token that carries them.
func TestKnownAnswerRicherClaims(t *testing.T) {
	key := katKey(t)
	keys := []PublicKey{key.Public()}
	claims := katRichClaims()
	at := claims.IssuedAt.Add(time.Minute)
	t.Run("sign", func(t *testing.T) {
		tok := mustSign(t, key, claims)
		_, payload, _ := parts(t, tok)
		if string(payload) != katRichPayload {
			t.Errorf("Sign() payload = %s, want %s", payload, katRichPayload)
		}
		got, err := Verify(tok, keys, claims.Issuer, at, DefaultLeeway)
		if err != nil {
			t.Fatalf("Verify(%q) = %v, want nil", short(tok), err)
		}
		if diff := cmp.Diff(claims, got); diff != "" {
			t.Errorf("Verify(Sign()) mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("stored token", func(t *testing.T) {
		_, payload, sig := parts(t, katRichToken)
		if string(payload) != katRichPayload {
			t.Errorf("katRichToken payload = %s, want %s", payload, katRichPayload)
		}
		digest := sha256.Sum256([]byte(katRichToken[:strings.LastIndex(katRichToken, ".")]))
		if !ecdsa.Verify(&key.Private.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatal("ecdsa.Verify(katRichToken) = false, want true")
		}
		got, err := Verify(katRichToken, keys, claims.Issuer, at, DefaultLeeway)
		if err != nil {
			t.Fatalf("Verify(%q) = %v, want nil", short(katRichToken), err)
		}
		if diff := cmp.Diff(claims, got); diff != "" {
			t.Errorf("Verify(katRichToken) mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("verifier", func(t *testing.T) {
		set, err := JWKS(keys)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(set)
		}))
		defer srv.Close()
		v := &Verifier{JWKSURL: srv.URL, ProjectID: claims.Issuer, Client: srv.Client(), Now: func() time.Time { return at }}
		got, err := v.Verify(context.Background(), katRichToken)
		if err != nil {
			t.Fatalf("Verifier.Verify(katRichToken) = %v, want nil", err)
		}
		if got.BackupEligible != true || got.BackedUp != true || got.AuthenticatorAttachment != "cross-platform" || got.CrossDevice != true ||
			got.AAGUID != claims.AAGUID || got.ProviderName != "Google Password Manager" {
			t.Errorf("Verifier.Verify(katRichToken) = %+v, want the richer claims of %+v", got, claims)
		}
	})
}

func TestKnownAnswer(t *testing.T) {
	key := katKey(t)
	wantPub := func(h string) []byte {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := key.Private.PublicKey.X.FillBytes(make([]byte, 32)); string(got) != string(wantPub(katX)) {
		t.Fatalf("public X = %X, want %s", got, katX)
	}
	keys := []PublicKey{key.Public()}
	claims := katClaims()
	at := claims.IssuedAt.Add(time.Minute)

	t.Run("sign", func(t *testing.T) {
		tok := mustSign(t, key, claims)
		header, payload, _ := parts(t, tok)
		if string(header) != katHeader {
			t.Errorf("Sign() header = %s, want %s", header, katHeader)
		}
		if string(payload) != katPayload {
			t.Errorf("Sign() payload = %s, want %s", payload, katPayload)
		}
		got, err := Verify(tok, keys, claims.Issuer, at, DefaultLeeway)
		if err != nil {
			t.Fatalf("Verify(%q) = %v, want nil", short(tok), err)
		}
		if diff := cmp.Diff(claims, got); diff != "" {
			t.Errorf("Verify(Sign()) mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("stored token", func(t *testing.T) {
		got, err := Verify(katToken, keys, claims.Issuer, at, DefaultLeeway)
		if err != nil {
			t.Fatalf("Verify(%q) = %v, want nil", short(katToken), err)
		}
		if diff := cmp.Diff(claims, got); diff != "" {
			t.Errorf("Verify(katToken) mismatch (-want +got):\n%s", diff)
		}
		// Cross-check the vector without jwx: ES256 is ECDSA P-256 over SHA-256 of the
		// signing input, with the signature as r || s.
		_, _, sig := parts(t, katToken)
		digest := sha256.Sum256([]byte(katToken[:strings.LastIndex(katToken, ".")]))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&key.Private.PublicKey, digest[:], r, s) {
			t.Errorf("ecdsa.Verify(katToken) = false, want true")
		}
	})
	t.Run("high-S twin of the stored token", func(t *testing.T) {
		// The twin is a valid ECDSA signature of the same input, with s = n - s.
		_, _, sig := parts(t, katHighS)
		_, _, low := parts(t, katToken)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		n := elliptic.P256().Params().N
		if new(big.Int).Add(s, new(big.Int).SetBytes(low[32:])).Cmp(n) != 0 || string(sig[:32]) != string(low[:32]) {
			t.Fatal("katHighS is not katToken with s replaced by n-s")
		}
		digest := sha256.Sum256([]byte(katSigningInput))
		if !ecdsa.Verify(&key.Private.PublicKey, digest[:], r, s) {
			t.Fatal("ecdsa.Verify(katHighS) = false: the vector is not a valid signature")
		}
		if got, err := Verify(katHighS, keys, claims.Issuer, at, DefaultLeeway); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("Verify(high-S twin) = %+v, %v; want ErrInvalidSignature", got, err)
		}
	})
	t.Run("jwks", func(t *testing.T) {
		b, err := JWKS(keys)
		if err != nil {
			t.Fatalf("JWKS() = %v", err)
		}
		want := `{"keys":[{"alg":"ES256","crv":"P-256","kid":"kat-key-1","kty":"EC","use":"sig","x":"` +
			b64.EncodeToString(wantPub(katX)) + `","y":"` + b64.EncodeToString(wantPub(katY)) + `"}]}`
		if diff := cmp.Diff(want, string(b)); diff != "" {
			t.Errorf("JWKS() mismatch (-want +got):\n%s", diff)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	key := newKey(b)
	c := testClaims()
	for b.Loop() {
		if _, err := Sign(key, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	key := newKey(b)
	keys := []PublicKey{key.Public()}
	tok := mustSign(b, key, testClaims())
	for b.Loop() {
		if _, err := Verify(tok, keys, testIssuer, testNow, DefaultLeeway); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloor is one raw P-256 sign plus one verify: the cost Sign + Verify cannot beat.
func BenchmarkFloor(b *testing.B) {
	key := newKey(b)
	digest := sha256.Sum256([]byte("signing input"))
	for b.Loop() {
		sig, err := ecdsa.SignASN1(rand.Reader, key.Private, digest[:])
		if err != nil {
			b.Fatal(err)
		}
		if !ecdsa.VerifyASN1(&key.Private.PublicKey, digest[:], sig) {
			b.Fatal("VerifyASN1() = false")
		}
	}
}

func TestJWKS(t *testing.T) {
	keys := []PublicKey{newKey(t).Public(), newKey(t).Public()}
	b, err := JWKS(keys)
	if err != nil {
		t.Fatalf("JWKS() = %v", err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", b, err)
	}
	if len(set.Keys) != len(keys) {
		t.Fatalf("JWKS() has %d keys, want %d", len(set.Keys), len(keys))
	}
	for i, k := range set.Keys {
		if _, ok := k["d"]; ok {
			t.Errorf("JWKS() key %d has a private part d: %s", i, b)
		}
		want := map[string]any{"kty": "EC", "crv": "P-256", "kid": keys[i].ID, "alg": "ES256", "use": "sig"}
		got := map[string]any{}
		for name := range k {
			if name != "x" && name != "y" {
				got[name] = k[name]
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("JWKS() key %d mismatch (-want +got):\n%s", i, diff)
		}
	}

	parsed, err := ParseJWKS(b)
	if err != nil {
		t.Fatalf("ParseJWKS(%s) = %v", b, err)
	}
	if diff := cmp.Diff(keys, parsed, pubCmp); diff != "" {
		t.Errorf("ParseJWKS(JWKS(keys)) mismatch (-want +got):\n%s", diff)
	}

	if b, err := JWKS(nil); err != nil || string(b) != `{"keys":[]}` {
		t.Errorf(`JWKS(nil) = %s, %v, want {"keys":[]}, nil`, b, err)
	}
}

func TestJWKSRefuses(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := newKey(t).Public()
	tests := []struct {
		name string
		key  PublicKey
	}{
		{name: "no kid", key: PublicKey{Key: pub.Key}},
		{name: "no key", key: PublicKey{ID: "k1"}},
		{name: "P-384", key: PublicKey{ID: "k1", Key: &p384.PublicKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := JWKS([]PublicKey{pub, tc.key}); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("JWKS(%+v) = %s, %v, want %v", tc.key, b, err, ErrInvalidKey)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	want := newKey(t).Public()
	x := b64.EncodeToString(want.Key.X.FillBytes(make([]byte, 32)))
	y := b64.EncodeToString(want.Key.Y.FillBytes(make([]byte, 32)))
	ec := func(extra string) string {
		return `{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"` + extra + `}`
	}
	offCurve := `{"kty":"EC","crv":"P-256","kid":"off","x":"` + x + `","y":"` + b64.EncodeToString(make([]byte, 32)) + `"}`
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaJSON := `{"kty":"RSA","kid":"rsa","alg":"RS256","n":"` + b64.EncodeToString(rsaKey.N.Bytes()) + `","e":"AQAB"}`
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384JSON := `{"kty":"EC","crv":"P-384","kid":"p384","x":"` + b64.EncodeToString(p384.X.FillBytes(make([]byte, 48))) +
		`","y":"` + b64.EncodeToString(p384.Y.FillBytes(make([]byte, 48))) + `"}`

	tests := []struct {
		name    string
		set     string
		wantIDs []string
	}{
		{name: "full key", set: `{"keys":[` + ec(`,"kid":"a","alg":"ES256","use":"sig"`) + `]}`, wantIDs: []string{"a"}},
		{name: "no alg or use", set: `{"keys":[` + ec(`,"kid":"a"`) + `]}`, wantIDs: []string{"a"}},
		{name: "private part ignored", set: `{"keys":[` + ec(`,"kid":"a","d":"`+b64.EncodeToString(append(make([]byte, 31), 1))+`"`) + `]}`, wantIDs: []string{"a"}},
		{name: "empty set", set: `{"keys":[]}`, wantIDs: []string{}},
		{name: "drops RSA key", set: `{"keys":[` + rsaJSON + `,` + ec(`,"kid":"a"`) + `]}`, wantIDs: []string{"a"}},
		{name: "drops key without kid", set: `{"keys":[` + ec(``) + `,` + ec(`,"kid":"a"`) + `]}`, wantIDs: []string{"a"}},
		{name: "drops P-384 key", set: `{"keys":[` + p384JSON + `]}`, wantIDs: []string{}},
		{name: "drops alg ES384", set: `{"keys":[` + ec(`,"kid":"a","alg":"ES384"`) + `]}`, wantIDs: []string{}},
		{name: "drops use enc", set: `{"keys":[` + ec(`,"kid":"a","use":"enc"`) + `]}`, wantIDs: []string{}},
		{name: "drops point off the curve", set: `{"keys":[` + offCurve + `]}`, wantIDs: []string{}},
		{name: "drops oct key", set: `{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},` + ec(`,"kid":"a"`) + `]}`, wantIDs: []string{"a"}},
		{name: "drops unknown kty", set: `{"keys":[{"kty":"XYZ","kid":"z"},` + ec(`,"kid":"a"`) + `]}`, wantIDs: []string{"a"}},
		{name: "drops non-object entry", set: `{"keys":[42,"x",null,` + ec(`,"kid":"a"`) + `]}`, wantIDs: []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJWKS([]byte(tc.set))
			if err != nil {
				t.Fatalf("ParseJWKS(%s) = %v, want nil", tc.set, err)
			}
			ids := []string{}
			for _, k := range got {
				ids = append(ids, k.ID)
				if !k.Key.Equal(want.Key) {
					t.Errorf("ParseJWKS(%s) key %q = %v, want the encoded key", tc.set, k.ID, k.Key)
				}
			}
			if diff := cmp.Diff(tc.wantIDs, ids); diff != "" {
				t.Errorf("ParseJWKS(%s) kids mismatch (-want +got):\n%s", tc.set, diff)
			}
		})
	}
}

func TestParseJWKSMalformed(t *testing.T) {
	for _, in := range []string{``, `not json`, `[]`, `{}`, `{"keys":null}`, `{"keys":{}}`, `{"keys":"x"}`, `{"keys":[]`} {
		if got, err := ParseJWKS([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseJWKS(%q) = %v, %v, want %v", in, got, err, ErrMalformed)
		}
	}
}
