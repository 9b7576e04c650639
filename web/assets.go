package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
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

// assetVariant is one encoding of an embedded file, with its own strong ETag.
type assetVariant struct {
	body []byte
	etag string
}

// encodedAsset holds a file as is and, when they are smaller, brotli- and gzip-compressed.
type encodedAsset struct {
	identity, br, gzip *assetVariant
}

// encodedAssets compresses every embedded file once, on the first request for one.
var encodedAssets = sync.OnceValue(func() map[string]encodedAsset {
	assets := map[string]encodedAsset{}
	_ = fs.WalkDir(sdkFiles, "sdk", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sdkFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tag := hex.EncodeToString(sum[:12])
		a := encodedAsset{identity: &assetVariant{body: b, etag: `"` + tag + `"`}}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(b)
		if zw.Close() == nil && gz.Len() < len(b) {
			a.gzip = &assetVariant{body: gz.Bytes(), etag: `"` + tag + `-gzip"`}
		}
		var br bytes.Buffer
		bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
		_, _ = bw.Write(b)
		if bw.Close() == nil && br.Len() < len(b) {
			a.br = &assetVariant{body: br.Bytes(), etag: `"` + tag + `-br"`}
		}
		assets[p] = a
		return nil
	})
	return assets
})

// acceptsEncoding reports whether an Accept-Encoding header value accepts coding (a q-value of
// 0 refuses it).
func acceptsEncoding(header, coding string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q <= 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// asset serves a file of the browser SDK: brotli or gzip when the client accepts it (each
// encoding with its own ETag, and Vary: Accept-Encoding), else as is. Pages on any origin
// import it as a module (a CORS fetch), so it allows every origin; it holds no secrets.
func (s *Server) asset(c echo.Context) error {
	name := c.Param("*")
	typ, ok := assetTypes[path.Ext(name)]
	if name == "" || !ok || !fs.ValidPath(name) {
		return broker.ErrNotFound
	}
	a, ok := encodedAssets()["sdk/"+name]
	if !ok {
		return broker.ErrNotFound
	}
	h := c.Response().Header()
	v := a.identity
	accept := c.Request().Header.Get("Accept-Encoding")
	switch {
	case a.br != nil && acceptsEncoding(accept, "br"):
		v = a.br
		h.Set("Content-Encoding", "br")
	case a.gzip != nil && acceptsEncoding(accept, "gzip"):
		v = a.gzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", typ)
	h.Add("Vary", "Accept-Encoding")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", v.etag)
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(v.body))
	return nil
}
