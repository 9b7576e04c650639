package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// App platforms.
const (
	PlatformAndroid = "android"
	PlatformIOS     = "ios"
)

// App is one native app of a project. An Android app is its package name and the SHA-256
// fingerprints of its signing certificates; an iOS app is its app ID, TEAMID.bundle.id.
// Origins are the origins its ceremonies present, which the project accepts while the app is
// listed: android:apk-key-hash:<base64url of the fingerprint> per fingerprint, and for iOS
// https://<RP ID> (AuthenticationServices presents the RP ID's https origin).
type App struct {
	ID           string    `json:"id"`
	Platform     string    `json:"platform"`
	Identifier   string    `json:"identifier"`
	Fingerprints []string  `json:"sha256CertFingerprints"`
	Origins      []string  `json:"origins"`
	CreatedAt    time.Time `json:"createdAt"`
}

// NewApp is what AddApp needs: either Android (a package name) with one or more SHA256
// fingerprints, or IOS (TEAMID.bundle.id).
type NewApp struct {
	Android string   `json:"android"`
	SHA256  []string `json:"sha256CertFingerprints"`
	IOS     string   `json:"ios"`
}

var (
	fingerprintRE = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})*$`)
	packageRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$`)
	teamIDRE      = regexp.MustCompile(`^[A-Z0-9]{10}$`)
	bundleIDRE    = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$`)
)

// ParseFingerprint checks a SHA-256 certificate fingerprint in the colon-hex form that
// keytool, apksigner and the Play Console print (32 bytes: AA:BB:...) and returns it in upper
// case with the bytes it stands for.
func ParseFingerprint(s string) (string, []byte, error) {
	s = strings.TrimSpace(s)
	if !fingerprintRE.MatchString(s) {
		return "", nil, fmt.Errorf("%q is not a colon-hex fingerprint such as 14:6D:E9:...:F6 (32 bytes, the SHA-256 one)", s)
	}
	raw, _ := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	switch len(raw) {
	case sha256.Size:
		return strings.ToUpper(s), raw, nil
	case 20:
		return "", nil, fmt.Errorf("%q is a SHA-1 fingerprint (20 bytes): use the SHA-256 one that keytool -list -v or ./gradlew signingReport prints", s)
	default:
		return "", nil, fmt.Errorf("%q has %d bytes: a SHA-256 fingerprint has 32", s, len(raw))
	}
}

// AndroidOrigin returns the origin an Android app signed with the certificate of fingerprint
// presents: android:apk-key-hash:<base64url(SHA-256 of the certificate), no padding>.
func AndroidOrigin(fingerprint string) (string, error) {
	_, raw, err := ParseFingerprint(fingerprint)
	if err != nil {
		return "", err
	}
	return androidOriginPrefix + b64(raw), nil
}

// FingerprintOfOrigin returns the colon-hex fingerprint an android:apk-key-hash: origin
// stands for, or false if origin is not one.
func FingerprintOfOrigin(origin string) (string, bool) {
	rest, ok := strings.CutPrefix(origin, androidOriginPrefix)
	if !ok {
		return "", false
	}
	raw, err := unb64(strings.TrimRight(rest, "="))
	if err != nil || len(raw) != sha256.Size {
		return "", false
	}
	parts := make([]string, len(raw))
	for i, c := range raw {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":"), true
}

// ValidatePackageName checks an Android application ID: two or more dot-separated segments,
// each a letter followed by letters, digits or underscores.
func ValidatePackageName(s string) error {
	if len(s) > 255 || !packageRE.MatchString(s) {
		return fmt.Errorf("%q is not an Android package name such as com.example.shop", s)
	}
	return nil
}

// ValidateAppID checks an iOS app ID, TEAMID.bundle.id: a team ID of 10 upper-case letters or
// digits, a dot, and a bundle ID of letters, digits, hyphens and dots.
func ValidateAppID(s string) error {
	team, bundle, ok := strings.Cut(s, ".")
	if !ok || !teamIDRE.MatchString(team) {
		return fmt.Errorf("%q is not TEAMID.bundle.id: the team ID is 10 upper-case letters or digits, such as ABCDE12345.com.example.shop", s)
	}
	if len(bundle) > 155 || !bundleIDRE.MatchString(bundle) {
		return fmt.Errorf("%q: the bundle ID %q may hold only letters, digits, hyphens and dots, such as com.example.shop", s, bundle)
	}
	return nil
}

// validateApp returns the row that in describes, checked and normalised.
func validateApp(in NewApp) (sqlstore.App, error) {
	in.Android, in.IOS = strings.TrimSpace(in.Android), strings.TrimSpace(in.IOS)
	switch {
	case in.Android != "" && in.IOS != "":
		return sqlstore.App{}, &ValidationError{"ios", "cannot be given with android: add one app at a time"}
	case in.Android != "":
		if err := ValidatePackageName(in.Android); err != nil {
			return sqlstore.App{}, &ValidationError{"android", err.Error()}
		}
		if len(in.SHA256) == 0 {
			return sqlstore.App{}, &ValidationError{"sha256CertFingerprints", "needs at least one SHA-256 signing-certificate fingerprint"}
		}
		if len(in.SHA256) > 20 {
			return sqlstore.App{}, &ValidationError{"sha256CertFingerprints", "may hold at most 20 fingerprints"}
		}
		r := sqlstore.App{Platform: PlatformAndroid, Identifier: in.Android}
		for _, f := range in.SHA256 {
			norm, _, err := ParseFingerprint(f)
			if err != nil {
				return sqlstore.App{}, &ValidationError{"sha256CertFingerprints", err.Error()}
			}
			if !slices.Contains(r.Fingerprints, norm) {
				r.Fingerprints = append(r.Fingerprints, norm)
			}
		}
		return r, nil
	case in.IOS != "":
		if len(in.SHA256) > 0 {
			return sqlstore.App{}, &ValidationError{"sha256CertFingerprints", "belong to an Android app, not an iOS one"}
		}
		if err := ValidateAppID(in.IOS); err != nil {
			return sqlstore.App{}, &ValidationError{"ios", err.Error()}
		}
		return sqlstore.App{Platform: PlatformIOS, Identifier: in.IOS, Fingerprints: sqlstore.List[string]{}}, nil
	}
	return sqlstore.App{}, &ValidationError{"android", "or ios is required"}
}

// appFromRow returns the app a row holds, with the origins it presents for a project of rpID.
func appFromRow(r sqlstore.App, rpID string) App {
	a := App{ID: r.ID, Platform: r.Platform, Identifier: r.Identifier, Fingerprints: []string(r.Fingerprints),
		Origins: []string{}, CreatedAt: fromMS(r.CreatedAt)}
	if a.Fingerprints == nil {
		a.Fingerprints = []string{}
	}
	switch r.Platform {
	case PlatformAndroid:
		for _, f := range r.Fingerprints {
			if o, err := AndroidOrigin(f); err == nil {
				a.Origins = append(a.Origins, o)
			}
		}
	case PlatformIOS:
		a.Origins = append(a.Origins, "https://"+rpID)
	}
	return a
}

// AddApp adds a native app to the project and records a project.updated event; its origins
// are accepted at once on this broker and within CacheTTL on the others. Errors:
// *ValidationError, ErrNotFound (project), ErrAlreadyExists (the project has this app).
func (b *Broker) AddApp(ctx context.Context, projectID string, in NewApp) (App, error) {
	defer b.forgetProject(projectID)
	r, err := validateApp(in)
	if err != nil {
		return App{}, err
	}
	if r.ID, err = newID("app-"); err != nil {
		return App{}, err
	}
	r.ProjectID, r.CreatedAt = projectID, ms(b.Now())
	var a App
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		p, err := tx.Project(ctx, projectID)
		if err != nil {
			return err
		}
		if err := tx.InsertApp(ctx, r); errors.Is(err, ErrAlreadyExists) {
			return detailf(ErrAlreadyExists, "the project already has the %s app %s: remove it first to change it", r.Platform, r.Identifier)
		} else if err != nil {
			return err
		}
		a = appFromRow(r, p.RPID)
		return b.record(ctx, tx, projectID, Event{Type: EventProjectUpdated, Details: map[string]any{
			"appAdded": map[string]any{"id": a.ID, "platform": a.Platform, "identifier": a.Identifier, "sha256CertFingerprints": a.Fingerprints}}})
	})
	if err != nil {
		return App{}, err
	}
	return a, nil
}

// Apps returns the project's native apps, oldest first. Errors: ErrNotFound (project).
func (b *Broker) Apps(ctx context.Context, projectID string) ([]App, error) {
	p, err := b.Project(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return b.appsOf(ctx, p)
}

func (b *Broker) appsOf(ctx context.Context, p Project) ([]App, error) {
	rows, err := b.store.Apps(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]App, 0, len(rows))
	for _, r := range rows {
		out = append(out, appFromRow(r, p.RPID))
	}
	return out, nil
}

// RemoveApp removes the project's app id and records a project.updated event; its origins
// are refused from then on (within CacheTTL on other brokers). Errors: ErrNotFound.
func (b *Broker) RemoveApp(ctx context.Context, projectID, id string) error {
	defer b.forgetProject(projectID)
	return b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.DeleteApp(ctx, projectID, id); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventProjectUpdated, Details: map[string]any{"appRemoved": id}})
	})
}

// PasskeyEndpoints are the URLs of a project's /.well-known/passkey-endpoints: where a user
// creates a passkey (Enroll) and manages them (Manage); "" when not set.
type PasskeyEndpoints struct {
	Enroll string `json:"enroll,omitempty"`
	Manage string `json:"manage,omitempty"`
}

// PasskeyEndpoints returns the project's passkey endpoints. Errors: ErrNotFound.
func (b *Broker) PasskeyEndpoints(ctx context.Context, projectID string) (PasskeyEndpoints, error) {
	e, err := b.store.PasskeyEndpoints(ctx, projectID)
	return PasskeyEndpoints{Enroll: e.Enroll, Manage: e.Manage}, err
}

// SetPasskeyEndpoints sets the project's passkey endpoints (an empty one is unset) and
// records a project.updated event. Each must be an https URL (http only for localhost).
// Errors: *ValidationError (field "enroll" or "manage"), ErrNotFound.
func (b *Broker) SetPasskeyEndpoints(ctx context.Context, projectID string, e PasskeyEndpoints) error {
	defer b.forgetProject(projectID)
	e.Enroll, e.Manage = strings.TrimSpace(e.Enroll), strings.TrimSpace(e.Manage)
	if err := CheckPasskeyEndpoints(e); err != nil {
		return err
	}
	return b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.SetPasskeyEndpoints(ctx, projectID, sqlstore.PasskeyEndpoints{Enroll: e.Enroll, Manage: e.Manage}); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventProjectUpdated, Details: map[string]any{
			"passkeyEndpoints": map[string]string{"enroll": e.Enroll, "manage": e.Manage}}})
	})
}

// CheckPasskeyEndpoints returns a *ValidationError (field "enroll" or "manage") for an
// endpoint that is set and is not an https URL (http only for localhost), nil otherwise.
func CheckPasskeyEndpoints(e PasskeyEndpoints) *ValidationError {
	if err := checkEndpointURL(strings.TrimSpace(e.Enroll)); err != nil {
		return &ValidationError{"enroll", err.Error()}
	}
	if err := checkEndpointURL(strings.TrimSpace(e.Manage)); err != nil {
		return &ValidationError{"manage", err.Error()}
	}
	return nil
}

func checkEndpointURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || len(s) > 2000 {
		return fmt.Errorf("%q is not an absolute URL such as https://shop.example/account/passkeys", s)
	}
	host := u.Hostname()
	if u.Scheme != "https" && !(u.Scheme == "http" && (host == "localhost" || host == "127.0.0.1" || host == "::1")) {
		return fmt.Errorf("%q must use https (http only for localhost)", s)
	}
	return nil
}

// acceptedOrigins returns the origins ceremonies of p may present: its own origins and its
// apps' origins, the web ones first (http(s) origins; the others are opaque, compared byte by
// byte).
func acceptedOrigins(p Project, apps []App) (web, opaque []string) {
	add := func(o string) {
		if strings.HasPrefix(o, androidOriginPrefix) {
			if !slices.Contains(opaque, o) {
				opaque = append(opaque, o)
			}
		} else if !slices.Contains(web, o) {
			web = append(web, o)
		}
	}
	for _, o := range p.Origins {
		add(o)
	}
	for _, a := range apps {
		for _, o := range a.Origins {
			add(o)
		}
	}
	return web, opaque
}

// OriginMismatchError is a verification failure because the response's clientDataJSON names
// an origin the project does not accept. It says which origin was presented and which the
// project expects (its origins and its apps'), and, for an Android origin, the fingerprint of
// the certificate that signed the app, so that a developer can add it.
type OriginMismatchError struct {
	Presented string
	Expected  []string
	// Fingerprint is the colon-hex SHA-256 of the presented android:apk-key-hash origin, if
	// it is one.
	Fingerprint string
	// PackageName is the androidPackageName of the clientDataJSON, if any.
	PackageName string
	// ProjectID is the project's ID, for the command that adds the app.
	ProjectID string
}

func (e *OriginMismatchError) Error() string { return e.Unwrap().Error() }

// Unwrap returns the ErrVerificationFailed detail the error is, so that errors.Is and
// Detail see it as one.
func (e *OriginMismatchError) Unwrap() error {
	d := fmt.Sprintf("Error validating origin: the response comes from %q, which this project does not accept; it accepts %s",
		e.Presented, strings.Join(e.Expected, ", "))
	if e.Fingerprint != "" {
		app := e.PackageName
		if app == "" {
			app = "<package name>"
		}
		d += fmt.Sprintf(". It is an Android app signed with the certificate %s: if it is yours, add it with `latchkey project app add --project %s --android %s --sha256 %s`",
			e.Fingerprint, e.ProjectID, app, e.Fingerprint)
	}
	return &DetailError{Kind: ErrVerificationFailed, Detail: d}
}

// checkOrigin returns an *OriginMismatchError when clientDataJSON's origin is not one that the
// project of pc accepts (its origins and its apps'), exactly as browsers and Android serialise
// them: go-webauthn, which checks it again, compares scheme and host only and would let
// "https://example.com/path" through.
func (pc *projectConfig) checkOrigin(origin, packageName string) error {
	if slices.Contains(pc.web, origin) || slices.Contains(pc.opaque, origin) {
		return nil
	}
	e := &OriginMismatchError{Presented: cleanText(origin, 300), Expected: append(slices.Clone(pc.web), pc.opaque...), ProjectID: pc.project.ID}
	if f, ok := FingerprintOfOrigin(origin); ok {
		e.Fingerprint = f
		if packageRE.MatchString(packageName) && len(packageName) <= 255 {
			e.PackageName = packageName
		}
	}
	return e
}

// androidPackageName returns the androidPackageName member of clientDataJSON, which Android's
// Credential Manager adds for a native app ("" if there is none).
func androidPackageName(clientDataJSON []byte) string {
	var cd struct {
		AndroidPackageName string `json:"androidPackageName"`
	}
	_ = json.Unmarshal(clientDataJSON, &cd)
	return cd.AndroidPackageName
}
