package exampleapp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"
)

// apiError is the body of every error answer of the app's API.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Error: code, Message: message})
}

// internalError logs err and answers 500 without its text.
func (a *App) internalError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("request failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	writeError(w, http.StatusInternalServerError, "internal_error", "Something went wrong on our side. Please try again.")
}

// decodeJSON reads a JSON body of at most 64 KiB into v; it answers 400 and returns false
// if it cannot.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "invalid_request", "Send JSON.")
		return false
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "The request is not valid JSON.")
		return false
	}
	return true
}

// userJSON is how the API shows a user.
type userJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

func publicUser(u user) userJSON { return userJSON{ID: u.ID, Email: u.Email, Name: u.Name} }

// startSession sets fresh access and refresh cookies for u, signed in by method.
func (a *App) startSession(w http.ResponseWriter, r *http.Request, u user, method string) error {
	s := session{UserID: u.ID, Method: method, Version: u.RefreshVersion}
	access, err := a.keys.issue("access", s, accessTTL)
	if err != nil {
		return err
	}
	refresh, err := a.keys.issue("refresh", s, refreshTTL)
	if err != nil {
		return err
	}
	setCookie(w, r, accessCookie, access, "/", accessTTL)
	setCookie(w, r, refreshCookie, refresh, "/", refreshTTL)
	return nil
}

// authenticate returns the signed-in user and how they signed in. A valid access token is
// enough; without one, a valid refresh token issues a new access token (so pages and API
// calls slide over the 15-minute expiry).
func (a *App) authenticate(w http.ResponseWriter, r *http.Request) (user, session, bool) {
	if u, s, ok := a.fromAccess(r); ok {
		return u, s, true
	}
	return a.refreshAccess(w, r)
}

// fromAccess returns the user of a valid access cookie.
func (a *App) fromAccess(r *http.Request) (user, session, bool) {
	c, err := r.Cookie(accessCookie)
	if err != nil {
		return user{}, session{}, false
	}
	s, err := a.keys.parse("access", c.Value)
	if err != nil {
		return user{}, session{}, false
	}
	u, err := userBy(r.Context(), a.db, "id", s.UserID)
	return u, s, err == nil
}

// fromRefresh returns the user of a refresh cookie whose version is the user's current
// refresh version (sign-out bumps it).
func (a *App) fromRefresh(r *http.Request) (user, session, bool) {
	c, err := r.Cookie(refreshCookie)
	if err != nil {
		return user{}, session{}, false
	}
	s, err := a.keys.parse("refresh", c.Value)
	if err != nil {
		return user{}, session{}, false
	}
	u, err := userBy(r.Context(), a.db, "id", s.UserID)
	if err != nil || u.RefreshVersion != s.Version {
		return user{}, session{}, false
	}
	return u, s, true
}

// refreshAccess issues a new access cookie from a valid refresh cookie.
func (a *App) refreshAccess(w http.ResponseWriter, r *http.Request) (user, session, bool) {
	u, s, ok := a.fromRefresh(r)
	if !ok {
		return user{}, session{}, false
	}
	access, err := a.keys.issue("access", s, accessTTL)
	if err != nil {
		return user{}, session{}, false
	}
	setCookie(w, r, accessCookie, access, "/", accessTTL)
	return u, s, true
}

func (a *App) signUp(w http.ResponseWriter, r *http.Request) {
	var req struct{ Name, Email, Password string }
	if !decodeJSON(w, r, &req) {
		return
	}
	u, err := createUser(r.Context(), a.db, req.Name, req.Email, req.Password, a.now())
	var ferr *fieldError
	switch {
	case errors.As(err, &ferr):
		writeJSON(w, http.StatusBadRequest, apiError{Error: "validation_error", Message: ferr.Message, Field: ferr.Field})
		return
	case errors.Is(err, errEmailTaken):
		writeJSON(w, http.StatusConflict, apiError{Error: "email_taken", Message: "An account with this email already exists. Sign in instead.", Field: "email"})
		return
	case err != nil:
		a.internalError(w, r, err)
		return
	}
	if err := a.startSession(w, r, u, methodPassword); err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": publicUser(u), "next": "/welcome"})
}

func (a *App) signIn(w http.ResponseWriter, r *http.Request) {
	var req struct{ Email, Password string }
	if !decodeJSON(w, r, &req) {
		return
	}
	// Failed attempts are limited per account and client address, before the password is
	// hashed: a guesser is stopped, and the owner elsewhere (or with a passkey) is not.
	key := normalizeEmail(req.Email) + "\x00" + clientAddress(r)
	if wait := a.passwordLimit.wait(key); wait > 0 {
		tooMany(w, wait, "Too many failed sign-in attempts for this account. Try again "+inMinutes(wait)+", or sign in with a passkey.")
		return
	}
	u, err := checkPassword(r.Context(), a.db, req.Email, req.Password)
	if errors.Is(err, errInvalidCredentials) {
		a.passwordLimit.take(key)
		writeError(w, http.StatusUnauthorized, "invalid_credentials", "That email and password do not match an account.")
		return
	}
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if err := a.startSession(w, r, u, methodPassword); err != nil {
		a.internalError(w, r, err)
		return
	}
	a.reportPasswordLogin()
	// Offer a passkey for this device: the user may have passkeys elsewhere but signed in
	// here with a password.
	writeJSON(w, http.StatusOK, map[string]any{"user": publicUser(u), "next": "/welcome"})
}

// signOut ends every session of the user: their refresh tokens stop working at once, and
// access tokens (stateless) expire within 15 minutes; this browser's cookies are cleared.
func (a *App) signOut(w http.ResponseWriter, r *http.Request) {
	u, _, ok := a.fromAccess(r)
	if !ok {
		u, _, ok = a.fromRefresh(r)
	}
	if ok {
		if err := bumpRefreshVersion(r.Context(), a.db, u.ID); err != nil {
			a.internalError(w, r, err)
			return
		}
	}
	clearCookies(w, r)
	writeJSON(w, http.StatusOK, map[string]any{"next": "/signin"})
}

func (a *App) refresh(w http.ResponseWriter, r *http.Request) {
	u, s, ok := a.refreshAccess(w, r)
	if !ok {
		clearCookies(w, r)
		writeError(w, http.StatusUnauthorized, "signed_out", "Your session has ended. Please sign in again.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": publicUser(u), "method": s.Method})
}

func (a *App) me(w http.ResponseWriter, r *http.Request) {
	u, s, ok := a.authenticate(w, r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "signed_out", "You are not signed in.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": publicUser(u), "method": s.Method, "signedInAt": s.Issued.UTC().Format(time.RFC3339)})
}

// connectToken mints a Latchkey connect token for the signed-in user, so that the page can
// add, list or delete their passkeys. The identifier is the user's email, which is also what
// they type to sign in with a passkey.
func (a *App) connectToken(w http.ResponseWriter, r *http.Request) {
	u, _, ok := a.authenticate(w, r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "signed_out", "You are not signed in.")
		return
	}
	var req struct{ Type string }
	if !decodeJSON(w, r, &req) {
		return
	}
	typ, ok := connectTokenTypes[req.Type]
	if !ok {
		writeError(w, http.StatusBadRequest, "validation_error", "type must be passkey-append, passkey-list or passkey-delete.")
		return
	}
	// Each token is a call to the broker: a page needs one per passkey action, so a user
	// asking for many more is a script.
	if wait := a.mintLimit.take(u.ID); wait > 0 {
		tooMany(w, wait, "Too many passkey requests. Please wait a moment and try again.")
		return
	}
	secret, err := a.latchkey.mintConnectToken(r.Context(), typ, u.Email, u.Name)
	if err != nil {
		a.log.Error("minting a connect token", slog.String("error", err.Error()))
		writeError(w, http.StatusBadGateway, "passkeys_unavailable", "Passkeys are unavailable right now. Please try again later.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"connectToken": secret})
}

// passkeyLogin exchanges a signedPasskeyData from the page for the app's own session, but
// only after Latchkey has verified it (signature, expiry, project, single use).
func (a *App) passkeyLogin(w http.ResponseWriter, r *http.Request) {
	var req struct{ SignedPasskeyData string }
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.SignedPasskeyData == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "validation_error", Message: "signedPasskeyData is required.", Field: "signedPasskeyData"})
		return
	}
	v, err := a.latchkey.verifySignedData(r.Context(), req.SignedPasskeyData)
	if err != nil {
		a.log.Error("verifying signedPasskeyData", slog.String("error", err.Error()))
		writeError(w, http.StatusBadGateway, "passkeys_unavailable", "Passkeys are unavailable right now. Please try again later.")
		return
	}
	if v.VerificationResult != "success" {
		a.log.Warn("signedPasskeyData refused", slog.String("result", v.VerificationResult), slog.String("reason", v.Reason))
		writeError(w, http.StatusUnauthorized, "passkey_not_verified", "This passkey sign-in could not be verified. Please try again.")
		return
	}
	u, err := userBy(r.Context(), a.db, "email", v.Username)
	if errors.Is(err, errNotFound) {
		writeError(w, http.StatusUnauthorized, "unknown_user", "This passkey belongs to an account that no longer exists.")
		return
	}
	if err != nil {
		a.internalError(w, r, err)
		return
	}
	if err := a.startSession(w, r, u, methodPasskey); err != nil {
		a.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": publicUser(u), "next": "/profile"})
}

// logRequests logs one line per request.
func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		a.log.Info("request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// reportPasswordLogin tells the broker, in the background, that a user signed in with a
// password, so that Latchkey's analytics can give the share of sign-ins made with a passkey.
// A failure is logged and changes nothing for the user.
func (a *App) reportPasswordLogin() {
	a.reports.Add(1)
	go func() {
		defer a.reports.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.latchkey.reportPasswordLogins(ctx, 1); err != nil {
			a.log.Warn("reporting a password login to Latchkey", slog.String("error", err.Error()))
		}
	}()
}
