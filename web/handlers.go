package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// validID reports whether s has the form of the IDs the broker makes (a prefix and hex
// digits): 1 to 64 ASCII letters, digits, '-' or '_'. Anything else names nothing, and is
// not sent to the store, which (PostgreSQL) fails on text with NUL or invalid UTF-8.
func validID(s string) bool {
	return len(s) <= 64 && validCeremonyID(s)
}

// validCeremonyID is validID for ceremony IDs, except that a sealed login ceremony's ID
// (cls-, carrying its state) may be up to 256 characters long.
func validCeremonyID(s string) bool {
	if s == "" || len(s) > 256 || (len(s) > 64 && !strings.HasPrefix(s, "cls-")) {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// basicAuth authenticates the backend API: username project ID, password API secret. The
// secret is always checked (a hash and one indexed read), so that a valid one is never
// refused because others failed from the same address; failures are counted per project
// and client IP, and beyond FailedAuthPerIP they are answered 429. A project ID this process
// does not know is first looked up within the client's budget of unknown projects.
func (s *Server) basicAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return s.basicAuthInHandler(func(c echo.Context) error {
		if err := s.authenticate(c); err != nil {
			return err
		}
		return next(c)
	})
}

// basicAuthInHandler is basicAuth for a handler that checks the secret itself: it checks the
// credentials' form and the project's existence, and leaves the secret in the context. Its
// handler must answer as basicAuth would, before anything else, when the secret is not live:
// through authenticate, or an ErrUnauthenticated of the broker passed to authFailed.
func (s *Server) basicAuthInHandler(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, secret, ok := c.Request().BasicAuth()
		if !ok || !validID(id) || secret == "" || len(secret) > 256 {
			return broker.ErrUnauthenticated
		}
		p, err := s.lookUpProject(c, id)
		if errors.Is(err, broker.ErrNotFound) {
			return broker.ErrUnauthenticated
		} else if err != nil {
			return err
		}
		c.Set(ctxProject, p)
		c.Set(ctxSecret, secret)
		return next(c)
	}
}

// authenticate checks the secret that basicAuthInHandler left in the context.
func (s *Server) authenticate(c echo.Context) error {
	id := project(c).ID
	secret, _ := c.Get(ctxSecret).(string)
	p, err := s.broker.Authenticate(c.Request().Context(), id, secret)
	if errors.Is(err, broker.ErrUnauthenticated) {
		return s.authFailed(c, id)
	}
	if err != nil {
		return err
	}
	c.Set(ctxProject, p)
	return nil
}

// frontendCORS loads the project of the path and admits a browser request only from one of
// its web origins; requests without Origin (native apps) pass.
func (s *Server) frontendCORS(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Param("projectID")
		if !validID(id) {
			return broker.ErrNotFound
		}
		p, err := s.lookUpProject(c, id)
		if err != nil {
			return err
		}
		if !allowCORS(c, p) {
			return errForbiddenOrigin
		}
		c.Set(ctxProject, p)
		return next(c)
	}
}

// allowCORS sets the CORS headers of an answer to the request's Origin if it is one of p's
// web origins, and reports whether the request may go on: it has no Origin (a native app),
// or an allowed one.
func allowCORS(c echo.Context, p broker.Project) bool {
	h := c.Response().Header()
	h.Add("Vary", "Origin")
	origin := c.Request().Header.Get("Origin")
	if origin == "" {
		return true
	}
	if !p.AllowsWebOrigin(origin) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
	return true
}

// preflight answers CORS preflight requests of allowed origins.
func (s *Server) preflight(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) jwks(c echo.Context) error {
	id := c.Param("projectID")
	if !validID(id) {
		return broker.ErrNotFound
	}
	set, err := s.projectJWKS(c, id)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(broker.JWKSMaxAge.Seconds())))
	h.Set("Access-Control-Allow-Origin", "*")
	return c.Blob(http.StatusOK, "application/json", set)
}

func (s *Server) mintConnectToken(c echo.Context) error {
	var req broker.MintRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	t, err := s.broker.MintConnectToken(c.Request().Context(), project(c).ID, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *Server) getConnectToken(c echo.Context) error {
	if !validID(c.Param("id")) {
		return broker.ErrNotFound
	}
	t, err := s.broker.ConnectToken(c.Request().Context(), project(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

func (s *Server) revokeConnectToken(c echo.Context) error {
	if !validID(c.Param("id")) {
		return broker.ErrNotFound
	}
	if err := s.broker.RevokeConnectToken(c.Request().Context(), project(c).ID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type verifyRequest struct {
	SignedPasskeyData *string `json:"signedPasskeyData"`
	Username          *string `json:"username"`
}

// verifySignedData serves both verify routes; the singular one requires username. It
// authenticates the backend itself (basicAuthInHandler): the broker confirms the secret in
// the statement that records the token, and a request it refuses is answered 401 before the
// request's own faults.
func (s *Server) verifySignedData(requireUsername bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := project(c).ID
		secret, _ := c.Get(ctxSecret).(string)
		// A secret this broker has not seen live lately is checked before the body is read,
		// as on every other backend route.
		deferred := s.broker.SecretKnown(id, secret)
		if !deferred {
			if err := s.authenticate(c); err != nil {
				return err
			}
		}
		token, username, err := decodeVerify(c, requireUsername)
		if err != nil {
			if deferred {
				if aerr := s.authenticate(c); aerr != nil {
					return aerr
				}
			}
			return err
		}
		v, err := s.broker.VerifySignedDataWithSecret(c.Request().Context(), id, secret, token, username)
		if errors.Is(err, broker.ErrUnauthenticated) {
			return s.authFailed(c, id)
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	}
}

// decodeVerify reads and checks a verify request's body.
func decodeVerify(c echo.Context, requireUsername bool) (token, username string, err error) {
	var req verifyRequest
	if err := decode(c, &req); err != nil {
		return "", "", err
	}
	if req.SignedPasskeyData == nil || *req.SignedPasskeyData == "" {
		return "", "", &broker.ValidationError{Field: "signedPasskeyData", Message: "is required"}
	}
	if requireUsername && (req.Username == nil || *req.Username == "") {
		return "", "", &broker.ValidationError{Field: "username", Message: "is required"}
	}
	if req.Username != nil {
		username = *req.Username
	}
	return *req.SignedPasskeyData, username, nil
}

func (s *Server) loginStart(c echo.Context) error {
	var req broker.LoginRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := s.limitIdentifier(project(c).ID, req.Identifier); err != nil {
		return err
	}
	res, err := s.broker.StartLogin(c.Request().Context(), project(c).ID, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

type finishRequest struct {
	CeremonyID string          `json:"ceremonyID"`
	Credential json.RawMessage `json:"credential"`
}

func decodeFinish(c echo.Context) (finishRequest, error) {
	var req finishRequest
	if err := decode(c, &req); err != nil {
		return req, err
	}
	if req.CeremonyID == "" {
		return req, &broker.ValidationError{Field: "ceremonyID", Message: "is required"}
	}
	if !validCeremonyID(req.CeremonyID) {
		return req, &broker.ValidationError{Field: "ceremonyID", Message: "must be a ceremony ID"}
	}
	if len(req.Credential) == 0 || string(req.Credential) == "null" || req.Credential[0] != '{' {
		return req, &broker.ValidationError{Field: "credential", Message: "is required and must be an object"}
	}
	if err := checkClientData(req.Credential); err != nil {
		return req, err
	}
	return req, nil
}

// checkClientData refuses a credential whose response.clientDataJSON, once decoded, has
// duplicate keys or keys that differ only in case (or is not JSON): go-webauthn would read
// the last "origin" of {"origin":"https://evil.example","origin":"https://shop.example"},
// another parser the first. A credential without a decodable clientDataJSON is left to the
// broker, which refuses it.
func checkClientData(credential json.RawMessage) error {
	var c struct {
		Response struct {
			ClientDataJSON string `json:"clientDataJSON"`
		} `json:"response"`
	}
	if json.Unmarshal(credential, &c) != nil || c.Response.ClientDataJSON == "" {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Response.ClientDataJSON)
	if err != nil {
		return nil
	}
	if checkJSON(raw) != nil {
		return &broker.ValidationError{Field: "credential.response.clientDataJSON",
			Message: "must be JSON without duplicate or case-variant keys"}
	}
	return nil
}

func (s *Server) loginFinish(c echo.Context) error {
	req, err := decodeFinish(c)
	if err != nil {
		return err
	}
	res, err := s.broker.FinishLogin(c.Request().Context(), project(c).ID, req.CeremonyID, req.Credential)
	if err != nil {
		return err
	}
	s.memory.signedWith(project(c).ID, res.SignedPasskeyData)
	return c.JSON(http.StatusOK, res)
}

func (s *Server) appendStart(c echo.Context) error {
	var req broker.AppendRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.ConnectToken == "" {
		return &broker.ValidationError{Field: "connectToken", Message: "is required"}
	}
	res, err := s.broker.StartAppendWith(c.Request().Context(), project(c).ID, req)
	if err != nil {
		return err
	}
	if res.CeremonyID == "" { // an upgrade that skips, or a check only: no ceremony
		return c.JSON(http.StatusOK, upgradeAnswer{Rollout: res.Rollout, Skip: res.Skip})
	}
	return c.JSON(http.StatusOK, res)
}

// upgradeAnswer is append/start's answer to an upgrade without a ceremony.
type upgradeAnswer struct {
	Rollout *broker.Visitor `json:"rollout"`
	Skip    *broker.Skip    `json:"skip,omitempty"`
}

func (s *Server) appendFinish(c echo.Context) error {
	req, err := decodeFinish(c)
	if err != nil {
		return err
	}
	pk, err := s.broker.FinishAppend(c.Request().Context(), project(c).ID, req.CeremonyID, req.Credential)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"passkey": pk})
}

type manageRequest struct {
	ConnectToken string `json:"connectToken"`
	CredentialID string `json:"credentialID"`
}

type manageResponse struct {
	Passkeys []broker.Passkey `json:"passkeys"`
	Signal   broker.Signal    `json:"signal"`
}

func (s *Server) manageList(c echo.Context) error {
	var req manageRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.ConnectToken == "" {
		return &broker.ValidationError{Field: "connectToken", Message: "is required"}
	}
	list, sig, err := s.broker.ListPasskeys(c.Request().Context(), project(c).ID, req.ConnectToken)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, manageResponse{list, sig})
}

func (s *Server) manageDelete(c echo.Context) error {
	var req manageRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.ConnectToken == "" {
		return &broker.ValidationError{Field: "connectToken", Message: "is required"}
	}
	if req.CredentialID == "" {
		return &broker.ValidationError{Field: "credentialID", Message: "is required"}
	}
	list, sig, err := s.broker.DeletePasskey(c.Request().Context(), project(c).ID, req.ConnectToken, req.CredentialID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, manageResponse{list, sig})
}
