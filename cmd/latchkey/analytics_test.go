package main

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/connecttoken"
)

// TestAnalyticsCommand: `latchkey analytics` prints the figures of a project's store, with a
// sparkline per series over the buckets, and its JSON is GET /v2/analytics's.
func TestAnalyticsCommand(t *testing.T) {
	f := brokertest.New(t, "sqlite")
	ctx := t.Context()
	hour := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	f.Broker.Now = func() time.Time { return hour.Add(30 * time.Minute) }
	pid := f.Project.ID
	auth := softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
	auth.BackupEligible, auth.BackedUp = true, true
	tok, err := f.Broker.MintConnectToken(ctx, pid, broker.MintRequest{Type: string(connecttoken.TypeAppend),
		Data: broker.ConnectTokenData{Identifier: "alice", DisplayName: "Alice"}})
	if err != nil {
		t.Fatal(err)
	}
	uaCtx := broker.WithRequestInfo(ctx, broker.RequestInfo{UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"})
	start, err := f.Broker.StartAppend(uaCtx, pid, tok.Secret, false)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := json.Marshal(start.PublicKey)
	cred, err := auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Broker.FinishAppend(uaCtx, pid, start.CeremonyID, cred); err != nil {
		t.Fatal(err)
	}
	login, err := f.Broker.StartLogin(ctx, pid, broker.LoginRequest{Identifier: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	opts, _ = json.Marshal(login.PublicKey)
	if cred, err = auth.Get(opts); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Broker.FinishLogin(ctx, pid, login.CeremonyID, cred); err != nil {
		t.Fatal(err)
	}
	if err := f.Broker.ReportPasswordLogins(ctx, pid, 3, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"append.offer_shown", "append.offer_shown"} {
		if err := f.Broker.ReportClientEvent(ctx, pid, ev, ""); err != nil {
			t.Fatal(err)
		}
	}

	env := map[string]string{"LATCHKEY_DATABASE_URL": f.URL}
	from, to := hour.Add(-2*time.Hour).Format(time.RFC3339), hour.Add(time.Hour).Format(time.RFC3339)
	out, _, err := runCmd(t, env, "analytics", "--project", pid, "--bucket", "hour", "--from", from, "--to", to)
	if err != nil {
		t.Fatalf("analytics = %v\n%s", err, out)
	}
	t.Logf("latchkey analytics:\n%s", out)
	for _, want := range []string{
		`users +1  ▁▁█`,
		`users with a passkey +1  ▁▁█`,
		`passkeys added +1  ▁▁█`,
		`passkeys removed +0  ▁▁▁`,
		`  identifier +1  ▁▁█`,
		`  usernameless +0  ▁▁▁`,
		`password logins\* +3  ▁▁█`,
		`passkey share +25\.0%    █`,
		`append offers shown\* +2  ▁▁█`,
		`append conversion +50\.0%    █`,
		`Passkeys now: 1 \(synced 1, syncable 0, device-bound 0\)`,
		`macOS +Safari +1`,
		`3 buckets by hour`,
	} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(out) {
			t.Errorf("analytics output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = runCmd(t, env, "analytics", "--project", pid, "--bucket", "hour", "--from", from, "--to", to, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var a broker.Analytics
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("analytics --json: %v\n%s", err, out)
	}
	if len(a.Buckets) != 3 || a.Totals.PasskeyLogins.Identifier != 1 || a.Totals.PasswordLogins != 3 {
		t.Errorf("analytics --json = %+v", a)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"analytics"}, "--project is required"},
		{[]string{"analytics", "--project", pid, "--bucket", "week"}, "--bucket must be hour or day"},
		{[]string{"analytics", "--project", pid, "--from", "yesterday"}, `--from "yesterday"`},
		{[]string{"analytics", "--project", pid, "--bucket", "hour", "--from", "2020-01-01T00:00:00Z", "--to", "2021-01-01T00:00:00Z"}, "more than 1000 buckets"},
	} {
		_, _, err := runCmd(t, env, c.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q) = %v, want a usage error containing %q", c.args, err, c.want)
		}
	}
	if _, _, err := runCmd(t, env, "analytics", "--project", "prj-000000000000000000000000"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("analytics of an unknown project = %v, want not found", err)
	}
}

func TestSparkline(t *testing.T) {
	for _, c := range []struct {
		in   []*float64
		want string
	}{
		{[]*float64{fptr(0), fptr(1), fptr(2), fptr(3), fptr(4), fptr(5), fptr(6), fptr(7)}, "▁▂▃▄▅▆▇█"},
		{[]*float64{fptr(0), fptr(0)}, "▁▁"},
		{[]*float64{nil, fptr(0.5), fptr(1)}, " ▄█"},
		{nil, ""},
	} {
		if got := sparkline(c.in); got != c.want {
			t.Errorf("sparkline(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
