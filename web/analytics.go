package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey/latchkey/broker"
)

// Adoption analytics: the figures (backend API), password logins the app backend reports
// (backend API), and outcomes only the browser sees (frontend API, no secret).

// MaxReportBodyBytes is the largest body of a frontend analytics report: an event name, a
// reason and perhaps a connect token.
const MaxReportBodyBytes = 1 << 10

// analyticsTime reads an RFC 3339 query parameter; "" is the zero time.
func analyticsTime(c echo.Context, name string) (time.Time, error) {
	s := c.QueryParam(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, &broker.ValidationError{Field: name, Message: "must be an RFC 3339 time such as 2026-11-30T00:00:00Z"}
	}
	return t, nil
}

func (s *Server) analytics(c echo.Context) error {
	from, err := analyticsTime(c, "from")
	if err != nil {
		return err
	}
	to, err := analyticsTime(c, "to")
	if err != nil {
		return err
	}
	if c.QueryParams().Has("bucket") && c.QueryParam("bucket") == "" {
		return &broker.ValidationError{Field: "bucket", Message: "must be hour or day"}
	}
	a, err := s.broker.Analytics(c.Request().Context(), project(c).ID, broker.AnalyticsQuery{From: from, To: to, Bucket: c.QueryParam("bucket")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

type passwordLoginsRequest struct {
	Count *int64 `json:"count"`
	At    string `json:"at"`
}

type passwordLoginsResponse struct {
	Recorded int64 `json:"recorded"`
}

func (s *Server) reportPasswordLogins(c echo.Context) error {
	var req passwordLoginsRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	n := int64(1)
	if req.Count != nil {
		n = *req.Count
	}
	var at time.Time
	if req.At != "" {
		t, err := time.Parse(time.RFC3339, req.At)
		if err != nil {
			return &broker.ValidationError{Field: "at", Message: "must be an RFC 3339 time"}
		}
		at = t
	}
	if err := s.broker.ReportPasswordLogins(c.Request().Context(), project(c).ID, n, at); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, passwordLoginsResponse{Recorded: n})
}

type reportRequest struct {
	Event  string `json:"event"`
	Reason string `json:"reason"`
	// ConnectToken is accepted and ignored: a page may send the token it holds, but a
	// report needs none.
	ConnectToken string `json:"connectToken"`
}

func (s *Server) reportAnalytics(c echo.Context) error {
	var req reportRequest
	if err := decodeLimit(c, &req, MaxReportBodyBytes); err != nil {
		return err
	}
	if req.Event == "" {
		return &broker.ValidationError{Field: "event", Message: "is required"}
	}
	if err := s.broker.ReportClientEvent(c.Request().Context(), project(c).ID, req.Event, req.Reason); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
