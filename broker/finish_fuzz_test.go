package broker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
	"github.com/latchkey/latchkey/signeddata"
)

// The fuzz targets below drive WebAuthn responses end to end through FinishAppend and
// FinishLogin against a live ceremony. The fuzzer mutates the decoded parts (clientDataJSON,
// the CBOR attestation object, authenticator data, signature), and the harness assembles the
// JSON a browser sends; "@CHALLENGE@" and "@ORIGIN@" in clientDataJSON become the live
// ceremony's challenge and the project's origin, so that seeds reach the deep checks. They
// run on PostgreSQL when LATCHKEY_TEST_DATABASE_URL is set (the stricter store).

// fuzzDialect is PostgreSQL when configured, else SQLite.
func fuzzDialect(f *testing.F) string {
	d := brokertest.Dialects(f)
	return d[len(d)-1]
}

// stopClock stops the broker's clock, so that the live ceremonies of a long fuzzing run do
// not expire (a run that found ErrCeremonyNotFound after five minutes taught us).
func stopClock(b *broker.Broker) {
	now := time.Now()
	b.Now = func() time.Time { return now }
}

// liveTemplate replaces the placeholders of a clientDataJSON template.
func liveTemplate(cd []byte, challenge string) []byte {
	cd = bytes.ReplaceAll(cd, []byte("@CHALLENGE@"), []byte(challenge))
	return bytes.ReplaceAll(cd, []byte("@ORIGIN@"), []byte(brokertest.Origin))
}

// checkFinishError fails the test unless err is one of the kinds a finish may return for a
// bad response to a live ceremony; anything else (a store error, an internal error) is a bug.
func checkFinishError(t *testing.T, call string, err error) {
	t.Helper()
	var (
		verr *broker.ValidationError
		uerr *broker.UnknownCredentialError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &uerr), errors.Is(err, broker.ErrVerificationFailed), errors.Is(err, broker.ErrAlreadyExists):
	default:
		t.Fatalf("%s = %v (%T), want nil, a ValidationError, UnknownCredentialError, ErrVerificationFailed or ErrAlreadyExists", call, err, err)
	}
}

func FuzzFinishAppend(f *testing.F) {
	fx := brokertest.New(f, fuzzDialect(f))
	b, ctx, pid := fx.Broker, context.Background(), fx.Project.ID
	stopClock(b)
	p, err := b.Project(ctx, pid)
	if err != nil {
		f.Fatal(err)
	}
	p.Policy.UserVerification = broker.Required
	if _, err := b.SetPolicy(ctx, pid, p.Policy); err != nil {
		f.Fatal(err)
	}
	var (
		ceremony  string
		challenge string
	)
	restart := func(tb testing.TB) {
		tok, err := b.MintConnectToken(ctx, pid, broker.MintRequest{Type: string(connecttoken.TypeAppend),
			Data: broker.ConnectTokenData{Identifier: "fuzz", DisplayName: "Fuzz"}})
		if err != nil {
			tb.Fatal(err)
		}
		start, err := b.StartAppend(ctx, pid, tok.Secret, false)
		if err != nil {
			tb.Fatal(err)
		}
		raw, _ := json.Marshal(start.PublicKey)
		ceremony, challenge = start.CeremonyID, softauthn.ChallengeOf(raw)
	}
	restart(f)

	// Seeds: valid attestation objects of each format the forging authenticator makes, and
	// known-bad ones.
	uv := byte(softauthn.FlagUP | softauthn.FlagUV)
	cd := softauthn.ClientData("webauthn.create", "@CHALLENGE@", "@ORIGIN@")
	add := func(clientData, attObj, credID []byte, transport, ext string) {
		f.Add(clientData, attObj, credID, transport, ext)
	}
	for _, k := range []softauthn.Key{softauthn.NewES256Key(), softauthn.NewEd25519Key(), softauthn.NewRSAKey(2048)} {
		ad := softauthn.AuthData{Flags: uv | softauthn.FlagAT, Attested: true, AAGUID: make([]byte, 16), CredID: k.ID, PublicKey: k.COSE()}
		add(cd, softauthn.AttestationObject("none", nil, ad.Bytes()), k.ID, "internal", `{}`)
		add(cd, softauthn.AttestationObject("packed", map[string]any{"alg": int64(-7), "sig": []byte{0x30, 0x00}}, ad.Bytes()), k.ID, "usb", `{"credProps":{"rk":true}}`)
		noUV := ad
		noUV.Flags = softauthn.FlagUP | softauthn.FlagAT
		add(cd, softauthn.AttestationObject("none", nil, noUV.Bytes()), k.ID, "hybrid", `{}`)
		ed := ad
		ed.Flags |= softauthn.FlagED
		ed.Extensions = softauthn.CBOR(map[string]any{"credProtect": 2})
		add(cd, softauthn.AttestationObject("none", nil, ed.Bytes()), k.ID, "nfc", `{}`)
	}
	ec := softauthn.NewES256Key()
	attKey, cert := softauthn.NewAttestationCert(make([]byte, 16))
	var reg map[string]any
	_ = json.Unmarshal(ec.PackedRegistration([]byte(`{"challenge":"AAAA"}`), brokertest.Origin, uv, make([]byte, 16), attKey, cert), &reg)
	if r, ok := reg["response"].(map[string]any); ok {
		att, _ := unb64Maybe(r["attestationObject"].(string))
		add(cd, att, ec.ID, "internal", `{}`)
	}
	// The software authenticator's packed self attestation (its signature covers another
	// challenge).
	sa := softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
	var sr map[string]any
	if raw, err := sa.Create([]byte(`{"challenge":"MDEyMzQ1Njc4OWFiY2RlZg","rp":{"id":"localhost"},"user":{"id":"dQ"}}`)); err == nil {
		_ = json.Unmarshal(raw, &sr)
	}
	if r, ok := sr["response"].(map[string]any); ok {
		att, _ := unb64Maybe(r["attestationObject"].(string))
		add(cd, att, sa.Creds[0].ID, "internal", `{}`)
	}
	for _, bad := range [][]byte{nil, {0xa0}, {0xa3}, {0x9f, 0xff}, {0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		bytes.Repeat([]byte{0x81}, 64), {0xbf, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0xff}} {
		add(cd, bad, ec.ID, "internal", `{}`)
	}
	add([]byte(`{"type":"webauthn.get","challenge":"@CHALLENGE@","origin":"@ORIGIN@"}`), nil, ec.ID, "", `null`)
	add([]byte(`not json`), nil, nil, "\x00", `{"credProps":{"rk":false}}`)

	passkeys := func(t *testing.T) int {
		n, err := fx.Store.CountRows(ctx, "passkeys")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	f.Fuzz(func(t *testing.T, clientData, attObj, credID []byte, transport, ext string) {
		if !json.Valid([]byte(ext)) {
			ext = `{}`
		}
		body, err := json.Marshal(map[string]any{
			"id": b64(credID), "rawId": b64(credID), "type": "public-key",
			"clientExtensionResults": json.RawMessage(ext),
			"response": map[string]any{"clientDataJSON": b64(liveTemplate(clientData, challenge)), "attestationObject": b64(attObj),
				"transports": []string{transport}},
		})
		if err != nil {
			t.Skip("not encodable as JSON")
		}
		before := passkeys(t)
		pk, err := b.FinishAppend(ctx, pid, ceremony, body)
		if err != nil {
			checkFinishError(t, "FinishAppend", err)
			if n := passkeys(t); n != before {
				t.Fatalf("a failed FinishAppend changed the passkeys from %d to %d", before, n)
			}
			return
		}
		if !pk.UserVerified {
			t.Fatalf("FinishAppend accepted a response without UV under a policy that requires it: %s", body)
		}
		if n := passkeys(t); n != before+1 {
			t.Fatalf("a successful FinishAppend left %d passkeys, want %d", n, before+1)
		}
		restart(t)
	})
}

func FuzzFinishLogin(f *testing.F) {
	fx := brokertest.New(f, fuzzDialect(f))
	b, ctx, pid := fx.Broker, context.Background(), fx.Project.ID
	stopClock(b)
	p, err := b.Project(ctx, pid)
	if err != nil {
		f.Fatal(err)
	}
	p.Policy.UserVerification = broker.Required
	if _, err := b.SetPolicy(ctx, pid, p.Policy); err != nil {
		f.Fatal(err)
	}
	key := softauthn.NewES256Key()
	tok, err := b.MintConnectToken(ctx, pid, broker.MintRequest{Type: string(connecttoken.TypeAppend),
		Data: broker.ConnectTokenData{Identifier: "fuzz", DisplayName: "Fuzz"}})
	if err != nil {
		f.Fatal(err)
	}
	start, err := b.StartAppend(ctx, pid, tok.Secret, false)
	if err != nil {
		f.Fatal(err)
	}
	creation, _ := json.Marshal(start.PublicKey)
	if _, err := b.FinishAppend(ctx, pid, start.CeremonyID,
		key.Registration(creation, brokertest.Origin, softauthn.FlagUP|softauthn.FlagUV, nil, nil)); err != nil {
		f.Fatal(err)
	}
	var opts struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	_ = json.Unmarshal(creation, &opts)
	handle, _ := unb64Maybe(opts.User.ID)
	keys, err := signeddata.ParseJWKS(mustJWKS(f, b, pid))
	if err != nil {
		f.Fatal(err)
	}

	// Two live ceremonies: identifier-first and usernameless.
	ceremonies := map[bool]*struct{ id, challenge string }{false: {}, true: {}}
	restart := func(tb testing.TB, usernameless bool) {
		req := broker.LoginRequest{Identifier: "fuzz"}
		if usernameless {
			req = broker.LoginRequest{}
		}
		s, err := b.StartLogin(ctx, pid, req)
		if err != nil || s.PublicKey == nil {
			tb.Fatalf("StartLogin(%+v) = %+v, %v", req, s, err)
		}
		raw, _ := json.Marshal(s.PublicKey)
		ceremonies[usernameless].id, ceremonies[usernameless].challenge = s.CeremonyID, softauthn.ChallengeOf(raw)
	}
	restart(f, false)
	restart(f, true)

	// mode: bit 0 signs authData with the passkey's key (else sig is used), bit 1 sends the
	// passkey's user handle (else userHandle, none if empty), bit 2 sends the passkey's
	// credential ID (else credID), bit 3 the usernameless ceremony.
	cd := softauthn.ClientData("webauthn.get", "@CHALLENGE@", "@ORIGIN@")
	good := softauthn.AuthData{Flags: softauthn.FlagUP | softauthn.FlagUV}
	for _, mode := range []uint8{0b0111, 0b1111, 0b0101, 0b1101} {
		f.Add(cd, good.Bytes(), []byte(nil), []byte(nil), []byte(nil), mode)
	}
	for _, ad := range []softauthn.AuthData{
		{Flags: softauthn.FlagUP},
		{Flags: softauthn.FlagUV},
		{Flags: softauthn.FlagUP | softauthn.FlagUV | softauthn.FlagED, Extensions: softauthn.CBOR(map[string]any{"x": 1})},
		{Flags: softauthn.FlagUP | softauthn.FlagUV | softauthn.FlagED, Extensions: []byte{0xff}},
		{Flags: softauthn.FlagUP | softauthn.FlagUV, Extensions: []byte{0xa0}},
		{Flags: softauthn.FlagUP | softauthn.FlagUV | softauthn.FlagAT, Attested: true, CredID: key.ID, PublicKey: key.COSE()},
		{Flags: softauthn.FlagUP | softauthn.FlagUV | softauthn.FlagBS},
		{Flags: softauthn.FlagUP | softauthn.FlagUV, RPIDHash: make([]byte, 32)},
	} {
		f.Add(cd, ad.Bytes(), []byte(nil), []byte(nil), []byte(nil), uint8(0b0111))
	}
	raw := good.Bytes()
	f.Add(cd, raw[:36], []byte(nil), []byte(nil), []byte(nil), uint8(0b0111))
	f.Add(cd, raw, key.Sign(raw, liveTemplate(cd, "AAAA")), []byte("someone else"), []byte{1, 2, 3}, uint8(0))
	f.Add([]byte(`{"type":"webauthn.create","challenge":"@CHALLENGE@","origin":"@ORIGIN@"}`), raw, []byte(nil), []byte(nil), []byte(nil), uint8(0b0111))
	f.Add([]byte(`{"type":"webauthn.get","challenge":"@CHALLENGE@","origin":"@ORIGIN@","tokenBinding":{"status":"present"}}`), raw, []byte(nil), []byte(nil), []byte(nil), uint8(0b1111))

	f.Fuzz(func(t *testing.T, clientData, authData, sig, userHandle, credID []byte, mode uint8) {
		usernameless := mode&8 != 0
		c := ceremonies[usernameless]
		clientData = liveTemplate(clientData, c.challenge)
		if mode&1 != 0 {
			sig = key.Sign(authData, clientData)
		}
		if mode&2 != 0 {
			userHandle = handle
		} else if len(userHandle) == 0 {
			userHandle = nil
		}
		if mode&4 != 0 {
			credID = key.ID
		}
		body := softauthn.AssertionJSON(credID, clientData, authData, sig, userHandle)
		res, err := b.FinishLogin(ctx, pid, c.id, body)
		if err != nil {
			checkFinishError(t, "FinishLogin", err)
			return
		}
		if len(authData) < 33 || authData[32]&softauthn.FlagUP == 0 || authData[32]&softauthn.FlagUV == 0 {
			t.Fatalf("FinishLogin accepted authenticator data %x without UP and UV", authData)
		}
		claims, err := signeddata.Verify(res.SignedPasskeyData, keys, pid, b.Now(), signeddata.DefaultLeeway)
		if err != nil || claims.Username != "fuzz" || !claims.UV || claims.IsCUI {
			t.Fatalf("FinishLogin gave signedPasskeyData %+v, %v", claims, err)
		}
		restart(t, usernameless)
	})
}

func unb64Maybe(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(s)
}

func mustJWKS(tb testing.TB, b *broker.Broker, pid string) []byte {
	tb.Helper()
	jwks, err := b.JWKS(context.Background(), pid)
	if err != nil {
		tb.Fatal(err)
	}
	return jwks
}
