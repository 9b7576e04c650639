package broker_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/broker/sqlstore"
)

func TestAndroidOrigin(t *testing.T) {
	for _, tc := range []struct{ fingerprint, origin string }{
		// From ls1intum/Artemis, AndroidApkKeyHashUtilTest (MIT), a known answer computed
		// independently of this code.
		{"D2:E1:A6:6F:8C:00:55:97:9F:30:2F:3D:79:A9:5D:78:85:1F:C5:21:5A:7F:81:B3:BF:60:22:71:EF:6F:60:24",
			"android:apk-key-hash:0uGmb4wAVZefMC89ealdeIUfxSFaf4Gzv2Aice9vYCQ"},
		// Lower case is the same fingerprint.
		{"d2:e1:a6:6f:8c:00:55:97:9f:30:2f:3d:79:a9:5d:78:85:1f:c5:21:5a:7f:81:b3:bf:60:22:71:ef:6f:60:24",
			"android:apk-key-hash:0uGmb4wAVZefMC89ealdeIUfxSFaf4Gzv2Aice9vYCQ"},
	} {
		got, err := broker.AndroidOrigin(tc.fingerprint)
		if err != nil || got != tc.origin {
			t.Errorf("AndroidOrigin(%q) = %q, %v, want %q", tc.fingerprint, got, err, tc.origin)
		}
		back, ok := broker.FingerprintOfOrigin(tc.origin)
		if !ok || back != strings.ToUpper(tc.fingerprint) {
			t.Errorf("FingerprintOfOrigin(%q) = %q, %v, want %q", tc.origin, back, ok, strings.ToUpper(tc.fingerprint))
		}
	}
	for _, bad := range []string{
		"",
		"D2E1A66F8C0055979F302F3D79A95D78851FC5215A7F81B3BF602271EF6F6024",                                   // no colons
		"D2:E1:A6:6F:8C:00:55:97:9F:30:2F:3D:79:A9:5D:78:85:1F:C5:21",                                        // SHA-1 (20 bytes)
		"D2:E1:A6:6F:8C:00:55:97:9F:30:2F:3D:79:A9:5D:78:85:1F:C5:21:5A:7F:81:B3:BF:60:22:71:EF:6F:60:24:00", // 33 bytes
		"D2:E1:A6:6F:8C:00:55:97:9F:30:2F:3D:79:A9:5D:78:85:1F:C5:21:5A:7F:81:B3:BF:60:22:71:EF:6F:60:2G",    // not hex
		"D2:E1:A6:6F:8C:00:55:97:9F:30:2F:3D:79:A9:5D:78:85:1F:C5:21:5A:7F:81:B3:BF:60:22:71:EF:6F:60:2",     // odd digit
		"D2-E1-A6-6F-8C-00-55-97-9F-30-2F-3D-79-A9-5D-78-85-1F-C5-21-5A-7F-81-B3-BF-60-22-71-EF-6F-60-24",    // dashes
	} {
		if got, err := broker.AndroidOrigin(bad); err == nil {
			t.Errorf("AndroidOrigin(%q) = %q, nil, want an error", bad, got)
		}
	}
	if _, ok := broker.FingerprintOfOrigin("https://example.com"); ok {
		t.Error("FingerprintOfOrigin(https://example.com) = ok")
	}
}

func TestAppIdentifiers(t *testing.T) {
	for _, tc := range []struct {
		pkg string
		ok  bool
	}{
		{"com.example.shop", true}, {"com.example.shop_2", true}, {"a.b", true},
		{"shop", false}, {"com..shop", false}, {"com.1shop", false}, {".com.shop", false}, {"com.shop.", false},
		{"com.ex-ample", false}, {"com.example/shop", false}, {"", false}, {"com." + strings.Repeat("a", 260), false},
	} {
		if err := broker.ValidatePackageName(tc.pkg); (err == nil) != tc.ok {
			t.Errorf("ValidatePackageName(%q) = %v, want ok %v", tc.pkg, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"ABCDE12345.com.example.shop", true}, {"ABCDE12345.shop", true}, {"ABCDE12345.com.example-shop", true},
		{"abcde12345.com.example.shop", false}, {"ABCDE1234.com.example.shop", false}, {"ABCDE123456.com.example.shop", false},
		{"ABCDE12345", false}, {"ABCDE12345.", false}, {"ABCDE12345.com..shop", false}, {"ABCDE12345.com.example_shop", false},
		{"ABCDE-1234.com.example.shop", false},
	} {
		if err := broker.ValidateAppID(tc.id); (err == nil) != tc.ok {
			t.Errorf("ValidateAppID(%q) = %v, want ok %v", tc.id, err, tc.ok)
		}
	}
}

// randomFingerprint returns the colon-hex SHA-256 fingerprint of a made-up certificate.
func randomFingerprint(t *testing.T) string {
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

func TestAddAppRefusesBadInput(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		good := randomFingerprint(t)
		before := e.Snapshot(t)
		apps := func() int {
			n, err := e.Store.CountRows(e.ctx, "apps")
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, tc := range []struct {
			name  string
			in    broker.NewApp
			field string
		}{
			{"nothing", broker.NewApp{}, "android"},
			{"both platforms", broker.NewApp{Android: "com.example.shop", SHA256: []string{good}, IOS: "ABCDE12345.com.example.shop"}, "ios"},
			{"no fingerprint", broker.NewApp{Android: "com.example.shop"}, "sha256CertFingerprints"},
			{"SHA-1 fingerprint", broker.NewApp{Android: "com.example.shop", SHA256: []string{good[:59]}}, "sha256CertFingerprints"},
			{"one bad among good", broker.NewApp{Android: "com.example.shop", SHA256: []string{good, "AA:BB"}}, "sha256CertFingerprints"},
			{"bad package", broker.NewApp{Android: "shop", SHA256: []string{good}}, "android"},
			{"bad team ID", broker.NewApp{IOS: "abcde.com.example.shop"}, "ios"},
			{"bad bundle ID", broker.NewApp{IOS: "ABCDE12345.com/example"}, "ios"},
			{"fingerprint on iOS", broker.NewApp{IOS: "ABCDE12345.com.example.shop", SHA256: []string{good}}, "sha256CertFingerprints"},
		} {
			_, err := e.Broker.AddApp(e.ctx, e.pid, tc.in)
			wantValidation(t, "AddApp("+tc.name+")", err, tc.field)
		}
		_, err := e.Broker.AddApp(e.ctx, "prj-nosuch", broker.NewApp{IOS: "ABCDE12345.com.example.shop"})
		wantErr(t, "AddApp(unknown project)", err, broker.ErrNotFound)
		if n := apps(); n != 0 || e.Snapshot(t) != before {
			t.Fatalf("after refused AddApps: %d apps, store changed: %v", n, e.Snapshot(t) != before)
		}
		a, err := e.Broker.AddApp(e.ctx, e.pid, broker.NewApp{Android: " com.example.shop ", SHA256: []string{strings.ToLower(good), good}})
		if err != nil {
			t.Fatalf("AddApp() = %v", err)
		}
		if !cmp.Equal(a.Fingerprints, []string{good}) || a.Identifier != "com.example.shop" {
			t.Errorf("AddApp() = %+v, want the package trimmed and one upper-case fingerprint %s", a, good)
		}
		_, err = e.Broker.AddApp(e.ctx, e.pid, broker.NewApp{Android: "com.example.shop", SHA256: []string{randomFingerprint(t)}})
		wantErr(t, "AddApp(same package again)", err, broker.ErrAlreadyExists)
		if n := apps(); n != 1 {
			t.Errorf("%d apps, want 1", n)
		}
		// Another project's app is not found here.
		other := e.addProject(t)
		wantErr(t, "RemoveApp(other project's app)", other.Broker.RemoveApp(e.ctx, other.pid, a.ID), broker.ErrNotFound)
		if err := e.Broker.RemoveApp(e.ctx, e.pid, a.ID); err != nil {
			t.Fatalf("RemoveApp() = %v", err)
		}
		wantErr(t, "RemoveApp(again)", e.Broker.RemoveApp(e.ctx, e.pid, a.ID), broker.ErrNotFound)
	})
}

// androidAuthenticator returns an authenticator that answers as Credential Manager does
// for package pkg signed with the certificate of fingerprint.
func androidAuthenticator(t *testing.T, pkg, fingerprint string) *softauthn.Authenticator {
	t.Helper()
	origin, err := broker.AndroidOrigin(fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	a := softauthn.NewAuthenticator(brokertest.RPID, origin)
	a.AndroidPackage = pkg
	a.BackupEligible, a.BackedUp = true, true
	return a
}

// clientDataOf returns the decoded clientDataJSON of a response as a map.
func clientDataOf(t *testing.T, response []byte) map[string]any {
	t.Helper()
	var r struct {
		Response struct {
			ClientDataJSON string `json:"clientDataJSON"`
		} `json:"response"`
	}
	if err := json.Unmarshal(response, &r); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(r.Response.ClientDataJSON)
	if err != nil {
		t.Fatal(err)
	}
	var cd map[string]any
	if err := json.Unmarshal(raw, &cd); err != nil {
		t.Fatal(err)
	}
	return cd
}

// TestNativeAppCeremonies runs append and login (identifier-first and usernameless) for an
// Android app signed with each of two certificates, with responses shaped as Credential
// Manager's (androidPackageName, no crossOrigin, with and without clientExtensionResults),
// and for an iOS app (https://<RP ID>), with only the apps added, no origin by hand.
func TestNativeAppCeremonies(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		f1, f2 := randomFingerprint(t), randomFingerprint(t)
		app, err := e.Broker.AddApp(e.ctx, e.pid, broker.NewApp{Android: "com.example.shop", SHA256: []string{f1, f2}})
		if err != nil {
			t.Fatalf("AddApp() = %v", err)
		}
		if len(app.Origins) != 2 {
			t.Fatalf("AddApp().Origins = %v, want one per fingerprint", app.Origins)
		}
		for i, f := range []string{f1, f2} {
			a := androidAuthenticator(t, "com.example.shop", f)
			a.NoExtensionResults = i == 1
			user := fmt.Sprintf("android-%d", i)
			start := e.startAppend(t, user)
			resp := create(t, a, start)
			cd := clientDataOf(t, resp)
			if cd["androidPackageName"] != "com.example.shop" || cd["origin"] != app.Origins[i] || cd["crossOrigin"] != nil {
				t.Fatalf("clientDataJSON = %v, want Credential Manager's shape", cd)
			}
			if strings.Contains(string(resp), "clientExtensionResults") != (i == 0) {
				t.Fatalf("response %s: clientExtensionResults present = %v", resp, !a.NoExtensionResults)
			}
			pk, err := e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, resp)
			if err != nil {
				t.Fatalf("FinishAppend(fingerprint %d) = %v", i, err)
			}
			if !pk.BackupEligible || pk.UserID == "" {
				t.Errorf("FinishAppend(fingerprint %d) = %+v", i, pk)
			}
			res := e.login(t, a, broker.LoginRequest{Identifier: user})
			if res.Username != user {
				t.Errorf("login(fingerprint %d) = %+v", i, res)
			}
			res = e.login(t, a, broker.LoginRequest{})
			if res.Username != user {
				t.Errorf("usernameless login(fingerprint %d) = %+v", i, res)
			}
		}

		// iOS: AuthenticationServices presents https://<RP ID>, which the project does not
		// list until the app is added.
		ios := softauthn.NewAuthenticator(brokertest.RPID, "https://"+brokertest.RPID)
		start := e.startAppend(t, "ios")
		_, err = e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, ios, start))
		var om *broker.OriginMismatchError
		if !errors.As(err, &om) || om.Presented != "https://"+brokertest.RPID {
			t.Fatalf("FinishAppend(iOS, no iOS app) = %v, want an OriginMismatchError", err)
		}
		if _, err := e.Broker.AddApp(e.ctx, e.pid, broker.NewApp{IOS: "ABCDE12345.com.example.shop"}); err != nil {
			t.Fatalf("AddApp(iOS) = %v", err)
		}
		e.register(t, ios, "ios")
		if res := e.login(t, ios, broker.LoginRequest{}); res.Username != "ios" {
			t.Errorf("iOS login = %+v", res)
		}

		// Removing the Android app refuses its origins at once.
		a := androidAuthenticator(t, "com.example.shop", f1)
		start = e.startAppend(t, "after-removal")
		if err := e.Broker.RemoveApp(e.ctx, e.pid, app.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.Broker.FinishAppend(e.ctx, e.pid, start.CeremonyID, create(t, a, start))
		wantErr(t, "FinishAppend(removed app)", err, broker.ErrVerificationFailed)
	})
}

// TestExplicitAndroidOriginStillWorks: a project that lists an android:apk-key-hash origin
// by hand, as before apps existed, accepts that app without an app entry.
func TestExplicitAndroidOriginStillWorks(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		f := randomFingerprint(t)
		origin, _ := broker.AndroidOrigin(f)
		p, _ := e.AddProject(t, brokertest.RPID, brokertest.Origin, origin)
		pe := e.inProject(p)
		a := androidAuthenticator(t, "com.example.legacy", f)
		pe.register(t, a, "legacy")
		if res := pe.login(t, a, broker.LoginRequest{}); res.Username != "legacy" {
			t.Errorf("login = %+v", res)
		}
	})
}

func TestOriginMismatchDetails(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		listed, unknown := randomFingerprint(t), randomFingerprint(t)
		app, err := e.Broker.AddApp(e.ctx, e.pid, broker.NewApp{Android: "com.example.shop", SHA256: []string{listed}})
		if err != nil {
			t.Fatal(err)
		}
		a := androidAuthenticator(t, "com.example.shop", listed)
		e.register(t, a, "alice")
		before := e.Snapshot(t)

		rogue := androidAuthenticator(t, "com.example.shop", unknown)
		rogue.Import(a, b64(a.Creds[0].ID))
		start := e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		_, err = e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, rogue, start))
		wantErr(t, "FinishLogin(unlisted certificate)", err, broker.ErrVerificationFailed)
		var om *broker.OriginMismatchError
		if !errors.As(err, &om) {
			t.Fatalf("FinishLogin() = %v, want an *OriginMismatchError", err)
		}
		wantPresented, _ := broker.AndroidOrigin(unknown)
		want := &broker.OriginMismatchError{Presented: wantPresented, Expected: append(slices.Clone(e.Project.Origins), app.Origins...),
			Fingerprint: unknown, PackageName: "com.example.shop", ProjectID: e.pid}
		if diff := cmp.Diff(want, om); diff != "" {
			t.Errorf("OriginMismatchError (-want +got):\n%s", diff)
		}
		detail := broker.Detail(err)
		for _, s := range []string{wantPresented, app.Origins[0], brokertest.Origin, unknown, "latchkey project app add --project " + e.pid} {
			if !strings.Contains(detail, s) {
				t.Errorf("Detail() = %q, want it to name %q", detail, s)
			}
		}
		if ch := b64(start.PublicKey.Challenge); strings.Contains(detail, ch) || strings.Contains(detail, e.APISecret) {
			t.Errorf("Detail() = %q holds the challenge or a secret", detail)
		}
		// A failed finish changes nothing but the ceremony's failure count and the audit log.
		if e.Snapshot(t) != before {
			t.Error("the failed login changed users, passkeys, ceremonies or tokens")
		}
		// A web origin that is not the project's is named too, without a fingerprint.
		evil := softauthn.NewAuthenticator(brokertest.RPID, "https://evil.example")
		evil.Import(a, b64(a.Creds[0].ID))
		start = e.startLogin(t, broker.LoginRequest{Identifier: "alice"})
		_, err = e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, evil, start))
		if !errors.As(err, &om) || om.Presented != "https://evil.example" || om.Fingerprint != "" {
			t.Errorf("FinishLogin(evil.example) = %#v, want an OriginMismatchError without fingerprint", err)
		}
	})
}

// nativeFixture is a response recorded on a device, with what its ceremony was: see
// testdata/native/SOURCES.md.
type nativeFixture struct {
	Source              string          `json:"source"`
	RPID                string          `json:"rpID"`
	Challenge           string          `json:"challenge"`
	Origin              string          `json:"origin"`
	CredentialPublicKey string          `json:"credentialPublicKey"`
	Response            json.RawMessage `json:"response"`
}

func readFixture(t *testing.T, name string) nativeFixture {
	t.Helper()
	raw, err := os.ReadFile("testdata/native/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var f nativeFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestReplayAndroidAssertion replays a login response that Android's FIDO2 API made on a
// device for the app com.fido.example.fido2apiexample (SimpleWebAuthn's fixture, see
// testdata/native/SOURCES.md): androidPackageName in clientDataJSON, no Origin header, an
// extension (devicePubKey) in the authenticator data, userHandle in padded base64. The
// project knows the app only by package name and certificate fingerprint.
//
// What it proves, exactly: the broker parses the recorded bytes, refuses the apk-key-hash
// origin until the app is added (naming its certificate and package), and once the app is
// added gets past the origin, challenge, RP ID hash (try-webauthn.appspot.com) and flags to
// the signature. The signature cannot verify: the fixture's public key belongs to another
// credential (SimpleWebAuthn's test checks only the extension output, not "verified"), so
// the last step is asserted to fail on the signature and nothing else.
func TestReplayAndroidAssertion(t *testing.T) {
	fx := readFixture(t, "android-assertion.json")
	var resp struct {
		ID       string `json:"id"`
		Response struct {
			UserHandle string `json:"userHandle"`
		} `json:"response"`
	}
	if err := json.Unmarshal(fx.Response, &resp); err != nil {
		t.Fatal(err)
	}
	userHandle, err := base64.URLEncoding.DecodeString(resp.Response.UserHandle) // padded in the fixture
	if err != nil {
		t.Fatal(err)
	}
	fingerprint, ok := broker.FingerprintOfOrigin(fx.Origin)
	if !ok {
		t.Fatalf("the fixture's origin %q is not an apk-key-hash origin", fx.Origin)
	}
	forDialects(t, func(t *testing.T, e *env) {
		p, _ := e.AddProject(t, fx.RPID, "https://"+fx.RPID)
		now := e.clock.Now().UnixMilli()
		err := e.Store.InTx(e.ctx, func(tx *sqlstore.Tx) error {
			if err := tx.InsertUser(e.ctx, sqlstore.User{ID: "usr-android", ProjectID: p.ID, Identifier: "android-user", DisplayName: "Android",
				WebAuthnID: b64(userHandle), CreatedAt: now}); err != nil {
				return err
			}
			return tx.InsertPasskey(e.ctx, sqlstore.Passkey{ProjectID: p.ID, CredentialID: resp.ID, UserID: "usr-android",
				PublicKey: fx.CredentialPublicKey, Transports: sqlstore.List[string]{}, Label: "Passkey", CreatedAt: now})
		})
		if err != nil {
			t.Fatal(err)
		}
		finish := func() (broker.LoginResult, error) {
			t.Helper()
			id, err := e.Broker.StartWithChallenge(e.ctx, p.ID, "login", "", fx.Challenge)
			if err != nil {
				t.Fatal(err)
			}
			return e.Broker.FinishLogin(e.ctx, p.ID, id, fx.Response)
		}
		// Without the app, the origin is refused, and the error names the certificate and package.
		_, err = finish()
		var om *broker.OriginMismatchError
		if !errors.As(err, &om) || om.Fingerprint != fingerprint || om.PackageName != "com.fido.example.fido2apiexample" || om.Presented != fx.Origin {
			t.Fatalf("FinishLogin(no app) = %v, want an origin mismatch naming %s and the package", err, fingerprint)
		}
		if _, err := e.Broker.AddApp(e.ctx, p.ID, broker.NewApp{Android: "com.fido.example.fido2apiexample", SHA256: []string{fingerprint}}); err != nil {
			t.Fatal(err)
		}
		_, err = finish()
		wantErr(t, "FinishLogin(recorded Android response)", err, broker.ErrVerificationFailed)
		if errors.As(err, &om) || !strings.HasPrefix(broker.Detail(err), "Error validating the assertion signature") {
			t.Fatalf("FinishLogin(recorded Android response, app added) = %v, want a failure at the signature only", err)
		}
	})
}

// TestReplayAppleRegistration replays a registration that an Apple platform authenticator
// made (go-webauthn's "apple" attestation fixture, from Safari on iOS 14): WebKit's
// clientDataJSON (no crossOrigin member), an https origin, no authenticatorAttachment and no
// clientExtensionResults. The project lists another origin by hand and accepts
// https://<RP ID> only once its iOS app is added, which is the origin AuthenticationServices
// presents.
func TestReplayAppleRegistration(t *testing.T) {
	fx := readFixture(t, "apple-registration.json")
	if strings.Contains(string(fx.Response), "clientExtensionResults") || strings.Contains(string(fx.Response), "authenticatorAttachment") {
		t.Fatal("the fixture was expected without clientExtensionResults and authenticatorAttachment")
	}
	forDialects(t, func(t *testing.T, e *env) {
		p, _ := e.AddProject(t, fx.RPID, "https://www."+fx.RPID)
		u, err := e.Broker.CreateUser(e.ctx, p.ID, broker.NewUser{Identifier: "ios-user", DisplayName: "iOS"})
		if err != nil {
			t.Fatal(err)
		}
		response := withAttestedID(t, fx.Response)
		finish := func() (broker.Passkey, error) {
			t.Helper()
			id, err := e.Broker.StartWithChallenge(e.ctx, p.ID, "append", u.ID, fx.Challenge)
			if err != nil {
				t.Fatal(err)
			}
			return e.Broker.FinishAppend(e.ctx, p.ID, id, response)
		}
		_, err = finish()
		var om *broker.OriginMismatchError
		if !errors.As(err, &om) || om.Presented != fx.Origin {
			t.Fatalf("FinishAppend(no iOS app) = %v, want an origin mismatch for %s", err, fx.Origin)
		}
		if _, err := e.Broker.AddApp(e.ctx, p.ID, broker.NewApp{IOS: "ABCDE12345.com.example.shop"}); err != nil {
			t.Fatal(err)
		}
		pk, err := finish()
		if err != nil {
			t.Fatalf("FinishAppend(recorded Apple response) = %v", err)
		}
		if pk.UserID != u.ID {
			t.Errorf("FinishAppend() = %+v, want a passkey of %s", pk, u.ID)
		}
	})
}

func TestWellKnownFiles(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		w, err := e.Broker.WellKnown(e.ctx, e.pid)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{broker.AssetLinksFile, broker.AppleAssociationFile, broker.PasskeyEndpointsFile} {
			if body, ok := w.File(name); ok {
				t.Errorf("File(%s) of a project without apps or endpoints = %s", name, body)
			}
		}
		f1, f2 := randomFingerprint(t), randomFingerprint(t)
		for _, in := range []broker.NewApp{
			{Android: "com.example.shop", SHA256: []string{f1, f2}},
			{Android: "com.example.wallet", SHA256: []string{f2}},
			{IOS: "ABCDE12345.com.example.shop"},
			{IOS: "VWXYZ67890.com.example.wallet"},
		} {
			if _, err := e.Broker.AddApp(e.ctx, e.pid, in); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Millisecond) // apps are listed oldest first
		}
		err = e.Broker.SetPasskeyEndpoints(e.ctx, e.pid, broker.PasskeyEndpoints{Enroll: "https://shop.example/passkeys/new", Manage: "https://shop.example/account"})
		if err != nil {
			t.Fatal(err)
		}
		wantValidation(t, "SetPasskeyEndpoints(http)", e.Broker.SetPasskeyEndpoints(e.ctx, e.pid, broker.PasskeyEndpoints{Enroll: "http://shop.example/x"}), "enroll")
		wantValidation(t, "SetPasskeyEndpoints(relative)", e.Broker.SetPasskeyEndpoints(e.ctx, e.pid, broker.PasskeyEndpoints{Manage: "/account"}), "manage")
		if w, err = e.Broker.WellKnown(e.ctx, e.pid); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			broker.AssetLinksFile: []any{
				map[string]any{"relation": []any{"delegate_permission/common.handle_all_urls", "delegate_permission/common.get_login_creds"},
					"target": map[string]any{"namespace": "android_app", "package_name": "com.example.shop", "sha256_cert_fingerprints": []any{f1, f2}}},
				map[string]any{"relation": []any{"delegate_permission/common.handle_all_urls", "delegate_permission/common.get_login_creds"},
					"target": map[string]any{"namespace": "android_app", "package_name": "com.example.wallet", "sha256_cert_fingerprints": []any{f2}}},
			},
			broker.AppleAssociationFile: map[string]any{"webcredentials": map[string]any{"apps": []any{"ABCDE12345.com.example.shop", "VWXYZ67890.com.example.wallet"}}},
			broker.RelatedOriginsFile:   map[string]any{"origins": []any{brokertest.Origin, "http://localhost:3000"}},
			broker.PasskeyEndpointsFile: map[string]any{"enroll": "https://shop.example/passkeys/new", "manage": "https://shop.example/account"},
		}
		for name, w0 := range want {
			body, ok := w.File(name)
			if !ok {
				t.Errorf("File(%s) missing", name)
				continue
			}
			var got any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("File(%s) = %s: %v", name, body, err)
			}
			if diff := cmp.Diff(w0, got); diff != "" {
				t.Errorf("File(%s) (-want +got):\n%s", name, diff)
			}
		}
	})
}

// withAttestedID returns a registration response whose id and rawId are the credential ID of
// its attested credential data (go-webauthn's Apple fixture carries another id; its
// clientDataJSON and attestationObject are as recorded).
func withAttestedID(t *testing.T, response []byte) []byte {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal(response, &r); err != nil {
		t.Fatal(err)
	}
	att, err := base64.RawURLEncoding.DecodeString(r["response"].(map[string]any)["attestationObject"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		AuthData []byte `cbor:"authData"`
	}
	if err := softauthn.CBORUnmarshal(att, &obj); err != nil || len(obj.AuthData) < 55 {
		t.Fatalf("attestationObject: %v", err)
	}
	n := int(obj.AuthData[53])<<8 | int(obj.AuthData[54]) // rpIdHash 32, flags 1, counter 4, AAGUID 16, length 2
	id := b64(obj.AuthData[55 : 55+n])
	r["id"], r["rawId"] = id, id
	return mustJSON(t, r)
}
