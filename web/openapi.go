package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPI is the description of the whole HTTP API (OpenAPI 3.1), served at /v2/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// openAPI serves the API description. It holds no secrets; any origin may read it (for API
// explorers), and it may be cached for a few minutes.
func (s *Server) openAPI(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", OpenAPI)
}
