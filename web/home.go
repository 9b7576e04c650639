package web

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"
)

// WithExampleApp makes the page at / link the example app at url (as `latchkey dev` does).
func WithExampleApp(url string) Option {
	return func(s *Server) { s.exampleAppURL = url }
}

// homePage is the page at /: what this server is and where to go next. Plain HTML: the
// server's Content-Security-Policy allows no script and no style, and none is needed.
var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Latchkey passkey broker</title>
</head>
<body>
<h1>Latchkey</h1>
<p>This is a Latchkey passkey broker. It has no pages of its own: app backends call its API
with their project's credentials, and web pages and mobile apps run passkey sign-in through
its frontend API.</p>
<ul>
{{- if .ExampleApp}}
<li><a href="{{.ExampleApp}}">Acme, the example app</a>: sign up, add a passkey and sign in with it.</li>
{{- end}}
<li><a href="/v2/openapi.yaml">The API description</a> (OpenAPI 3.1).</li>
<li><a href="https://github.com/latchkey/latchkey#readme">The documentation</a>: quick start, integrating an app, running in production.</li>
<li><a href="/web/latchkey-components.js">The drop-in web components</a> and <a href="/web/latchkey.js">the browser SDK</a>.</li>
<li><a href="/readyz">Readiness</a>: whether the database answers.</li>
</ul>
</body>
</html>
`))

// home serves the page at /.
func (s *Server) home(c echo.Context) error {
	var buf bytes.Buffer
	if err := homePage.Execute(&buf, struct{ ExampleApp string }{s.exampleAppURL}); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}
