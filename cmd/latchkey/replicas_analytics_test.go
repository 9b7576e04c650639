package main

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/softauthn"
)

// TestTwoReplicasAnalytics: two `serve` replicas on one PostgreSQL, logins, reports and
// password logins spread over both; GET /v2/analytics gives the same figures on each, and
// `latchkey analytics --json` the same again from the database.
func TestTwoReplicasAnalytics(t *testing.T) {
	const origin = "http://localhost:8080"
	a := startServe(t, "postgres", origin)
	b := serveOn(t, a.env, a.ProjectID, a.Secret)
	auth := softauthn.NewAuthenticator("localhost", origin)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(a.ProjectID+":"+a.Secret))

	b.appendPasskey(t, auth, origin, "user-42")
	a.login(t, auth, origin, "user-42")
	b.login(t, auth, origin, "user-42")
	a.login(t, auth, origin, "")
	for _, s := range []*server{a, b} {
		if code := call(t, "POST", s.frontend("analytics"), map[string]string{"event": "append.offer_shown"}, nil, "Origin", origin); code != 204 {
			t.Fatalf("report on %s = %d, want 204", s.URL, code)
		}
	}
	if code := call(t, "POST", b.URL+"/v2/analytics/passwordLogins", map[string]int{"count": 5}, nil, "Authorization", basic); code != 200 {
		t.Fatalf("passwordLogins = %d", code)
	}

	to := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-3 * time.Hour)
	query := "?bucket=hour&from=" + from.Format(time.RFC3339) + "&to=" + to.Format(time.RFC3339)
	var got [2]broker.Analytics
	for i, s := range []*server{a, b} {
		if code := call(t, "GET", s.URL+"/v2/analytics"+query, nil, &got[i], "Authorization", basic); code != 200 {
			t.Fatalf("GET /v2/analytics on %s = %d", s.URL, code)
		}
	}
	if diff := cmp.Diff(got[0], got[1]); diff != "" {
		t.Errorf("the replicas' analytics differ (-A +B):\n%s", diff)
	}
	tt := got[0].Totals
	if tt.PasskeyLogins != (broker.LoginsByKind{Identifier: 2, Usernameless: 1}) || tt.PasswordLogins != 5 || tt.AppendOffersShown != 2 ||
		tt.PasskeysAdded != 1 || tt.UsersWithPasskey != 1 || tt.PasskeyShare == nil || *tt.PasskeyShare != 0.375 ||
		tt.AppendConversion == nil || *tt.AppendConversion != 0.5 {
		t.Errorf("totals = %+v, want 2 identifier and 1 usernameless login, 5 password logins (share 0.375), 2 offers, 1 passkey (conversion 0.5)", tt)
	}

	out, _, err := runCmd(t, a.env, "analytics", "--project", a.ProjectID, "--bucket", "hour", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var cli broker.Analytics
	if err := json.Unmarshal([]byte(out), &cli); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got[0], cli); diff != "" {
		t.Errorf("latchkey analytics --json differs from GET /v2/analytics (-API +CLI):\n%s", diff)
	}
}
