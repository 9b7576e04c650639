package exampleapp

import (
	"net/http"
)

// routes returns the app's whole HTTP surface; this function is the map of it.
func (a *App) routes() http.Handler {
	mux := http.NewServeMux()

	// Pages, server-rendered; they load Latchkey's browser SDK from the broker.
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /signin", a.guestPage("signin"))
	mux.HandleFunc("GET /signup", a.guestPage("signup"))
	mux.HandleFunc("GET /welcome", a.userPage("welcome"))
	mux.HandleFunc("GET /profile", a.userPage("profile"))
	mux.Handle("GET /assets/", a.assets())

	// The app's own accounts and sessions.
	mux.HandleFunc("POST /api/signup", a.signUp)
	mux.HandleFunc("POST /api/signin", a.signIn)
	mux.HandleFunc("POST /api/signout", a.signOut)
	mux.HandleFunc("POST /api/refresh", a.refresh)
	mux.HandleFunc("GET /api/me", a.me)

	// The two places where the app talks to Latchkey's backend API.
	mux.HandleFunc("POST /api/connect-token", a.connectToken)
	mux.HandleFunc("POST /api/passkey-login", a.passkeyLogin)

	// Cross-origin unsafe requests (CSRF) are refused before they reach a handler.
	return a.logRequests(http.NewCrossOriginProtection().Handler(mux))
}
