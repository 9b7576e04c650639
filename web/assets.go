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
	"sync/atomic"
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

// encodedAsset holds a file as is and gzip-compressed (when that is smaller).
type encodedAsset struct {
	identity, gzip *assetVariant
}

// eachAsset calls fn with the path and content of every embedded file.
func eachAsset(fn func(p string, b []byte)) {
	_ = fs.WalkDir(sdkFiles, "sdk", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := sdkFiles.ReadFile(p)
		if err != nil {
			return err
		}
		fn(p, b)
		return nil
	})
}

// assetTag is the ETag of a file's content b in encoding ("" as is).
func assetTag(b []byte, encoding string) string {
	sum := sha256.Sum256(b)
	tag := hex.EncodeToString(sum[:12])
	if encoding != "" {
		tag += "-" + encoding
	}
	return `"` + tag + `"`
}

// encodedAssets holds every embedded file as is and gzipped (milliseconds), made once.
var encodedAssets = sync.OnceValue(func() map[string]encodedAsset {
	assets := map[string]encodedAsset{}
	eachAsset(func(p string, b []byte) {
		a := encodedAsset{identity: &assetVariant{body: b, etag: assetTag(b, "")}}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(b)
		if zw.Close() == nil && gz.Len() < len(b) {
			a.gzip = &assetVariant{body: gz.Bytes(), etag: assetTag(b, "gzip")}
		}
		assets[p] = a
	})
	return assets
})

// brotliAssets holds the files that brotli makes smaller, compressed at its best level: about
// a second of CPU for all of them, so precompressAssets makes them in the background, once,
// and gzip is served until they are ready.
var (
	brotliAssets = sync.OnceValue(func() map[string]*assetVariant {
		assets := map[string]*assetVariant{}
		eachAsset(func(p string, b []byte) {
			var br bytes.Buffer
			bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
			_, _ = bw.Write(b)
			if bw.Close() == nil && br.Len() < len(b) {
				assets[p] = &assetVariant{body: br.Bytes(), etag: assetTag(b, "br")}
			}
		})
		brotliReady.Store(true)
		return assets
	})
	brotliReady atomic.Bool
	precompress sync.Once
)

// precompressAssets gzips the SDK files now and brotli-compresses them in the background.
func precompressAssets() {
	precompress.Do(func() {
		encodedAssets()
		go brotliAssets()
	})
}

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

// asset serves a file of the browser SDK: brotli (once precompressed) or gzip when the client
// accepts it (each encoding with its own ETag, and Vary: Accept-Encoding), else as is. Pages on any origin
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
	var br *assetVariant
	if brotliReady.Load() {
		br = brotliAssets()["sdk/"+name]
	}
	switch {
	case br != nil && acceptsEncoding(accept, "br"):
		v = br
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
