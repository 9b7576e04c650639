package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// headAsGet answers HEAD as GET without the body, on every GET route (RFC 9110, 9.3.2): the
// request is routed and handled as GET, with the same status and headers, and nothing of the
// body reaches the client. It runs before routing (echo.Pre).
func headAsGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method != http.MethodHead {
			return next(c)
		}
		req.Method = http.MethodGet
		c.Response().Writer = bodyless{c.Response().Writer}
		return next(c)
	}
}

// bodyless is a ResponseWriter that sends the status and headers and drops the body.
type bodyless struct{ http.ResponseWriter }

func (bodyless) Write(p []byte) (int, error) { return len(p), nil }

// routeGroup registers routes under a prefix, each with the group's middleware. Unlike echo's
// group middleware, which echo runs for every path under the prefix (so that an unknown path
// or method under /v2 answered 401 instead of 404 or 405), it applies only to the routes
// registered here.
type routeGroup struct {
	g  *echo.Group
	mw []echo.MiddlewareFunc
}

// newRouteGroup returns the group of routes under prefix with middleware mw. A path under
// prefix that no route serves, or not with the request's method, is 404 not_found, before
// any middleware runs.
func newRouteGroup(e *echo.Echo, prefix string, mw ...echo.MiddlewareFunc) routeGroup {
	g := e.Group(prefix)
	g.RouteNotFound("/*", func(echo.Context) error { return echo.ErrNotFound })
	return routeGroup{g, mw}
}

// with returns the group of the same routes, with middleware mw instead.
func (r routeGroup) with(mw ...echo.MiddlewareFunc) routeGroup { return routeGroup{r.g, mw} }

func (r routeGroup) GET(path string, h echo.HandlerFunc)    { r.g.GET(path, h, r.mw...) }
func (r routeGroup) POST(path string, h echo.HandlerFunc)   { r.g.POST(path, h, r.mw...) }
func (r routeGroup) PATCH(path string, h echo.HandlerFunc)  { r.g.PATCH(path, h, r.mw...) }
func (r routeGroup) PUT(path string, h echo.HandlerFunc)    { r.g.PUT(path, h, r.mw...) }
func (r routeGroup) DELETE(path string, h echo.HandlerFunc) { r.g.DELETE(path, h, r.mw...) }
