package exampleapp

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pages holds one template per page, each with the shared layout.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"signin", "signup", "welcome", "profile"} {
		m[name] = template.Must(template.New(name).Funcs(template.FuncMap{"initial": initial}).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return m
}()

// pageData is what every page template gets.
type pageData struct {
	BrokerURL string
	ProjectID string
	Nonce     string // for the page's inline module script (Content-Security-Policy)
	User      userJSON
	Method    string
	Next      string
}

func (a *App) assets() http.Handler {
	sub, _ := fs.Sub(assetFS, "assets")
	files := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := a.authenticate(w, r); ok {
		http.Redirect(w, r, "/profile", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// guestPage renders a page for signed-out visitors; signed-in users go to their profile.
func (a *App) guestPage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := a.authenticate(w, r); ok {
			http.Redirect(w, r, "/profile", http.StatusSeeOther)
			return
		}
		a.render(w, r, name, pageData{Next: nextPath(r, r.URL.Query().Get("next"))})
	}
}

// userPage renders a page for signed-in users; others are sent to sign in first.
func (a *App) userPage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, s, ok := a.authenticate(w, r)
		if !ok {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return
		}
		a.render(w, r, name, pageData{User: publicUser(u), Method: s.Method})
	}
}

// initial returns the first letter of name, upper-cased, for the avatar.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// nextPath returns where to send the user after signing in, from a next parameter: next
// resolved against the app's own origin (that of r), as a path with its query and
// fragment, if it stays on that origin; "" otherwise. What comes back is the resolved URL
// written again, never next itself, and it starts with one "/" and no second "/" or "\",
// so a browser reads it as a path on this origin. Browsers also forgive what url.Parse
// does not: they drop tabs and line breaks ("/\t/evil.example" is "//evil.example") and
// read "\" as "/", so next with a control character or a backslash is refused outright.
func nextPath(r *http.Request, next string) string {
	if next == "" || strings.ContainsFunc(next, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '\\' }) {
		return ""
	}
	scheme := "http"
	if isHTTPS(r) {
		scheme = "https"
	}
	base := &url.URL{Scheme: scheme, Host: r.Host, Path: "/"}
	u, err := base.Parse(next)
	if err != nil || u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil || u.Opaque != "" {
		return ""
	}
	p := u.EscapedPath()
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	if u.Fragment != "" {
		p += "#" + u.EscapedFragment()
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return ""
	}
	return p
}

func (a *App) render(w http.ResponseWriter, r *http.Request, name string, d pageData) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		a.internalError(w, r, err)
		return
	}
	d.Nonce = base64.StdEncoding.EncodeToString(nonce)
	d.BrokerURL, d.ProjectID = a.cfg.BrokerURL, a.cfg.ProjectID
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; "+
		"script-src 'self' 'nonce-"+d.Nonce+"' "+a.cfg.BrokerURL+"; "+
		"connect-src 'self' "+a.cfg.BrokerURL+"; "+
		"style-src 'self' 'unsafe-inline'; img-src 'self' data:; "+
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	if err := pages[name].ExecuteTemplate(w, "layout", d); err != nil {
		a.log.Error("rendering page", "page", name, "error", err)
	}
}
