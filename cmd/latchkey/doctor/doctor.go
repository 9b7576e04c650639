// Package doctor finds what stops a project's native apps and related origins from working:
// origins outside the RP ID, malformed fingerprints and app IDs, and association files that
// the site serves wrongly (missing, redirected, with another content type, or not saying
// what the broker would generate). Each problem comes with its fix. It is behind
// `latchkey doctor`; its only I/O is fetching the site's files.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/latchkey/latchkey/broker"
)

// Problem is one thing that is wrong, and how to fix it.
type Problem struct {
	What string
	Fix  string
}

// Project is what the checks look at: the project, its apps, and the association files the
// broker generates for it.
type Project struct {
	Project   broker.Project
	Apps      []broker.App
	WellKnown broker.WellKnown
	// BrokerURL is the broker's public base URL, for the proxy rules of the fixes ("" for a
	// placeholder).
	BrokerURL string
}

// CheckProject checks the project's own settings: the RP ID is a registrable domain (or
// localhost), every origin's host is the RP ID or a subdomain of it, every Android origin and
// fingerprint is well formed, every iOS app ID is TEAMID.bundle.id.
func CheckProject(p Project) []Problem {
	var out []Problem
	rpID := p.Project.RPID
	if rpID != "localhost" {
		if etld1, err := publicsuffix.EffectiveTLDPlusOne(rpID); err != nil || !(rpID == etld1 || strings.HasSuffix(rpID, "."+etld1)) {
			out = append(out, Problem{fmt.Sprintf("RP ID %q is a public suffix, not a registrable domain: no browser accepts it", rpID),
				"create the project with an RP ID you own, such as shop.example (a project's RP ID cannot change)"})
		}
	}
	for _, o := range p.Project.Origins {
		if strings.HasPrefix(o, "android:") {
			if _, ok := broker.FingerprintOfOrigin(o); !ok {
				out = append(out, Problem{fmt.Sprintf("origin %q is not android:apk-key-hash:<base64url of a SHA-256>", o),
					fmt.Sprintf("remove it (latchkey project update --project %s --remove-origin %s) and add the app by its fingerprint: latchkey project app add --project %s --android <package> --sha256 <AA:BB:...>", p.Project.ID, o, p.Project.ID)})
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Host == "" {
			out = append(out, Problem{fmt.Sprintf("origin %q is not scheme://host[:port]", o), "remove it with latchkey project update --remove-origin"})
			continue
		}
		host := u.Hostname()
		if host != rpID && !strings.HasSuffix(host, "."+rpID) {
			out = append(out, Problem{fmt.Sprintf("origin %s is not on the RP ID %s: its host must be %s or a subdomain of it, or passkeys made for %s will not work there", o, rpID, rpID, rpID),
				fmt.Sprintf("remove it (latchkey project update --project %s --remove-origin %s), or use a project whose RP ID covers it", p.Project.ID, o)})
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(host)) {
			out = append(out, Problem{fmt.Sprintf("origin %s is not https: browsers refuse WebAuthn there", o), "serve the site over https and allow the https origin"})
		}
	}
	for _, a := range p.Apps {
		switch a.Platform {
		case broker.PlatformAndroid:
			if err := broker.ValidatePackageName(a.Identifier); err != nil {
				out = append(out, Problem{"Android app: " + err.Error(), fmt.Sprintf("remove it (latchkey project app remove --project %s --app %s) and add it again", p.Project.ID, a.ID)})
			}
			for _, f := range a.Fingerprints {
				if _, _, err := broker.ParseFingerprint(f); err != nil {
					out = append(out, Problem{"Android app " + a.Identifier + ": " + err.Error(),
						fmt.Sprintf("remove it (latchkey project app remove --project %s --app %s) and add it again with the SHA-256 fingerprints that ./gradlew signingReport or the Play Console (App signing) shows", p.Project.ID, a.ID)})
				}
			}
		case broker.PlatformIOS:
			if err := broker.ValidateAppID(a.Identifier); err != nil {
				out = append(out, Problem{"iOS app: " + err.Error(), fmt.Sprintf("remove it (latchkey project app remove --project %s --app %s) and add it again as TEAMID.bundle.id", p.Project.ID, a.ID)})
			}
		}
	}
	return out
}

// Options are the settings of CheckSite.
type Options struct {
	// Client fetches the files; nil: a client with a 10-second timeout. Redirects are never
	// followed, whatever the client's policy.
	Client *http.Client
	// AllowHTTP allows an http:// site on a loopback host (for tests); otherwise the site
	// must be https, as Android and Apple require.
	AllowHTTP bool
}

// CheckSite fetches each association file the broker generates for p from site's
// /.well-known/ and reports every one that is missing, redirected, not application/json or
// not saying what the broker's says. site is the origin of the RP ID's domain, such as
// https://shop.example.
func CheckSite(ctx context.Context, p Project, site string, opt Options) ([]Problem, error) {
	u, err := url.Parse(strings.TrimRight(site, "/"))
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("--site %q is not an origin such as https://shop.example", site)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && opt.AllowHTTP && isLoopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("--site %q must be https: Android and Apple fetch association files over https only", site)
	}
	var out []Problem
	if host := u.Hostname(); host != p.Project.RPID {
		out = append(out, Problem{fmt.Sprintf("the site %s is not the RP ID %s: Android and iOS look for the association files at https://%s/.well-known/", u.Host, p.Project.RPID, p.Project.RPID),
			fmt.Sprintf("run latchkey doctor --site https://%s, and serve the files there", p.Project.RPID)})
	}
	client := http.Client{Timeout: 10 * time.Second}
	if opt.Client != nil {
		client = *opt.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, name := range broker.WellKnownFiles {
		want, ok := p.WellKnown.File(name)
		if !ok {
			continue
		}
		out = append(out, checkFile(ctx, &client, p, u.Scheme+"://"+u.Host+"/.well-known/"+name, name, want)...)
	}
	return out, nil
}

// MaxFileBytes is the most CheckSite reads of one file (Apple's limit for
// apple-app-site-association is 128 KB).
const MaxFileBytes = 128 << 10

func checkFile(ctx context.Context, client *http.Client, p Project, fileURL, name string, want []byte) []Problem {
	proxy := ProxyRules(p.BrokerURL, p.Project.ID, name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fileURL, nil)
	if err != nil {
		return []Problem{{fmt.Sprintf("%s: %v", fileURL, err), proxy}}
	}
	resp, err := client.Do(req)
	if err != nil {
		return []Problem{{fmt.Sprintf("%s could not be fetched: %v", fileURL, err), "make the site reachable over https; " + proxy}}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return []Problem{{fmt.Sprintf("%s redirects (%d) to %q: Android refuses association files behind a redirect, and Apple's CDN does too", fileURL, resp.StatusCode, resp.Header.Get("Location")),
			"serve the file at this exact URL with status 200 (no redirect from http, www or a trailing slash); " + proxy}}
	case resp.StatusCode == http.StatusNotFound:
		return []Problem{{fmt.Sprintf("%s is missing (404)", fileURL), proxy}}
	case resp.StatusCode != http.StatusOK:
		return []Problem{{fmt.Sprintf("%s answers %d, not 200", fileURL, resp.StatusCode), proxy}}
	}
	var out []Problem
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		out = append(out, Problem{fmt.Sprintf("%s is served as %q, not application/json", fileURL, resp.Header.Get("Content-Type")),
			"serve it with Content-Type: application/json (nginx: default_type application/json; in its location block); " + proxy})
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxFileBytes+1))
	if err != nil {
		return append(out, Problem{fmt.Sprintf("%s could not be read: %v", fileURL, err), proxy})
	}
	if len(body) > MaxFileBytes {
		return append(out, Problem{fmt.Sprintf("%s is larger than %d bytes", fileURL, MaxFileBytes), proxy})
	}
	for _, d := range Compare(name, want, body) {
		out = append(out, Problem{fmt.Sprintf("%s %s", fileURL, d), "serve what the broker generates: " + proxy + ", or write the files with latchkey project well-known --project " + p.Project.ID + " --out DIR"})
	}
	return out
}

// ProxyRules returns the nginx rule that serves the broker's file name at the site's
// /.well-known/name (README, "Association files", has Caddy's).
func ProxyRules(brokerURL, projectID, name string) string {
	if brokerURL == "" {
		brokerURL = "https://<broker>"
	}
	target := strings.TrimRight(brokerURL, "/") + "/v2/projects/" + projectID + "/.well-known/" + name
	return fmt.Sprintf("proxy it to the broker (nginx: location = /.well-known/%s { proxy_ssl_server_name on; proxy_pass %s; })", name, target)
}

// Compare reports, one sentence each, what got (a file the site serves) lacks or says
// differently from want (the file the broker generates for name), comparing meaning, not
// bytes: order, spacing, case of fingerprints and statements about other apps do not matter.
func Compare(name string, want, got []byte) []string {
	switch name {
	case broker.AssetLinksFile:
		var w, g []broker.AssetLink
		if err := json.Unmarshal(want, &w); err != nil {
			return []string{"cannot be compared: " + err.Error()}
		}
		if err := json.Unmarshal(got, &g); err != nil {
			return []string{"is not a JSON list of statements: " + err.Error()}
		}
		var out []string
		for _, ws := range w {
			for _, f := range ws.Target.Fingerprints {
				var missing []string
				for _, rel := range ws.Relation {
					if !slices.ContainsFunc(g, func(gs broker.AssetLink) bool {
						return gs.Target.Namespace == "android_app" && gs.Target.PackageName == ws.Target.PackageName &&
							slices.Contains(gs.Relation, rel) && slices.ContainsFunc(gs.Target.Fingerprints, func(s string) bool { return strings.EqualFold(s, f) })
					}) {
						missing = append(missing, rel)
					}
				}
				if len(missing) > 0 {
					out = append(out, fmt.Sprintf("does not grant %s to %s signed with %s", strings.Join(missing, " and "), ws.Target.PackageName, f))
				}
			}
		}
		return out
	case broker.AppleAssociationFile:
		var w, g broker.AppleAssociation
		if err := json.Unmarshal(want, &w); err != nil {
			return []string{"cannot be compared: " + err.Error()}
		}
		if err := json.Unmarshal(got, &g); err != nil {
			return []string{"is not a JSON object: " + err.Error()}
		}
		var out []string
		for _, app := range w.WebCredentials.Apps {
			if !slices.Contains(g.WebCredentials.Apps, app) {
				out = append(out, fmt.Sprintf("does not list %s in webcredentials.apps", app))
			}
		}
		return out
	case broker.RelatedOriginsFile:
		var w, g broker.RelatedOrigins
		if err := json.Unmarshal(want, &w); err != nil {
			return []string{"cannot be compared: " + err.Error()}
		}
		if err := json.Unmarshal(got, &g); err != nil {
			return []string{"is not a JSON object: " + err.Error()}
		}
		var out []string
		for _, o := range w.Origins {
			if !slices.Contains(g.Origins, o) {
				out = append(out, fmt.Sprintf("does not list the origin %s in origins", o))
			}
		}
		return out
	case broker.PasskeyEndpointsFile:
		var w, g broker.PasskeyEndpoints
		if err := json.Unmarshal(want, &w); err != nil {
			return []string{"cannot be compared: " + err.Error()}
		}
		if err := json.Unmarshal(got, &g); err != nil {
			return []string{"is not a JSON object: " + err.Error()}
		}
		var out []string
		if w.Enroll != g.Enroll {
			out = append(out, fmt.Sprintf("says enroll %q, not %q", g.Enroll, w.Enroll))
		}
		if w.Manage != g.Manage {
			out = append(out, fmt.Sprintf("says manage %q, not %q", g.Manage, w.Manage))
		}
		return out
	}
	return []string{"is not an association file the broker knows"}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
