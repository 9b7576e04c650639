package web

import (
	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// routes registers the whole HTTP API of the broker; this file is the map of it.
func (s *Server) routes(e *echo.Echo) {
	e.Pre(headAsGet) // HEAD is GET without the body, on every GET route (web/routing.go)

	e.GET("/", s.home) // a page that says what this is and links the docs (web/home.go)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/web/*", s.asset) // the browser SDK and web components

	// This API's description, OpenAPI 3.1 (web/openapi.yaml; no authentication).
	e.GET("/v2/openapi.yaml", s.openAPI)

	// Public keys for offline verification of signedPasskeyData (no authentication).
	e.GET("/v2/projects/:projectID/.well-known/jwks.json", s.jwks)

	// Association files for the project's native apps and related origins, for the app's
	// domain to serve at its own /.well-known/ (web/apps.go; no authentication).
	e.GET("/v2/projects/:projectID/.well-known/assetlinks.json", s.wellKnown(broker.AssetLinksFile))
	e.GET("/v2/projects/:projectID/.well-known/apple-app-site-association", s.wellKnown(broker.AppleAssociationFile))
	e.GET("/v2/projects/:projectID/.well-known/webauthn", s.wellKnown(broker.RelatedOriginsFile))
	e.GET("/v2/projects/:projectID/.well-known/passkey-endpoints", s.wellKnown(broker.PasskeyEndpointsFile))

	// Backend API: HTTP Basic with project ID and API secret.
	backend := newRouteGroup(e, "/v2", s.basicAuth)
	backend.POST("/connectTokens", s.mintConnectToken)
	backend.GET("/connectTokens/:id", s.getConnectToken)
	backend.DELETE("/connectTokens/:id", s.revokeConnectToken)
	// Verification checks the secret itself, in the statement that records the token
	// (broker.VerifySignedDataWithSecret).
	verify := backend.with(s.basicAuthInHandler)
	verify.POST("/passkey/verifySignedData", s.verifySignedData(true))
	verify.POST("/passkeys/verifySignedData", s.verifySignedData(false))

	// Management API (web/management.go): the project's users, passkeys, audit log and webhooks.
	backend.POST("/users", s.createUser)
	backend.POST("/users/bulk", s.createUsers)
	backend.GET("/users", s.listUsers)
	backend.GET("/users/:userID", s.getUser)
	backend.PATCH("/users/:userID", s.updateUser)
	backend.DELETE("/users/:userID", s.deleteUser)
	backend.GET("/users/:userID/passkeys", s.listUserPasskeys)
	backend.GET("/passkeys/:credentialID", s.getPasskey)
	backend.PATCH("/passkeys/:credentialID", s.relabelPasskey)
	backend.DELETE("/passkeys/:credentialID", s.removePasskey)
	backend.GET("/events", s.listEvents)
	backend.POST("/webhooks", s.createWebhook)
	backend.GET("/webhooks", s.listWebhooks)
	backend.GET("/webhooks/:webhookID", s.getWebhook)
	backend.DELETE("/webhooks/:webhookID", s.removeWebhook)
	backend.GET("/webhooks/:webhookID/deliveries", s.listWebhookDeliveries)

	// Adoption analytics (web/analytics.go): the figures, and the app's password logins.
	backend.GET("/analytics", s.analytics)
	backend.POST("/analytics/passwordLogins", s.reportPasswordLogins)

	// The project's native apps and passkey endpoints (web/apps.go).
	backend.GET("/apps", s.listApps)
	backend.POST("/apps", s.addApp)
	backend.DELETE("/apps/:appID", s.removeApp)
	backend.GET("/passkeyEndpoints", s.getPasskeyEndpoints)
	backend.PUT("/passkeyEndpoints", s.setPasskeyEndpoints)
	backend.GET("/rollout", s.getRollout) // web/rollout.go: gradual rollout and kill switch
	backend.PATCH("/rollout", s.updateRollout)

	// Frontend API: no secrets; rate limited per client IP first, then CORS exactly per project's web origins.
	frontend := e.Group("/v2/projects/:projectID/connect", s.limitFrontend, s.frontendCORS)
	frontend.POST("/login/start", s.loginStart)
	frontend.POST("/login/finish", s.loginFinish)
	frontend.POST("/append/start", s.appendStart)
	frontend.POST("/append/finish", s.appendFinish)
	frontend.POST("/manage/list", s.manageList)
	frontend.POST("/manage/delete", s.manageDelete)
	frontend.POST("/analytics", s.reportAnalytics) // outcomes only the page sees (client-reported)
	frontend.GET("/config", s.connectConfig)
	frontend.POST("/append/decline", s.appendDecline)
	frontend.OPTIONS("/*", s.preflight)
}
