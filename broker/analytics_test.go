package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/connecttoken"
)

// User agents of the scripted sequence.
const (
	uaWindowsChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaIPhoneSafari  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	uaAndroidChrome = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)

func ratioOf(f float64) *float64 { return &f }

// TestAnalytics drives a scripted sequence of appends, logins of every kind, a failed
// login, deletions by each path and reports through two brokers on two stores over one
// database (two replicas), over three hours, and checks every figure of every hour bucket,
// the totals, the day view and that both replicas answer the same.
func TestAnalytics(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		// A second replica: its own store and broker on the same database and clock.
		store2, err := sqlstore.Open(e.ctx, e.URL, sqlstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store2.Close() })
		key, err := broker.ParseSecretKey(brokertest.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := broker.New(store2, broker.Config{SecretKey: key, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		replicas := []*broker.Broker{e.Broker, b2}
		turn := 0
		next := func() *broker.Broker { turn++; return replicas[turn%2] }

		h0 := e.clock.Now().UTC().Truncate(time.Hour).Add(time.Hour)
		e.clock.Advance(h0.Add(10 * time.Minute).Sub(e.clock.Now()))
		h1, h2 := h0.Add(time.Hour), h0.Add(2*time.Hour)
		ua := func(s string) context.Context {
			return broker.WithRequestInfo(e.ctx, broker.RequestInfo{UserAgent: s})
		}
		add := func(ctx context.Context, auth *softauthn.Authenticator, identifier string) broker.Passkey {
			t.Helper()
			tok := e.mint(t, connecttoken.TypeAppend, identifier)
			b := next()
			start, err := b.StartAppend(ctx, e.pid, tok.Secret, false)
			if err != nil {
				t.Fatalf("StartAppend(%s) = %v", identifier, err)
			}
			pk, err := next().FinishAppend(ctx, e.pid, start.CeremonyID, create(t, auth, start))
			if err != nil {
				t.Fatalf("FinishAppend(%s) = %v", identifier, err)
			}
			return pk
		}
		login := func(auth *softauthn.Authenticator, req broker.LoginRequest) {
			t.Helper()
			b := next()
			start, err := b.StartLogin(e.ctx, e.pid, req)
			if err != nil || start.PublicKey == nil {
				t.Fatalf("StartLogin(%+v) = %+v, %v", req, start, err)
			}
			if _, err := next().FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, auth, start)); err != nil {
				t.Fatalf("FinishLogin(%+v) = %v", req, err)
			}
		}
		report := func(n int, event, reason string) {
			t.Helper()
			for range n {
				if err := next().ReportClientEvent(e.ctx, e.pid, event, reason); err != nil {
					t.Fatalf("ReportClientEvent(%s, %s) = %v", event, reason, err)
				}
			}
		}

		synced := newAuthenticator()
		synced.BackupEligible, synced.BackedUp = true, true
		deviceBound := newAuthenticator()
		gpm := newAuthenticator() // device-bound, with Google Password Manager's AAGUID
		gpmID := uuid.MustParse("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4")
		gpm.AAGUID = gpmID[:]
		dave := newAuthenticator()
		dave.BackupEligible, dave.BackedUp, dave.AAGUID = true, true, make([]byte, 16)
		erin := newAuthenticator()
		erin.BackupEligible = true

		// Hour 0: alice (synced, Chrome on Windows) and bob (device-bound, Safari on
		// iPhone) add passkeys; carol is created without one. An identifier-first and a
		// usernameless login; reports; 4 password logins.
		alicePK := add(ua(uaWindowsChrome), synced, "alice")
		add(ua(uaIPhoneSafari), deviceBound, "bob")
		if _, err := next().CreateUser(e.ctx, e.pid, broker.NewUser{Identifier: "carol"}); err != nil {
			t.Fatal(err)
		}
		login(synced, broker.LoginRequest{Identifier: "alice"})
		login(synced, broker.LoginRequest{})
		report(3, "append.offer_shown", "")
		report(1, "append.offer_dismissed", "")
		report(2, "login.fallback", "no_passkey")
		if err := next().ReportPasswordLogins(e.ctx, e.pid, 4, time.Time{}); err != nil {
			t.Fatal(err)
		}

		// Hour 1: a conditional and a token-bound login; a replayed finish that fails
		// (not counted); alice adds a device-bound passkey on Android and deletes her first
		// one (manage/delete); reports.
		e.clock.Advance(time.Hour)
		login(deviceBound, broker.LoginRequest{Conditional: true})
		tok := e.mint(t, connecttoken.TypeLogin, "alice")
		start, err := next().StartLogin(e.ctx, e.pid, broker.LoginRequest{LoginConnectToken: tok.Secret})
		if err != nil {
			t.Fatal(err)
		}
		cred := get(t, synced, start)
		if _, err := next().FinishLogin(e.ctx, e.pid, start.CeremonyID, cred); err != nil {
			t.Fatalf("token-bound FinishLogin() = %v", err)
		}
		if _, err := next().FinishLogin(e.ctx, e.pid, start.CeremonyID, cred); err == nil {
			t.Fatal("a replayed FinishLogin() succeeded")
		}
		add(ua(uaAndroidChrome), gpm, "alice")
		del := e.mint(t, connecttoken.TypeDelete, "alice")
		if _, _, err := next().DeletePasskey(e.ctx, e.pid, del.Secret, alicePK.ID); err != nil {
			t.Fatal(err)
		}
		report(1, "login.cancelled", "")
		report(1, "append.cancelled", "")
		report(1, "login.fallback", "cancelled")

		// Hour 2: bob is deleted (with his passkey); dave adds a synced passkey, erin a
		// syncable one (no user agent) that the backend removes; 2 password logins
		// reported for hour 1; reports.
		e.clock.Advance(time.Hour)
		users, err := e.Broker.Users(e.ctx, e.pid, broker.UserQuery{Identifier: "bob"})
		if err != nil || len(users.Users) != 1 {
			t.Fatalf("Users(bob) = %+v, %v", users, err)
		}
		if err := next().DeleteUser(e.ctx, e.pid, users.Users[0].ID); err != nil {
			t.Fatal(err)
		}
		add(ua(uaWindowsChrome), dave, "dave")
		erinPK := add(e.ctx, erin, "erin")
		if err := next().RemovePasskey(e.ctx, e.pid, erinPK.ID); err != nil {
			t.Fatal(err)
		}
		if err := next().ReportPasswordLogins(e.ctx, e.pid, 2, h1.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		report(4, "append.offer_shown", "")
		report(1, "login.fallback", "failed")
		report(1, "login.fallback", "unknown_credential")

		q := broker.AnalyticsQuery{From: h0, To: h2.Add(time.Hour), Bucket: broker.BucketHour}
		got, err := e.Broker.Analytics(e.ctx, e.pid, q)
		if err != nil {
			t.Fatalf("Analytics() = %v", err)
		}
		want := broker.Analytics{
			From: h0, To: h2.Add(time.Hour), Bucket: "hour",
			Buckets: []broker.AnalyticsBucket{
				{Start: h0, Figures: broker.Figures{Users: 2, UsersWithPasskey: 0, PasskeysAdded: 2,
					PasskeyLogins: broker.LoginsByKind{Identifier: 1, Usernameless: 1}, PasswordLogins: 4,
					Fallbacks: broker.Fallbacks{NoPasskey: 2}, AppendOffersShown: 3, AppendOffersDismissed: 1,
					PasskeyShare: ratioOf(0.3333), AppendConversion: ratioOf(0.6667)}},
				{Start: h1, Figures: broker.Figures{Users: 2, UsersWithPasskey: 1, PasskeysAdded: 1, PasskeysRemoved: 1,
					PasskeyLogins: broker.LoginsByKind{Conditional: 1, TokenBound: 1}, PasswordLogins: 2,
					Fallbacks: broker.Fallbacks{Cancelled: 1}, AppendCancelled: 1, LoginCancelled: 1,
					PasskeyShare: ratioOf(0.5)}},
				{Start: h2, Figures: broker.Figures{Users: 4, UsersWithPasskey: 2, PasskeysAdded: 2, PasskeysRemoved: 2,
					Fallbacks: broker.Fallbacks{Failed: 1, UnknownCredential: 1}, AppendOffersShown: 4,
					AppendConversion: ratioOf(0.5)}},
			},
			Totals: broker.Figures{Users: 4, UsersWithPasskey: 2, PasskeysAdded: 5, PasskeysRemoved: 3,
				PasskeyLogins: broker.LoginsByKind{Identifier: 1, Usernameless: 1, Conditional: 1, TokenBound: 1}, PasswordLogins: 6,
				Fallbacks:         broker.Fallbacks{NoPasskey: 2, Cancelled: 1, Failed: 1, UnknownCredential: 1},
				AppendOffersShown: 7, AppendOffersDismissed: 1, AppendCancelled: 1, LoginCancelled: 1,
				PasskeyShare: ratioOf(0.4), AppendConversion: ratioOf(0.7143)},
			Added: broker.AddedBreakdown{
				ByPlatform: []broker.PlatformCount{{OS: "Windows", Browser: "Chrome", Count: 2}, {OS: "Android", Browser: "Chrome", Count: 1},
					{OS: "iOS", Browser: "Safari", Count: 1}, {OS: "other", Browser: "other", Count: 1}},
				BySync: broker.SyncCounts{Synced: 2, Syncable: 1, DeviceBound: 2},
			},
			Passkeys: broker.Inventory{Total: 2, BySync: broker.SyncCounts{Synced: 1, DeviceBound: 1},
				ByProvider: []broker.ProviderCount{
					{AAGUID: "00000000-0000-0000-0000-000000000000", Count: 1},
					{AAGUID: gpmID.String(), Name: "Google Password Manager", Count: 1},
				}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Analytics(hours) (-want +got):\n%s", diff)
		}

		// The other replica answers the same.
		other, err := b2.Analytics(e.ctx, e.pid, q)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, other); diff != "" {
			t.Errorf("Analytics() of the second replica differs (-first +second):\n%s", diff)
		}

		// By day: the same totals, and the days' flows add up to them.
		days, err := e.Broker.Analytics(e.ctx, e.pid, broker.AnalyticsQuery{From: h0.Add(-24 * time.Hour), To: h2.Add(24 * time.Hour), Bucket: broker.BucketDay})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want.Totals, days.Totals); diff != "" {
			t.Errorf("Analytics(days).Totals (-want +got):\n%s", diff)
		}
		var added, logins int64
		for _, d := range days.Buckets {
			if !d.Start.Equal(d.Start.Truncate(24 * time.Hour)) {
				t.Errorf("day bucket starts at %v, not at midnight UTC", d.Start)
			}
			added += d.PasskeysAdded
			logins += d.PasskeyLogins.Total()
		}
		if added != 5 || logins != 4 || len(days.Buckets) < 3 {
			t.Errorf("day buckets: %d buckets, %d added, %d logins; want at least 3, 5, 4", len(days.Buckets), added, logins)
		}

		// Another project sees none of it.
		o := e.addProject(t)
		empty, err := e.Broker.Analytics(e.ctx, o.pid, q)
		if err != nil {
			t.Fatal(err)
		}
		if empty.Totals.PasskeysAdded != 0 || empty.Totals.Users != 0 || empty.Passkeys.Total != 0 || empty.Totals.AppendOffersShown != 0 {
			t.Errorf("Analytics() of another project = %+v, want nothing", empty.Totals)
		}
	})
}

// TestAnalyticsBucketBoundaries: what happens in the last millisecond of an hour counts in
// that hour, what happens at its end in the next; users and reports alike.
func TestAnalyticsBucketBoundaries(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		h := e.clock.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
		e.clock.Advance(h.Add(-time.Millisecond).Sub(e.clock.Now()))
		if _, err := e.Broker.CreateUser(e.ctx, e.pid, broker.NewUser{Identifier: "before"}); err != nil {
			t.Fatal(err)
		}
		if err := e.Broker.ReportClientEvent(e.ctx, e.pid, "append.offer_shown", ""); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Millisecond)
		if _, err := e.Broker.CreateUser(e.ctx, e.pid, broker.NewUser{Identifier: "at"}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := e.Broker.ReportClientEvent(e.ctx, e.pid, "append.offer_shown", ""); err != nil {
				t.Fatal(err)
			}
		}
		a, err := e.Broker.Analytics(e.ctx, e.pid, broker.AnalyticsQuery{From: h.Add(-time.Hour), To: h.Add(time.Hour), Bucket: broker.BucketHour})
		if err != nil {
			t.Fatal(err)
		}
		type fig struct{ Users, Offers int64 }
		var got []fig
		for _, b := range a.Buckets {
			got = append(got, fig{b.Users, b.AppendOffersShown})
		}
		if diff := cmp.Diff([]fig{{1, 1}, {2, 2}}, got); diff != "" {
			t.Errorf("hours around %v (-want +got):\n%s", h, diff)
		}
		// A range that starts at h leaves the earlier offer out but counts the earlier
		// user among the users at the end of the bucket.
		a, err = e.Broker.Analytics(e.ctx, e.pid, broker.AnalyticsQuery{From: h, To: h.Add(time.Hour), Bucket: broker.BucketHour})
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Buckets) != 1 || a.Buckets[0].Users != 2 || a.Totals.AppendOffersShown != 2 {
			t.Errorf("Analytics(from %v) = %+v, want one bucket with 2 users and 2 offers", h, a.Buckets)
		}
	})
}

// TestAnalyticsValidation: parameters out of bounds are validation errors on the field at
// fault; ranges are rounded out to whole buckets and defaults apply.
func TestAnalyticsValidation(t *testing.T) {
	e := newEnv(t, "sqlite")
	now := e.clock.Now()
	for _, c := range []struct {
		name  string
		q     broker.AnalyticsQuery
		field string
	}{
		{"unknown bucket", broker.AnalyticsQuery{Bucket: "week"}, "bucket"},
		{"to before from", broker.AnalyticsQuery{From: now, To: now.Add(-48 * time.Hour)}, "to"},
		{"empty range", broker.AnalyticsQuery{From: now.Truncate(time.Hour), To: now.Truncate(time.Hour), Bucket: "hour"}, "to"},
		{"too many hours", broker.AnalyticsQuery{From: now.Add(-1001 * time.Hour), To: now, Bucket: "hour"}, "from"},
		{"too many days", broker.AnalyticsQuery{From: now.Add(-1001 * 24 * time.Hour), To: now}, "from"},
		{"before 2000", broker.AnalyticsQuery{From: time.Date(1999, 12, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)}, "from"},
	} {
		_, err := e.Broker.Analytics(e.ctx, e.pid, c.q)
		wantValidation(t, "Analytics("+c.name+")", err, c.field)
	}

	a, err := e.Broker.Analytics(e.ctx, e.pid, broker.AnalyticsQuery{From: now.Add(-999 * time.Hour), To: now, Bucket: "hour"})
	if err != nil || len(a.Buckets) != 1000 {
		t.Errorf("Analytics(1,000 hours) = %d buckets, %v; want 1000", len(a.Buckets), err)
	}
	a, err = e.Broker.Analytics(e.ctx, e.pid, broker.AnalyticsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Bucket != "day" || len(a.Buckets) != 30 || !a.To.After(now) || a.To.Sub(now) > 24*time.Hour || a.To.Hour() != 0 {
		t.Errorf("Analytics(defaults) = bucket %s, %d buckets, %v to %v; want 30 days up to the end of today", a.Bucket, len(a.Buckets), a.From, a.To)
	}

	for _, c := range []struct{ event, reason, field string }{
		{"append.offer_clicked", "", "event"},
		{"", "", "event"},
		{"login.fallback", "", "reason"},
		{"login.fallback", "bored", "reason"},
		{"append.offer_shown", "no_passkey", "reason"},
	} {
		wantValidation(t, "ReportClientEvent("+c.event+", "+c.reason+")", e.Broker.ReportClientEvent(e.ctx, e.pid, c.event, c.reason), c.field)
	}
	for _, c := range []struct {
		n     int64
		at    time.Time
		field string
	}{
		{0, time.Time{}, "count"},
		{-3, time.Time{}, "count"},
		{broker.MaxPasswordLogins + 1, time.Time{}, "count"},
		{1, now.Add(time.Hour), "at"},
		{1, now.Add(-8 * 24 * time.Hour), "at"},
	} {
		wantValidation(t, "ReportPasswordLogins", e.Broker.ReportPasswordLogins(e.ctx, e.pid, c.n, c.at), c.field)
	}
	if n, err := e.Store.CountRows(e.ctx, "analytics_counters"); err != nil || n != 0 {
		t.Errorf("analytics_counters has %d rows after refused reports (%v), want 0", n, err)
	}
}
