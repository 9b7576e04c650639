package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/broker/brokertest"
)

// TestRolloutHTTP drives the rollout through the router, every exchange checked against
// web/openapi.yaml: the management API changes it (audit event), connect/config and the
// start answers tell the SDK what is on, the kill switch refuses logins with
// component_disabled, and "Not now" makes an upgrade skip.
func TestRolloutHTTP(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		m := newMgmtEnv(t, dialect)
		e := m.env
		config := func(q url.Values) response {
			return e.doJSON(t, http.MethodGet, e.frontPath("config")+"?"+q.Encode(), nil, map[string]string{"Origin": brokertest.Origin})
		}
		r := e.backend(t, http.MethodGet, "/v2/rollout", nil)
		r.wantStatus(t, http.StatusOK)
		if r.str(t, "login") != "on" || r.str(t, "append") != "on" {
			t.Errorf("GET /v2/rollout of a new project = %s, want everything on", r.Body)
		}
		e.register(t, "alice")

		// Kill switch.
		r = e.backend(t, http.MethodPatch, "/v2/rollout", map[string]any{"login": "off", "append": "25%", "deny": []string{"mallory"}})
		r.wantStatus(t, http.StatusOK)
		if r.str(t, "login") != "off" || r.str(t, "append") != "25%" {
			t.Errorf("PATCH /v2/rollout = %s", r.Body)
		}
		assertError(t, e.front(t, "login/start", map[string]any{"identifier": "alice"}), http.StatusForbidden, "component_disabled")
		assertError(t, e.front(t, "login/start", map[string]any{"conditional": true}), http.StatusForbidden, "component_disabled")
		c := config(url.Values{"identifier": {"mallory"}, "os": {"macos"}, "platformAuthenticator": {"true"}})
		c.wantStatus(t, http.StatusOK)
		if c.get("rollout.login") != false || c.get("rollout.append") != false || c.get("rollout.manage") != false {
			t.Errorf("config for a denied identifier = %s", c.Body)
		}
		if c.Header.Get("Cache-Control") != "no-store" || c.Header.Get("Access-Control-Allow-Origin") != brokertest.Origin {
			t.Errorf("config headers = %v", c.Header)
		}
		assertValidation(t, config(url.Values{"os": {"beos"}}), "client.os")
		assertValidation(t, config(url.Values{"platformAuthenticator": {"yes"}}), "platformAuthenticator")
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/rollout", map[string]any{"login": "half"}), "login")
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/rollout", map[string]any{"require": []string{"os:beos"}}), "require")

		// On again, and "Not now".
		e.backend(t, http.MethodPatch, "/v2/rollout", map[string]any{"login": "on", "append": "on"}).wantStatus(t, http.StatusOK)
		e.login(t, "alice")
		tok := e.token(t, "passkey-append", "bob")
		up := e.front(t, "append/start", map[string]any{"connectToken": tok, "upgrade": true, "checkOnly": true, "client": map[string]any{"os": "linux"}})
		up.wantStatus(t, http.StatusOK)
		if up.get("skip") != nil || up.get("rollout.append") != true || up.get("ceremonyID") != nil {
			t.Errorf("upgrade check for bob = %s, want the rollout alone", up.Body)
		}
		d := e.front(t, "append/decline", map[string]any{"connectToken": tok})
		d.wantStatus(t, http.StatusOK)
		up = e.front(t, "append/start", map[string]any{"connectToken": tok, "upgrade": true})
		up.wantStatus(t, http.StatusOK)
		if up.get("skip.reason") != "declined" || up.get("rollout.declinedUntil") != d.get("declinedUntil") {
			t.Errorf("upgrade after Not now = %s, want skip declined until %v", up.Body, d.get("declinedUntil"))
		}
		assertError(t, e.front(t, "append/decline", map[string]any{"connectToken": e.token(t, "passkey-list", "bob")}), http.StatusUnauthorized, "invalid_connect_token")
		assertValidation(t, e.front(t, "append/decline", map[string]any{}), "connectToken")

		if evs := m.events(t, "type=project.rollout_changed", nil); len(evs) != 2 {
			t.Errorf("project.rollout_changed events = %v, want 2 (off, then on)", evs)
		}
		if evs := m.events(t, "type=user.append_declined", nil); len(evs) != 1 {
			t.Errorf("user.append_declined events = %v, want 1", evs)
		}
	})
}
