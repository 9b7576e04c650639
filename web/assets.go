package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// sdkFiles is the browser SDK and its web components, served under /web/.
//
//go:embed sdk
var sdkFiles embed.FS

// assetTypes are the content types of the files served under /web/; other files are not served.
var assetTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".ts":   "application/typescript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

// assetETags holds a strong ETag per embedded file, computed once.
var assetETags = func() map[string]string {
	tags := map[string]string{}
	_ = fs.WalkDir(sdkFiles, "sdk", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sdkFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags[p] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return tags
}()

// asset serves a file of the browser SDK. Pages on any origin import it as a module (a CORS
// fetch), so it allows every origin; it holds no secrets.
func (s *Server) asset(c echo.Context) error {
	name := c.Param("*")
	typ, ok := assetTypes[path.Ext(name)]
	if name == "" || !ok || !fs.ValidPath(name) {
		return broker.ErrNotFound
	}
	file := "sdk/" + name
	body, err := sdkFiles.ReadFile(file)
	if err != nil {
		return broker.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Content-Type", typ)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", assetETags[file])
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(body))
	return nil
}
