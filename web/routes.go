package web

import (
	"github.com/labstack/echo/v4"
)

// routes registers the whole HTTP API of the broker; this file is the map of it.
func (s *Server) routes(e *echo.Echo) {
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/web/*", s.asset) // the browser SDK and web components

	// Public keys for offline verification of signedPasskeyData (no authentication).
	e.GET("/v2/projects/:projectID/.well-known/jwks.json", s.jwks)

	// Backend API: HTTP Basic with project ID and API secret.
	backend := e.Group("/v2", s.basicAuth)
	backend.POST("/connectTokens", s.mintConnectToken)
	backend.GET("/connectTokens/:id", s.getConnectToken)
	backend.DELETE("/connectTokens/:id", s.revokeConnectToken)
	backend.POST("/passkey/verifySignedData", s.verifySignedData(true))
	backend.POST("/passkeys/verifySignedData", s.verifySignedData(false))

	// Frontend API: no secrets; CORS exactly per project's web origins.
	frontend := e.Group("/v2/projects/:projectID/connect", s.frontendCORS)
	frontend.POST("/login/start", s.loginStart)
	frontend.POST("/login/finish", s.loginFinish)
	frontend.POST("/append/start", s.appendStart)
	frontend.POST("/append/finish", s.appendFinish)
	frontend.POST("/manage/list", s.manageList)
	frontend.POST("/manage/delete", s.manageDelete)
	frontend.OPTIONS("/*", s.preflight)
}
