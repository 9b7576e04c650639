package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/broker/brokertest"
)

// TestLoginFloodJamsNobody is the flood of issue 11 with the default limits: 40 addresses
// each start 255 usernameless logins (under the per-IP limit), and 10,000 page views of a
// sign-in page with autofill start conditional logins from 40 more. Login ceremonies without a
// connect token are sealed into their IDs, so none of it is stored, and identifier login,
// usernameless login and token-bound append keep working for everyone else.
func TestLoginFloodJamsNobody(t *testing.T) {
	if testing.Short() {
		t.Skip("the flood sends 20,200 requests")
	}
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		e.register(t, "alice")
		path := e.frontPath("login/start")
		origin := map[string]string{"Origin": brokertest.Origin}
		flood := func(addresses, each int, body string, first byte) {
			for a := range addresses {
				remote := fmt.Sprintf("198.51.%d.%d:4000", first, a+1)
				for i := range each {
					if r := e.from(remote, http.MethodPost, path, body, origin); r.Status != http.StatusOK {
						t.Fatalf("flood start %d from %s = %d %s", i, remote, r.Status, r.Body)
					}
				}
			}
		}
		flood(40, 255, `{}`, 100)
		flood(40, 250, `{"conditional":true}`, 101)
		if n := e.f.Counts(t)["ceremonies"]; n != 0 {
			t.Errorf("the flood stored %d ceremonies, want none", n)
		}

		// Everyone else still signs in and adds passkeys.
		if fin := e.login(t, "alice"); fin.str(t, "username") != "alice" {
			t.Errorf("identifier login after the flood = %s", fin.Body)
		}
		if fin := e.login(t, ""); fin.str(t, "username") != "alice" {
			t.Errorf("usernameless login after the flood = %s", fin.Body)
		}
		e.register(t, "bob")
	})
}
