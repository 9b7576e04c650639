package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// The rollout: GET and PATCH /v2/rollout (management API) and, for the SDK, GET
// connect/config and POST connect/append/decline (frontend API).

func (s *Server) getRollout(c echo.Context) error {
	r, err := s.broker.Rollout(c.Request().Context(), project(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// rolloutRequest is the body of PATCH /v2/rollout: absent members stay as they are.
type rolloutRequest struct {
	Login                  *string   `json:"login"`
	Append                 *string   `json:"append"`
	Manage                 *string   `json:"manage"`
	Allow                  *[]string `json:"allow"`
	Deny                   *[]string `json:"deny"`
	Require                *[]string `json:"require"`
	DeclinePeriodInSeconds *int64    `json:"declinePeriodInSeconds"`
}

func (s *Server) updateRollout(c echo.Context) error {
	var req rolloutRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	change := broker.RolloutChange{Allow: req.Allow, Deny: req.Deny, Require: req.Require, DeclinePeriodInSeconds: req.DeclinePeriodInSeconds}
	for _, f := range []struct {
		name string
		in   *string
		out  **broker.Share
	}{{"login", req.Login, &change.Login}, {"append", req.Append, &change.Append}, {"manage", req.Manage, &change.Manage}} {
		if f.in == nil {
			continue
		}
		v, err := broker.ParseShare(*f.in)
		if err != nil {
			return &broker.ValidationError{Field: f.name, Message: "must be off, on or a percentage such as 25%"}
		}
		*f.out = &v
	}
	r, err := s.broker.UpdateRollout(c.Request().Context(), project(c).ID, change)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// queryBool reads an optional true/false query parameter.
func queryBool(c echo.Context, name string) (*bool, error) {
	switch c.QueryParam(name) {
	case "":
		return nil, nil
	case "true":
		v := true
		return &v, nil
	case "false":
		v := false
		return &v, nil
	}
	return nil, &broker.ValidationError{Field: name, Message: "must be true or false"}
}

// connectConfig answers what is on for a visitor: GET connect/config?identifier=…, with the
// client's capabilities as query parameters (platformAuthenticator, conditionalMediation,
// os). It is not cached by the browser: a kill switch must reach the next page view.
func (s *Server) connectConfig(c echo.Context) error {
	client := &broker.Client{OS: c.QueryParam("os")}
	var err error
	if client.PlatformAuthenticator, err = queryBool(c, "platformAuthenticator"); err != nil {
		return err
	}
	if client.ConditionalMediation, err = queryBool(c, "conditionalMediation"); err != nil {
		return err
	}
	identifier := c.QueryParam("identifier")
	if err := s.limitIdentifier(project(c).ID, identifier); err != nil {
		return err
	}
	v, err := s.broker.ConnectConfig(c.Request().Context(), project(c).ID, identifier, client)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"rollout": v})
}

type declineRequest struct {
	ConnectToken string `json:"connectToken"`
}

// appendDecline remembers "Not now" to the passkey offer for the user of a passkey-append
// connect token (not consumed).
func (s *Server) appendDecline(c echo.Context) error {
	var req declineRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.ConnectToken == "" {
		return &broker.ValidationError{Field: "connectToken", Message: "is required"}
	}
	until, err := s.broker.DeclineAppend(c.Request().Context(), project(c).ID, req.ConnectToken)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"declinedUntil": until.UTC().Format(time.RFC3339Nano)})
}
