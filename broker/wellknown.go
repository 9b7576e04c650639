package broker

import (
	"context"
	"encoding/json"
)

// The association files of a project, by their name under /.well-known/.
const (
	AssetLinksFile       = "assetlinks.json"
	AppleAssociationFile = "apple-app-site-association"
	RelatedOriginsFile   = "webauthn"
	PasskeyEndpointsFile = "passkey-endpoints"
)

// WellKnownFiles lists the association files' names in the order they are written.
var WellKnownFiles = []string{AssetLinksFile, AppleAssociationFile, RelatedOriginsFile, PasskeyEndpointsFile}

// AssetLinkRelations are the Digital Asset Links relations of an Android app's statement:
// get_login_creds lets Credential Manager use the site's passkeys in the app,
// handle_all_urls makes it an App Link.
var AssetLinkRelations = []string{"delegate_permission/common.handle_all_urls", "delegate_permission/common.get_login_creds"}

// AssetLink is one statement of assetlinks.json.
type AssetLink struct {
	Relation []string        `json:"relation"`
	Target   AssetLinkTarget `json:"target"`
}

// AssetLinkTarget is the Android app a statement names.
type AssetLinkTarget struct {
	Namespace    string   `json:"namespace"`
	PackageName  string   `json:"package_name"`
	Fingerprints []string `json:"sha256_cert_fingerprints"`
}

// AppleAssociation is apple-app-site-association with the webcredentials service only.
type AppleAssociation struct {
	WebCredentials struct {
		Apps []string `json:"apps"`
	} `json:"webcredentials"`
}

// RelatedOrigins is /.well-known/webauthn: the origins that may use the RP ID (WebAuthn
// Level 3, related origin requests).
type RelatedOrigins struct {
	Origins []string `json:"origins"`
}

// WellKnown is a project's association files: each present one (ok) is the JSON to serve at
// /.well-known/<name>. assetlinks.json needs an Android app, apple-app-site-association an
// iOS app, webauthn a web origin, passkey-endpoints an enroll or manage URL.
type WellKnown struct {
	AssetLinks       []AssetLink
	AppleAssociation *AppleAssociation
	RelatedOrigins   *RelatedOrigins
	PasskeyEndpoints *PasskeyEndpoints
}

// File returns the JSON of the association file name, and false if the project has none.
func (w WellKnown) File(name string) ([]byte, bool) {
	var v any
	switch name {
	case AssetLinksFile:
		if len(w.AssetLinks) > 0 {
			v = w.AssetLinks
		}
	case AppleAssociationFile:
		if w.AppleAssociation != nil {
			v = w.AppleAssociation
		}
	case RelatedOriginsFile:
		if w.RelatedOrigins != nil {
			v = w.RelatedOrigins
		}
	case PasskeyEndpointsFile:
		if w.PasskeyEndpoints != nil {
			v = w.PasskeyEndpoints
		}
	}
	if v == nil {
		return nil, false
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, false
	}
	return append(out, '\n'), true
}

// WellKnownOf returns the association files of project p with apps and endpoints.
func WellKnownOf(p Project, apps []App, e PasskeyEndpoints) WellKnown {
	var w WellKnown
	for _, a := range apps {
		switch a.Platform {
		case PlatformAndroid:
			w.AssetLinks = append(w.AssetLinks, AssetLink{Relation: AssetLinkRelations,
				Target: AssetLinkTarget{Namespace: "android_app", PackageName: a.Identifier, Fingerprints: a.Fingerprints}})
		case PlatformIOS:
			if w.AppleAssociation == nil {
				w.AppleAssociation = &AppleAssociation{}
			}
			w.AppleAssociation.WebCredentials.Apps = append(w.AppleAssociation.WebCredentials.Apps, a.Identifier)
		}
	}
	if web := p.WebOrigins(); len(web) > 0 {
		w.RelatedOrigins = &RelatedOrigins{Origins: web}
	}
	if e.Enroll != "" || e.Manage != "" {
		w.PasskeyEndpoints = &e
	}
	return w
}

// WellKnown returns the association files of the project, as read at most CacheTTL ago.
// Errors: ErrNotFound.
func (b *Broker) WellKnown(ctx context.Context, projectID string) (WellKnown, error) {
	pc, err := b.projectConfig(ctx, projectID)
	if err != nil {
		return WellKnown{}, err
	}
	return WellKnownOf(pc.project, pc.apps, pc.endpoints), nil
}
