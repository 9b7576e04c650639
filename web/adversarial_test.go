package web_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/signeddata"
)

// The adversarial suite sends every kind of bad input to every endpoint through the real
// router and asserts, for each, the exact answer (status and error type, or the
// verificationResult of verifySignedData), that the store is unchanged, and that the server
// still answers /healthz. It prints how many distinct bad inputs it tried; keep that number
// growing.

// advRequest is one HTTP request of the suite; a "" header value deletes the header.
type advRequest struct {
	method, path string
	body         []byte
	headers      map[string]string
}

// advCase is one bad input and the answer it must get.
type advCase struct {
	name    string
	prepare func(t *testing.T, s *scene) advRequest
	status  int
	typ     string // error.type; "" for a 200 answer of verifySignedData
	result  string // verificationResult of a 200 answer
	field   string // error.validation[0].field of a validation_error, if it matters
}

// scene is the store the suite attacks: project A with alice, whose passkey is a key the
// suite holds (so it can sign anything), and project B with bob, on other origins.
type scene struct {
	*env
	clock       *testClock
	key         softauthn.Key // alice's passkey
	cred        string        // its credential ID, base64url
	handle      []byte        // alice's user handle
	b           broker.Project
	bSecret     string
	bKey        softauthn.Key // bob's passkey in B
	bCred       string
	signA       signeddata.Key // the projects' signing keys, opened with the test secret key
	signB       signeddata.Key
	loginCount  uint32
	originB     string
	pathB       func(op string) string
	uvRequiredP broker.Project // project C: user verification required
	cSecret     string
	cKey        softauthn.Key
}

const originB = "https://other.example"

func newScene(t *testing.T, dialect string) *scene {
	t.Helper()
	e := newEnv(t, dialect)
	// A second ahead of the wall clock, so that the signing keys created now are active.
	c := &testClock{now: time.Now().Add(time.Second).Truncate(time.Millisecond)}
	e.f.Broker.Now = c.Now
	s := &scene{env: e, clock: c, originB: originB}
	s.b, s.bSecret = e.f.AddProject(t, "other.example", originB)
	s.pathB = func(op string) string { return "/v2/projects/" + s.b.ID + "/connect/" + op }

	s.key = softauthn.NewES256Key()
	s.cred = b64(s.key.ID)
	id, pk := s.startAppend(t, "alice")
	s.handle = userHandle(t, pk)
	s.mustOK(t, s.front("append/finish", finishBody(id, s.key.Registration(pk, brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, nil, nil))))

	s.bKey = softauthn.NewES256Key()
	s.bCred = b64(s.bKey.ID)
	tok := s.mintIn(t, s.b.ID, s.bSecret, "passkey-append", "bob")
	r := s.do(t, s.frontB("append/start", map[string]any{"connectToken": tok}))
	r.wantStatus(t, http.StatusOK)
	otherHash := sha256.Sum256([]byte("other.example"))
	s.mustOK(t, s.frontB("append/finish", finishBody(r.str(t, "ceremonyID"), s.bKey.Registration(softauthn.PublicKeyOf(r.Body), originB,
		softauthn.FlagUP|softauthn.FlagUV, nil, func(ad *softauthn.AuthData) { ad.RPIDHash = otherHash[:] }))))

	keys := openSigningKeys(t, e)
	s.signA, s.signB = keys[e.f.Project.ID], keys[s.b.ID]

	// Project C requires user verification; its passkey was registered with UV.
	s.uvRequiredP, s.cSecret = e.f.AddProject(t, brokertest.RPID, brokertest.Origin)
	policy := s.uvRequiredP.Policy
	policy.UserVerification = broker.Required
	if _, err := e.f.Broker.SetPolicy(t.Context(), s.uvRequiredP.ID, policy); err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func userHandle(t *testing.T, creationOptions []byte) []byte {
	t.Helper()
	var o struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(creationOptions, &o); err != nil {
		t.Fatal(err)
	}
	h, err := base64.RawURLEncoding.DecodeString(o.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// openSigningKeys returns each project's signing key, opened with the test secret key.
func openSigningKeys(t *testing.T, e *env) map[string]signeddata.Key {
	t.Helper()
	key, _ := broker.ParseSecretKey(brokertest.SecretKey)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	db := openRaw(t, e.f.Store.Dialect(), e.f.URL)
	rows, err := db.Query(`SELECT id, project_id, private_key FROM signing_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]signeddata.Key{}
	for rows.Next() {
		var kid, pid, sealed string
		if err := rows.Scan(&kid, &pid, &sealed); err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(sealed)
		der, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte("latchkey signing key "+pid+"/"+kid))
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		out[pid] = signeddata.Key{ID: kid, Private: priv.(*ecdsa.PrivateKey)}
	}
	return out
}

// do sends req to the test server.
func (s *scene) do(t *testing.T, req advRequest) response {
	t.Helper()
	var body any
	if req.body != nil {
		body = req.body
	}
	return s.doJSON(t, req.method, req.path, body, req.headers)
}

func (s *scene) mustOK(t *testing.T, req advRequest) response {
	t.Helper()
	r := s.do(t, req)
	r.wantStatus(t, http.StatusOK)
	return r
}

func jsonBytes(v any) []byte {
	switch b := v.(type) {
	case []byte:
		return b
	case string:
		return []byte(b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return out
}

// front is a frontend request to project A from its origin.
func (s *scene) front(op string, body any) advRequest {
	return advRequest{http.MethodPost, s.frontPath(op), jsonBytes(body), map[string]string{"Origin": brokertest.Origin}}
}

// frontB is a frontend request to project B from its origin.
func (s *scene) frontB(op string, body any) advRequest {
	return advRequest{http.MethodPost, s.pathB(op), jsonBytes(body), map[string]string{"Origin": originB}}
}

// back is a backend request with project A's credentials.
func (s *scene) back(method, path string, body any) advRequest {
	var raw []byte
	if body != nil {
		raw = jsonBytes(body)
	}
	return advRequest{method, path, raw, s.basic()}
}

func (s *scene) mintIn(t *testing.T, projectID, secret, typ, identifier string) string {
	t.Helper()
	r := s.do(t, advRequest{http.MethodPost, "/v2/connectTokens", jsonBytes(map[string]any{"type": typ,
		"data": map[string]any{"identifier": identifier, "displayName": "Name of " + identifier}}),
		map[string]string{"Authorization": basicAuth(projectID, secret)}})
	r.wantStatus(t, http.StatusOK)
	return r.str(t, "secret")
}

// count returns the next value of alice's sign counter: every assertion of hers counts up,
// so that only what a case breaks is wrong with it.
func (s *scene) count() uint32 {
	s.loginCount++
	return s.loginCount
}

func (s *scene) startAppend(t *testing.T, identifier string) (string, []byte) {
	t.Helper()
	r := s.mustOK(t, s.front("append/start", map[string]any{"connectToken": s.token(t, "passkey-append", identifier)}))
	return r.str(t, "ceremonyID"), softauthn.PublicKeyOf(r.Body)
}

func (s *scene) startLogin(t *testing.T, body any) (string, []byte) {
	t.Helper()
	r := s.mustOK(t, s.front("login/start", body))
	return r.str(t, "ceremonyID"), softauthn.PublicKeyOf(r.Body)
}

func finishBody(ceremonyID string, credential []byte) []byte {
	return jsonBytes(map[string]any{"ceremonyID": ceremonyID, "credential": json.RawMessage(credential)})
}

// assertion answers an identifier-first login of alice with her key, edited by edit.
func (s *scene) assertion(t *testing.T, flags byte, edit func(*softauthn.AuthData)) advRequest {
	t.Helper()
	id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
	return s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, flags, s.count(), s.handle, edit)))
}

// registration answers an append ceremony for a new user with a new key, edited by edit.
func (s *scene) registration(t *testing.T, flags byte, edit func(*softauthn.AuthData)) advRequest {
	t.Helper()
	id, pk := s.startAppend(t, "carol")
	return s.front("append/finish", finishBody(id, softauthn.NewES256Key().Registration(pk, brokertest.Origin, flags, nil, edit)))
}

// attestationObject answers an append ceremony with clientDataJSON for it and the
// attestation object made by att from the authenticator data of a new key.
func (s *scene) attestationObject(t *testing.T, att func(authData []byte) []byte) advRequest {
	t.Helper()
	id, pk := s.startAppend(t, "carol")
	k := softauthn.NewES256Key()
	ad := softauthn.AuthData{Flags: softauthn.FlagUP | softauthn.FlagUV | softauthn.FlagAT, Attested: true, CredID: k.ID, PublicKey: k.COSE()}
	cd := softauthn.ClientData("webauthn.create", softauthn.ChallengeOf(pk), brokertest.Origin)
	return s.front("append/finish", finishBody(id, softauthn.RegistrationJSON(k.ID, cd, att(ad.Bytes()))))
}

// editJSON decodes a JSON object, lets edit change it, and encodes it again.
func editJSON(raw []byte, edit func(m map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(err)
	}
	edit(m)
	return jsonBytes(m)
}

// editCredential edits the credential of a finish request.
func editCredential(req advRequest, edit func(cred, resp map[string]any)) advRequest {
	req.body = editJSON(req.body, func(m map[string]any) {
		cred := m["credential"].(map[string]any)
		edit(cred, cred["response"].(map[string]any))
	})
	return req
}

// spd signs in alice and returns her signedPasskeyData.
func (s *scene) spd(t *testing.T) string {
	t.Helper()
	id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
	return s.mustOK(t, s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, s.count(), nil, nil)))).str(t, "signedPasskeyData")
}

// claimsOf returns the claims of a compact JWS as a map.
func claimsOf(token string) map[string]any {
	parts := strings.Split(token, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

// jws assembles a compact JWS from a header, claims and a signer of the signing input.
func jws(header, claims map[string]any, sign func(input []byte) []byte) string {
	input := b64(jsonBytes(header)) + "." + b64(jsonBytes(claims))
	return input + "." + b64(sign([]byte(input)))
}

// es256 signs as ES256 (r || s, 32 bytes each) with k, with the canonical s <= n/2 that
// the broker's signatures have.
func es256(k *ecdsa.PrivateKey) func([]byte) []byte {
	return func(input []byte) []byte {
		h := sha256.Sum256(input)
		r, sv, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			panic(err)
		}
		if n := k.Curve.Params().N; sv.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
			sv.Sub(n, sv)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		sv.FillBytes(out[32:])
		return out
	}
}

func hs256(key []byte) func([]byte) []byte {
	return func(input []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(input)
		return m.Sum(nil)
	}
}

// verifyReq asks project A's verify route (plural: username optional) about token.
func (s *scene) verifyReq(token string) advRequest {
	return s.back(http.MethodPost, "/v2/passkeys/verifySignedData", map[string]any{"signedPasskeyData": token})
}

// validClaims returns claims of A for alice at the scene's time, as the broker would sign them.
func (s *scene) validClaims() map[string]any {
	now := s.clock.Now().Unix()
	return map[string]any{"iss": s.f.Project.ID, "sub": "usr-000000000000000000000000", "username": "alice", "webauthnId": b64(s.handle),
		"credential": s.cred, "processId": "cer-000000000000000000000000", "jti": "spd-" + fmt.Sprint(time.Now().UnixNano()),
		"iat": now, "nbf": now, "exp": now + 300, "isCUI": false, "uv": true}
}

// the endpoints that take a JSON body, with a body of the right shape.
var postEndpoints = []struct {
	name, path string // path: a frontend operation, or a backend path starting with /
	valid      string
	firstKey   string
}{
	{"login/start", "login/start", `{"identifier":"alice","conditional":false}`, "identifier"},
	{"login/finish", "login/finish", `{"ceremonyID":"cer-000000000000000000000000","credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA"}}}`, "ceremonyID"},
	{"append/start", "append/start", `{"connectToken":"ctk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","conditional":false}`, "connectToken"},
	{"append/finish", "append/finish", `{"ceremonyID":"cer-000000000000000000000000","credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}}`, "ceremonyID"},
	{"manage/list", "manage/list", `{"connectToken":"ctk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, "connectToken"},
	{"manage/delete", "manage/delete", `{"connectToken":"ctk1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","credentialID":"AAAA"}`, "connectToken"},
	{"mint", "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u","displayName":"U"},"maxLifetimeInSeconds":60}`, "type"},
	{"verify", "/v2/passkey/verifySignedData", `{"signedPasskeyData":"a.b.c","username":"u"}`, "signedPasskeyData"},
	{"verify (plural)", "/v2/passkeys/verifySignedData", `{"signedPasskeyData":"a.b.c"}`, "signedPasskeyData"},
}

// post returns a request of body to endpoint path, with the credentials or origin it needs.
func (s *scene) post(path string, body []byte, contentType string) advRequest {
	h := map[string]string{"Origin": brokertest.Origin}
	p := s.frontPath(path)
	if strings.HasPrefix(path, "/") {
		h, p = s.basic(), path
	}
	h["Content-Type"] = contentType
	return advRequest{http.MethodPost, p, body, h}
}

// bodyCases are the bodies every endpoint must refuse as invalid_json (or too large).
func bodyCases() []advCase {
	var out []advCase
	for _, ep := range postEndpoints {
		ep := ep
		raw := func(name, body string) {
			out = append(out, advCase{name: ep.name + ": " + name, status: 400, typ: "invalid_json",
				prepare: func(t *testing.T, s *scene) advRequest { return s.post(ep.path, []byte(body), "application/json") }})
		}
		for name, body := range map[string]string{
			"empty body": ``, "whitespace only": " \n\t", "open brace": `{`, "close brace": `}`, "key without value": `{"a"}`,
			"colon without value": `{"a":}`, "trailing comma": `{"a":1,}`, "single quotes": `{'identifier':'x'}`,
			"unquoted key": `{identifier:"x"}`, "truncated literal": `nul`, "open bracket": `[`, "bad escape": `{"a":"\x"}`,
			"truncated unicode escape": `{"a":"\u12"}`, "leading zero": `{"a":01}`, "NaN": `{"a":NaN}`, "Infinity": `{"a":Infinity}`,
			"bad exponent": `{"a":1e}`, "raw newline in a string": "{\"a\":\"line\nbreak\"}", "byte order mark": "\xef\xbb\xbf{}",
			"NUL after the object": "{}\x00", "comment": `{/*x*/}`, "trailing garbage": ep.valid + ` x`, "two objects": ep.valid + ep.valid,
			"extra closing brace": ep.valid + `}`, "array": `[]`, "array of the body": `[` + ep.valid + `]`, "string": `"x"`,
			"number": `42`, "boolean": `true`, "duplicate unknown key": `{"zz":1,"zz":2}`,
			"duplicate key by case": `{"Zz":1,"zZ":2}`, "duplicate field": `{"` + ep.firstKey + `":"x",` + ep.valid[1:],
			"duplicate field by case": `{"` + strings.ToUpper(ep.firstKey) + `":"x",` + ep.valid[1:],
			"invalid UTF-8":           "{\"zz\":\"\xff\xfe\"}", "overlong UTF-8": "{\"zz\":\"\xc0\xaf\"}",
			"UTF-16": string([]byte{'{', 0, '}', 0}), "nested 33 deep": `{"zz":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}`,
			"nested 10000 deep": strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
			"deep object":       strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000),
		} {
			raw(name, body)
		}
		for _, cut := range []int{1, len(ep.valid) / 3, 2 * len(ep.valid) / 3, len(ep.valid) - 1} {
			raw(fmt.Sprintf("truncated to %d bytes", cut), ep.valid[:cut])
		}
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
			"application/jsonp", "application/json; charset", "application/json-patch+json", "text/json",
			"application/json; charset=utf-16", "application/json; charset=UTF-16LE", "application/json; charset=iso-8859-1",
			"application/json; charset=utf8", "application/json; charset=\"utf-7\""} {
			ct := ct
			out = append(out, advCase{name: ep.name + ": Content-Type " + fmt.Sprintf("%q", ct), status: 400, typ: "invalid_json",
				prepare: func(t *testing.T, s *scene) advRequest { return s.post(ep.path, []byte(ep.valid), ct) }})
		}
		out = append(out, advCase{name: ep.name + ": 65 KiB body", status: 413, typ: "payload_too_large",
			prepare: func(t *testing.T, s *scene) advRequest {
				return s.post(ep.path, []byte(ep.valid[:len(ep.valid)-1]+`,"pad":"`+strings.Repeat("x", 65<<10)+`"}`), "application/json")
			}})
	}
	return out
}

// fieldCases send fields of the wrong type, and values out of range, to each endpoint.
func fieldCases() []advCase {
	var out []advCase
	wrongTypes := map[string]string{"number": `5`, "boolean": `true`, "array": `["x"]`, "object": `{"x":1}`}
	add := func(ep, body, field string) {
		out = append(out, advCase{name: ep + ": " + body, status: 400, typ: "validation_error", field: field,
			prepare: func(t *testing.T, s *scene) advRequest { return s.post(ep, []byte(body), "application/json") }})
	}
	for tn, v := range wrongTypes {
		_ = tn
		add("login/start", `{"identifier":`+v+`}`, "identifier")
		add("login/start", `{"loginConnectToken":`+v+`}`, "loginConnectToken")
		add("append/start", `{"connectToken":`+v+`}`, "connectToken")
		add("manage/list", `{"connectToken":`+v+`}`, "connectToken")
		add("manage/delete", `{"connectToken":`+v+`,"credentialID":"AAAA"}`, "connectToken")
		add("manage/delete", `{"connectToken":"x","credentialID":`+v+`}`, "credentialID")
		add("login/finish", `{"ceremonyID":`+v+`,"credential":{}}`, "ceremonyID")
		add("append/finish", `{"ceremonyID":`+v+`,"credential":{}}`, "ceremonyID")
		add("/v2/connectTokens", `{"type":`+v+`,"data":{"identifier":"u"}}`, "type")
		add("/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":`+v+`}}`, "data.identifier")
		add("/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u","displayName":`+v+`}}`, "data.displayName")
		add("/v2/passkey/verifySignedData", `{"signedPasskeyData":`+v+`,"username":"u"}`, "signedPasskeyData")
		add("/v2/passkey/verifySignedData", `{"signedPasskeyData":"a.b.c","username":`+v+`}`, "username")
		add("/v2/passkeys/verifySignedData", `{"signedPasskeyData":`+v+`}`, "signedPasskeyData")
	}
	for _, v := range []string{`"yes"`, `1`, `[]`, `{}`} {
		add("login/start", `{"conditional":`+v+`}`, "conditional")
		add("append/start", `{"connectToken":"x","conditional":`+v+`}`, "conditional")
	}
	for _, v := range []string{`"x"`, `5`, `true`, `[]`, `null`} {
		add("login/finish", `{"ceremonyID":"cer-1","credential":`+v+`}`, "credential")
		add("append/finish", `{"ceremonyID":"cer-1","credential":`+v+`}`, "credential")
	}
	for _, v := range []string{`"u"`, `5`, `true`, `["u"]`} {
		add("/v2/connectTokens", `{"type":"passkey-list","data":`+v+`}`, "data")
	}
	for _, v := range []string{`"60"`, `true`, `[]`, `1.5`, `0`, `-1`, `3601`, `1e100`, `99999999999999999999`} {
		add("/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"},"maxLifetimeInSeconds":`+v+`}`, "maxLifetimeInSeconds")
	}
	huge := strings.Repeat("x", 60000)
	for _, tc := range []struct{ ep, body, field string }{
		{"login/start", `{"identifier":"` + huge + `"}`, "identifier"},
		{"login/start", `{"identifier":"a\u0000b"}`, "identifier"},
		{"login/start", `{"identifier":"a\u202eb\u0007"}`, "identifier"},
		{"login/finish", `{"ceremonyID":"` + huge + `","credential":{}}`, "ceremonyID"},
		{"login/finish", `{"ceremonyID":"cer-\u00e9","credential":{}}`, "ceremonyID"},
		{"login/finish", `{"ceremonyID":"","credential":{}}`, "ceremonyID"},
		{"login/finish", `{"credential":{}}`, "ceremonyID"},
		{"append/finish", `{"ceremonyID":"../../cer-1","credential":{}}`, "ceremonyID"},
		{"login/finish", `{"ceremonyID":"cer-1"}`, "credential"},
		{"login/finish", `null`, "ceremonyID"},
		{"append/start", `{}`, "connectToken"},
		{"append/start", `null`, "connectToken"},
		{"manage/list", `{"connectToken":""}`, "connectToken"},
		{"manage/delete", `{"connectToken":"x"}`, "credentialID"},
		{"manage/delete", `{"connectToken":"x","credentialID":"` + huge + `"}`, "credentialID"},
		{"manage/delete", `{"connectToken":"x","credentialID":"AA+/"}`, "credentialID"},
		{"manage/delete", `{"connectToken":"x","credentialID":"AAAA=="}`, "credentialID"},
		{"manage/delete", `{"connectToken":"x","credentialID":"AA AA"}`, "credentialID"},
		{"/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"` + huge + `"}}`, "data.identifier"},
		{"/v2/connectTokens", `{"type":"passkey-append","data":{"identifier":"u","displayName":"` + huge + `"}}`, "data.displayName"},
		{"/v2/connectTokens", `{"type":"passkey-append","data":{"identifier":"u"}}`, "data.displayName"},
		{"/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"\u0000"}}`, "data.identifier"},
		{"/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"   "}}`, "data.identifier"},
		{"/v2/connectTokens", `{"type":"PASSKEY-LIST","data":{"identifier":"u"}}`, "type"},
		{"/v2/connectTokens", `{"type":"passkey-list ","data":{"identifier":"u"}}`, "type"},
		{"/v2/connectTokens", `null`, "type"},
		{"/v2/connectTokens", `{"type":"passkey-list","data":["` + strings.Repeat(`x","`, 10000) + `x"]}`, "data"},
		{"/v2/passkey/verifySignedData", `{"username":"u"}`, "signedPasskeyData"},
		{"/v2/passkey/verifySignedData", `{"signedPasskeyData":"a.b.c"}`, "username"},
		{"/v2/passkey/verifySignedData", `{"signedPasskeyData":"","username":"u"}`, "signedPasskeyData"},
		{"/v2/passkeys/verifySignedData", `null`, "signedPasskeyData"},
		{"login/start", `{"identifier":["` + strings.Repeat(`x","`, 10000) + `x"]}`, "identifier"},
		{"append/finish", `{"ceremonyID":"cer-1","credential":[` + strings.Repeat(`0,`, 20000) + `0]}`, "credential"},
	} {
		add(tc.ep, tc.body, tc.field)
	}
	return out
}

// credentialCases are malformed WebAuthn responses: base64url errors, CBOR that is truncated,
// nested too deeply or over-long, COSE keys that are not keys, authenticator data whose flags
// and lengths disagree, and extension garbage. Each goes to a live ceremony, so that only
// the response is wrong.
func credentialCases() []advCase {
	var out []advCase
	const (
		vErr = "validation_error"
		fail = "verification_failed"
	)
	reg := func(name, typ string, prepare func(t *testing.T, s *scene) advRequest) {
		out = append(out, advCase{name: "append/finish: " + name, status: 400, typ: typ, prepare: prepare})
	}
	login := func(name, typ string, prepare func(t *testing.T, s *scene) advRequest) {
		out = append(out, advCase{name: "login/finish: " + name, status: 400, typ: typ, prepare: prepare})
	}
	uv := byte(softauthn.FlagUP | softauthn.FlagUV)

	// base64url and JSON shape of the credential, on both finishes.
	for _, bad := range []struct{ name, value string }{
		{"padding", "AAAA=="}, {"standard alphabet", "AA+/AA"}, {"space", "AA AA"}, {"illegal character", "AA*A"},
		{"one character", "A"}, {"percent-encoded", "AA%3D"}, {"non-ASCII", "AAé"},
	} {
		for _, field := range []string{"clientDataJSON", "attestationObject"} {
			field, bad := field, bad
			reg(field+" with "+bad.name, vErr, func(t *testing.T, s *scene) advRequest {
				return editCredential(s.registration(t, uv, nil), func(_, r map[string]any) { r[field] = bad.value })
			})
		}
		for _, field := range []string{"clientDataJSON", "authenticatorData", "signature", "userHandle"} {
			field, bad := field, bad
			// go-webauthn tolerates padding: a padded value decodes, and then fails to verify.
			typ := vErr
			if bad.name == "padding" && (field == "signature" || field == "userHandle") {
				typ = fail
			}
			login(field+" with "+bad.name, typ, func(t *testing.T, s *scene) advRequest {
				return editCredential(s.assertion(t, uv, nil), func(_, r map[string]any) { r[field] = bad.value })
			})
		}
		bad := bad
		reg("id with "+bad.name, vErr, func(t *testing.T, s *scene) advRequest {
			return editCredential(s.registration(t, uv, nil), func(c, _ map[string]any) { c["id"] = bad.value })
		})
		login("rawId with "+bad.name, vErr, func(t *testing.T, s *scene) advRequest {
			return editCredential(s.assertion(t, uv, nil), func(c, _ map[string]any) { c["rawId"] = bad.value })
		})
	}
	shape := []struct {
		name string
		edit func(c, r map[string]any)
	}{
		{"id differs from rawId", func(c, _ map[string]any) { c["id"] = "AAAAAAAAAAAAAAAAAAAAAA" }},
		{"no id", func(c, _ map[string]any) { delete(c, "id"); delete(c, "rawId") }},
		{"type is not public-key", func(c, _ map[string]any) { c["type"] = "password" }},
		{"no type", func(c, _ map[string]any) { delete(c, "type") }},
		{"no response", func(c, _ map[string]any) { delete(c, "response") }},
		{"response is a string", func(c, _ map[string]any) { c["response"] = "x" }},
		{"clientDataJSON missing", func(_, r map[string]any) { delete(r, "clientDataJSON") }},
		{"clientDataJSON is not JSON", func(_, r map[string]any) { r["clientDataJSON"] = b64([]byte("not json")) }},
		{"clientDataJSON is an array", func(_, r map[string]any) { r["clientDataJSON"] = b64([]byte("[]")) }},
		{"clientDataJSON has a wrong challenge type", func(_, r map[string]any) {
			r["clientDataJSON"] = b64([]byte(`{"type":"webauthn.create","challenge":5,"origin":"http://localhost:8080"}`))
		}},
		{"clientExtensionResults is a string", func(c, _ map[string]any) { c["clientExtensionResults"] = "x" }},
		{"clientExtensionResults is an array", func(c, _ map[string]any) { c["clientExtensionResults"] = []any{1, 2} }},
		{"credProps.rk is a string", func(c, _ map[string]any) {
			c["clientExtensionResults"] = map[string]any{"credProps": map[string]any{"rk": "yes"}}
		}},
		{"unsolicited appid output", func(c, _ map[string]any) { c["clientExtensionResults"] = map[string]any{"appid": true} }},
		{"prf output garbage", func(c, _ map[string]any) { c["clientExtensionResults"] = map[string]any{"prf": "x"} }},
		{"authenticatorAttachment is a number", func(c, _ map[string]any) { c["authenticatorAttachment"] = 5 }},
		{"transports is a string", func(_, r map[string]any) { r["transports"] = "usb" }},
	}
	for _, sh := range shape {
		sh := sh
		typ := vErr
		if strings.Contains(sh.name, "appid") {
			typ = fail
		}
		reg(sh.name, typ, func(t *testing.T, s *scene) advRequest { return editCredential(s.registration(t, uv, nil), sh.edit) })
		if sh.name != "transports is a string" {
			login(sh.name, typ, func(t *testing.T, s *scene) advRequest { return editCredential(s.assertion(t, uv, nil), sh.edit) })
		}
	}

	// The attestation object's CBOR.
	good := func(ad []byte) []byte { return softauthn.AttestationObject("none", nil, ad) }
	cborCases := []struct {
		name string
		att  func(ad []byte) []byte
		typ  string
	}{
		{"empty attestation object", func([]byte) []byte { return nil }, vErr},
		{"attestation object truncated to 1 byte", func(ad []byte) []byte { return good(ad)[:1] }, vErr},
		{"attestation object truncated by half", func(ad []byte) []byte { g := good(ad); return g[:len(g)/2] }, vErr},
		{"attestation object missing its last byte", func(ad []byte) []byte { g := good(ad); return g[:len(g)-1] }, vErr},
		{"trailing bytes after the attestation object", func(ad []byte) []byte { return append(good(ad), 0x00) }, vErr},
		{"two attestation objects", func(ad []byte) []byte { return append(good(ad), good(ad)...) }, vErr},
		{"not a map", func(ad []byte) []byte { return softauthn.CBOR([]any{"none", ad}) }, vErr},
		{"a text string", func([]byte) []byte { return softauthn.CBOR("none") }, vErr},
		{"a negative integer", func([]byte) []byte { return []byte{0x20} }, vErr},
		{"break byte", func([]byte) []byte { return []byte{0xff} }, vErr},
		{"nested 6 deep", func(ad []byte) []byte {
			return softauthn.CBOR(map[string]any{"fmt": "none", "authData": ad, "attStmt": map[string]any{"a": []any{[]any{[]any{[]any{1}}}}}})
		}, vErr},
		{"nested 1000 deep", func([]byte) []byte { return append(bytes.Repeat([]byte{0x81}, 1000), 0x00) }, vErr},
		{"indefinite-length map", func(ad []byte) []byte {
			g := good(ad)
			return append(append([]byte{0xbf}, g[1:]...), 0xff)
		}, vErr},
		{"indefinite-length byte string", func([]byte) []byte {
			return append([]byte{0xa1, 0x68}, append([]byte("authData"), 0x5f, 0x41, 0x00, 0xff)...)
		}, vErr},
		{"byte string claiming 2^63 bytes", func([]byte) []byte {
			return append([]byte{0xa1, 0x68}, append([]byte("authData"), 0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)...)
		}, vErr},
		{"map claiming 2^32 entries", func([]byte) []byte { return []byte{0xba, 0xff, 0xff, 0xff, 0xff} }, vErr},
		{"array claiming 2^31 elements", func([]byte) []byte { return []byte{0x9a, 0x80, 0x00, 0x00, 0x00} }, vErr},
		{"tagged value", func(ad []byte) []byte { return append([]byte{0xc0}, good(ad)...) }, vErr},
		{"duplicate fmt key", func(ad []byte) []byte {
			g := good(ad)
			return append([]byte{0xa4, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e'}, g[1:]...)
		}, vErr},
		{"fmt is a number", func(ad []byte) []byte {
			return softauthn.CBOR(map[string]any{"fmt": 1, "attStmt": map[string]any{}, "authData": ad})
		}, vErr},
		{"authData is a text string", func(ad []byte) []byte {
			return softauthn.CBOR(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": string(ad)})
		}, vErr},
		{"attStmt is an array", func(ad []byte) []byte {
			return softauthn.CBOR(map[string]any{"fmt": "none", "attStmt": []any{}, "authData": ad})
		}, vErr},
		{"no authData", func([]byte) []byte {
			return softauthn.CBOR(map[string]any{"fmt": "none", "attStmt": map[string]any{}})
		}, vErr},
		{"no fmt", func(ad []byte) []byte {
			return softauthn.CBOR(map[string]any{"attStmt": map[string]any{}, "authData": ad})
		}, fail},
		{"unknown format", func(ad []byte) []byte { return softauthn.AttestationObject("latchkey-special", nil, ad) }, fail},
		{"format none with a statement", func(ad []byte) []byte {
			return softauthn.AttestationObject("none", map[string]any{"sig": []byte{1}}, ad)
		}, fail},
		{"packed without sig", func(ad []byte) []byte { return softauthn.AttestationObject("packed", map[string]any{"alg": -7}, ad) }, fail},
		{"packed with alg as text", func(ad []byte) []byte {
			return softauthn.AttestationObject("packed", map[string]any{"alg": "ES256", "sig": []byte{1}}, ad)
		}, fail},
		{"packed with a garbage certificate", func(ad []byte) []byte {
			return softauthn.AttestationObject("packed", map[string]any{"alg": int64(-7), "sig": []byte{1}, "x5c": []any{[]byte("not a certificate")}}, ad)
		}, fail},
		{"packed with x5c of the wrong type", func(ad []byte) []byte {
			return softauthn.AttestationObject("packed", map[string]any{"alg": int64(-7), "sig": []byte{1}, "x5c": "x"}, ad)
		}, fail},
		{"packed self attestation with a bad signature", func(ad []byte) []byte {
			return softauthn.AttestationObject("packed", map[string]any{"alg": int64(-7), "sig": []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}}, ad)
		}, fail},
		{"tpm with garbage", func(ad []byte) []byte {
			return softauthn.AttestationObject("tpm", map[string]any{"ver": "2.0", "alg": int64(-257), "sig": []byte{1}, "certInfo": []byte{1}, "pubArea": []byte{1}}, ad)
		}, fail},
		{"android-key with garbage", func(ad []byte) []byte {
			return softauthn.AttestationObject("android-key", map[string]any{"alg": int64(-7), "sig": []byte{1}, "x5c": []any{[]byte{1}}}, ad)
		}, fail},
		{"fido-u2f with garbage", func(ad []byte) []byte {
			return softauthn.AttestationObject("fido-u2f", map[string]any{"sig": []byte{1}, "x5c": []any{[]byte{1}}}, ad)
		}, fail},
		{"apple with garbage", func(ad []byte) []byte {
			return softauthn.AttestationObject("apple", map[string]any{"x5c": []any{[]byte{1}}}, ad)
		}, fail},
		{"android-safetynet with garbage", func(ad []byte) []byte {
			return softauthn.AttestationObject("android-safetynet", map[string]any{"ver": "1", "response": []byte("a.b.c")}, ad)
		}, fail},
	}
	for _, c := range cborCases {
		c := c
		reg(c.name, c.typ, func(t *testing.T, s *scene) advRequest { return s.attestationObject(t, c.att) })
	}

	// COSE keys in attested credential data (attestation "none": nothing but the key is wrong).
	ec := softauthn.NewES256Key()
	var m map[int]any
	_ = softauthn.CBORUnmarshal(ec.COSE(), &m)
	x, y := m[-2].([]byte), m[-3].([]byte)
	offCurve := append([]byte{}, y...)
	offCurve[31] ^= 1
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384b, _ := p384.PublicKey.Bytes()
	for _, c := range []struct {
		name string
		key  []byte
		typ  string
	}{
		{"ES256 key on curve P-384", softauthn.COSEEC2(-7, 2, x, y), fail},
		{"ES256 key on an unknown curve", softauthn.COSEEC2(-7, 99, x, y), fail},
		{"point off the curve", softauthn.COSEEC2(-7, 1, x, offCurve), fail},
		{"point at zero", softauthn.COSEEC2(-7, 1, make([]byte, 32), make([]byte, 32)), fail},
		{"coordinate of 31 bytes", softauthn.COSEEC2(-7, 1, x[1:], y), fail},
		{"coordinate of 33 bytes", softauthn.COSEEC2(-7, 1, append([]byte{0}, x...), y), fail},
		{"no y coordinate", softauthn.CBOR(map[int]any{1: 2, 3: -7, -1: 1, -2: x}), fail},
		{"coordinates as text", softauthn.CBOR(map[int]any{1: 2, 3: -7, -1: 1, -2: string(x), -3: string(y)}), vErr},
		{"ES384 key not asked for", softauthn.COSEEC2(-35, 2, p384b[1:49], p384b[49:]), fail},
		{"no algorithm", softauthn.CBOR(map[int]any{1: 2, -1: 1, -2: x, -3: y}), fail},
		{"key type OKP with ES256", softauthn.CBOR(map[int]any{1: 1, 3: -7, -1: 6, -2: x}), fail},
		{"EdDSA key of 31 bytes", softauthn.CBOR(map[int]any{1: 1, 3: -8, -1: 6, -2: x[:31]}), fail},
		{"EdDSA key on curve X25519", softauthn.CBOR(map[int]any{1: 1, 3: -8, -1: 4, -2: x}), fail},
		{"RSA key of 1024 bits", softauthn.NewRSAKey(1024).COSE(), fail},
		{"RSA key with exponent 0", softauthn.CBOR(map[int]any{1: 3, 3: -257, -1: bytes.Repeat([]byte{0xc3}, 256), -2: []byte{0}}), fail},
		{"RSA key with modulus 0", softauthn.CBOR(map[int]any{1: 3, 3: -257, -1: []byte{0}, -2: []byte{1, 0, 1}}), fail},
		{"unknown key type", softauthn.CBOR(map[int]any{1: 99, 3: -7}), fail},
		{"symmetric key", softauthn.CBOR(map[int]any{1: 4, 3: 5, -1: x}), fail},
		{"key that is not CBOR", []byte{0xff, 0xff}, vErr},
		{"key that is an array", softauthn.CBOR([]any{2, -7, 1, x, y}), fail},
		{"duplicate label in the key", append([]byte{0xa6, 0x01, 0x02}, ec.COSE()[1:]...), vErr},
	} {
		c := c
		reg("COSE "+c.name, c.typ, func(t *testing.T, s *scene) advRequest {
			return s.registration(t, uv, func(ad *softauthn.AuthData) { ad.PublicKey = c.key })
		})
	}

	// Authenticator data whose flags and lengths disagree, at registration.
	u16 := func(n uint16) *uint16 { return &n }
	for _, c := range []struct {
		name string
		edit func(ad *softauthn.AuthData)
	}{
		{"AT flag clear with attested data", func(ad *softauthn.AuthData) { ad.Flags &^= softauthn.FlagAT }},
		{"AT flag set without attested data", func(ad *softauthn.AuthData) { ad.Attested = false }},
		{"ED flag set without extensions", func(ad *softauthn.AuthData) { ad.Flags |= softauthn.FlagED }},
		{"extensions without the ED flag", func(ad *softauthn.AuthData) { ad.Extensions = softauthn.CBOR(map[string]any{"credProtect": 1}) }},
		{"ED flag with garbage extensions", func(ad *softauthn.AuthData) { ad.Flags |= softauthn.FlagED; ad.Extensions = []byte{0xff, 0x00} }},
		{"ED flag with extensions that are an array", func(ad *softauthn.AuthData) {
			ad.Flags |= softauthn.FlagED
			ad.Extensions = softauthn.CBOR([]any{1})
		}},
		{"ED flag with extensions nested too deep", func(ad *softauthn.AuthData) {
			ad.Flags |= softauthn.FlagED
			ad.Extensions = softauthn.CBOR(map[string]any{"x": []any{[]any{[]any{[]any{[]any{[]any{1}}}}}}})
		}},
		{"ED flag with trailing bytes after the extensions", func(ad *softauthn.AuthData) {
			ad.Flags |= softauthn.FlagED
			ad.Extensions = append(softauthn.CBOR(map[string]any{"credProtect": 1}), 0x00)
		}},
		{"credential ID length beyond the data", func(ad *softauthn.AuthData) { ad.CredIDLength = u16(60000) }},
		{"credential ID length short of the ID", func(ad *softauthn.AuthData) { ad.CredIDLength = u16(4) }},
		{"credential ID length zero", func(ad *softauthn.AuthData) { ad.CredIDLength = u16(0) }},
		{"credential ID of 1024 bytes", func(ad *softauthn.AuthData) { ad.CredID = bytes.Repeat([]byte{7}, 1024) }},
		{"credential ID differs from the response's id", func(ad *softauthn.AuthData) { ad.CredID = []byte("another credential") }},
		{"AAGUID cut short", func(ad *softauthn.AuthData) {
			ad.AAGUID = []byte{1, 2, 3}
			ad.CredID, ad.PublicKey = nil, nil
			ad.CredIDLength = nil
		}},
		{"trailing bytes after the key", func(ad *softauthn.AuthData) { ad.PublicKey = append(ad.PublicKey, 0x00, 0x01) }},
		{"RP ID hash of another site", func(ad *softauthn.AuthData) { h := sha256.Sum256([]byte("evil.example")); ad.RPIDHash = h[:] }},
		{"RP ID hash of 31 bytes", func(ad *softauthn.AuthData) { ad.RPIDHash = make([]byte, 31) }},
		{"user not present", func(ad *softauthn.AuthData) { ad.Flags &^= softauthn.FlagUP }},
		{"backed up but not backup eligible", func(ad *softauthn.AuthData) { ad.Flags |= softauthn.FlagBS }},
	} {
		c := c
		typ := vErr // the authenticator data does not parse
		switch c.name {
		case "credential ID differs from the response's id", "RP ID hash of another site", "user not present", "backed up but not backup eligible":
			typ = fail
		}
		reg("authenticator data: "+c.name, typ, func(t *testing.T, s *scene) advRequest { return s.registration(t, uv, c.edit) })
	}
	reg("authenticator data of 36 bytes", vErr, func(t *testing.T, s *scene) advRequest {
		return s.attestationObject(t, func(ad []byte) []byte { return softauthn.AttestationObject("none", nil, ad[:36]) })
	})
	reg("authenticator data empty", vErr, func(t *testing.T, s *scene) advRequest {
		return s.attestationObject(t, func([]byte) []byte { return softauthn.AttestationObject("none", nil, []byte{}) })
	})

	// Authenticator data of assertions, signed with alice's real key so that only the data
	// is wrong.
	for _, c := range []struct {
		name  string
		flags byte
		edit  func(ad *softauthn.AuthData)
	}{
		{"AT flag with attested data", uv | softauthn.FlagAT, func(ad *softauthn.AuthData) {
			k := softauthn.NewES256Key()
			ad.Attested, ad.CredID, ad.PublicKey = true, k.ID, k.COSE()
		}},
		{"AT flag without attested data", uv | softauthn.FlagAT, nil},
		{"ED flag without extensions", uv | softauthn.FlagED, nil},
		{"extensions without the ED flag", uv, func(ad *softauthn.AuthData) { ad.Extensions = softauthn.CBOR(map[string]any{"x": 1}) }},
		{"ED flag with garbage extensions", uv | softauthn.FlagED, func(ad *softauthn.AuthData) { ad.Extensions = []byte{0xff} }},
		{"ED flag with extensions that are a number", uv | softauthn.FlagED, func(ad *softauthn.AuthData) { ad.Extensions = []byte{0x01} }},
		{"user not present", softauthn.FlagUV, nil},
		{"backed up but not backup eligible", uv | softauthn.FlagBS, nil},
		{"RP ID hash of another site", uv, func(ad *softauthn.AuthData) { h := sha256.Sum256([]byte("evil.example")); ad.RPIDHash = h[:] }},
		{"trailing byte", uv, func(ad *softauthn.AuthData) { ad.Extensions = []byte{0x00} }},
	} {
		c := c
		typ := vErr // the authenticator data does not parse
		switch c.name {
		case "AT flag with attested data", "user not present", "backed up but not backup eligible", "RP ID hash of another site":
			typ = fail
		}
		login("authenticator data: "+c.name, typ, func(t *testing.T, s *scene) advRequest { return s.assertion(t, c.flags, c.edit) })
	}
	login("authenticator data of 36 bytes, signed", vErr, func(t *testing.T, s *scene) advRequest {
		id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		cd := softauthn.ClientData("webauthn.get", softauthn.ChallengeOf(pk), brokertest.Origin)
		ad := softauthn.AuthData{Flags: uv, Counter: s.count()}.Bytes()[:36]
		return s.front("login/finish", finishBody(id, softauthn.AssertionJSON(s.key.ID, cd, ad, s.key.Sign(ad, cd), nil)))
	})
	login("signature over other data", fail, func(t *testing.T, s *scene) advRequest {
		id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		cd := softauthn.ClientData("webauthn.get", softauthn.ChallengeOf(pk), brokertest.Origin)
		ad := softauthn.AuthData{Flags: uv, Counter: s.count()}.Bytes()
		return s.front("login/finish", finishBody(id, softauthn.AssertionJSON(s.key.ID, cd, ad, s.key.Sign(append(ad, 0), cd), nil)))
	})
	login("signature of another key", fail, func(t *testing.T, s *scene) advRequest {
		id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		cd := softauthn.ClientData("webauthn.get", softauthn.ChallengeOf(pk), brokertest.Origin)
		ad := softauthn.AuthData{Flags: uv, Counter: s.count()}.Bytes()
		k := softauthn.NewES256Key()
		return s.front("login/finish", finishBody(id, softauthn.AssertionJSON(s.key.ID, cd, ad, k.Sign(ad, cd), nil)))
	})
	for _, sig := range []struct {
		name string
		sig  []byte
	}{{"empty signature", []byte{}}, {"signature of zeros", make([]byte, 70)}, {"raw r||s signature", make([]byte, 64)},
		{"DER signature with trailing bytes", []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00}}, {"huge signature", bytes.Repeat([]byte{0x30}, 20000)}} {
		sig := sig
		login(sig.name, fail, func(t *testing.T, s *scene) advRequest {
			return editCredential(s.assertion(t, uv, nil), func(_, r map[string]any) { r["signature"] = b64(sig.sig) })
		})
	}
	for _, cd := range []struct{ name, json string }{
		{"clientDataJSON of type webauthn.create", `{"type":"webauthn.create","challenge":"@C","origin":"http://localhost:8080"}`},
		{"clientDataJSON from another origin", `{"type":"webauthn.get","challenge":"@C","origin":"https://evil.example"}`},
		{"clientDataJSON with another challenge", `{"type":"webauthn.get","challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","origin":"http://localhost:8080"}`},
		{"clientDataJSON with a cross-origin frame", `{"type":"webauthn.get","challenge":"@C","origin":"http://localhost:8080","crossOrigin":true,"topOrigin":"https://evil.example"}`},
		{"clientDataJSON with an origin that has a path", `{"type":"webauthn.get","challenge":"@C","origin":"http://localhost:8080/login"}`},
		{"clientDataJSON with an Android origin of another app", `{"type":"webauthn.get","challenge":"@C","origin":"android:apk-key-hash:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
	} {
		cd := cd
		login(cd.name, fail, func(t *testing.T, s *scene) advRequest {
			id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
			data := []byte(strings.ReplaceAll(cd.json, "@C", softauthn.ChallengeOf(pk)))
			ad := softauthn.AuthData{Flags: uv, Counter: s.count()}.Bytes()
			return s.front("login/finish", finishBody(id, softauthn.AssertionJSON(s.key.ID, data, ad, s.key.Sign(ad, data), nil)))
		})
	}
	// clientDataJSON that means two things: a duplicate or case-variant key, whose last value
	// go-webauthn would take (and would accept: the legitimate value comes last).
	for _, cd := range []struct{ name, json string }{
		{"clientDataJSON with a duplicate origin", `{"type":"@T","challenge":"@C","origin":"https://evil.example","origin":"http://localhost:8080"}`},
		{"clientDataJSON with a case-variant origin", `{"type":"@T","challenge":"@C","Origin":"https://evil.example","origin":"http://localhost:8080"}`},
		{"clientDataJSON with a duplicate challenge", `{"type":"@T","challenge":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","challenge":"@C","origin":"http://localhost:8080"}`},
		{"clientDataJSON with a case-variant type", `{"TYPE":"webauthn.other","type":"@T","challenge":"@C","origin":"http://localhost:8080"}`},
		{"clientDataJSON with an escaped duplicate key", `{"type":"@T","challenge":"@C","origin":"https://evil.example","\u006frigin":"http://localhost:8080"}`},
	} {
		cd := cd
		login(cd.name, vErr, func(t *testing.T, s *scene) advRequest {
			id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
			data := []byte(strings.NewReplacer("@T", "webauthn.get", "@C", softauthn.ChallengeOf(pk)).Replace(cd.json))
			ad := softauthn.AuthData{Flags: uv, Counter: s.count()}.Bytes()
			return s.front("login/finish", finishBody(id, softauthn.AssertionJSON(s.key.ID, data, ad, s.key.Sign(ad, data), nil)))
		})
		reg(cd.name, vErr, func(t *testing.T, s *scene) advRequest {
			id, pk := s.startAppend(t, "carol")
			k := softauthn.NewES256Key()
			ad := softauthn.AuthData{Flags: uv | softauthn.FlagAT, Attested: true, CredID: k.ID, PublicKey: k.COSE()}
			data := []byte(strings.NewReplacer("@T", "webauthn.create", "@C", softauthn.ChallengeOf(pk)).Replace(cd.json))
			return s.front("append/finish", finishBody(id, softauthn.RegistrationJSON(k.ID, data, softauthn.AttestationObject("none", nil, ad.Bytes()))))
		})
	}
	// Discoverable logins: the user handle must be alice's.
	for _, h := range []struct {
		name   string
		handle func(s *scene) []byte
	}{
		{"usernameless login without user handle", func(*scene) []byte { return nil }},
		{"usernameless login with another user handle", func(*scene) []byte { return bytes.Repeat([]byte{1}, 32) }},
		{"usernameless login with an empty user handle", func(*scene) []byte { return []byte{} }},
	} {
		h := h
		login(h.name, fail, func(t *testing.T, s *scene) advRequest {
			id, pk := s.startLogin(t, map[string]any{})
			return s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, s.count(), h.handle(s), nil)))
		})
	}
	// A counter that goes backwards: alice's key signs with 5, then with 3.
	login("counter went backwards", fail, func(t *testing.T, s *scene) advRequest {
		s.loginCount += 10
		id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		s.mustOK(t, s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, s.loginCount, nil, nil))))
		id, pk = s.startLogin(t, map[string]any{"identifier": "alice"})
		return s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, s.loginCount-5, nil, nil)))
	})
	login("counter reset to 0", fail, func(t *testing.T, s *scene) advRequest {
		id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		s.mustOK(t, s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, s.count(), nil, nil))))
		id, pk = s.startLogin(t, map[string]any{"identifier": "alice"})
		return s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, 0, nil, nil)))
	})
	// User verification required (project C): a response without UV is refused.
	out = append(out, advCase{name: "login/finish: no UV flag where the project requires it", status: 400, typ: fail,
		prepare: func(t *testing.T, s *scene) advRequest {
			path := func(op string) string { return "/v2/projects/" + s.uvRequiredP.ID + "/connect/" + op }
			if s.cKey.ID == nil {
				s.cKey = softauthn.NewES256Key()
				tok := s.mintIn(t, s.uvRequiredP.ID, s.cSecret, "passkey-append", "carol")
				r := s.mustOK(t, advRequest{http.MethodPost, path("append/start"), jsonBytes(map[string]any{"connectToken": tok}), nil})
				s.mustOK(t, advRequest{http.MethodPost, path("append/finish"), finishBody(r.str(t, "ceremonyID"),
					s.cKey.Registration(softauthn.PublicKeyOf(r.Body), brokertest.Origin, uv, nil, nil)), nil})
			}
			r := s.mustOK(t, advRequest{http.MethodPost, path("login/start"), jsonBytes(map[string]any{"identifier": "carol"}), nil})
			return advRequest{http.MethodPost, path("login/finish"), finishBody(r.str(t, "ceremonyID"),
				s.cKey.Assertion(softauthn.PublicKeyOf(r.Body), brokertest.Origin, softauthn.FlagUP, 0, nil, nil)), nil}
		}})
	out = append(out, advCase{name: "append/finish: no UV flag where the project requires it", status: 400, typ: fail,
		prepare: func(t *testing.T, s *scene) advRequest {
			path := "/v2/projects/" + s.uvRequiredP.ID + "/connect/"
			tok := s.mintIn(t, s.uvRequiredP.ID, s.cSecret, "passkey-append", "dave")
			r := s.mustOK(t, advRequest{http.MethodPost, path + "append/start", jsonBytes(map[string]any{"connectToken": tok}), nil})
			return advRequest{http.MethodPost, path + "append/finish", finishBody(r.str(t, "ceremonyID"),
				softauthn.NewES256Key().Registration(softauthn.PublicKeyOf(r.Body), brokertest.Origin, softauthn.FlagUP, nil, nil)), nil}
		}})
	return out
}

// tokenCases misuse connect tokens at every operation that takes one.
func tokenCases() []advCase {
	var out []advCase
	ops := []struct {
		typ  string
		req  func(s *scene, token string) advRequest
		name string
	}{
		{"passkey-append", func(s *scene, tok string) advRequest {
			return s.front("append/start", map[string]any{"connectToken": tok})
		}, "append/start"},
		{"passkey-list", func(s *scene, tok string) advRequest {
			return s.front("manage/list", map[string]any{"connectToken": tok})
		}, "manage/list"},
		{"passkey-delete", func(s *scene, tok string) advRequest {
			return s.front("manage/delete", map[string]any{"connectToken": tok, "credentialID": s.cred})
		}, "manage/delete"},
		{"passkey-login", func(s *scene, tok string) advRequest {
			return s.front("login/start", map[string]any{"loginConnectToken": tok})
		}, "login/start"},
	}
	bad := func(name string, prepare func(t *testing.T, s *scene) advRequest) {
		out = append(out, advCase{name: name, status: 401, typ: "invalid_connect_token", prepare: prepare})
	}
	for _, op := range ops {
		op := op
		for _, other := range ops {
			if other.typ == op.typ {
				continue
			}
			other := other
			bad(op.name+": token of type "+other.typ, func(t *testing.T, s *scene) advRequest { return op.req(s, s.token(t, other.typ, "alice")) })
		}
		bad(op.name+": expired token", func(t *testing.T, s *scene) advRequest {
			r := s.mustOK(t, s.back(http.MethodPost, "/v2/connectTokens", map[string]any{"type": op.typ,
				"data": map[string]any{"identifier": "alice", "displayName": "Alice"}, "maxLifetimeInSeconds": 1}))
			s.clock.Advance(time.Second)
			return op.req(s, r.str(t, "secret"))
		})
		bad(op.name+": revoked token", func(t *testing.T, s *scene) advRequest {
			r := s.mint(t, op.typ, "alice")
			s.do(t, s.back(http.MethodDelete, "/v2/connectTokens/"+r.str(t, "id"), nil)).wantStatus(t, http.StatusNoContent)
			return op.req(s, r.str(t, "secret"))
		})
		bad(op.name+": token of another project", func(t *testing.T, s *scene) advRequest {
			return op.req(s, s.mintIn(t, s.b.ID, s.bSecret, op.typ, "alice"))
		})
		for _, m := range []struct{ name, token string }{
			{"prefix only", "ctk1_"}, {"short", "ctk1_" + strings.Repeat("A", 42)}, {"long", "ctk1_" + strings.Repeat("A", 44)},
			{"other version", "ctk2_" + strings.Repeat("A", 43)}, {"upper-case prefix", "CTK1_" + strings.Repeat("A", 43)},
			{"no prefix", strings.Repeat("A", 43)}, {"padding", "ctk1_" + strings.Repeat("A", 42) + "="},
			{"standard alphabet", "ctk1_" + strings.Repeat("+", 43)}, {"NUL", "ctk1_" + strings.Repeat("A", 21) + "\x00" + strings.Repeat("A", 21)},
			{"non-ASCII", "ctk1_" + strings.Repeat("é", 21) + "A"}, {"unknown but well formed", "ctk1_" + strings.Repeat("A", 43)},
			{"a token ID", "ctk-000000000000000000000000"}, {"the API secret", "@API"}, {"60 KB", "ctk1_" + strings.Repeat("A", 60000)},
		} {
			m := m
			bad(op.name+": malformed token, "+m.name, func(t *testing.T, s *scene) advRequest {
				tok := m.token
				if tok == "@API" {
					tok = s.f.APISecret
				}
				return op.req(s, tok)
			})
		}
		for _, v := range []struct{ name, edit string }{{"trailing space", " "}, {"trailing newline", "\n"}, {"one character changed", "flip"}} {
			v := v
			bad(op.name+": live token with "+v.name, func(t *testing.T, s *scene) advRequest {
				tok := s.token(t, op.typ, "alice")
				if v.edit == "flip" {
					last := tok[len(tok)-2]
					if last == 'A' {
						last = 'B'
					} else {
						last = 'A'
					}
					tok = tok[:len(tok)-2] + string(last) + tok[len(tok)-1:]
				} else {
					tok += v.edit
				}
				return op.req(s, tok)
			})
		}
		bad(op.name+": the token's hash instead of the token", func(t *testing.T, s *scene) advRequest {
			h := sha256.Sum256([]byte(s.token(t, op.typ, "alice")))
			return op.req(s, fmt.Sprintf("%x", h))
		})
	}
	bad("manage/list: consumed token", func(t *testing.T, s *scene) advRequest {
		tok := s.token(t, "passkey-list", "alice")
		s.mustOK(t, s.front("manage/list", map[string]any{"connectToken": tok}))
		return s.front("manage/list", map[string]any{"connectToken": tok})
	})
	bad("login/start: consumed login token", func(t *testing.T, s *scene) advRequest {
		tok := s.token(t, "passkey-login", "alice")
		id, pk := s.startLogin(t, map[string]any{"loginConnectToken": tok})
		s.mustOK(t, s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, s.count(), nil, nil))))
		return s.front("login/start", map[string]any{"loginConnectToken": tok})
	})
	bad("login/finish: second ceremony of a consumed login token", func(t *testing.T, s *scene) advRequest {
		tok := s.token(t, "passkey-login", "alice")
		id1, pk1 := s.startLogin(t, map[string]any{"loginConnectToken": tok})
		id2, pk2 := s.startLogin(t, map[string]any{"loginConnectToken": tok})
		s.mustOK(t, s.front("login/finish", finishBody(id1, s.key.Assertion(pk1, brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, s.count(), nil, nil))))
		return s.front("login/finish", finishBody(id2, s.key.Assertion(pk2, brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, s.count(), nil, nil)))
	})
	bad("append/start: consumed append token", func(t *testing.T, s *scene) advRequest {
		tok := s.token(t, "passkey-append", "erin")
		r := s.mustOK(t, s.front("append/start", map[string]any{"connectToken": tok}))
		s.mustOK(t, s.front("append/finish", finishBody(r.str(t, "ceremonyID"),
			softauthn.NewES256Key().Registration(softauthn.PublicKeyOf(r.Body), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, nil, nil))))
		return s.front("append/start", map[string]any{"connectToken": tok})
	})
	bad("append/finish: second ceremony of a consumed append token", func(t *testing.T, s *scene) advRequest {
		tok := s.token(t, "passkey-append", "frank")
		r1 := s.mustOK(t, s.front("append/start", map[string]any{"connectToken": tok}))
		r2 := s.mustOK(t, s.front("append/start", map[string]any{"connectToken": tok}))
		s.mustOK(t, s.front("append/finish", finishBody(r1.str(t, "ceremonyID"),
			softauthn.NewES256Key().Registration(softauthn.PublicKeyOf(r1.Body), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, nil, nil))))
		return s.front("append/finish", finishBody(r2.str(t, "ceremonyID"),
			softauthn.NewES256Key().Registration(softauthn.PublicKeyOf(r2.Body), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, nil, nil)))
	})
	bad("manage/delete: consumed delete token", func(t *testing.T, s *scene) advRequest {
		tok := s.token(t, "passkey-append", "grace")
		r := s.mustOK(t, s.front("append/start", map[string]any{"connectToken": tok}))
		k := softauthn.NewES256Key()
		s.mustOK(t, s.front("append/finish", finishBody(r.str(t, "ceremonyID"),
			k.Registration(softauthn.PublicKeyOf(r.Body), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, nil, nil))))
		del := s.token(t, "passkey-delete", "grace")
		s.mustOK(t, s.front("manage/delete", map[string]any{"connectToken": del, "credentialID": b64(k.ID)}))
		return s.front("manage/delete", map[string]any{"connectToken": del, "credentialID": s.cred})
	})
	bad("login/start: login token for another identifier", func(t *testing.T, s *scene) advRequest {
		return s.front("login/start", map[string]any{"identifier": "bob", "loginConnectToken": s.token(t, "passkey-login", "alice")})
	})
	bad("login/start: login token with the identifier in another case", func(t *testing.T, s *scene) advRequest {
		return s.front("login/start", map[string]any{"identifier": "ALICE", "loginConnectToken": s.token(t, "passkey-login", "alice")})
	})
	for _, c := range []struct{ name, cred string }{{"a passkey of another user", "@BOB"}, {"a passkey of another project", "@B"}, {"an unknown passkey", "AAAAAAAAAAAAAAAAAAAAAA"}} {
		c := c
		out = append(out, advCase{name: "manage/delete: " + c.name, status: 404, typ: "not_found", prepare: func(t *testing.T, s *scene) advRequest {
			cred := c.cred
			switch cred {
			case "@B":
				cred = s.bCred
			case "@BOB":
				tok := s.token(t, "passkey-append", "heidi")
				r := s.mustOK(t, s.front("append/start", map[string]any{"connectToken": tok}))
				k := softauthn.NewES256Key()
				s.mustOK(t, s.front("append/finish", finishBody(r.str(t, "ceremonyID"),
					k.Registration(softauthn.PublicKeyOf(r.Body), brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, nil, nil))))
				cred = b64(k.ID)
			}
			return s.front("manage/delete", map[string]any{"connectToken": s.token(t, "passkey-delete", "alice"), "credentialID": cred})
		}})
	}
	for _, c := range []struct {
		name   string
		method string
		id     func(t *testing.T, s *scene) string
	}{
		{"the secret as ID", http.MethodGet, func(t *testing.T, s *scene) string { return s.token(t, "passkey-list", "alice") }},
		{"an ID of another project", http.MethodGet, func(t *testing.T, s *scene) string { return s.tokenIDIn(t, s.b.ID, s.bSecret) }},
		{"an ID of another project, deleted", http.MethodDelete, func(t *testing.T, s *scene) string { return s.tokenIDIn(t, s.b.ID, s.bSecret) }},
		{"an unknown ID", http.MethodGet, func(*testing.T, *scene) string { return "ctk-000000000000000000000000" }},
		{"an unknown ID, deleted", http.MethodDelete, func(*testing.T, *scene) string { return "ctk-000000000000000000000000" }},
		{"a revoked ID", http.MethodGet, func(t *testing.T, s *scene) string {
			id := s.mint(t, "passkey-list", "alice").str(t, "id")
			s.do(t, s.back(http.MethodDelete, "/v2/connectTokens/"+id, nil)).wantStatus(t, http.StatusNoContent)
			return id
		}},
		{"a revoked ID, deleted again", http.MethodDelete, func(t *testing.T, s *scene) string {
			id := s.mint(t, "passkey-list", "alice").str(t, "id")
			s.do(t, s.back(http.MethodDelete, "/v2/connectTokens/"+id, nil)).wantStatus(t, http.StatusNoContent)
			return id
		}},
		{"a 65-character ID", http.MethodGet, func(*testing.T, *scene) string { return "ctk-" + strings.Repeat("0", 61) }},
		{"an encoded NUL", http.MethodGet, func(*testing.T, *scene) string { return "ctk-%00" }},
		{"an encoded path traversal", http.MethodGet, func(*testing.T, *scene) string { return "..%2f..%2fhealthz" }},
		{"SQL in the ID", http.MethodDelete, func(*testing.T, *scene) string { return "ctk-%27%20OR%20%271%27%3D%271" }},
		{"a non-ASCII ID", http.MethodGet, func(*testing.T, *scene) string { return "ctk-%C3%A9" }},
	} {
		c := c
		out = append(out, advCase{name: c.method + " /v2/connectTokens/{id}: " + c.name, status: 404, typ: "not_found",
			prepare: func(t *testing.T, s *scene) advRequest { return s.back(c.method, "/v2/connectTokens/"+c.id(t, s), nil) }})
	}
	return out
}

func (s *scene) tokenIDIn(t *testing.T, projectID, secret string) string {
	t.Helper()
	r := s.do(t, advRequest{http.MethodPost, "/v2/connectTokens", jsonBytes(map[string]any{"type": "passkey-list",
		"data": map[string]any{"identifier": "alice"}}), map[string]string{"Authorization": basicAuth(projectID, secret)}})
	r.wantStatus(t, http.StatusOK)
	return r.str(t, "id")
}

// ceremonyCases finish ceremonies that are not there to finish: replayed, expired, of the
// other kind or of another project, and answer them with another ceremony's challenge or
// another project's credential.
func ceremonyCases() []advCase {
	var out []advCase
	uv := byte(softauthn.FlagUP | softauthn.FlagUV)
	add := func(name string, status int, typ string, prepare func(t *testing.T, s *scene) advRequest) {
		out = append(out, advCase{name: name, status: status, typ: typ, prepare: prepare})
	}
	add("login/finish: replayed", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		req := s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, s.count(), nil, nil)))
		s.mustOK(t, req)
		return req
	})
	add("append/finish: replayed", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		req := s.registration(t, uv, nil)
		s.mustOK(t, req)
		return req
	})
	add("login/finish: expired ceremony", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		req := s.assertion(t, uv, nil)
		s.clock.Advance(broker.CeremonyLifetime)
		return req
	})
	add("append/finish: expired ceremony", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		req := s.registration(t, uv, nil)
		s.clock.Advance(broker.CeremonyLifetime)
		return req
	})
	add("login/finish: an append ceremony", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		id, _ := s.startAppend(t, "alice")
		_, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		return s.front("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, s.count(), nil, nil)))
	})
	add("append/finish: a login ceremony", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		id, _ := s.startLogin(t, map[string]any{})
		_, pk := s.startAppend(t, "carol")
		return s.front("append/finish", finishBody(id, softauthn.NewES256Key().Registration(pk, brokertest.Origin, uv, nil, nil)))
	})
	add("login/finish: unknown ceremony", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		_, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		return s.front("login/finish", finishBody("cer-000000000000000000000000", s.key.Assertion(pk, brokertest.Origin, uv, s.count(), nil, nil)))
	})
	add("login/finish: ceremony of another project", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		r := s.mustOK(t, s.frontB("login/start", map[string]any{"identifier": "bob"}))
		return s.front("login/finish", finishBody(r.str(t, "ceremonyID"), s.bKey.Assertion(softauthn.PublicKeyOf(r.Body), originB, uv, 0, nil, nil)))
	})
	add("append/finish: ceremony of another project", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		tok := s.mintIn(t, s.b.ID, s.bSecret, "passkey-append", "ivan")
		r := s.mustOK(t, s.frontB("append/start", map[string]any{"connectToken": tok}))
		return s.front("append/finish", finishBody(r.str(t, "ceremonyID"),
			softauthn.NewES256Key().Registration(softauthn.PublicKeyOf(r.Body), brokertest.Origin, uv, nil, nil)))
	})
	add("login/finish: project B finishing project A's ceremony", 410, "ceremony_not_found", func(t *testing.T, s *scene) advRequest {
		id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		return s.frontB("login/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, s.count(), nil, nil)))
	})
	add("login/finish: answer to another ceremony's challenge", 400, "verification_failed", func(t *testing.T, s *scene) advRequest {
		id, _ := s.startLogin(t, map[string]any{"identifier": "alice"})
		_, other := s.startLogin(t, map[string]any{"identifier": "alice"})
		return s.front("login/finish", finishBody(id, s.key.Assertion(other, brokertest.Origin, uv, s.count(), nil, nil)))
	})
	add("append/finish: answer to another ceremony's challenge", 400, "verification_failed", func(t *testing.T, s *scene) advRequest {
		id, _ := s.startAppend(t, "carol")
		_, other := s.startAppend(t, "carol")
		return s.front("append/finish", finishBody(id, softauthn.NewES256Key().Registration(other, brokertest.Origin, uv, nil, nil)))
	})
	add("login/finish: a passkey of another project", 404, "unknown_credential", func(t *testing.T, s *scene) advRequest {
		id, pk := s.startLogin(t, map[string]any{})
		return s.front("login/finish", finishBody(id, s.bKey.Assertion(pk, brokertest.Origin, uv, 0, nil, nil)))
	})
	add("login/finish: an unknown passkey", 404, "unknown_credential", func(t *testing.T, s *scene) advRequest {
		id, pk := s.startLogin(t, map[string]any{})
		return s.front("login/finish", finishBody(id, softauthn.NewES256Key().Assertion(pk, brokertest.Origin, uv, 0, s.handle, nil)))
	})
	add("login/finish: another user's passkey for an identifier-first ceremony", 400, "verification_failed", func(t *testing.T, s *scene) advRequest {
		tok := s.token(t, "passkey-append", "judy")
		r := s.mustOK(t, s.front("append/start", map[string]any{"connectToken": tok}))
		k := softauthn.NewES256Key()
		s.mustOK(t, s.front("append/finish", finishBody(r.str(t, "ceremonyID"),
			k.Registration(softauthn.PublicKeyOf(r.Body), brokertest.Origin, uv, nil, nil))))
		id, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		return s.front("login/finish", finishBody(id, k.Assertion(pk, brokertest.Origin, uv, 0, nil, nil)))
	})
	add("login/finish: a registration response", 400, "validation_error", func(t *testing.T, s *scene) advRequest {
		id, _ := s.startLogin(t, map[string]any{"identifier": "alice"})
		_, pk := s.startAppend(t, "carol")
		return s.front("login/finish", finishBody(id, softauthn.NewES256Key().Registration(pk, brokertest.Origin, uv, nil, nil)))
	})
	add("append/finish: an authentication response", 400, "validation_error", func(t *testing.T, s *scene) advRequest {
		id, _ := s.startAppend(t, "carol")
		_, pk := s.startLogin(t, map[string]any{"identifier": "alice"})
		return s.front("append/finish", finishBody(id, s.key.Assertion(pk, brokertest.Origin, uv, s.count(), nil, nil)))
	})
	add("append/finish: alice's passkey registered again", 409, "already_exists", func(t *testing.T, s *scene) advRequest {
		id, pk := s.startAppend(t, "carol")
		return s.front("append/finish", finishBody(id, s.key.Registration(pk, brokertest.Origin, uv, nil, nil)))
	})
	add("append/finish: another project's passkey registered here", 400, "verification_failed", func(t *testing.T, s *scene) advRequest {
		id, pk := s.startAppend(t, "carol")
		return s.front("append/finish", finishBody(id, s.bKey.Registration(pk, originB, uv, nil, nil)))
	})
	return out
}

// signedDataCases are forged, altered, stale and replayed signedPasskeyData.
func signedDataCases() []advCase {
	var out []advCase
	add := func(name, result string, prepare func(t *testing.T, s *scene) string) {
		out = append(out, advCase{name: "verifySignedData: " + name, status: 200, result: result,
			prepare: func(t *testing.T, s *scene) advRequest { return s.verifyReq(prepare(t, s)) }})
	}
	const sig, chal = "invalid_signature", "invalid_challenge"
	header := func(s *scene) map[string]any { return map[string]any{"alg": "ES256", "kid": s.signA.ID, "typ": "JWT"} }
	with := func(m map[string]any, kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	none := func([]byte) []byte { return nil }
	add("alg none", sig, func(t *testing.T, s *scene) string { return jws(with(header(s), "alg", "none"), s.validClaims(), none) })
	add("alg none with a signature", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "alg", "none"), s.validClaims(), es256(attacker))
	})
	add("alg None", sig, func(t *testing.T, s *scene) string { return jws(with(header(s), "alg", "None"), s.validClaims(), none) })
	add("alg missing", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "alg", nil), s.validClaims(), es256(s.signA.Private))
	})
	for _, form := range []string{"PEM", "DER", "raw point", "JWK"} {
		form := form
		add("HS256 keyed with the public key as "+form, sig, func(t *testing.T, s *scene) string {
			der, _ := x509.MarshalPKIXPublicKey(&s.signA.Private.PublicKey)
			point, _ := s.signA.Private.PublicKey.Bytes()
			key := map[string][]byte{"PEM": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), "DER": der, "raw point": point}[form]
			if form == "JWK" {
				r := s.do(t, advRequest{http.MethodGet, s.jwksPath(), nil, nil})
				var set struct {
					Keys []json.RawMessage `json:"keys"`
				}
				_ = json.Unmarshal(r.Body, &set)
				key = set.Keys[0]
			}
			return jws(with(header(s), "alg", "HS256"), s.validClaims(), hs256(key))
		})
	}
	add("kid of another project, signed by its key", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "kid", s.signB.ID), s.validClaims(), es256(s.signB.Private))
	})
	add("kid and issuer of another project, signed by its key", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "kid", s.signB.ID), with(s.validClaims(), "iss", s.b.ID), es256(s.signB.Private))
	})
	add("a real token of another project", sig, func(t *testing.T, s *scene) string {
		r := s.mustOK(t, s.frontB("login/start", map[string]any{"identifier": "bob"}))
		h := sha256.Sum256([]byte("other.example"))
		return s.mustOK(t, s.frontB("login/finish", finishBody(r.str(t, "ceremonyID"), s.bKey.Assertion(softauthn.PublicKeyOf(r.Body), originB,
			softauthn.FlagUP|softauthn.FlagUV, 0, nil, func(ad *softauthn.AuthData) { ad.RPIDHash = h[:] })))).str(t, "signedPasskeyData")
	})
	add("issuer of another project, signed by this project's key", sig, func(t *testing.T, s *scene) string {
		return jws(header(s), with(s.validClaims(), "iss", s.b.ID), es256(s.signA.Private))
	})
	add("re-signed payload with another key under the real kid", sig, func(t *testing.T, s *scene) string {
		return jws(header(s), with(claimsOf(s.spd(t)), "username", "mallory"), es256(attacker))
	})
	add("payload changed, signature kept", sig, func(t *testing.T, s *scene) string {
		parts := strings.Split(s.spd(t), ".")
		return parts[0] + "." + b64(jsonBytes(with(claimsOf(strings.Join(parts, ".")), "username", "mallory"))) + "." + parts[2]
	})
	add("signature of another token", sig, func(t *testing.T, s *scene) string {
		a, b := strings.Split(s.spd(t), "."), strings.Split(s.spd(t), ".")
		return a[0] + "." + a[1] + "." + b[2]
	})
	add("embedded jwk of the attacker, no kid", sig, func(t *testing.T, s *scene) string {
		pt, _ := attacker.PublicKey.Bytes()
		jwk := map[string]any{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])}
		return jws(with(header(s), "kid", nil, "jwk", jwk), s.validClaims(), es256(attacker))
	})
	add("embedded jwk of the attacker with the real kid", sig, func(t *testing.T, s *scene) string {
		pt, _ := attacker.PublicKey.Bytes()
		jwk := map[string]any{"kty": "EC", "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:]), "kid": s.signA.ID}
		return jws(with(header(s), "jwk", jwk), s.validClaims(), es256(attacker))
	})
	add("jku pointing at the attacker", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "jku", "https://evil.example/jwks.json"), s.validClaims(), es256(attacker))
	})
	add("x5c of the attacker", sig, func(t *testing.T, s *scene) string {
		_, cert := softauthn.NewAttestationCert(make([]byte, 16))
		return jws(with(header(s), "x5c", []string{base64.StdEncoding.EncodeToString(cert)}), s.validClaims(), es256(attacker))
	})
	add("kid with a path", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "kid", "../../../../etc/passwd"), s.validClaims(), es256(attacker))
	})
	add("empty kid", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "kid", ""), s.validClaims(), es256(attacker))
	})
	add("no kid, signed by the real key", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "kid", nil), s.validClaims(), es256(s.signA.Private))
	})
	add("typ at+jwt", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "typ", "at+jwt"), s.validClaims(), es256(s.signA.Private))
	})
	add("no typ", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "typ", nil), s.validClaims(), es256(s.signA.Private))
	})
	add("crit header", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "crit", []string{"exp"}), s.validClaims(), es256(s.signA.Private))
	})
	add("b64 false", sig, func(t *testing.T, s *scene) string {
		return jws(with(header(s), "b64", false, "crit", []string{"b64"}), s.validClaims(), es256(s.signA.Private))
	})
	for _, alg := range []string{"ES384", "ES512", "RS256", "PS256", "EdDSA", "ES256K", "es256", "ES256 "} {
		alg := alg
		add("alg "+alg, sig, func(t *testing.T, s *scene) string {
			return jws(with(header(s), "alg", alg), s.validClaims(), es256(s.signA.Private))
		})
	}
	add("DER signature instead of r||s", sig, func(t *testing.T, s *scene) string {
		return jws(header(s), s.validClaims(), func(input []byte) []byte {
			h := sha256.Sum256(input)
			der, _ := ecdsa.SignASN1(rand.Reader, s.signA.Private, h[:])
			return der
		})
	})
	add("signature of zeros", sig, func(t *testing.T, s *scene) string {
		return jws(header(s), s.validClaims(), func([]byte) []byte { return make([]byte, 64) })
	})
	add("high-S twin of a real token's signature", sig, func(t *testing.T, s *scene) string {
		token := s.spd(t)
		i := strings.LastIndexByte(token, '.')
		raw, err := base64.RawURLEncoding.DecodeString(token[i+1:])
		if err != nil || len(raw) != 64 {
			t.Fatalf("signature of %s: %v", token, err)
		}
		n := elliptic.P256().Params().N
		new(big.Int).Sub(n, new(big.Int).SetBytes(raw[32:])).FillBytes(raw[32:])
		return token[:i+1] + b64(raw)
	})
	add("signature cut short", sig, func(t *testing.T, s *scene) string {
		return jws(header(s), s.validClaims(), func(in []byte) []byte { return es256(s.signA.Private)(in)[:63] })
	})
	add("expired (a real token, 6 minutes later)", chal, func(t *testing.T, s *scene) string {
		token := s.spd(t)
		s.clock.Advance(6 * time.Minute)
		return token
	})
	add("expired beyond the leeway", chal, func(t *testing.T, s *scene) string {
		now := s.clock.Now().Unix()
		return jws(header(s), with(s.validClaims(), "iat", now-300, "nbf", now-300, "exp", now-11), es256(s.signA.Private))
	})
	add("not yet valid", chal, func(t *testing.T, s *scene) string {
		now := s.clock.Now().Unix()
		return jws(header(s), with(s.validClaims(), "iat", now+60, "nbf", now+60, "exp", now+300), es256(s.signA.Private))
	})
	add("lifetime of an hour", sig, func(t *testing.T, s *scene) string {
		now := s.clock.Now().Unix()
		return jws(header(s), with(s.validClaims(), "exp", now+3600), es256(s.signA.Private))
	})
	add("replayed", chal, func(t *testing.T, s *scene) string {
		token := s.spd(t)
		if r := s.mustOK(t, s.verifyReq(token)); r.str(t, "verificationResult") != "success" {
			t.Fatalf("first verification: %s", r.Body)
		}
		return token
	})
	// The malleated twin is refused as such, before single use is even checked.
	add("replayed with a malleated signature (s -> n - s)", sig, func(t *testing.T, s *scene) string {
		token := s.spd(t)
		s.mustOK(t, s.verifyReq(token))
		parts := strings.Split(token, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sv := new(big.Int).SetBytes(raw[32:])
		sv.Sub(elliptic.P256().Params().N, sv)
		copy(raw[32:], sv.FillBytes(make([]byte, 32)))
		return parts[0] + "." + parts[1] + "." + b64(raw)
	})
	for _, c := range []struct {
		name  string
		claim []any
	}{
		{"no jti", []any{"jti", nil}}, {"no exp", []any{"exp", nil}}, {"no iss", []any{"iss", nil}}, {"no sub", []any{"sub", nil}},
		{"exp as text", []any{"exp", "tomorrow"}}, {"iat as a fraction", []any{"iat", 1.5}}, {"username as a number", []any{"username", 5}},
	} {
		c := c
		add("claims with "+c.name, sig, func(t *testing.T, s *scene) string {
			return jws(header(s), with(s.validClaims(), c.claim...), es256(s.signA.Private))
		})
	}
	add("payload that is not JSON", sig, func(t *testing.T, s *scene) string {
		input := b64(jsonBytes(header(s))) + "." + b64([]byte("not json"))
		return input + "." + b64(es256(s.signA.Private)([]byte(input)))
	})
	add("payload that is an array", sig, func(t *testing.T, s *scene) string {
		input := b64(jsonBytes(header(s))) + "." + b64([]byte("[1,2]"))
		return input + "." + b64(es256(s.signA.Private)([]byte(input)))
	})
	add("header that is not JSON", sig, func(t *testing.T, s *scene) string {
		parts := strings.Split(s.spd(t), ".")
		return b64([]byte("{alg")) + "." + parts[1] + "." + parts[2]
	})
	add("duplicate alg in the header", sig, func(t *testing.T, s *scene) string {
		input := b64([]byte(`{"alg":"ES256","kid":"`+s.signA.ID+`","typ":"JWT","alg":"none"}`)) + "." + b64(jsonBytes(s.validClaims()))
		return input + "."
	})
	for _, c := range []struct {
		name string
		edit func(token string) string
	}{
		{"two parts", func(tok string) string { return tok[:strings.LastIndex(tok, ".")] }},
		{"four parts", func(tok string) string { return tok + ".AAAA" }},
		{"five parts, like a JWE", func(tok string) string { return tok + ".AAAA.AAAA" }},
		{"padding", func(tok string) string { return tok + "==" }},
		{"standard base64 alphabet", func(tok string) string { return strings.NewReplacer("-", "+", "_", "/").Replace(tok) + "+/" }},
		{"a newline", func(tok string) string { return tok + "\n" }},
		{"leading space", func(tok string) string { return " " + tok }},
		{"truncated", func(tok string) string { return tok[:len(tok)/2] }},
		{"JSON serialization", func(tok string) string {
			p := strings.Split(tok, ".")
			return string(jsonBytes(map[string]any{"protected": p[0], "payload": p[1], "signature": p[2]}))
		}},
		{"60 KB", func(tok string) string { return tok + strings.Repeat("A", 60000) }},
		{"NUL byte", func(tok string) string { return tok[:10] + "\x00" + tok[10:] }},
	} {
		c := c
		add("token with "+c.name, sig, func(t *testing.T, s *scene) string { return c.edit(s.spd(t)) })
	}
	out = append(out, advCase{name: "verifySignedData: username of another user", status: 200, result: "user_mismatch",
		prepare: func(t *testing.T, s *scene) advRequest {
			return s.back(http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{"signedPasskeyData": s.spd(t), "username": "bob"})
		}})
	out = append(out, advCase{name: "verifySignedData: username differing in case", status: 200, result: "user_mismatch",
		prepare: func(t *testing.T, s *scene) advRequest {
			return s.back(http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{"signedPasskeyData": s.spd(t), "username": "Alice"})
		}})
	for _, c := range []struct{ name, result string }{{"alg none", sig}, {"replayed", chal}, {"kid of another project, signed by its key", sig}} {
		c := c
		var orig advCase
		for _, o := range out {
			if o.name == "verifySignedData: "+c.name {
				orig = o
			}
		}
		out = append(out, advCase{name: "verifySignedData (singular route): " + c.name, status: 200, result: c.result,
			prepare: func(t *testing.T, s *scene) advRequest {
				req := orig.prepare(t, s)
				req.path = "/v2/passkey/verifySignedData"
				req.body = editJSON(req.body, func(m map[string]any) { m["username"] = "alice" })
				return req
			}})
	}
	return out
}

// authCases send wrong Basic credentials to the backend API.
func authCases() []advCase {
	var out []advCase
	creds := []struct {
		name   string
		header func(s *scene) string // "" sends no Authorization
	}{
		{"no Authorization", func(*scene) string { return "" }},
		{"Bearer scheme", func(s *scene) string { return "Bearer " + s.f.APISecret }},
		{"Basic without credentials", func(*scene) string { return "Basic" }},
		{"Basic with bad base64", func(*scene) string { return "Basic !!!" }},
		{"Basic without a colon", func(s *scene) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s.f.Project.ID)) }},
		{"empty project ID", func(s *scene) string { return basicAuth("", s.f.APISecret) }},
		{"empty secret", func(s *scene) string { return basicAuth(s.f.Project.ID, "") }},
		{"secret of 300 characters", func(s *scene) string { return basicAuth(s.f.Project.ID, "lks_"+strings.Repeat("A", 296)) }},
		{"secret with a newline", func(s *scene) string { return basicAuth(s.f.Project.ID, s.f.APISecret+"\n") }},
		{"secret with one character changed", func(s *scene) string {
			b := []byte(s.f.APISecret)
			b[10] ^= 1
			return basicAuth(s.f.Project.ID, string(b))
		}},
		{"secret without its prefix", func(s *scene) string { return basicAuth(s.f.Project.ID, strings.TrimPrefix(s.f.APISecret, "lks_")) }},
		{"unknown project", func(s *scene) string { return basicAuth("prj-000000000000000000000000", s.f.APISecret) }},
		{"another project's secret", func(s *scene) string { return basicAuth(s.f.Project.ID, s.bSecret) }},
		{"this secret for another project", func(s *scene) string { return basicAuth(s.b.ID, s.f.APISecret) }},
		{"project ID with a NUL", func(s *scene) string { return basicAuth(s.f.Project.ID+"\x00", s.f.APISecret) }},
		{"the secret's hash", func(s *scene) string {
			h := sha256.Sum256([]byte(s.f.APISecret))
			return basicAuth(s.f.Project.ID, fmt.Sprintf("%x", h))
		}},
		{"double space after Basic", func(s *scene) string {
			return "Basic  " + strings.TrimPrefix(basicAuth(s.f.Project.ID, s.f.APISecret), "Basic ")
		}},
		{"URL-safe base64", func(s *scene) string {
			return "Basic " + base64.URLEncoding.EncodeToString([]byte(s.f.Project.ID+":"+s.f.APISecret+"?>"))
		}},
	}
	routes := []struct {
		name, method, path, body string
	}{
		{"mint", http.MethodPost, "/v2/connectTokens", `{"type":"passkey-list","data":{"identifier":"u"}}`},
		{"get token", http.MethodGet, "/v2/connectTokens/ctk-000000000000000000000000", ""},
		{"revoke token", http.MethodDelete, "/v2/connectTokens/ctk-000000000000000000000000", ""},
		{"verify", http.MethodPost, "/v2/passkeys/verifySignedData", `{"signedPasskeyData":"a.b.c"}`},
	}
	for _, rt := range routes {
		for _, c := range creds {
			rt, c := rt, c
			out = append(out, advCase{name: rt.name + ": " + c.name, status: 401, typ: "login_error", prepare: func(t *testing.T, s *scene) advRequest {
				var body []byte
				if rt.body != "" {
					body = []byte(rt.body)
				}
				return advRequest{rt.method, rt.path, body, map[string]string{"Authorization": c.header(s)}}
			}})
		}
	}
	out = append(out, advCase{name: "mint: a revoked secret", status: 401, typ: "login_error", prepare: func(t *testing.T, s *scene) advRequest {
		id, secret, err := s.f.Broker.AddSecret(t.Context(), s.f.Project.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.f.Broker.RevokeSecret(t.Context(), s.f.Project.ID, id); err != nil {
			t.Fatal(err)
		}
		return advRequest{http.MethodPost, "/v2/connectTokens", []byte(routes[0].body), map[string]string{"Authorization": basicAuth(s.f.Project.ID, secret)}}
	}})
	out = append(out, advCase{name: "mint: a connect token as the API secret", status: 401, typ: "login_error", prepare: func(t *testing.T, s *scene) advRequest {
		return advRequest{http.MethodPost, "/v2/connectTokens", []byte(routes[0].body),
			map[string]string{"Authorization": basicAuth(s.f.Project.ID, s.token(t, "passkey-list", "alice"))}}
	}})
	return out
}

// originCases call the frontend API from origins the project does not allow.
func originCases() []advCase {
	var out []advCase
	for _, origin := range []string{"https://evil.example", "null", "http://localhost:8080/", "HTTP://LOCALHOST:8080", "http://localhost:8081",
		"http://localhost", "https://localhost:8080", originB, "http://sub.localhost:8080", "http://localhost:8080.evil.example",
		"android:apk-key-hash:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "http://localhost:8080, https://evil.example"} {
		for _, op := range []string{"login/start", "manage/list", "append/finish"} {
			origin, op := origin, op
			out = append(out, advCase{name: op + ": Origin " + fmt.Sprintf("%q", origin), status: 403, typ: "forbidden_origin",
				prepare: func(t *testing.T, s *scene) advRequest {
					return advRequest{http.MethodPost, s.frontPath(op), []byte(`{}`), map[string]string{"Origin": origin}}
				}})
		}
		origin := origin
		out = append(out, advCase{name: "preflight: Origin " + fmt.Sprintf("%q", origin), status: 403, typ: "forbidden_origin",
			prepare: func(t *testing.T, s *scene) advRequest {
				return advRequest{http.MethodOptions, s.frontPath("login/start"), nil, map[string]string{"Origin": origin,
					"Access-Control-Request-Method": "POST"}}
			}})
	}
	out = append(out, advCase{name: "project B's frontend from project A's origin", status: 403, typ: "forbidden_origin",
		prepare: func(t *testing.T, s *scene) advRequest {
			return advRequest{http.MethodPost, s.pathB("login/start"), []byte(`{}`), map[string]string{"Origin": brokertest.Origin}}
		}})
	return out
}

// pathCases name projects and routes that do not exist.
func pathCases() []advCase {
	var out []advCase
	for _, id := range []string{"prj-000000000000000000000000", "prj-%00", "prj-" + strings.Repeat("0", 70), "..", "%2e%2e",
		"prj-%27%20OR%201%3D1", "prj-%C3%A9", "prj-%ff"} {
		id := id
		out = append(out,
			advCase{name: "login/start of project " + id, status: 404, typ: "not_found", prepare: func(t *testing.T, s *scene) advRequest {
				return advRequest{http.MethodPost, "/v2/projects/" + id + "/connect/login/start", []byte(`{}`), nil}
			}},
			advCase{name: "JWKS of project " + id, status: 404, typ: "not_found", prepare: func(t *testing.T, s *scene) advRequest {
				return advRequest{http.MethodGet, "/v2/projects/" + id + "/.well-known/jwks.json", nil, nil}
			}})
	}
	for _, c := range []struct {
		name, method, path string
		status             int
	}{
		{"GET login/start", http.MethodGet, "@/login/start", 404},
		{"PUT append/finish", http.MethodPut, "@/append/finish", 404},
		{"DELETE manage/list", http.MethodDelete, "@/manage/list", 404},
		{"PUT connect token", http.MethodPut, "/v2/connectTokens/ctk-000000000000000000000000", 404},
		{"GET connect tokens", http.MethodGet, "/v2/connectTokens", 404},
		{"unknown operation", http.MethodPost, "@/login/begin", 404},
		{"operation with a trailing slash", http.MethodPost, "@/login/start/", 404},
		{"double slash", http.MethodPost, "/v2/projects//connect/login/start", 404},
		{"v1 API", http.MethodPost, "/v1/connectTokens", 404},
		{"path traversal to the SDK", http.MethodGet, "/web/../go.mod", 404},
		{"encoded path traversal to the SDK", http.MethodGet, "/web/..%2fserver.go", 404},
		{"SDK file of an unserved type", http.MethodGet, "/web/latchkey.go", 404},
	} {
		c := c
		out = append(out, advCase{name: "route: " + c.name, status: c.status, typ: "not_found", prepare: func(t *testing.T, s *scene) advRequest {
			p := strings.Replace(c.path, "@P", s.f.Project.ID, 1)
			if strings.HasPrefix(p, "@") {
				p = "/v2/projects/" + s.f.Project.ID + "/connect" + p[1:]
			}
			h := map[string]string{"Origin": brokertest.Origin}
			if strings.HasPrefix(p, "/v2/connectTokens") {
				h = s.basic()
			}
			return advRequest{c.method, p, []byte(`{}`), h}
		}})
	}
	return out
}

// adversarialCases is the whole suite.
func adversarialCases() []advCase {
	return slices.Concat(bodyCases(), fieldCases(), credentialCases(), tokenCases(), ceremonyCases(), signedDataCases(),
		authCases(), originCases(), pathCases())
}

func TestAdversarial(t *testing.T) {
	cases := adversarialCases()
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("two cases are named %q: every bad input must be distinct", c.name)
		}
		names[c.name] = true
	}
	t.Logf("adversarial: %d distinct bad inputs", len(cases))
	forEachDialect(t, func(t *testing.T, dialect string) {
		s := newScene(t, dialect)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req := tc.prepare(t, s)
				before := s.f.Snapshot(t)
				r := s.do(t, req)
				switch {
				case tc.typ != "":
					env := assertError(t, r, tc.status, tc.typ)
					if tc.field != "" && (len(env.Error.Validation) == 0 || env.Error.Validation[0].Field != tc.field) {
						t.Errorf("error.validation = %+v, want field %q", env.Error.Validation, tc.field)
					}
				case tc.result != "":
					r.wantStatus(t, tc.status)
					if got, _ := r.get("verificationResult").(string); got != tc.result {
						t.Errorf("verificationResult = %q (reason %q), want %q", got, r.get("reason"), tc.result)
					}
				default:
					t.Errorf("the case has no expected answer; got status %d, type %v (%v)", r.Status, r.get("error.type"), r.get("error.details"))
				}
				if diff := cmp.Diff(before, s.f.Snapshot(t)); diff != "" {
					t.Errorf("the bad input changed the store (-before +after):\n%s", diff)
				}
				if h := s.do(t, advRequest{http.MethodGet, "/healthz", nil, nil}); h.Status != http.StatusOK {
					t.Fatalf("after the bad input, /healthz answers %d", h.Status)
				}
			})
		}
		// The scene still works: alice signs in.
		if spd := s.spd(t); spd == "" {
			t.Fatal("no signedPasskeyData after the suite")
		}
	})
	fmt.Printf("adversarial: %d distinct bad inputs\n", len(cases))
}
