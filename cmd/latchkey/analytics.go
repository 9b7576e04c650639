package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey/broker"
)

// cmdAnalytics prints a project's adoption figures, read from the store as GET
// /v2/analytics computes them.
func cmdAnalytics(ctx context.Context, e env, args []string) error {
	fs := newFlags("latchkey analytics", "Prints a project's adoption figures (the same as GET /v2/analytics): one line per series with its total "+
		"and a sparkline over the buckets, the project's passkeys by sync state and provider, and the passkeys added by platform.", e)
	var sf storeFlags
	sf.register(fs, e, false)
	projectID := fs.String("project", "", "project ID (required)")
	from := fs.String("from", "", "start, RFC 3339 (default: 30 days, or 48 hours by hour, before --to)")
	to := fs.String("to", "", "end, RFC 3339, exclusive (default: now, rounded up to its bucket)")
	bucket := fs.String("bucket", "day", "bucket width: hour or day (UTC)")
	asJSON := fs.Bool("json", false, "print the JSON of GET /v2/analytics")
	if err := parse(fs, args); err != nil {
		return helpOK(err)
	}
	if *projectID == "" {
		return usagef("%s: --project is required", fs.Name())
	}
	q := broker.AnalyticsQuery{Bucket: *bucket}
	for _, f := range []struct {
		name string
		s    string
		t    *time.Time
	}{{"from", *from, &q.From}, {"to", *to, &q.To}} {
		if f.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.s)
		if err != nil {
			return usagef("%s: --%s %q: want an RFC 3339 time such as 2026-11-30T00:00:00Z", fs.Name(), f.name, f.s)
		}
		*f.t = t
	}
	store, b, err := sf.open(ctx, fs.Name(), false)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := b.Project(ctx, *projectID); err != nil {
		return fmt.Errorf("%s: project %s: %w", fs.Name(), *projectID, err)
	}
	a, err := b.Analytics(ctx, *projectID, q)
	var verr *broker.ValidationError
	if errors.As(err, &verr) {
		return usagef("%s: --%s %s", fs.Name(), verr.Field, verr.Message)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(a)
	}
	return printAnalytics(e.stdout, *projectID, a)
}

// maxSparkline is the most buckets a sparkline shows: the last ones.
const maxSparkline = 90

// series is one line of the analytics table: its total and its value in each bucket (nil:
// no value, for ratios).
type series struct {
	name   string
	total  *float64
	ratio  bool
	values []*float64
}

func countSeries(name string, a broker.Analytics, total int64, of func(f broker.Figures) int64) series {
	s := series{name: name, total: fptr(float64(total))}
	for _, b := range a.Buckets {
		s.values = append(s.values, fptr(float64(of(b.Figures))))
	}
	return s
}

func ratioSeries(name string, a broker.Analytics, total *float64, of func(f broker.Figures) *float64) series {
	s := series{name: name, total: total, ratio: true}
	for _, b := range a.Buckets {
		s.values = append(s.values, of(b.Figures))
	}
	return s
}

func fptr(f float64) *float64 { return &f }

// sparkline draws values with the eight block characters, from 0 (▁) to the largest
// value (█); a missing value is a space.
func sparkline(values []*float64) string {
	const blocks = "▁▂▃▄▅▆▇█"
	top := 0.0
	for _, v := range values {
		if v != nil && *v > top {
			top = *v
		}
	}
	var sb strings.Builder
	for _, v := range values {
		switch {
		case v == nil:
			sb.WriteByte(' ')
		case top == 0:
			sb.WriteRune('▁')
		default:
			i := int(*v / top * 7.999)
			sb.WriteRune([]rune(blocks)[max(0, min(7, i))])
		}
	}
	return sb.String()
}

func printAnalytics(w io.Writer, projectID string, a broker.Analytics) error {
	t := a.Totals
	shown := a.Buckets
	note := ""
	if len(shown) > maxSparkline {
		note = fmt.Sprintf(" (sparklines: the last %d)", maxSparkline)
	}
	fmt.Fprintf(w, "Project %s: %s to %s (UTC), %d buckets by %s%s\n\n", projectID,
		a.From.Format(time.RFC3339), a.To.Format(time.RFC3339), len(a.Buckets), a.Bucket, note)
	rows := []series{
		countSeries("users", a, t.Users, func(f broker.Figures) int64 { return f.Users }),
		countSeries("users with a passkey", a, t.UsersWithPasskey, func(f broker.Figures) int64 { return f.UsersWithPasskey }),
		countSeries("passkeys added", a, t.PasskeysAdded, func(f broker.Figures) int64 { return f.PasskeysAdded }),
		countSeries("passkeys removed", a, t.PasskeysRemoved, func(f broker.Figures) int64 { return f.PasskeysRemoved }),
		countSeries("passkey logins", a, t.PasskeyLogins.Total(), func(f broker.Figures) int64 { return f.PasskeyLogins.Total() }),
		countSeries("  identifier", a, t.PasskeyLogins.Identifier, func(f broker.Figures) int64 { return f.PasskeyLogins.Identifier }),
		countSeries("  usernameless", a, t.PasskeyLogins.Usernameless, func(f broker.Figures) int64 { return f.PasskeyLogins.Usernameless }),
		countSeries("  conditional", a, t.PasskeyLogins.Conditional, func(f broker.Figures) int64 { return f.PasskeyLogins.Conditional }),
		countSeries("  token-bound", a, t.PasskeyLogins.TokenBound, func(f broker.Figures) int64 { return f.PasskeyLogins.TokenBound }),
		countSeries("password logins*", a, t.PasswordLogins, func(f broker.Figures) int64 { return f.PasswordLogins }),
		ratioSeries("passkey share", a, t.PasskeyShare, func(f broker.Figures) *float64 { return f.PasskeyShare }),
		countSeries("fallback: no_passkey*", a, t.Fallbacks.NoPasskey, func(f broker.Figures) int64 { return f.Fallbacks.NoPasskey }),
		countSeries("fallback: cancelled*", a, t.Fallbacks.Cancelled, func(f broker.Figures) int64 { return f.Fallbacks.Cancelled }),
		countSeries("fallback: failed*", a, t.Fallbacks.Failed, func(f broker.Figures) int64 { return f.Fallbacks.Failed }),
		countSeries("fallback: unknown_credential*", a, t.Fallbacks.UnknownCredential, func(f broker.Figures) int64 { return f.Fallbacks.UnknownCredential }),
		countSeries("login cancelled*", a, t.LoginCancelled, func(f broker.Figures) int64 { return f.LoginCancelled }),
		countSeries("append offers shown*", a, t.AppendOffersShown, func(f broker.Figures) int64 { return f.AppendOffersShown }),
		countSeries("append offers dismissed*", a, t.AppendOffersDismissed, func(f broker.Figures) int64 { return f.AppendOffersDismissed }),
		countSeries("append cancelled*", a, t.AppendCancelled, func(f broker.Figures) int64 { return f.AppendCancelled }),
		ratioSeries("append conversion", a, t.AppendConversion, func(f broker.Figures) *float64 { return f.AppendConversion }),
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-30s\tTOTAL\t\n", "SERIES")
	for _, s := range rows {
		total := "-"
		switch {
		case s.total != nil && s.ratio:
			total = fmt.Sprintf("%.1f%%", *s.total*100)
		case s.total != nil:
			total = fmt.Sprintf("%d", int64(*s.total))
		}
		values := s.values
		if len(values) > maxSparkline {
			values = values[len(values)-maxSparkline:]
		}
		// The name is left-aligned: pad it, since the writer aligns every cell right.
		fmt.Fprintf(tw, "%-30s\t%s\t  %s\n", s.name, total, sparkline(values))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "* reported by the app backend (password logins) or by browsers (the others): see README, Operating Latchkey.")

	p := a.Passkeys
	fmt.Fprintf(w, "\nPasskeys now: %d (synced %d, syncable %d, device-bound %d)\n", p.Total, p.BySync.Synced, p.BySync.Syncable, p.BySync.DeviceBound)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tAAGUID\tPASSKEYS")
	for _, pc := range p.ByProvider {
		name := pc.Name
		if name == "" {
			name = "(unknown)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", name, pc.AAGUID, pc.Count)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ad := a.Added
	fmt.Fprintf(w, "\nAdded in the range: synced %d, syncable %d, device-bound %d\n", ad.BySync.Synced, ad.BySync.Syncable, ad.BySync.DeviceBound)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OS\tBROWSER\tPASSKEYS")
	for _, pc := range ad.ByPlatform {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", pc.OS, pc.Browser, pc.Count)
	}
	return tw.Flush()
}
