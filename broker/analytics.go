package broker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// Counter series. Each change that counts adds to its project's counters of the hour, in
// the transaction it already has (one statement; see sqlstore's AddCounts).
const (
	seriesLogin          = "login"           // dim: one of LoginKinds
	seriesPasskeyAdded   = "passkey_added"   // dim: ""
	seriesAddedPlatform  = "added_platform"  // dim: "os/browser" (see Platform)
	seriesAddedSync      = "added_sync"      // dim: synced, syncable or device_bound
	seriesPasskeyRemoved = "passkey_removed" // dim: ""
	seriesPasswordLogin  = "password_login"  // dim: "" (reported by the app backend)
	seriesClient         = "client"          // dim: one of ClientEvents but login.fallback (reported by browsers)
	seriesFallback       = "fallback"        // dim: one of FallbackReasons (reported by browsers)
)

// The kinds of passkey login: bound to a passkey-login connect token, conditional UI
// (autofill), identifier-first, or usernameless (the passkey picks the user).
const (
	LoginIdentifier   = "identifier"
	LoginUsernameless = "usernameless"
	LoginConditional  = "conditional"
	LoginTokenBound   = "token_bound"
)

// The sync states of a passkey, from its backup flags: backed up (synced), backup
// eligible but not backed up yet (syncable), or not eligible (device-bound).
const (
	SyncSynced      = "synced"
	SyncSyncable    = "syncable"
	SyncDeviceBound = "device_bound"
)

func syncState(eligible, backedUp bool) string {
	switch {
	case backedUp:
		return SyncSynced
	case eligible:
		return SyncSyncable
	}
	return SyncDeviceBound
}

// ClientEvents are the outcomes a browser may report (ReportClientEvent): only these.
var ClientEvents = []string{"append.offer_shown", "append.offer_dismissed", "append.cancelled", "login.cancelled", "login.fallback"}

// FallbackReasons are the reasons a login.fallback report may give.
var FallbackReasons = []string{"no_passkey", "cancelled", "failed", "unknown_credential"}

// loginKind is the kind of login ceremony c.
func loginKind(c sqlstore.Ceremony) string {
	switch {
	case c.ConnectTokenID != nil:
		return LoginTokenBound
	case c.Conditional:
		return LoginConditional
	case c.UserID != nil:
		return LoginIdentifier
	}
	return LoginUsernameless
}

// hourStart is the start of the UTC hour of t, in unix ms.
func hourStart(t time.Time) int64 { return ms(t.UTC().Truncate(time.Hour)) }

// count adds cs to the project's counters of the hour of at inside tx: one statement, in a
// shard chosen at random (so that concurrent logins rarely wait on one row).
func (b *Broker) count(ctx context.Context, tx *sqlstore.Tx, projectID string, at time.Time, cs ...sqlstore.Count) error {
	bucket, shard := countSlot(at)
	return tx.AddCounts(ctx, projectID, bucket, shard, cs...)
}

// countSlot is where counts made at at go: the hour's bucket and a shard drawn at random.
func countSlot(at time.Time) (bucket int64, shard int) {
	return hourStart(at), rand.IntN(sqlstore.CounterShards)
}

// addedCounts are the counts of a passkey added with the request of ctx.
func addedCounts(ctx context.Context, pk Passkey) []sqlstore.Count {
	os, browser := Platform(requestInfoFrom(ctx).UserAgent)
	return []sqlstore.Count{
		{Series: seriesPasskeyAdded, Value: 1},
		{Series: seriesAddedPlatform, Dim: os + "/" + browser, Value: 1},
		{Series: seriesAddedSync, Dim: syncState(pk.BackupEligible, pk.BackedUp), Value: 1},
	}
}

// MaxPasswordLogins is the most password logins one report may carry.
const MaxPasswordLogins = 100_000

// ReportPasswordLogins adds n password logins (1 to MaxPasswordLogins) that the app's own
// login made at at (zero: now), so that the passkey share of logins is a real figure. at
// may be up to 7 days in the past, not in the future. Errors: *ValidationError.
func (b *Broker) ReportPasswordLogins(ctx context.Context, projectID string, n int64, at time.Time) error {
	if n < 1 || n > MaxPasswordLogins {
		return &ValidationError{"count", fmt.Sprintf("must be between 1 and %d", MaxPasswordLogins)}
	}
	now := b.Now()
	if at.IsZero() {
		at = now
	}
	if at.After(now.Add(time.Minute)) || at.Before(now.Add(-7*24*time.Hour)) {
		return &ValidationError{"at", "must be within the last 7 days"}
	}
	return b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		return b.count(ctx, tx, projectID, at, sqlstore.Count{Series: seriesPasswordLogin, Value: n})
	})
}

// ReportClientEvent counts one outcome a browser reported: event is one of ClientEvents;
// reason is one of FallbackReasons for login.fallback and empty otherwise. These figures
// are as honest as the clients that send them. Errors: *ValidationError.
func (b *Broker) ReportClientEvent(ctx context.Context, projectID, event, reason string) error {
	if !slices.Contains(ClientEvents, event) {
		return &ValidationError{"event", "must be one of " + strings.Join(ClientEvents, ", ")}
	}
	c := sqlstore.Count{Series: seriesClient, Dim: event, Value: 1}
	switch {
	case event == "login.fallback" && !slices.Contains(FallbackReasons, reason):
		return &ValidationError{"reason", "must be one of " + strings.Join(FallbackReasons, ", ")}
	case event == "login.fallback":
		c = sqlstore.Count{Series: seriesFallback, Dim: reason, Value: 1}
	case reason != "":
		return &ValidationError{"reason", "is only for login.fallback"}
	}
	now := b.Now()
	return b.store.InTx(ctx, func(tx *sqlstore.Tx) error { return b.count(ctx, tx, projectID, now, c) })
}

// Analytics buckets.
const (
	BucketHour = "hour"
	BucketDay  = "day"
)

// MaxAnalyticsBuckets is the most buckets one Analytics query may span.
const MaxAnalyticsBuckets = 1000

// AnalyticsQuery selects the range and bucket of Analytics. From and To are rounded out to
// whole buckets (UTC); zero values take the defaults: To the end of the current bucket,
// From 30 days (bucket day) or 48 hours (bucket hour) before To; Bucket "" is day.
type AnalyticsQuery struct {
	From, To time.Time
	Bucket   string
}

// LoginsByKind counts passkey logins by kind.
type LoginsByKind struct {
	Identifier   int64 `json:"identifier"`
	Usernameless int64 `json:"usernameless"`
	Conditional  int64 `json:"conditional"`
	TokenBound   int64 `json:"tokenBound"`
}

// Total is the number of passkey logins.
func (l LoginsByKind) Total() int64 {
	return l.Identifier + l.Usernameless + l.Conditional + l.TokenBound
}

// Fallbacks counts the logins that fell back to a password, by reason (client-reported).
type Fallbacks struct {
	NoPasskey         int64 `json:"no_passkey"`
	Cancelled         int64 `json:"cancelled"`
	Failed            int64 `json:"failed"`
	UnknownCredential int64 `json:"unknown_credential"`
}

// Figures are the adoption figures of a bucket or of a whole range.
type Figures struct {
	// Users and UsersWithPasskey are counted at the end of the period, among the users
	// that exist now (deleted users are gone).
	Users            int64 `json:"users"`
	UsersWithPasskey int64 `json:"usersWithPasskey"`
	PasskeysAdded    int64 `json:"passkeysAdded"`
	PasskeysRemoved  int64 `json:"passkeysRemoved"`
	// PasskeyLogins counts the logins the broker signed signedPasskeyData for.
	PasskeyLogins         LoginsByKind `json:"passkeyLogins"`
	PasswordLogins        int64        `json:"passwordLogins"`
	Fallbacks             Fallbacks    `json:"fallbacks"`
	AppendOffersShown     int64        `json:"appendOffersShown"`
	AppendOffersDismissed int64        `json:"appendOffersDismissed"`
	AppendCancelled       int64        `json:"appendCancelled"`
	LoginCancelled        int64        `json:"loginCancelled"`
	// PasskeyShare is passkey logins / (passkey + password logins), nil when the app
	// reported no password login in the whole range (the share would mean nothing) or
	// there was no login in the period.
	PasskeyShare *float64 `json:"passkeyShare"`
	// AppendConversion is passkeys added / append offers shown, nil without offers.
	AppendConversion *float64 `json:"appendConversion"`
}

// AnalyticsBucket is the figures of one bucket, which starts at Start.
type AnalyticsBucket struct {
	Start time.Time `json:"start"`
	Figures
}

// PlatformCount is how many passkeys were added from one platform.
type PlatformCount struct {
	OS      string `json:"os"`
	Browser string `json:"browser"`
	Count   int64  `json:"count"`
}

// ProviderCount is how many passkeys one provider holds.
type ProviderCount struct {
	AAGUID string `json:"aaguid"`
	Name   string `json:"name"`
	Count  int64  `json:"count"`
}

// SyncCounts counts passkeys by sync state.
type SyncCounts struct {
	Synced      int64 `json:"synced"`
	Syncable    int64 `json:"syncable"`
	DeviceBound int64 `json:"deviceBound"`
}

func (s *SyncCounts) add(state string, n int64) {
	switch state {
	case SyncSynced:
		s.Synced += n
	case SyncSyncable:
		s.Syncable += n
	case SyncDeviceBound:
		s.DeviceBound += n
	}
}

// AddedBreakdown describes the passkeys added in the range, as they were when added.
type AddedBreakdown struct {
	ByPlatform []PlatformCount `json:"byPlatform"`
	BySync     SyncCounts      `json:"bySync"`
}

// Inventory describes the project's passkeys now.
type Inventory struct {
	Total      int64           `json:"total"`
	BySync     SyncCounts      `json:"bySync"`
	ByProvider []ProviderCount `json:"byProvider"`
}

// Analytics is a project's adoption figures over a range.
type Analytics struct {
	From    time.Time         `json:"from"`
	To      time.Time         `json:"to"`
	Bucket  string            `json:"bucket"`
	Buckets []AnalyticsBucket `json:"buckets"`
	Totals  Figures           `json:"totals"`
	Added   AddedBreakdown    `json:"added"`
	// Passkeys is the project's passkeys at the time of the request, whatever the range.
	Passkeys Inventory `json:"passkeys"`
}

// bucketWidth is the width of a bucket; Analytics has checked the name.
func bucketWidth(bucket string) time.Duration {
	if bucket == BucketHour {
		return time.Hour
	}
	return 24 * time.Hour
}

// checkAnalyticsQuery fills in q's defaults and rounds its range out to whole buckets.
// Errors: *ValidationError.
func (b *Broker) checkAnalyticsQuery(q AnalyticsQuery) (AnalyticsQuery, error) {
	switch q.Bucket {
	case "":
		q.Bucket = BucketDay
	case BucketHour, BucketDay:
	default:
		return q, &ValidationError{"bucket", "must be hour or day"}
	}
	w := bucketWidth(q.Bucket)
	if q.To.IsZero() {
		q.To = b.Now()
	}
	q.To = q.To.UTC()
	if t := q.To.Truncate(w); !t.Equal(q.To) {
		q.To = t.Add(w)
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-30 * 24 * time.Hour)
		if q.Bucket == BucketHour {
			q.From = q.To.Add(-48 * time.Hour)
		}
	}
	q.From = q.From.UTC().Truncate(w)
	switch {
	case q.From.Year() < 2000 || q.To.Year() > 9999:
		return q, &ValidationError{"from", "must be after 2000 and to before 9999"}
	case !q.From.Before(q.To):
		return q, &ValidationError{"to", "must be after from"}
	case q.To.Sub(q.From)/w > MaxAnalyticsBuckets:
		return q, &ValidationError{"from", fmt.Sprintf("the range spans more than %d buckets of a %s", MaxAnalyticsBuckets, q.Bucket)}
	}
	return q, nil
}

// Analytics returns the project's adoption figures over q's range, computed from what the
// database holds (counters, users and passkeys), so that every replica gives the same
// answer. Errors: *ValidationError.
func (b *Broker) Analytics(ctx context.Context, projectID string, q AnalyticsQuery) (Analytics, error) {
	q, err := b.checkAnalyticsQuery(q)
	if err != nil {
		return Analytics{}, err
	}
	w := bucketWidth(q.Bucket)
	n := int(q.To.Sub(q.From) / w)
	from, to, width := ms(q.From), ms(q.To), w.Milliseconds()
	a := Analytics{From: q.From, To: q.To, Bucket: q.Bucket, Buckets: make([]AnalyticsBucket, n),
		Added: AddedBreakdown{ByPlatform: []PlatformCount{}}, Passkeys: Inventory{ByProvider: []ProviderCount{}}}
	for i := range a.Buckets {
		a.Buckets[i].Start = q.From.Add(time.Duration(i) * w)
	}

	counters, err := b.store.Counters(ctx, projectID, from, to)
	if err != nil {
		return Analytics{}, err
	}
	platforms := map[string]int64{}
	for _, c := range counters {
		i := (c.BucketStart - from) / width
		if i < 0 || i >= int64(n) {
			continue // not an hour's start: not written by this code
		}
		f := &a.Buckets[i].Figures
		switch c.Series + "\x00" + c.Dim {
		case seriesLogin + "\x00" + LoginIdentifier:
			f.PasskeyLogins.Identifier += c.Value
		case seriesLogin + "\x00" + LoginUsernameless:
			f.PasskeyLogins.Usernameless += c.Value
		case seriesLogin + "\x00" + LoginConditional:
			f.PasskeyLogins.Conditional += c.Value
		case seriesLogin + "\x00" + LoginTokenBound:
			f.PasskeyLogins.TokenBound += c.Value
		case seriesPasskeyAdded + "\x00":
			f.PasskeysAdded += c.Value
		case seriesPasskeyRemoved + "\x00":
			f.PasskeysRemoved += c.Value
		case seriesPasswordLogin + "\x00":
			f.PasswordLogins += c.Value
		case seriesClient + "\x00append.offer_shown":
			f.AppendOffersShown += c.Value
		case seriesClient + "\x00append.offer_dismissed":
			f.AppendOffersDismissed += c.Value
		case seriesClient + "\x00append.cancelled":
			f.AppendCancelled += c.Value
		case seriesClient + "\x00login.cancelled":
			f.LoginCancelled += c.Value
		case seriesFallback + "\x00no_passkey":
			f.Fallbacks.NoPasskey += c.Value
		case seriesFallback + "\x00cancelled":
			f.Fallbacks.Cancelled += c.Value
		case seriesFallback + "\x00failed":
			f.Fallbacks.Failed += c.Value
		case seriesFallback + "\x00unknown_credential":
			f.Fallbacks.UnknownCredential += c.Value
		default:
			switch c.Series {
			case seriesAddedPlatform:
				platforms[c.Dim] += c.Value
			case seriesAddedSync:
				a.Added.BySync.add(c.Dim, c.Value)
			}
		}
	}
	for k, v := range platforms {
		os, browser, _ := strings.Cut(k, "/")
		a.Added.ByPlatform = append(a.Added.ByPlatform, PlatformCount{OS: os, Browser: browser, Count: v})
	}
	slices.SortFunc(a.Added.ByPlatform, func(x, y PlatformCount) int {
		if x.Count != y.Count {
			return int(y.Count - x.Count)
		}
		return strings.Compare(x.OS+"/"+x.Browser, y.OS+"/"+y.Browser)
	})

	// Users and users with a passkey: cumulative, by the end of each bucket.
	cumulative := func(rows []sqlstore.BucketCount, set func(f *Figures, v int64)) {
		var before int64
		perBucket := make([]int64, n)
		for _, r := range rows {
			if r.Bucket < 0 {
				before += r.N
			} else if r.Bucket < int64(n) {
				perBucket[r.Bucket] += r.N
			}
		}
		for i := range a.Buckets {
			before += perBucket[i]
			set(&a.Buckets[i].Figures, before)
		}
		set(&a.Totals, before)
	}
	users, err := b.store.UsersCreated(ctx, projectID, from, to, width)
	if err != nil {
		return Analytics{}, err
	}
	cumulative(users, func(f *Figures, v int64) { f.Users = v })
	firsts, err := b.store.FirstPasskeys(ctx, projectID, from, to, width)
	if err != nil {
		return Analytics{}, err
	}
	cumulative(firsts, func(f *Figures, v int64) { f.UsersWithPasskey = v })

	t := &a.Totals
	for i := range a.Buckets {
		f := &a.Buckets[i].Figures
		t.PasskeysAdded += f.PasskeysAdded
		t.PasskeysRemoved += f.PasskeysRemoved
		t.PasskeyLogins.Identifier += f.PasskeyLogins.Identifier
		t.PasskeyLogins.Usernameless += f.PasskeyLogins.Usernameless
		t.PasskeyLogins.Conditional += f.PasskeyLogins.Conditional
		t.PasskeyLogins.TokenBound += f.PasskeyLogins.TokenBound
		t.PasswordLogins += f.PasswordLogins
		t.Fallbacks.NoPasskey += f.Fallbacks.NoPasskey
		t.Fallbacks.Cancelled += f.Fallbacks.Cancelled
		t.Fallbacks.Failed += f.Fallbacks.Failed
		t.Fallbacks.UnknownCredential += f.Fallbacks.UnknownCredential
		t.AppendOffersShown += f.AppendOffersShown
		t.AppendOffersDismissed += f.AppendOffersDismissed
		t.AppendCancelled += f.AppendCancelled
		t.LoginCancelled += f.LoginCancelled
	}
	reported := t.PasswordLogins > 0
	for _, f := range append([]*Figures{t}, bucketFigures(a.Buckets)...) {
		if pk := f.PasskeyLogins.Total(); reported && pk+f.PasswordLogins > 0 {
			f.PasskeyShare = ratio(pk, pk+f.PasswordLogins)
		}
		if f.AppendOffersShown > 0 {
			f.AppendConversion = ratio(f.PasskeysAdded, f.AppendOffersShown)
		}
	}

	groups, err := b.store.PasskeyGroups(ctx, projectID)
	if err != nil {
		return Analytics{}, err
	}
	providers := map[string]int64{}
	for _, g := range groups {
		a.Passkeys.Total += g.N
		a.Passkeys.BySync.add(syncState(g.BackupEligible, g.BackupState), g.N)
		providers[g.AAGUID] += g.N
	}
	for id, v := range providers {
		a.Passkeys.ByProvider = append(a.Passkeys.ByProvider, ProviderCount{AAGUID: id, Name: b.providers.Name(id), Count: v})
	}
	slices.SortFunc(a.Passkeys.ByProvider, func(x, y ProviderCount) int {
		if x.Count != y.Count {
			return int(y.Count - x.Count)
		}
		return strings.Compare(x.AAGUID, y.AAGUID)
	})
	return a, nil
}

func bucketFigures(bs []AnalyticsBucket) []*Figures {
	out := make([]*Figures, len(bs))
	for i := range bs {
		out[i] = &bs[i].Figures
	}
	return out
}

// ratio is a/b rounded to 4 decimals.
func ratio(a, b int64) *float64 {
	r := float64(int64(float64(a)/float64(b)*10000+0.5)) / 10000
	return &r
}
