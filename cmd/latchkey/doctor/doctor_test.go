package doctor_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/cmd/latchkey/doctor"
)

const (
	fp1 = "D2:E1:A6:6F:8C:00:55:97:9F:30:2F:3D:79:A9:5D:78:85:1F:C5:21:5A:7F:81:B3:BF:60:22:71:EF:6F:60:24"
	fp2 = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"
)

// project returns a project of RP ID localhost with an Android app, an iOS app and passkey
// endpoints, as the checks see it.
func project() doctor.Project {
	p := broker.Project{ID: "prj-test", RPID: "localhost", Origins: []string{"http://localhost:8080", "https://localhost"}}
	o1, _ := broker.AndroidOrigin(fp1)
	apps := []broker.App{
		{ID: "app-a", Platform: broker.PlatformAndroid, Identifier: "com.example.shop", Fingerprints: []string{fp1}, Origins: []string{o1}},
		{ID: "app-i", Platform: broker.PlatformIOS, Identifier: "ABCDE12345.com.example.shop", Origins: []string{"https://localhost"}},
	}
	e := broker.PasskeyEndpoints{Enroll: "https://localhost/passkeys/new"}
	return doctor.Project{Project: p, Apps: apps, WellKnown: broker.WellKnownOf(p, apps, e), BrokerURL: "https://broker.example"}
}

// site serves /.well-known/<name> per mode: "correct" (what the broker generates),
// "text" (the same as text/plain), "wrong" (another fingerprint, app or origin),
// "reordered" (same meaning, other order, case and spacing), "redirect" (301 to a copy of
// the correct file on the same site, which a client that follows redirects would accept),
// "missing".
func site(t *testing.T, p doctor.Project, modes map[string]string) string {
	t.Helper()
	mux := http.NewServeMux()
	for _, name := range broker.WellKnownFiles {
		body, _ := p.WellKnown.File(name)
		mode := modes[name]
		mux.HandleFunc("/static/"+name, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
		mux.HandleFunc("/.well-known/"+name, func(w http.ResponseWriter, r *http.Request) {
			switch mode {
			case "redirect":
				http.Redirect(w, r, "/static/"+name, http.StatusMovedPermanently)
				return
			case "missing":
				http.NotFound(w, r)
				return
			case "text":
				w.Header().Set("Content-Type", "text/plain")
			default:
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
			}
			out := string(body)
			switch mode {
			case "wrong":
				out = strings.NewReplacer(fp1, fp2, "ABCDE12345", "ZZZZZ99999", "http://localhost:8080", "http://localhost:9090",
					"passkeys/new", "passkeys/old").Replace(out)
			case "applinks-only": // set up for App Links, not for passkeys
				out = strings.Replace(out, `,
      "delegate_permission/common.get_login_creds"`, "", 1)
			case "reordered":
				out = strings.ToLower(strings.Join(strings.Fields(out), " "))
				out = strings.ReplaceAll(out, "abcde12345", "ABCDE12345")
			}
			_, _ = w.Write([]byte(out))
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return "http://localhost:" + port
}

func check(t *testing.T, p doctor.Project, modes map[string]string) []doctor.Problem {
	t.Helper()
	got, err := doctor.CheckSite(t.Context(), p, site(t, p, modes), doctor.Options{AllowHTTP: true})
	if err != nil {
		t.Fatalf("CheckSite() = %v", err)
	}
	return got
}

func TestCheckSite(t *testing.T) {
	p := project()
	all := func(mode string) map[string]string {
		m := map[string]string{}
		for _, n := range broker.WellKnownFiles {
			m[n] = mode
		}
		return m
	}
	if got := check(t, p, all("correct")); len(got) != 0 {
		t.Errorf("CheckSite(correct files) = %+v, want no problem", got)
	}
	if got := check(t, p, all("reordered")); len(got) != 0 {
		t.Errorf("CheckSite(same meaning, other bytes) = %+v, want no problem", got)
	}
	for _, tc := range []struct {
		mode string
		want []string // in each file's problem
		fix  string
	}{
		{"missing", []string{"is missing (404)"}, "proxy_pass https://broker.example/v2/projects/prj-test/.well-known/"},
		{"redirect", []string{"redirects (301)", "Android refuses"}, "exact URL with status 200"},
		{"text", []string{`served as "text/plain", not application/json`}, "Content-Type: application/json"},
	} {
		got := check(t, p, all(tc.mode))
		if len(got) != len(broker.WellKnownFiles) {
			t.Errorf("CheckSite(%s) = %d problems %+v, want one per file", tc.mode, len(got), got)
			continue
		}
		for i, pr := range got {
			if !strings.Contains(pr.What, "/.well-known/"+broker.WellKnownFiles[i]) || !strings.Contains(pr.Fix, tc.fix) {
				t.Errorf("CheckSite(%s) problem %d = %+v, want it about %s with a fix containing %q", tc.mode, i, pr, broker.WellKnownFiles[i], tc.fix)
			}
			for _, w := range tc.want {
				if !strings.Contains(pr.What, w) {
					t.Errorf("CheckSite(%s) problem %d = %q, want it to say %q", tc.mode, i, pr.What, w)
				}
			}
		}
	}
	got := check(t, p, all("wrong"))
	wants := []string{
		"does not grant delegate_permission/common.handle_all_urls and delegate_permission/common.get_login_creds to com.example.shop signed with " + fp1,
		"does not list ABCDE12345.com.example.shop in webcredentials.apps",
		"does not list the origin http://localhost:8080 in origins",
		`says enroll "https://localhost/passkeys/old", not "https://localhost/passkeys/new"`,
	}
	joined := ""
	for _, pr := range got {
		joined += pr.What + "\n"
	}
	for _, w := range wants {
		if !strings.Contains(joined, w) {
			t.Errorf("CheckSite(wrong files) does not say %q:\n%s", w, joined)
		}
	}
	// The most common mistake: assetlinks.json made for App Links only.
	mixed := all("correct")
	mixed[broker.AssetLinksFile] = "applinks-only"
	if got := check(t, p, mixed); len(got) != 1 || !strings.Contains(got[0].What, "does not grant delegate_permission/common.get_login_creds to com.example.shop") {
		t.Errorf("CheckSite(assetlinks.json for App Links only) = %+v", got)
	}
	// One file wrong, the others right: exactly that file is reported.
	mixed = all("correct")
	mixed[broker.AssetLinksFile] = "redirect"
	if got := check(t, p, mixed); len(got) != 1 || !strings.Contains(got[0].What, "assetlinks.json redirects") {
		t.Errorf("CheckSite(assetlinks.json redirected) = %+v", got)
	}
}

func TestCheckSiteRefusesHTTP(t *testing.T) {
	p := project()
	for _, s := range []string{"http://shop.example", "http://localhost:1234"} {
		if _, err := doctor.CheckSite(t.Context(), p, s, doctor.Options{}); err == nil || !strings.Contains(err.Error(), "must be https") {
			t.Errorf("CheckSite(%s) without AllowHTTP = %v, want must be https", s, err)
		}
	}
	if _, err := doctor.CheckSite(t.Context(), p, "http://shop.example", doctor.Options{AllowHTTP: true}); err == nil {
		t.Error("CheckSite(http, not loopback) with AllowHTTP succeeded")
	}
	if _, err := doctor.CheckSite(t.Context(), p, "https://shop.example/path", doctor.Options{}); err == nil {
		t.Error("CheckSite(a URL with a path) succeeded")
	}
	// A site that is not the RP ID is a problem of its own (nothing listens on port 1).
	got, err := doctor.CheckSite(t.Context(), p, "https://127.0.0.1:1", doctor.Options{})
	if err != nil || len(got) == 0 || !strings.Contains(got[0].What, "is not the RP ID localhost") {
		t.Errorf("CheckSite(another host) = %+v, %v", got, err)
	}
}

func TestCheckProject(t *testing.T) {
	if got := doctor.CheckProject(project()); len(got) != 0 {
		t.Errorf("CheckProject(good) = %+v", got)
	}
	p := project()
	p.Project.RPID = "shop.example"
	p.Project.Origins = []string{"https://shop.example", "https://login.shop.example", "https://shop.example.evil.com",
		"http://shop.example", "android:apk-key-hash:short"}
	p.Apps = append(p.Apps,
		broker.App{ID: "app-b", Platform: broker.PlatformAndroid, Identifier: "shop", Fingerprints: []string{"AA:BB"}},
		broker.App{ID: "app-c", Platform: broker.PlatformIOS, Identifier: "abc.com.example"})
	var joined string
	for _, pr := range doctor.CheckProject(p) {
		if pr.Fix == "" {
			t.Errorf("problem without a fix: %+v", pr)
		}
		joined += pr.What + "\n"
	}
	for _, w := range []string{
		"origin https://shop.example.evil.com is not on the RP ID shop.example",
		"origin http://shop.example is not https",
		`origin "android:apk-key-hash:short" is not`,
		`"shop" is not an Android package name`,
		`"AA:BB" has 2 bytes`,
		`"abc.com.example" is not TEAMID.bundle.id`,
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("CheckProject() does not say %q:\n%s", w, joined)
		}
	}
	for _, ok := range []string{"https://login.shop.example\n", "origin https://shop.example "} {
		if strings.Contains(joined, ok) {
			t.Errorf("CheckProject() complains about a good origin (%q):\n%s", ok, joined)
		}
	}
	p = project()
	p.Project.RPID = "github.io"
	if got := doctor.CheckProject(p); len(got) == 0 || !strings.Contains(got[0].What, "public suffix") {
		t.Errorf("CheckProject(RP ID github.io) = %+v, want a public suffix problem", got)
	}
}

func TestCompare(t *testing.T) {
	want := []byte(`{"origins":["https://a.example","https://b.example"]}`)
	for _, tc := range []struct {
		got   string
		diffs int
	}{
		{`{"origins":["https://b.example","https://a.example","https://c.example"]}`, 0},
		{`{"origins":["https://a.example"]}`, 1},
		{`{}`, 2},
		{`not json`, 1},
	} {
		if d := doctor.Compare(broker.RelatedOriginsFile, want, []byte(tc.got)); len(d) != tc.diffs {
			t.Errorf("Compare(webauthn, %s) = %q, want %d differences", tc.got, d, tc.diffs)
		}
	}
}
