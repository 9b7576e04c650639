package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/broker/sqlstore"
)

// The management API: the users and passkeys of a project, as its app backend sees them.

// Page sizes of the lists.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 100
	// MaxBulkUsers is the most users CreateUsers takes at once.
	MaxBulkUsers = 1000
)

// Page asks for one page of a list: at most Limit items (0 for DefaultPageLimit) after
// Cursor, the NextCursor of the previous page ("" for the first).
type Page struct {
	Cursor string
	Limit  int
}

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageLimit, nil
	case n < 1 || n > MaxPageLimit:
		return 0, &ValidationError{"limit", fmt.Sprintf("must be between 1 and %d", MaxPageLimit)}
	}
	return n, nil
}

// encodeCursor makes an opaque cursor of a list kind and the key of its last item.
func encodeCursor(kind string, key ...string) string {
	return b64([]byte(kind + "|" + strings.Join(key, "|")))
}

// decodeCursor returns the n parts of the key in a cursor of kind, or a *ValidationError for
// field.
func decodeCursor(field, kind, cursor string, n int) ([]string, error) {
	bad := &ValidationError{field, "is not a cursor of this list"}
	if len(cursor) > 4096 {
		return nil, bad
	}
	raw, err := unb64(cursor)
	if err != nil {
		return nil, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != n+1 || parts[0] != kind {
		return nil, bad
	}
	for _, p := range parts[1:] {
		if !validKey(p) {
			return nil, bad
		}
	}
	return parts[1:], nil
}

// validKey reports whether s looks like the IDs and keys the broker makes: 1 to 1400 ASCII
// letters, digits, '-' or '_' (base64url credential IDs included).
func validKey(s string) bool {
	if s == "" || len(s) > 1400 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// validCredentialID reports whether s is a base64url credential ID (1 to 1023 bytes).
func validCredentialID(s string) bool {
	raw, err := unb64(s)
	return err == nil && len(raw) > 0 && len(raw) <= 1023
}

// UserInfo is a user as the backend API shows it.
type UserInfo struct {
	ID          string `json:"id"`
	Identifier  string `json:"identifier"`
	DisplayName string `json:"displayName"`
	// WebAuthnID is the WebAuthn user handle, base64url: signedPasskeyData's webauthnId.
	WebAuthnID string    `json:"webauthnID"`
	CreatedAt  time.Time `json:"createdAt"`
}

func (u User) info() UserInfo {
	return UserInfo{ID: u.ID, Identifier: u.Identifier, DisplayName: u.DisplayName, WebAuthnID: u.WebAuthnB64, CreatedAt: u.CreatedAt}
}

// NewUser is a user to create: the app's identifier and a display name (the identifier if
// empty).
type NewUser struct {
	Identifier  string `json:"identifier"`
	DisplayName string `json:"displayName"`
}

func (in NewUser) validate(prefix string) error {
	if err := validText(prefix+"identifier", in.Identifier, 255, true); err != nil {
		return err
	}
	return validText(prefix+"displayName", in.DisplayName, 255, false)
}

// insertUser creates the user in tx unless the project has one with its identifier, and
// returns the user and whether it was created. It records no event.
func (b *Broker) insertUser(ctx context.Context, tx *sqlstore.Tx, projectID string, in NewUser) (User, bool, error) {
	handle, err := randomBytes(32)
	if err != nil {
		return User{}, false, err
	}
	id, err := newID("usr-")
	if err != nil {
		return User{}, false, err
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Identifier
	}
	u := User{ID: id, ProjectID: projectID, Identifier: in.Identifier, DisplayName: in.DisplayName, WebAuthnB64: b64(handle),
		CreatedAt: b.Now().UTC().Truncate(time.Millisecond)}
	created, err := tx.InsertUserIfAbsent(ctx, u.row())
	if err != nil {
		return User{}, false, err
	}
	if created {
		return u, true, nil
	}
	u, err = b.userByIdentifier(ctx, tx, projectID, in.Identifier)
	return u, false, err
}

func userCreated(u User, via string) Event {
	return Event{Type: EventUserCreated, UserID: u.ID, Details: map[string]any{"identifier": u.Identifier, "via": via}}
}

// CreateUser creates a user of the project. Errors: *ValidationError, ErrAlreadyExists when
// the project has a user with this identifier.
func (b *Broker) CreateUser(ctx context.Context, projectID string, in NewUser) (UserInfo, error) {
	if err := in.validate(""); err != nil {
		return UserInfo{}, err
	}
	var u User
	err := b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		var (
			created bool
			err     error
		)
		if u, created, err = b.insertUser(ctx, tx, projectID, in); err != nil {
			return err
		}
		if !created {
			return detailf(ErrAlreadyExists, "a user with this identifier already exists")
		}
		return b.record(ctx, tx, projectID, userCreated(u, "backend"))
	})
	if err != nil {
		return UserInfo{}, err
	}
	return u.info(), nil
}

// Outcomes of one row of CreateUsers.
const (
	BulkCreated        = "created"
	BulkAlreadyExisted = "already_existed"
)

// BulkResult is the outcome of one row of CreateUsers: the user, and whether this call
// created it or found it (then unchanged).
type BulkResult struct {
	Status string   `json:"status"`
	User   UserInfo `json:"user"`
}

// CreateUsers creates up to MaxBulkUsers users of the project in one transaction and returns
// one result per row, in order. A user whose identifier exists (also earlier in the same
// call) is left as it is. Errors: *ValidationError (then nothing is created).
func (b *Broker) CreateUsers(ctx context.Context, projectID string, in []NewUser) ([]BulkResult, error) {
	switch {
	case len(in) == 0:
		return nil, &ValidationError{"users", "needs at least one user"}
	case len(in) > MaxBulkUsers:
		return nil, &ValidationError{"users", fmt.Sprintf("must have at most %d users", MaxBulkUsers)}
	}
	for i, u := range in {
		if err := u.validate(fmt.Sprintf("users[%d].", i)); err != nil {
			return nil, err
		}
	}
	out := make([]BulkResult, len(in))
	err := b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		var evs []Event
		for i, row := range in {
			u, created, err := b.insertUser(ctx, tx, projectID, row)
			if err != nil {
				return err
			}
			out[i] = BulkResult{Status: BulkAlreadyExisted, User: u.info()}
			if created {
				out[i].Status = BulkCreated
				evs = append(evs, userCreated(u, "backend_bulk"))
			}
		}
		for len(evs) > 0 { // a few hundred rows a statement, well under the drivers' limits
			n := min(len(evs), 250)
			if err := b.record(ctx, tx, projectID, evs[:n]...); err != nil {
				return err
			}
			evs = evs[n:]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UserQuery selects users of a project: all, in creation order, or the one with Identifier.
type UserQuery struct {
	Identifier string
	Page
}

// UserPage is one page of users; NextCursor is empty on the last page.
type UserPage struct {
	Users      []UserInfo `json:"users"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// Users returns a page of the project's users. Errors: *ValidationError for a bad cursor,
// limit or identifier.
func (b *Broker) Users(ctx context.Context, projectID string, q UserQuery) (UserPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return UserPage{}, err
	}
	f := sqlstore.UserFilter{ProjectID: projectID, Limit: limit + 1}
	if q.Identifier != "" {
		if err := validText("identifier", q.Identifier, 255, true); err != nil {
			return UserPage{}, err
		}
		f.Identifier = q.Identifier
	}
	if q.Cursor != "" {
		parts, err := decodeCursor("cursor", "u", q.Cursor, 2)
		if err != nil {
			return UserPage{}, err
		}
		at, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			return UserPage{}, &ValidationError{"cursor", "is not a cursor of this list"}
		}
		f.AfterCreatedAt, f.After = at, parts[1]
	}
	rows, err := b.store.Users(ctx, f)
	if err != nil {
		return UserPage{}, err
	}
	page := UserPage{Users: []UserInfo{}}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		page.NextCursor = encodeCursor("u", strconv.FormatInt(last.CreatedAt, 10), last.ID)
	}
	for _, r := range rows {
		page.Users = append(page.Users, userFromRow(r).info())
	}
	return page, nil
}

// User returns the project's user with id, or ErrNotFound.
func (b *Broker) User(ctx context.Context, projectID, id string) (UserInfo, error) {
	if !validKey(id) {
		return UserInfo{}, fmt.Errorf("user: %w", ErrNotFound)
	}
	u, err := b.userByID(ctx, b.store, projectID, id)
	if err != nil {
		return UserInfo{}, err
	}
	return u.info(), nil
}

// UserUpdate changes a user: each field that is not nil.
type UserUpdate struct {
	Identifier  *string `json:"identifier"`
	DisplayName *string `json:"displayName"`
}

// UpdateUser changes the identifier and display name of the project's user id. A new
// identifier keeps the user's passkeys and moves its unconsumed connect tokens along, so that
// signedPasskeyData and connect tokens name the user by it from now on. Errors:
// *ValidationError, ErrNotFound, ErrAlreadyExists (another user has the identifier).
func (b *Broker) UpdateUser(ctx context.Context, projectID, id string, in UserUpdate) (UserInfo, error) {
	if in.Identifier != nil {
		if err := validText("identifier", *in.Identifier, 255, true); err != nil {
			return UserInfo{}, err
		}
	}
	if in.DisplayName != nil {
		if err := validText("displayName", *in.DisplayName, 255, true); err != nil {
			return UserInfo{}, err
		}
	}
	if !validKey(id) {
		return UserInfo{}, fmt.Errorf("user: %w", ErrNotFound)
	}
	var u User
	err := b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		var err error
		if u, err = b.userByID(ctx, tx, projectID, id); err != nil {
			return err
		}
		if in.Identifier != nil && *in.Identifier != u.Identifier {
			old := u.Identifier
			err := tx.SetUserIdentifier(ctx, projectID, id, *in.Identifier)
			if errors.Is(err, ErrAlreadyExists) {
				return detailf(ErrAlreadyExists, "another user has this identifier")
			} else if err != nil {
				return err
			}
			if err := tx.RenameTokenIdentifier(ctx, projectID, old, *in.Identifier); err != nil {
				return err
			}
			u.Identifier = *in.Identifier
			if err := b.record(ctx, tx, projectID, Event{Type: EventUserRenamed, UserID: id,
				Details: map[string]any{"from": old, "to": u.Identifier}}); err != nil {
				return err
			}
		}
		if in.DisplayName != nil && *in.DisplayName != u.DisplayName {
			if err := tx.SetUserDisplayName(ctx, projectID, id, *in.DisplayName); err != nil {
				return err
			}
			u.DisplayName = *in.DisplayName
		}
		return nil
	})
	if err != nil {
		return UserInfo{}, err
	}
	return u.info(), nil
}

// DeleteUser deletes the project's user id with its passkeys, its pending ceremonies and its
// unconsumed connect tokens, and erases the personal data of its events (see
// eraseUserEvents), all or nothing. The events of the deletion itself name the user by ID
// only. Errors: ErrNotFound.
func (b *Broker) DeleteUser(ctx context.Context, projectID, id string) error {
	if !validKey(id) {
		return fmt.Errorf("user: %w", ErrNotFound)
	}
	now := b.Now()
	return b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		u, err := b.userByID(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		// First, so that the events below keep the request information of the caller (the
		// app's backend), which is not the user's.
		erased, err := b.eraseUserEvents(ctx, tx, projectID, u)
		if err != nil {
			return err
		}
		creds, err := tx.DeletePasskeysOf(ctx, projectID, id)
		if err != nil {
			return err
		}
		slices.SortFunc(creds, func(a, b sqlstore.DeletedPasskey) int {
			return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), strings.Compare(a.CredentialID, b.CredentialID))
		})
		var evs []Event
		for _, c := range creds {
			evs = append(evs, Event{Type: EventPasskeyDeleted, UserID: id, CredentialID: c.CredentialID, Details: map[string]any{"via": "user_deleted"}})
		}
		if err := b.record(ctx, tx, projectID, evs...); err != nil {
			return err
		}
		if len(creds) > 0 {
			if err := b.count(ctx, tx, projectID, now, sqlstore.Count{Series: seriesPasskeyRemoved, Value: int64(len(creds))}); err != nil {
				return err
			}
		}
		// Connect tokens name their user by identifier; their ceremonies go first.
		ceremonies, err := tx.DeleteCeremoniesOf(ctx, projectID, id, u.Identifier)
		if err != nil {
			return err
		}
		tokens, err := tx.DeleteUnconsumedTokens(ctx, projectID, u.Identifier)
		if err != nil {
			return err
		}
		slices.Sort(tokens)
		evs = evs[:0]
		for _, t := range tokens {
			evs = append(evs, Event{Type: EventConnectTokenRevoked, UserID: id, Details: map[string]any{"connectTokenID": t, "via": "user_deleted"}})
		}
		if err := b.record(ctx, tx, projectID, evs...); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, projectID, id); err != nil {
			return err
		}
		return b.record(ctx, tx, projectID, Event{Type: EventUserDeleted, UserID: id, Details: map[string]any{
			"passkeys": len(creds), "connectTokens": len(tokens), "ceremonies": ceremonies, "eventsErased": erased}})
	})
}

// PasskeyInfo is a passkey as the backend API shows it: the contract's Passkey and its user.
type PasskeyInfo struct {
	Passkey
	UserID string `json:"userID"`
}

// PasskeyPage is one page of passkeys; NextCursor is empty on the last page.
type PasskeyPage struct {
	Passkeys   []PasskeyInfo `json:"passkeys"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

// UserPasskeys returns a page of the passkeys of the project's user id, oldest first.
// Errors: ErrNotFound (no such user), *ValidationError (cursor, limit).
func (b *Broker) UserPasskeys(ctx context.Context, projectID, id string, p Page) (PasskeyPage, error) {
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return PasskeyPage{}, err
	}
	f := sqlstore.PasskeyPage{ProjectID: projectID, UserID: id, Limit: limit + 1}
	if p.Cursor != "" {
		parts, err := decodeCursor("cursor", "p", p.Cursor, 2)
		if err != nil {
			return PasskeyPage{}, err
		}
		at, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			return PasskeyPage{}, &ValidationError{"cursor", "is not a cursor of this list"}
		}
		f.AfterCreatedAt, f.After = at, parts[1]
	}
	if !validKey(id) {
		return PasskeyPage{}, fmt.Errorf("user: %w", ErrNotFound)
	}
	if _, err := b.store.UserByID(ctx, projectID, id); err != nil {
		return PasskeyPage{}, err
	}
	rows, err := b.store.PasskeysPage(ctx, f)
	if err != nil {
		return PasskeyPage{}, err
	}
	page := PasskeyPage{Passkeys: []PasskeyInfo{}}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		page.NextCursor = encodeCursor("p", strconv.FormatInt(last.CreatedAt, 10), last.CredentialID)
	}
	for _, r := range rows {
		pk := b.passkeyFromRow(r)
		page.Passkeys = append(page.Passkeys, PasskeyInfo{Passkey: pk, UserID: pk.UserID})
	}
	return page, nil
}

// PasskeyByID returns the project's passkey with credentialID (base64url), or ErrNotFound.
func (b *Broker) PasskeyByID(ctx context.Context, projectID, credentialID string) (PasskeyInfo, error) {
	if !validCredentialID(credentialID) {
		return PasskeyInfo{}, fmt.Errorf("passkey: %w", ErrNotFound)
	}
	r, err := b.store.PasskeyByID(ctx, projectID, credentialID)
	if err != nil {
		return PasskeyInfo{}, err
	}
	pk := b.passkeyFromRow(r)
	return PasskeyInfo{Passkey: pk, UserID: pk.UserID}, nil
}

// RelabelPasskey sets the label of the project's passkey credentialID. Errors:
// *ValidationError, ErrNotFound.
func (b *Broker) RelabelPasskey(ctx context.Context, projectID, credentialID, label string) (PasskeyInfo, error) {
	if err := validText("label", label, 255, true); err != nil {
		return PasskeyInfo{}, err
	}
	if !validCredentialID(credentialID) {
		return PasskeyInfo{}, fmt.Errorf("passkey: %w", ErrNotFound)
	}
	var pk Passkey
	err := b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		r, err := tx.PasskeyByID(ctx, projectID, credentialID)
		if err != nil {
			return err
		}
		if pk = b.passkeyFromRow(r); pk.Label == label {
			return nil
		}
		if err := tx.SetPasskeyLabel(ctx, projectID, credentialID, label); err != nil {
			return err
		}
		old := pk.Label
		pk.Label = label
		return b.record(ctx, tx, projectID, Event{Type: EventPasskeyRelabelled, UserID: pk.UserID, CredentialID: pk.ID,
			Details: map[string]any{"from": old, "to": label}})
	})
	if err != nil {
		return PasskeyInfo{}, err
	}
	return PasskeyInfo{Passkey: pk, UserID: pk.UserID}, nil
}

// RemovePasskey deletes the project's passkey credentialID. Errors: ErrNotFound.
func (b *Broker) RemovePasskey(ctx context.Context, projectID, credentialID string) error {
	if !validCredentialID(credentialID) {
		return fmt.Errorf("passkey: %w", ErrNotFound)
	}
	now := b.Now()
	return b.store.InTx(ctx, func(tx *sqlstore.Tx) error {
		pk, err := tx.PasskeyByID(ctx, projectID, credentialID)
		if err != nil {
			return err
		}
		if err := tx.DeletePasskey(ctx, projectID, credentialID, ""); err != nil {
			return err
		}
		if err := b.record(ctx, tx, projectID, Event{Type: EventPasskeyDeleted, UserID: pk.UserID, CredentialID: pk.CredentialID,
			Details: map[string]any{"via": "backend"}}); err != nil {
			return err
		}
		return b.count(ctx, tx, projectID, now, sqlstore.Count{Series: seriesPasskeyRemoved, Value: 1})
	})
}
