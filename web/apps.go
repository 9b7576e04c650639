package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// Native apps: the management API's app settings (Basic authentication) and the association
// files every project serves for its apps' domains to proxy (no authentication).

// WellKnownMaxAge is how long clients and proxies may cache an association file.
const WellKnownMaxAge = 300

type appsResponse struct {
	Apps []broker.App `json:"apps"`
}

func (s *Server) listApps(c echo.Context) error {
	apps, err := s.broker.Apps(c.Request().Context(), project(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, appsResponse{apps})
}

func (s *Server) addApp(c echo.Context) error {
	var req broker.NewApp
	if err := decode(c, &req); err != nil {
		return err
	}
	a, err := s.broker.AddApp(c.Request().Context(), project(c).ID, req)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/v2/apps/"+a.ID)
	return c.JSON(http.StatusCreated, a)
}

func (s *Server) removeApp(c echo.Context) error {
	if !validID(c.Param("appID")) {
		return broker.ErrNotFound
	}
	if err := s.broker.RemoveApp(c.Request().Context(), project(c).ID, c.Param("appID")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) getPasskeyEndpoints(c echo.Context) error {
	e, err := s.broker.PasskeyEndpoints(c.Request().Context(), project(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, e)
}

func (s *Server) setPasskeyEndpoints(c echo.Context) error {
	var req broker.PasskeyEndpoints
	if err := decode(c, &req); err != nil {
		return err
	}
	id := project(c).ID
	if err := s.broker.SetPasskeyEndpoints(c.Request().Context(), id, req); err != nil {
		return err
	}
	return s.getPasskeyEndpoints(c)
}

// wellKnown serves the project's association file name as application/json, cacheable, with
// an ETag; a project without that file (no app of the platform, no endpoint set) gets 404.
// Unknown project IDs count against the client's budget, as for the JWKS (web/memory.go).
func (s *Server) wellKnown(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Param("projectID")
		if !validID(id) {
			return broker.ErrNotFound
		}
		found, err := s.mayLookUp(c, id)
		if err != nil {
			return err
		}
		w, err := s.broker.WellKnown(c.Request().Context(), id)
		if errors.Is(err, broker.ErrNotFound) {
			return s.unknownProject(c, id, true)
		} else if err != nil {
			return err
		}
		found()
		s.memory.remember(id, nil)
		body, ok := w.File(name)
		if !ok {
			return broker.ErrNotFound
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:16]) + `"`
		h := c.Response().Header()
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", etag)
		h.Set("Access-Control-Allow-Origin", "*")
		if inm := c.Request().Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, "application/json", body)
	}
}

// etagMatches reports whether an If-None-Match header names etag (or is *).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
