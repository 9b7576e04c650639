package web_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/web"
)

func fingerprint(t *testing.T) string {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	parts := make([]string, len(raw))
	for i, c := range raw {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

func TestAppsManagementAPI(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		f := fingerprint(t)
		r := e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"android": "com.example.shop", "sha256CertFingerprints": []string{strings.ToLower(f)}})
		r.wantStatus(t, http.StatusCreated)
		id := r.str(t, "id")
		wantOrigin, _ := broker.AndroidOrigin(f)
		if r.Header.Get("Location") != "/v2/apps/"+id || r.str(t, "platform") != "android" || fmt.Sprint(r.get("sha256CertFingerprints")) != "["+f+"]" ||
			fmt.Sprint(r.get("origins")) != "["+wantOrigin+"]" {
			t.Errorf("POST /v2/apps = %s (Location %q), want the app with fingerprint %s and origin %s", r.Body, r.Header.Get("Location"), f, wantOrigin)
		}
		r = e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"ios": "ABCDE12345.com.example.shop"})
		r.wantStatus(t, http.StatusCreated)
		if fmt.Sprint(r.get("origins")) != "[https://"+brokertest.RPID+"]" {
			t.Errorf("POST /v2/apps (iOS) = %s", r.Body)
		}
		for name, body := range map[string]map[string]any{
			"sha256CertFingerprints": {"android": "com.example.other", "sha256CertFingerprints": []string{f[:59]}},
			"android":                {"android": "shop", "sha256CertFingerprints": []string{f}},
			"ios":                    {"ios": "ABCDE1234.com.example.shop"},
		} {
			assertValidation(t, e.backend(t, http.MethodPost, "/v2/apps", body), name)
		}
		assertError(t, e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"ios": "ABCDE12345.com.example.shop"}), http.StatusConflict, "already_exists")
		assertError(t, e.doJSON(t, http.MethodGet, "/v2/apps", nil, nil), http.StatusUnauthorized, "login_error")

		r = e.backend(t, http.MethodGet, "/v2/apps", nil)
		r.wantStatus(t, http.StatusOK)
		if apps, _ := r.get("apps").([]any); len(apps) != 2 {
			t.Fatalf("GET /v2/apps = %s, want 2 apps", r.Body)
		}
		// Another project does not see or remove them.
		p2, secret2 := e.f.AddProject(t, brokertest.RPID, brokertest.Origin)
		other := map[string]string{"Authorization": basicAuth(p2.ID, secret2)}
		if r := e.doJSON(t, http.MethodGet, "/v2/apps", nil, other); fmt.Sprint(r.get("apps")) != "[]" {
			t.Errorf("GET /v2/apps (other project) = %s", r.Body)
		}
		assertError(t, e.doJSON(t, http.MethodDelete, "/v2/apps/"+id, nil, other), http.StatusNotFound, "not_found")
		e.backend(t, http.MethodDelete, "/v2/apps/"+id, nil).wantStatus(t, http.StatusNoContent)
		assertError(t, e.backend(t, http.MethodDelete, "/v2/apps/"+id, nil), http.StatusNotFound, "not_found")

		r = e.backend(t, http.MethodPut, "/v2/passkeyEndpoints", map[string]any{"enroll": "https://shop.example/passkeys/new"})
		r.wantStatus(t, http.StatusOK)
		if r.str(t, "enroll") != "https://shop.example/passkeys/new" || r.get("manage") != nil {
			t.Errorf("PUT /v2/passkeyEndpoints = %s", r.Body)
		}
		assertValidation(t, e.backend(t, http.MethodPut, "/v2/passkeyEndpoints", map[string]any{"manage": "ftp://shop.example"}), "manage")
		if r := e.backend(t, http.MethodGet, "/v2/passkeyEndpoints", nil); r.str(t, "enroll") != "https://shop.example/passkeys/new" {
			t.Errorf("GET /v2/passkeyEndpoints after a refused PUT = %s", r.Body)
		}
	})
}

func TestWellKnownServed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		path := func(name string) string { return "/v2/projects/" + e.f.Project.ID + "/.well-known/" + name }
		for _, name := range []string{"assetlinks.json", "apple-app-site-association", "passkey-endpoints"} {
			assertError(t, e.doJSON(t, http.MethodGet, path(name), nil, nil), http.StatusNotFound, "not_found")
		}
		assertError(t, e.doJSON(t, http.MethodGet, "/v2/projects/prj-nosuch/.well-known/webauthn", nil, nil), http.StatusNotFound, "not_found")
		f := fingerprint(t)
		e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"android": "com.example.shop", "sha256CertFingerprints": []string{f}}).wantStatus(t, http.StatusCreated)
		e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"ios": "ABCDE12345.com.example.shop"}).wantStatus(t, http.StatusCreated)
		e.backend(t, http.MethodPut, "/v2/passkeyEndpoints", map[string]any{"enroll": "https://shop.example/new", "manage": "https://shop.example/manage"}).wantStatus(t, http.StatusOK)
		want := map[string]string{
			"assetlinks.json": `[{"relation":["delegate_permission/common.handle_all_urls","delegate_permission/common.get_login_creds"],` +
				`"target":{"namespace":"android_app","package_name":"com.example.shop","sha256_cert_fingerprints":["` + f + `"]}}]`,
			"apple-app-site-association": `{"webcredentials":{"apps":["ABCDE12345.com.example.shop"]}}`,
			"webauthn":                   `{"origins":["` + brokertest.Origin + `","http://localhost:3000"]}`,
			"passkey-endpoints":          `{"enroll":"https://shop.example/new","manage":"https://shop.example/manage"}`,
		}
		for name, body := range want {
			r := e.doJSON(t, http.MethodGet, path(name), nil, nil) // no credentials
			r.wantStatus(t, http.StatusOK)
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q, want exactly application/json", name, ct)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=300" {
				t.Errorf("%s: Cache-Control %q", name, cc)
			}
			var got, wantV any
			_ = json.Unmarshal(r.Body, &got)
			_ = json.Unmarshal([]byte(body), &wantV)
			if fmt.Sprint(got) != fmt.Sprint(wantV) {
				t.Errorf("%s = %s, want %s", name, r.Body, body)
			}
			etag := r.Header.Get("ETag")
			if etag == "" {
				t.Fatalf("%s: no ETag", name)
			}
			if r := e.doJSON(t, http.MethodGet, path(name), nil, map[string]string{"If-None-Match": etag}); r.Status != http.StatusNotModified || len(r.Body) != 0 {
				t.Errorf("%s with If-None-Match %s = %d %s, want 304", name, etag, r.Status, r.Body)
			}
			if r := e.doJSON(t, http.MethodGet, path(name), nil, map[string]string{"If-None-Match": `"other"`}); r.Status != http.StatusOK {
				t.Errorf("%s with another ETag = %d, want 200", name, r.Status)
			}
		}
		// A change to the apps changes the file and its ETag.
		before := e.doJSON(t, http.MethodGet, path("assetlinks.json"), nil, nil).Header.Get("ETag")
		e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"android": "com.example.wallet", "sha256CertFingerprints": []string{f}}).wantStatus(t, http.StatusCreated)
		if after := e.doJSON(t, http.MethodGet, path("assetlinks.json"), nil, nil).Header.Get("ETag"); after == before {
			t.Error("the ETag of assetlinks.json did not change with a new app")
		}
	})
}

// nativeFront calls the frontend API as a native app does: without an Origin header.
func (e *env) nativeFront(t testing.TB, op string, body any) response {
	t.Helper()
	return e.doJSON(t, http.MethodPost, e.frontPath(op), body, nil)
}

// TestNativeClientOverHTTP runs append and login as Credential Manager sends them (no Origin
// header, androidPackageName, the apk-key-hash origin of a listed fingerprint), and shows the
// envelope of an origin mismatch.
func TestNativeClientOverHTTP(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		listed, unlisted := fingerprint(t), fingerprint(t)
		e.backend(t, http.MethodPost, "/v2/apps", map[string]any{"android": "com.example.shop", "sha256CertFingerprints": []string{listed}}).wantStatus(t, http.StatusCreated)
		origin, _ := broker.AndroidOrigin(listed)
		a := softauthn.NewAuthenticator(brokertest.RPID, origin)
		a.AndroidPackage, a.NoExtensionResults = "com.example.shop", true

		start := e.nativeFront(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", "alice")})
		start.wantStatus(t, http.StatusOK)
		cred, err := a.Create(softauthn.PublicKeyOf(start.Body))
		if err != nil {
			t.Fatal(err)
		}
		e.nativeFront(t, "append/finish", map[string]any{"ceremonyID": start.str(t, "ceremonyID"), "credential": json.RawMessage(cred)}).wantStatus(t, http.StatusOK)
		ls := e.nativeFront(t, "login/start", map[string]any{})
		ls.wantStatus(t, http.StatusOK)
		cred, err = a.Get(softauthn.PublicKeyOf(ls.Body))
		if err != nil {
			t.Fatal(err)
		}
		fin := e.nativeFront(t, "login/finish", map[string]any{"ceremonyID": ls.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
		fin.wantStatus(t, http.StatusOK)
		if fin.str(t, "username") != "alice" {
			t.Errorf("login/finish = %s", fin.Body)
		}

		// The same app signed with another certificate: the envelope says what was presented
		// and what is expected.
		rogue := softauthn.NewAuthenticator(brokertest.RPID, "")
		rogue.RP.Origin, _ = broker.AndroidOrigin(unlisted)
		rogue.AndroidPackage = "com.example.shop"
		rogue.Import(a, base64.RawURLEncoding.EncodeToString(a.Creds[0].ID))
		ls = e.nativeFront(t, "login/start", map[string]any{})
		cred, _ = rogue.Get(softauthn.PublicKeyOf(ls.Body))
		r := e.nativeFront(t, "login/finish", map[string]any{"ceremonyID": ls.str(t, "ceremonyID"), "credential": json.RawMessage(cred)})
		assertError(t, r, http.StatusBadRequest, "verification_failed")
		var env struct {
			Error struct {
				Details string `json:"details"`
				Origin  struct {
					Presented   string   `json:"presented"`
					Expected    []string `json:"expected"`
					Fingerprint string   `json:"sha256CertFingerprint"`
					Package     string   `json:"androidPackageName"`
				} `json:"origin"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.Body, &env); err != nil {
			t.Fatal(err)
		}
		o := env.Error.Origin
		if o.Presented != rogue.RP.Origin || !slices.Contains(o.Expected, origin) || !slices.Contains(o.Expected, brokertest.Origin) ||
			o.Fingerprint != unlisted || o.Package != "com.example.shop" || !strings.Contains(env.Error.Details, rogue.RP.Origin) {
			t.Errorf("origin mismatch envelope = %s", r.Body)
		}
		if strings.Contains(string(r.Body), e.f.APISecret) || strings.Contains(string(r.Body), ls.str(t, "publicKey.challenge")) {
			t.Errorf("the envelope holds a secret or the challenge: %s", r.Body)
		}
	})
}

// The members of the options JSON that Android's Credential Manager accepts, as a set of
// paths ("[]" for the elements of a list). Credential Manager takes the publicKey options as
// the JSON string of CreatePublicKeyCredentialRequest(requestJson) and
// GetPublicKeyCredentialOption(requestJson). Two sources:
//
//   - WebAuthn Level 3, PublicKeyCredentialCreationOptionsJSON and
//     PublicKeyCredentialRequestOptionsJSON (https://w3c.github.io/webauthn/#dictdef-publickeycredentialcreationoptionsjson):
//     current Google Play services parse the string as such (androidx.credentials
//     play-services-auth passes it through unchanged when Play services is newer than
//     241217000);
//   - the fallback converter for older Play services, androidx/androidx
//     credentials/credentials-play-services-auth/.../PublicKeyCredentialControllerUtility.kt
//     (Apache-2.0), convertJSON: it reads rp.id, rp.name (both required non-empty),
//     user.id, user.name, user.displayName (required non-empty), challenge (required,
//     base64url without padding), pubKeyCredParams[].type/alg, timeout (an integer, ms),
//     excludeCredentials[].id/type/transports, attestation, authenticatorSelection
//     .authenticatorAttachment/residentKey/requireResidentKey, extensions.appid/uvm/
//     thirdPartyPayment, and ignores other members; for get it requires rpId and challenge.
var credentialManagerCreation = []string{
	"rp", "rp.id", "rp.name",
	"user", "user.id", "user.name", "user.displayName",
	"challenge", "pubKeyCredParams", "pubKeyCredParams[]", "pubKeyCredParams[].type", "pubKeyCredParams[].alg",
	"timeout", "excludeCredentials", "excludeCredentials[]", "excludeCredentials[].id", "excludeCredentials[].type", "excludeCredentials[].transports",
	"excludeCredentials[].transports[]",
	"authenticatorSelection", "authenticatorSelection.authenticatorAttachment", "authenticatorSelection.residentKey",
	"authenticatorSelection.requireResidentKey", "authenticatorSelection.userVerification",
	"hints", "hints[]", "attestation", "attestationFormats", "attestationFormats[]",
	"extensions", "extensions.credProps", "extensions.appid", "extensions.uvm", "extensions.thirdPartyPayment",
}

var credentialManagerRequest = []string{
	"challenge", "timeout", "rpId", "allowCredentials", "allowCredentials[]", "allowCredentials[].id", "allowCredentials[].type",
	"allowCredentials[].transports", "allowCredentials[].transports[]", "userVerification", "hints", "hints[]", "extensions", "extensions.appid",
}

// jsonPaths returns every member path of v, sorted.
func jsonPaths(prefix string, v any, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			jsonPaths(p, c, out)
		}
	case []any:
		for _, c := range v {
			out[prefix+"[]"] = true
			jsonPaths(prefix+"[]", c, out)
		}
	}
}

var b64urlNoPad = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// checkOptionsForCredentialManager reports every member of the options JSON publicKey that
// Credential Manager does not accept, and every value its fallback converter would refuse.
func checkOptionsForCredentialManager(t *testing.T, what string, publicKey []byte, accepted []string, creation bool) {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal(publicKey, &o); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	jsonPaths("", o, paths)
	var sent []string
	for p := range paths {
		sent = append(sent, p)
		if !slices.Contains(accepted, p) {
			t.Errorf("%s: member %s is not one Credential Manager accepts (options %s)", what, p, publicKey)
		}
	}
	sort.Strings(sent)
	t.Logf("%s sends: %s", what, strings.Join(sent, " "))
	str := func(path string) string {
		var v any = o
		for _, k := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		s, _ := v.(string)
		return s
	}
	if !b64urlNoPad.MatchString(str("challenge")) {
		t.Errorf("%s: challenge %q is not base64url without padding", what, str("challenge"))
	}
	if to, ok := o["timeout"]; ok {
		if n, isNum := to.(float64); !isNum || n != float64(int64(n)) || n <= 0 {
			t.Errorf("%s: timeout %v is not a positive integer", what, to)
		}
	}
	transports := []string{"usb", "nfc", "ble", "smart-card", "hybrid", "internal"}
	checkDescriptors := func(name string) {
		list, _ := o[name].([]any)
		for _, d := range list {
			d, _ := d.(map[string]any)
			if id, _ := d["id"].(string); !b64urlNoPad.MatchString(id) || d["type"] != "public-key" {
				t.Errorf("%s: %s entry %v needs a base64url id and type public-key", what, name, d)
			}
			ts, _ := d["transports"].([]any)
			for _, tr := range ts {
				if !slices.Contains(transports, fmt.Sprint(tr)) {
					t.Errorf("%s: %s transport %v is not a WebAuthn transport", what, name, tr)
				}
			}
		}
	}
	if creation {
		for _, p := range []string{"rp.id", "rp.name", "user.name", "user.displayName"} {
			if str(p) == "" {
				t.Errorf("%s: %s is empty; Credential Manager's converter requires it", what, p)
			}
		}
		if !b64urlNoPad.MatchString(str("user.id")) {
			t.Errorf("%s: user.id %q is not base64url without padding", what, str("user.id"))
		}
		params, _ := o["pubKeyCredParams"].([]any)
		if len(params) == 0 {
			t.Errorf("%s: no pubKeyCredParams", what)
		}
		for _, p := range params {
			p, _ := p.(map[string]any)
			if alg, ok := p["alg"].(float64); !ok || alg != float64(int64(alg)) || p["type"] != "public-key" {
				t.Errorf("%s: pubKeyCredParams entry %v", what, p)
			}
		}
		if a := str("attestation"); a != "" && !slices.Contains([]string{"none", "indirect", "direct", "enterprise"}, a) {
			t.Errorf("%s: attestation %q", what, a)
		}
		if a := str("authenticatorSelection.residentKey"); a != "" && !slices.Contains([]string{"discouraged", "preferred", "required"}, a) {
			t.Errorf("%s: residentKey %q", what, a)
		}
		if a := str("authenticatorSelection.authenticatorAttachment"); a != "" && !slices.Contains([]string{"platform", "cross-platform"}, a) {
			t.Errorf("%s: authenticatorAttachment %q", what, a)
		}
		checkDescriptors("excludeCredentials")
	} else {
		if str("rpId") == "" {
			t.Errorf("%s: rpId is empty; Credential Manager's converter requires it", what)
		}
		checkDescriptors("allowCredentials")
	}
}

// TestOptionsCredentialManagerAccepts checks the publicKey of append/start and login/start
// (identifier-first, with allow and exclude lists, and usernameless) against what Android's
// Credential Manager accepts, under the default and the strictest policy.
func TestOptionsCredentialManagerAccepts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		for _, policy := range []string{"default", "strict"} {
			if policy == "strict" {
				p := e.f.Project.Policy
				p.UserVerification, p.ResidentKey, p.Attestation = "required", "required", "direct"
				if _, err := e.f.Broker.SetPolicy(t.Context(), e.f.Project.ID, p); err != nil {
					t.Fatal(err)
				}
			}
			user := "user-" + policy
			e.auth.Attestation = "packed"
			if policy == "default" {
				e.register(t, user) // so that the next append has excludeCredentials
			}
			start := e.nativeFront(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", user)})
			start.wantStatus(t, http.StatusOK)
			checkOptionsForCredentialManager(t, policy+" append/start", start.raw(t, "publicKey"), credentialManagerCreation, true)
			if policy == "default" {
				if ex, _ := start.get("publicKey.excludeCredentials").([]any); len(ex) == 0 {
					t.Fatalf("append/start for a user with a passkey has no excludeCredentials: %s", start.Body)
				}
				ls := e.nativeFront(t, "login/start", map[string]any{"identifier": user})
				ls.wantStatus(t, http.StatusOK)
				checkOptionsForCredentialManager(t, "identifier login/start", ls.raw(t, "publicKey"), credentialManagerRequest, false)
			}
			ls := e.nativeFront(t, "login/start", map[string]any{})
			ls.wantStatus(t, http.StatusOK)
			checkOptionsForCredentialManager(t, policy+" usernameless login/start", ls.raw(t, "publicKey"), credentialManagerRequest, false)
		}
	})
}

// TestWellKnownUnknownProjectsAreLimited: association files of unknown projects count against
// the same per-address budget as the JWKS, before they reach the store.
func TestWellKnownUnknownProjectsAreLimited(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e, _ := newProxiedEnv(t, dialect, web.Limits{
			FrontendPerIP:        web.Rate{Burst: 3, Per: time.Minute},
			FailedAuthPerIP:      web.Rate{Burst: 20, Per: time.Minute},
			UnknownProjectsPerIP: web.Rate{Burst: 3, Per: time.Minute},
		})
		const ip = "192.0.2.7"
		files := []string{"assetlinks.json", "apple-app-site-association", "webauthn"}
		for i, name := range files {
			assertError(t, e.as(t, ip, http.MethodGet, "/v2/projects/"+unknownProjectID(700+i)+"/.well-known/"+name, nil, nil), http.StatusNotFound, "not_found")
		}
		for i, name := range append(files, "passkey-endpoints") {
			assertRateLimited(t, e.as(t, ip, http.MethodGet, "/v2/projects/"+unknownProjectID(800+i)+"/.well-known/"+name, nil, nil), "20")
		}
		// Another address and a project that exists are served.
		e.as(t, "192.0.2.99", http.MethodGet, "/v2/projects/"+e.f.Project.ID+"/.well-known/webauthn", nil, nil).wantStatus(t, http.StatusOK)
	})
}

// TestOptionsAuthenticationServicesNeeds checks that the options carry, in the form the iOS
// snippet of the README decodes, what AuthenticationServices takes as arguments:
// ASAuthorizationPlatformPublicKeyCredentialProvider(relyingPartyIdentifier:) must be the RP
// ID the options name, createCredentialRegistrationRequest(challenge:name:userID:) needs the
// challenge, user.name and user.id as bytes (a user handle is 1 to 64 bytes), and
// allowedCredentials the credential IDs as bytes.
func TestOptionsAuthenticationServicesNeeds(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register(t, "alice")
		bytesOf := func(what, s string, min, max int) {
			t.Helper()
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || len(b) < min || len(b) > max {
				t.Errorf("%s = %q: %d bytes, %v; want base64url of %d to %d bytes", what, s, len(b), err, min, max)
			}
		}
		start := e.nativeFront(t, "append/start", map[string]any{"connectToken": e.token(t, "passkey-append", "alice")})
		start.wantStatus(t, http.StatusOK)
		if got := start.str(t, "publicKey.rp.id"); got != e.f.Project.RPID {
			t.Errorf("publicKey.rp.id = %q, want the RP ID %q", got, e.f.Project.RPID)
		}
		if start.str(t, "publicKey.user.name") != "alice" {
			t.Errorf("publicKey.user.name = %q", start.str(t, "publicKey.user.name"))
		}
		bytesOf("publicKey.user.id", start.str(t, "publicKey.user.id"), 1, 64)
		bytesOf("publicKey.challenge", start.str(t, "publicKey.challenge"), 16, 64)
		ls := e.nativeFront(t, "login/start", map[string]any{"identifier": "alice"})
		ls.wantStatus(t, http.StatusOK)
		if got := ls.str(t, "publicKey.rpId"); got != e.f.Project.RPID {
			t.Errorf("publicKey.rpId = %q, want %q", got, e.f.Project.RPID)
		}
		bytesOf("publicKey.challenge", ls.str(t, "publicKey.challenge"), 16, 64)
		allow, _ := ls.get("publicKey.allowCredentials").([]any)
		if len(allow) != 1 {
			t.Fatalf("allowCredentials = %v, want alice's passkey", allow)
		}
		bytesOf("allowCredentials[0].id", fmt.Sprint(allow[0].(map[string]any)["id"]), 16, 1023)
	})
}
