package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// The management API: users, passkeys and the audit log of the calling project, under the
// backend API's Basic authentication. Another project's IDs are not found.

// MaxBulkBodyBytes is the largest body of POST /v2/users/bulk: 1,000 users with long names.
const MaxBulkBodyBytes = 2 << 20

// requestInfo is what the audit log records about the request: its ID, the client's address
// (through the trusted proxies of the rate limits) and its user agent.
func (s *Server) requestInfo(c echo.Context, id string) broker.RequestInfo {
	ri := broker.RequestInfo{RequestID: id, UserAgent: c.Request().UserAgent()}
	if ip := s.remoteIP(c); ip.IsValid() {
		ri.ClientIP = ip.String()
	}
	return ri
}

// page reads the cursor and limit query parameters of a list.
func page(c echo.Context, cursorParam string) (broker.Page, error) {
	p := broker.Page{Cursor: c.QueryParam(cursorParam)}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, &broker.ValidationError{Field: "limit", Message: "must be a number between 1 and 100"}
		}
		p.Limit = n
	}
	return p, nil
}

func (s *Server) createUser(c echo.Context) error {
	var req broker.NewUser
	if err := decode(c, &req); err != nil {
		return err
	}
	u, err := s.broker.CreateUser(c.Request().Context(), project(c).ID, req)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/v2/users/"+u.ID)
	return c.JSON(http.StatusCreated, u)
}

type bulkRequest struct {
	Users []broker.NewUser `json:"users"`
}

type bulkResponse struct {
	Results []broker.BulkResult `json:"results"`
}

func (s *Server) createUsers(c echo.Context) error {
	var req bulkRequest
	if err := decodeLimit(c, &req, MaxBulkBodyBytes); err != nil {
		return err
	}
	res, err := s.broker.CreateUsers(c.Request().Context(), project(c).ID, req.Users)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, bulkResponse{res})
}

func (s *Server) listUsers(c echo.Context) error {
	p, err := page(c, "cursor")
	if err != nil {
		return err
	}
	q := broker.UserQuery{Identifier: c.QueryParam("identifier"), Page: p}
	if c.QueryParams().Has("identifier") && q.Identifier == "" {
		return &broker.ValidationError{Field: "identifier", Message: "must not be empty"}
	}
	res, err := s.broker.Users(c.Request().Context(), project(c).ID, q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) getUser(c echo.Context) error {
	u, err := s.broker.User(c.Request().Context(), project(c).ID, c.Param("userID"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *Server) updateUser(c echo.Context) error {
	var req broker.UserUpdate
	if err := decode(c, &req); err != nil {
		return err
	}
	u, err := s.broker.UpdateUser(c.Request().Context(), project(c).ID, c.Param("userID"), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *Server) deleteUser(c echo.Context) error {
	if err := s.broker.DeleteUser(c.Request().Context(), project(c).ID, c.Param("userID")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listUserPasskeys(c echo.Context) error {
	p, err := page(c, "cursor")
	if err != nil {
		return err
	}
	res, err := s.broker.UserPasskeys(c.Request().Context(), project(c).ID, c.Param("userID"), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) getPasskey(c echo.Context) error {
	pk, err := s.broker.PasskeyByID(c.Request().Context(), project(c).ID, c.Param("credentialID"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pk)
}

type relabelRequest struct {
	Label *string `json:"label"`
}

func (s *Server) relabelPasskey(c echo.Context) error {
	var req relabelRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Label == nil {
		return &broker.ValidationError{Field: "label", Message: "is required"}
	}
	pk, err := s.broker.RelabelPasskey(c.Request().Context(), project(c).ID, c.Param("credentialID"), *req.Label)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pk)
}

func (s *Server) removePasskey(c echo.Context) error {
	if err := s.broker.RemovePasskey(c.Request().Context(), project(c).ID, c.Param("credentialID")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listEvents(c echo.Context) error {
	p, err := page(c, "after")
	if err != nil {
		return err
	}
	res, err := s.broker.Events(c.Request().Context(), project(c).ID, broker.EventQuery{
		After: p.Cursor, Limit: p.Limit, Type: c.QueryParam("type"), UserID: c.QueryParam("userID"),
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// createdWebhook is the answer to POST /v2/webhooks: the endpoint and its secret, shown once.
type createdWebhook struct {
	broker.Webhook
	Secret string `json:"secret"`
}

func (s *Server) createWebhook(c echo.Context) error {
	var req broker.NewWebhook
	if err := decode(c, &req); err != nil {
		return err
	}
	w, secret, err := s.broker.AddWebhook(c.Request().Context(), project(c).ID, req)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/v2/webhooks/"+w.ID)
	return c.JSON(http.StatusCreated, createdWebhook{w, secret})
}

type webhookList struct {
	Webhooks []broker.Webhook `json:"webhooks"`
}

func (s *Server) listWebhooks(c echo.Context) error {
	ws, err := s.broker.Webhooks(c.Request().Context(), project(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookList{ws})
}

func (s *Server) getWebhook(c echo.Context) error {
	w, err := s.broker.Webhook(c.Request().Context(), project(c).ID, c.Param("webhookID"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, w)
}

func (s *Server) removeWebhook(c echo.Context) error {
	if err := s.broker.RemoveWebhook(c.Request().Context(), project(c).ID, c.Param("webhookID")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listWebhookDeliveries(c echo.Context) error {
	p, err := page(c, "cursor")
	if err != nil {
		return err
	}
	res, err := s.broker.WebhookAttempts(c.Request().Context(), project(c).ID, c.Param("webhookID"), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
