package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/connecttoken"
)

func (e *env) createUser(t *testing.T, identifier, displayName string) broker.UserInfo {
	t.Helper()
	u, err := e.Broker.CreateUser(e.ctx, e.pid, broker.NewUser{Identifier: identifier, DisplayName: displayName})
	if err != nil {
		t.Fatalf("CreateUser(%q) = %v", identifier, err)
	}
	return u
}

func (e *env) userByIdentifier(t *testing.T, identifier string) broker.UserInfo {
	t.Helper()
	page, err := e.Broker.Users(e.ctx, e.pid, broker.UserQuery{Identifier: identifier})
	if err != nil || len(page.Users) != 1 {
		t.Fatalf("Users(identifier %q) = %+v, %v; want one user", identifier, page, err)
	}
	return page.Users[0]
}

func identifiers(us []broker.UserInfo) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.Identifier)
	}
	return out
}

func TestCreateUser(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		u := e.createUser(t, "user-1", "Jane Doe")
		if !strings.HasPrefix(u.ID, "usr-") || u.Identifier != "user-1" || u.DisplayName != "Jane Doe" || u.WebAuthnID == "" {
			t.Errorf("CreateUser() = %+v, want usr- ID, the identifier, the display name and a user handle", u)
		}
		if !u.CreatedAt.Equal(e.clock.Now()) {
			t.Errorf("CreatedAt = %v, want %v", u.CreatedAt, e.clock.Now())
		}
		got, err := e.Broker.User(e.ctx, e.pid, u.ID)
		if err != nil {
			t.Fatalf("User(%s) = %v", u.ID, err)
		}
		if diff := cmp.Diff(u, got); diff != "" {
			t.Errorf("User() (-created +got):\n%s", diff)
		}
		if diff := cmp.Diff(u, e.userByIdentifier(t, "user-1")); diff != "" {
			t.Errorf("Users(identifier) (-created +got):\n%s", diff)
		}

		if got := e.createUser(t, "user-2", ""); got.DisplayName != "user-2" {
			t.Errorf("CreateUser() without a display name: displayName = %q, want the identifier", got.DisplayName)
		}
		_, err = e.Broker.CreateUser(e.ctx, e.pid, broker.NewUser{Identifier: "user-1", DisplayName: "Other"})
		wantErr(t, "CreateUser(existing identifier)", err, broker.ErrAlreadyExists)

		// The user is the one a connect token for its identifier acts on.
		start := e.startAppend(t, "user-1")
		if got := userHandleOf(t, start); got != u.WebAuthnID {
			t.Errorf("append/start user handle = %s, want the created user's %s", got, u.WebAuthnID)
		}

		other := e.addProject(t)
		_, err = other.Broker.User(e.ctx, other.pid, u.ID)
		wantErr(t, "User(ID of another project)", err, broker.ErrNotFound)
		if page, err := other.Broker.Users(e.ctx, other.pid, broker.UserQuery{Identifier: "user-1"}); err != nil || len(page.Users) != 0 {
			t.Errorf("Users(identifier) in another project = %+v, %v; want none", page, err)
		}
		// The same identifier is free in another project.
		other.createUser(t, "user-1", "Jane in another app")
	})
}

func TestCreateUserValidation(t *testing.T) {
	tests := []struct {
		name  string
		in    broker.NewUser
		field string
	}{
		{"no identifier", broker.NewUser{DisplayName: "x"}, "identifier"},
		{"blank identifier", broker.NewUser{Identifier: "  "}, "identifier"},
		{"identifier too long", broker.NewUser{Identifier: strings.Repeat("é", 256)}, "identifier"},
		{"identifier with a control character", broker.NewUser{Identifier: "a\x00b"}, "identifier"},
		{"identifier not UTF-8", broker.NewUser{Identifier: "a\xffb"}, "identifier"},
		{"display name too long", broker.NewUser{Identifier: "a", DisplayName: strings.Repeat("x", 256)}, "displayName"},
		{"display name with a newline", broker.NewUser{Identifier: "a", DisplayName: "x\ny"}, "displayName"},
	}
	forDialects(t, func(t *testing.T, e *env) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.Broker.CreateUser(e.ctx, e.pid, tc.in)
				wantValidation(t, "CreateUser()", err, tc.field)
			})
		}
		if n := e.Counts(t)["users"]; n != 0 {
			t.Errorf("after invalid CreateUser calls: %d users, want 0", n)
		}
		// The longest valid values pass.
		e.createUser(t, strings.Repeat("é", 255), strings.Repeat("x", 255))
	})
}

func TestCreateUsers(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		existing := e.createUser(t, "b", "Bea")
		res, err := e.Broker.CreateUsers(e.ctx, e.pid, []broker.NewUser{
			{Identifier: "a", DisplayName: "Ann"}, {Identifier: "b", DisplayName: "Changed"}, {Identifier: "c"}, {Identifier: "a", DisplayName: "Again"},
		})
		if err != nil {
			t.Fatalf("CreateUsers() = %v", err)
		}
		type row struct{ Status, Identifier, DisplayName string }
		var got []row
		for _, r := range res {
			got = append(got, row{r.Status, r.User.Identifier, r.User.DisplayName})
		}
		want := []row{{"created", "a", "Ann"}, {"already_existed", "b", "Bea"}, {"created", "c", "c"}, {"already_existed", "a", "Ann"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CreateUsers() (-want +got):\n%s", diff)
		}
		if res[1].User.ID != existing.ID || res[3].User.ID != res[0].User.ID {
			t.Errorf("CreateUsers() returned other users than the existing ones: %+v", res)
		}
		if res[0].User.ID == "" || res[0].User.ID == res[2].User.ID {
			t.Errorf("CreateUsers() made IDs %q and %q, want two distinct IDs", res[0].User.ID, res[2].User.ID)
		}
		if n := e.Counts(t)["users"]; n != 3 {
			t.Errorf("users = %d, want 3", n)
		}
	})
}

func TestCreateUsersLimits(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		many := func(n int) []broker.NewUser {
			us := make([]broker.NewUser, n)
			for i := range us {
				us[i] = broker.NewUser{Identifier: fmt.Sprintf("user-%04d@example.com", i), DisplayName: fmt.Sprintf("User %d", i)}
			}
			return us
		}
		_, err := e.Broker.CreateUsers(e.ctx, e.pid, nil)
		wantValidation(t, "CreateUsers(none)", err, "users")
		_, err = e.Broker.CreateUsers(e.ctx, e.pid, many(broker.MaxBulkUsers+1))
		wantValidation(t, "CreateUsers(1001)", err, "users")
		bad := many(10)
		bad[7].Identifier = ""
		_, err = e.Broker.CreateUsers(e.ctx, e.pid, bad)
		wantValidation(t, "CreateUsers(row 7 without identifier)", err, "users[7].identifier")
		bad[7].Identifier, bad[8].DisplayName = "fine", "bad\ttab"
		_, err = e.Broker.CreateUsers(e.ctx, e.pid, bad)
		wantValidation(t, "CreateUsers(row 8 with a tab)", err, "users[8].displayName")
		if n := e.Counts(t)["users"]; n != 0 {
			t.Fatalf("after refused CreateUsers calls: %d users, want 0", n)
		}

		res, err := e.Broker.CreateUsers(e.ctx, e.pid, many(broker.MaxBulkUsers))
		if err != nil {
			t.Fatalf("CreateUsers(1000) = %v", err)
		}
		created := 0
		for _, r := range res {
			if r.Status == broker.BulkCreated {
				created++
			}
		}
		if created != broker.MaxBulkUsers || e.Counts(t)["users"] != broker.MaxBulkUsers {
			t.Errorf("CreateUsers(1000): %d created, %d users stored; want 1000", created, e.Counts(t)["users"])
		}
		if got := e.events(t, broker.EventQuery{Type: broker.EventUserCreated}); len(got) != broker.MaxBulkUsers {
			t.Errorf("CreateUsers(1000) wrote %d user.created events, want 1000", len(got))
		}
	})
}

// allUsers reads every page of the users list with page size limit.
func (e *env) allUsers(t *testing.T, limit int) (users []broker.UserInfo, pages int) {
	t.Helper()
	q := broker.UserQuery{Page: broker.Page{Limit: limit}}
	for {
		page, err := e.Broker.Users(e.ctx, e.pid, q)
		if err != nil {
			t.Fatalf("Users(%+v) = %v", q, err)
		}
		pages++
		users = append(users, page.Users...)
		if page.NextCursor == "" {
			return users, pages
		}
		if len(page.Users) != limit {
			t.Fatalf("Users(%+v) returned %d users and a next cursor, want a full page of %d", q, len(page.Users), limit)
		}
		q.Cursor = page.NextCursor
	}
}

func TestUsersPagination(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		var created []broker.UserInfo
		for i := range 7 {
			if i%3 == 0 {
				e.clock.Advance(time.Millisecond) // some users share a millisecond, some do not
			}
			created = append(created, e.createUser(t, fmt.Sprintf("user-%d", i), ""))
		}
		// The order is creation time, then user ID.
		slices.SortFunc(created, func(a, b broker.UserInfo) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		want := identifiers(created)
		other := e.addProject(t)
		other.createUser(t, "not-mine", "")
		for _, limit := range []int{1, 2, 3, 7, 100} {
			users, pages := e.allUsers(t, limit)
			got := identifiers(users)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("limit %d: users in order (-want +got):\n%s", limit, diff)
			}
			if wantPages := (7 + limit - 1) / limit; pages != wantPages && !(pages == wantPages+1 && 7%limit == 0) {
				t.Errorf("limit %d: %d pages, want %d", limit, pages, wantPages)
			}
		}
		page, err := e.Broker.Users(e.ctx, e.pid, broker.UserQuery{})
		if err != nil || len(page.Users) != 7 || page.NextCursor != "" {
			t.Errorf("Users() with the default limit = %d users, cursor %q, %v; want all 7 and no cursor", len(page.Users), page.NextCursor, err)
		}

		// 60 users: the default page holds 50.
		for i := range 53 {
			e.createUser(t, fmt.Sprintf("more-%d", i), "")
		}
		page, err = e.Broker.Users(e.ctx, e.pid, broker.UserQuery{})
		if err != nil || len(page.Users) != broker.DefaultPageLimit || page.NextCursor == "" {
			t.Errorf("Users() = %d users, cursor %q, %v; want %d and a cursor", len(page.Users), page.NextCursor, err, broker.DefaultPageLimit)
		}
	})
}

func TestPageValidation(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		for range 3 {
			e.register(t, newAuthenticator(), "alice")
		}
		alice := e.userByIdentifier(t, "alice")
		e.createUser(t, "bob", "")
		e.createUser(t, "carol", "")
		userPage, err := e.Broker.Users(e.ctx, e.pid, broker.UserQuery{Page: broker.Page{Limit: 1}})
		if err != nil || userPage.NextCursor == "" {
			t.Fatalf("Users(limit 1) = %+v, %v", userPage, err)
		}
		pkPage, err := e.Broker.UserPasskeys(e.ctx, e.pid, alice.ID, broker.Page{Limit: 1})
		if err != nil || pkPage.NextCursor == "" {
			t.Fatalf("UserPasskeys(limit 1) = %+v, %v", pkPage, err)
		}
		for _, tc := range []struct {
			name  string
			page  broker.Page
			field string
		}{
			{"limit 101", broker.Page{Limit: 101}, "limit"},
			{"negative limit", broker.Page{Limit: -1}, "limit"},
			{"cursor not base64url", broker.Page{Cursor: "!!"}, "cursor"},
			{"cursor of garbage", broker.Page{Cursor: b64([]byte("garbage"))}, "cursor"},
			{"cursor with a bad time", broker.Page{Cursor: b64([]byte("u|x|usr-1"))}, "cursor"},
			{"cursor with a quote", broker.Page{Cursor: b64([]byte("u|1|usr-1' OR 1=1"))}, "cursor"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.Broker.Users(e.ctx, e.pid, broker.UserQuery{Page: tc.page})
				wantValidation(t, "Users()", err, tc.field)
				_, err = e.Broker.UserPasskeys(e.ctx, e.pid, alice.ID, tc.page)
				wantValidation(t, "UserPasskeys()", err, tc.field)
				_, err = e.Broker.Events(e.ctx, e.pid, broker.EventQuery{After: tc.page.Cursor, Limit: tc.page.Limit})
				if tc.field == "cursor" {
					tc.field = "after"
				}
				wantValidation(t, "Events()", err, tc.field)
			})
		}
		t.Run("cursor of another list", func(t *testing.T) {
			_, err := e.Broker.Users(e.ctx, e.pid, broker.UserQuery{Page: broker.Page{Cursor: pkPage.NextCursor}})
			wantValidation(t, "Users(cursor of passkeys)", err, "cursor")
			_, err = e.Broker.UserPasskeys(e.ctx, e.pid, alice.ID, broker.Page{Cursor: userPage.NextCursor})
			wantValidation(t, "UserPasskeys(cursor of users)", err, "cursor")
			_, err = e.Broker.Events(e.ctx, e.pid, broker.EventQuery{After: userPage.NextCursor})
			wantValidation(t, "Events(cursor of users)", err, "after")
		})
		t.Run("identifier", func(t *testing.T) {
			_, err := e.Broker.Users(e.ctx, e.pid, broker.UserQuery{Identifier: strings.Repeat("x", 256)})
			wantValidation(t, "Users(identifier too long)", err, "identifier")
		})
	})
}

func TestRenameUser(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "old@example.com")
		u := e.userByIdentifier(t, "old@example.com")
		listToken := e.mint(t, connecttoken.TypeList, "old@example.com") // minted before the rename
		e.createUser(t, "taken@example.com", "")

		taken := "taken@example.com"
		_, err := e.Broker.UpdateUser(e.ctx, e.pid, u.ID, broker.UserUpdate{Identifier: &taken})
		wantErr(t, "UpdateUser(identifier of another user)", err, broker.ErrAlreadyExists)

		o := e.addProject(t)
		before := e.Snapshot(t)
		empty := ""
		_, err = e.Broker.UpdateUser(e.ctx, e.pid, u.ID, broker.UserUpdate{Identifier: &empty})
		wantValidation(t, "UpdateUser(empty identifier)", err, "identifier")
		long := strings.Repeat("x", 256)
		_, err = e.Broker.UpdateUser(e.ctx, e.pid, u.ID, broker.UserUpdate{DisplayName: &long})
		wantValidation(t, "UpdateUser(display name too long)", err, "displayName")
		_, err = e.Broker.UpdateUser(e.ctx, e.pid, "usr-000000000000000000000000", broker.UserUpdate{Identifier: &empty})
		wantValidation(t, "UpdateUser(unknown user, bad input)", err, "identifier")
		newID := "new@example.com"
		_, err = e.Broker.UpdateUser(e.ctx, e.pid, "usr-000000000000000000000000", broker.UserUpdate{Identifier: &newID})
		wantErr(t, "UpdateUser(unknown user)", err, broker.ErrNotFound)
		_, err = o.Broker.UpdateUser(o.ctx, o.pid, u.ID, broker.UserUpdate{Identifier: &newID})
		wantErr(t, "UpdateUser(user of another project)", err, broker.ErrNotFound)
		e.unchanged(t, before)

		name := "Jane Renamed"
		got, err := e.Broker.UpdateUser(e.ctx, e.pid, u.ID, broker.UserUpdate{Identifier: &newID, DisplayName: &name})
		if err != nil {
			t.Fatalf("UpdateUser() = %v", err)
		}
		if got.ID != u.ID || got.Identifier != newID || got.DisplayName != name || got.WebAuthnID != u.WebAuthnID {
			t.Errorf("UpdateUser() = %+v, want %s renamed to %s (%s) with the same user handle", got, u.ID, newID, name)
		}

		// The passkey works under the new identifier, and signedPasskeyData names it.
		res := e.login(t, a, broker.LoginRequest{Identifier: newID})
		if res.Username != newID {
			t.Errorf("login/finish username = %q, want %q", res.Username, newID)
		}
		if c := e.claims(t, res.SignedPasskeyData); c.Username != newID || c.Subject != u.ID || c.Credential != pk.ID {
			t.Errorf("signedPasskeyData claims = username %q, sub %q, credential %q; want %q, %q, %q", c.Username, c.Subject, c.Credential, newID, u.ID, pk.ID)
		}
		v, err := e.Broker.VerifySignedData(e.ctx, e.pid, e.login(t, a, broker.LoginRequest{}).SignedPasskeyData, newID)
		if err != nil || v.Result != broker.ResultSuccess || v.Username != newID {
			t.Errorf("VerifySignedData(username %q) = %+v, %v; want success", newID, v, err)
		}
		// Usernameless login finds the same user.
		if res := e.login(t, a, broker.LoginRequest{}); res.Username != newID {
			t.Errorf("usernameless login username = %q, want %q", res.Username, newID)
		}
		// The old identifier is nobody now.
		if start, err := e.Broker.StartLogin(e.ctx, e.pid, broker.LoginRequest{Identifier: "old@example.com"}); err != nil || start.Fallback == nil {
			t.Errorf("StartLogin(old identifier) = %+v, %v; want the no_passkey fallback", start, err)
		}
		// A token minted before the rename follows the user; later tokens use the new identifier.
		if tok, err := e.Broker.ConnectToken(e.ctx, e.pid, listToken.ID); err != nil || tok.Data.Identifier != newID {
			t.Errorf("ConnectToken(minted before the rename) = %+v, %v; want identifier %s", tok, err, newID)
		}
		for _, secret := range []string{listToken.Secret, e.mint(t, connecttoken.TypeList, newID).Secret} {
			list, _, err := e.Broker.ListPasskeys(e.ctx, e.pid, secret)
			if err != nil || len(list) != 1 || list[0].ID != pk.ID {
				t.Errorf("ListPasskeys() = %v, %v; want the renamed user's passkey", list, err)
			}
		}
		// The old identifier is free again.
		e.createUser(t, "old@example.com", "Someone else")

		// Renaming to the current identifier changes nothing; an empty update neither.
		before = e.Snapshot(t)
		if _, err := e.Broker.UpdateUser(e.ctx, e.pid, u.ID, broker.UserUpdate{Identifier: &newID}); err != nil {
			t.Errorf("UpdateUser(same identifier) = %v", err)
		}
		if _, err := e.Broker.UpdateUser(e.ctx, e.pid, u.ID, broker.UserUpdate{}); err != nil {
			t.Errorf("UpdateUser(nothing) = %v", err)
		}
		e.unchanged(t, before)

		renames := e.events(t, broker.EventQuery{Type: broker.EventUserRenamed})
		if len(renames) != 1 || renames[0].UserID != u.ID || renames[0].Details["from"] != "old@example.com" || renames[0].Details["to"] != newID {
			t.Errorf("user.renamed events = %+v, want one from old@ to new@ for %s", renames, u.ID)
		}
	})
}

func TestDeleteUser(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk1 := e.register(t, a, "alice")
		pk2 := e.register(t, newAuthenticator(), "alice")
		alice := e.userByIdentifier(t, "alice")
		bobKey := e.register(t, newAuthenticator(), "bob")
		consumed := e.mint(t, connecttoken.TypeList, "alice")
		if _, _, err := e.Broker.ListPasskeys(e.ctx, e.pid, consumed.Secret); err != nil {
			t.Fatal(err)
		}
		pendingAppend := e.startAppend(t, "alice")
		loginTok := e.mint(t, connecttoken.TypeLogin, "alice")
		boundLogin := e.startLogin(t, broker.LoginRequest{LoginConnectToken: loginTok.Secret})
		usernameless := e.startLogin(t, broker.LoginRequest{})
		listTok := e.mint(t, connecttoken.TypeList, "alice")
		bobTok := e.mint(t, connecttoken.TypeList, "bob")

		o := e.addProject(t)
		err := o.Broker.DeleteUser(o.ctx, o.pid, alice.ID)
		wantErr(t, "DeleteUser(user of another project)", err, broker.ErrNotFound)
		wantErr(t, "DeleteUser(unknown)", e.Broker.DeleteUser(e.ctx, e.pid, "usr-000000000000000000000000"), broker.ErrNotFound)
		wantErr(t, "DeleteUser(malformed)", e.Broker.DeleteUser(e.ctx, e.pid, "usr-'; DROP TABLE users"), broker.ErrNotFound)

		if err := e.Broker.DeleteUser(e.ctx, e.pid, alice.ID); err != nil {
			t.Fatalf("DeleteUser() = %v", err)
		}
		_, err = e.Broker.User(e.ctx, e.pid, alice.ID)
		wantErr(t, "User(deleted)", err, broker.ErrNotFound)
		for _, id := range []string{pk1.ID, pk2.ID} {
			_, err := e.Broker.PasskeyByID(e.ctx, e.pid, id)
			wantErr(t, "PasskeyByID(passkey of the deleted user)", err, broker.ErrNotFound)
		}
		for _, id := range []string{loginTok.ID, listTok.ID} {
			_, err := e.Broker.ConnectToken(e.ctx, e.pid, id)
			wantErr(t, "ConnectToken(unconsumed token of the deleted user)", err, broker.ErrNotFound)
		}
		if tok, err := e.Broker.ConnectToken(e.ctx, e.pid, consumed.ID); err != nil || tok.Status != "consumed" {
			t.Errorf("ConnectToken(consumed token) = %+v, %v; want it kept, consumed", tok, err)
		}
		_, err = e.Broker.FinishAppend(e.ctx, e.pid, pendingAppend.CeremonyID, create(t, newAuthenticator(), pendingAppend))
		wantErr(t, "FinishAppend(ceremony of the deleted user)", err, broker.ErrCeremonyNotFound)
		_, err = e.Broker.FinishLogin(e.ctx, e.pid, boundLogin.CeremonyID, get(t, a, boundLogin))
		wantErr(t, "FinishLogin(ceremony bound to a token of the deleted user)", err, broker.ErrCeremonyNotFound)
		_, err = e.Broker.FinishLogin(e.ctx, e.pid, usernameless.CeremonyID, getWith(t, a, usernameless, pk1.ID))
		var unknown *broker.UnknownCredentialError
		if !errors.As(err, &unknown) {
			t.Errorf("FinishLogin(usernameless, deleted passkey) = %v, want *UnknownCredentialError", err)
		}

		// Bob is untouched.
		if list, _, err := e.Broker.ListPasskeys(e.ctx, e.pid, bobTok.Secret); err != nil || len(list) != 1 || list[0].ID != bobKey.ID {
			t.Errorf("ListPasskeys(bob) = %v, %v; want his passkey", list, err)
		}
		// The identifier is free, for a new user with a new user handle.
		again := e.createUser(t, "alice", "")
		if again.ID == alice.ID || again.WebAuthnID == alice.WebAuthnID {
			t.Errorf("a new alice reuses the deleted user's ID or handle: %+v", again)
		}

		var got []string
		for _, ev := range e.events(t, broker.EventQuery{UserID: alice.ID}) {
			if ev.Type == broker.EventPasskeyDeleted || ev.Type == broker.EventConnectTokenRevoked || ev.Type == broker.EventUserDeleted {
				got = append(got, ev.Type+" "+ev.CredentialID)
			}
		}
		// Passkeys in creation order (here one millisecond: then by ID), then the append, login
		// and list tokens that were not consumed.
		keys := []string{pk1.ID, pk2.ID}
		slices.Sort(keys)
		want := []string{"passkey.deleted " + keys[0], "passkey.deleted " + keys[1],
			"connect_token.revoked ", "connect_token.revoked ", "connect_token.revoked ", "user.deleted "}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events of DeleteUser (-want +got):\n%s", diff)
		}
	})
}

func TestUserPasskeys(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		var want []string
		for i := range 5 {
			if i == 2 {
				e.clock.Advance(time.Millisecond)
			}
			want = append(want, e.register(t, newAuthenticator(), "alice").ID)
		}
		e.register(t, newAuthenticator(), "bob")
		alice := e.userByIdentifier(t, "alice")
		var got []string
		page := broker.Page{Limit: 2}
		for range 10 {
			res, err := e.Broker.UserPasskeys(e.ctx, e.pid, alice.ID, page)
			if err != nil {
				t.Fatalf("UserPasskeys(%+v) = %v", page, err)
			}
			for _, pk := range res.Passkeys {
				if pk.UserID != alice.ID {
					t.Errorf("UserPasskeys() returned %s of user %s, want only alice's", pk.ID, pk.UserID)
				}
				got = append(got, pk.ID)
			}
			if page.Cursor = res.NextCursor; page.Cursor == "" {
				break
			}
		}
		// The order is creation time, then credential ID.
		slices.Sort(want[:2])
		slices.Sort(want[2:])
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UserPasskeys() pages (-want +got):\n%s", diff)
		}
		_, err := e.Broker.UserPasskeys(e.ctx, e.pid, "usr-000000000000000000000000", broker.Page{})
		wantErr(t, "UserPasskeys(unknown user)", err, broker.ErrNotFound)
		o := e.addProject(t)
		_, err = o.Broker.UserPasskeys(o.ctx, o.pid, alice.ID, broker.Page{})
		wantErr(t, "UserPasskeys(user of another project)", err, broker.ErrNotFound)
	})
}

func TestPasskeyByIDRelabelRemove(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		a := newAuthenticator()
		pk := e.register(t, a, "alice")
		alice := e.userByIdentifier(t, "alice")
		got, err := e.Broker.PasskeyByID(e.ctx, e.pid, pk.ID)
		if err != nil || got.ID != pk.ID || got.UserID != alice.ID || got.Label != pk.Label {
			t.Fatalf("PasskeyByID() = %+v, %v; want %s of %s", got, err, pk.ID, alice.ID)
		}
		other := e.addProject(t)
		for name, id := range map[string]string{"unknown": b64([]byte("nope")), "malformed": "not base64url!", "empty": ""} {
			_, err := e.Broker.PasskeyByID(e.ctx, e.pid, id)
			wantErr(t, "PasskeyByID("+name+")", err, broker.ErrNotFound)
			_, err = e.Broker.RelabelPasskey(e.ctx, e.pid, id, "x")
			wantErr(t, "RelabelPasskey("+name+")", err, broker.ErrNotFound)
			wantErr(t, "RemovePasskey("+name+")", e.Broker.RemovePasskey(e.ctx, e.pid, id), broker.ErrNotFound)
		}
		_, err = other.Broker.PasskeyByID(e.ctx, other.pid, pk.ID)
		wantErr(t, "PasskeyByID(another project)", err, broker.ErrNotFound)
		_, err = other.Broker.RelabelPasskey(e.ctx, other.pid, pk.ID, "Mine now")
		wantErr(t, "RelabelPasskey(another project)", err, broker.ErrNotFound)
		wantErr(t, "RemovePasskey(another project)", other.Broker.RemovePasskey(e.ctx, other.pid, pk.ID), broker.ErrNotFound)

		for _, bad := range []string{"", " ", strings.Repeat("x", 256), "a\x07b"} {
			_, err := e.Broker.RelabelPasskey(e.ctx, e.pid, pk.ID, bad)
			wantValidation(t, fmt.Sprintf("RelabelPasskey(%q)", bad), err, "label")
		}
		got, err = e.Broker.RelabelPasskey(e.ctx, e.pid, pk.ID, "Work laptop")
		if err != nil || got.Label != "Work laptop" {
			t.Fatalf("RelabelPasskey() = %+v, %v", got, err)
		}
		if list := e.list(t, "alice"); len(list) != 1 || list[0].Label != "Work laptop" {
			t.Errorf("manage/list after relabel = %+v, want label Work laptop", list)
		}
		if err := e.Broker.RemovePasskey(e.ctx, e.pid, pk.ID); err != nil {
			t.Fatalf("RemovePasskey() = %v", err)
		}
		wantErr(t, "RemovePasskey(again)", e.Broker.RemovePasskey(e.ctx, e.pid, pk.ID), broker.ErrNotFound)
		start := e.startLogin(t, broker.LoginRequest{})
		_, err = e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, get(t, a, start))
		var unknown *broker.UnknownCredentialError
		if !errors.As(err, &unknown) || unknown.CredentialID != pk.ID {
			t.Errorf("FinishLogin(removed passkey) = %v, want *UnknownCredentialError for %s", err, pk.ID)
		}
		if _, err := e.Broker.User(e.ctx, e.pid, alice.ID); err != nil {
			t.Errorf("User() after removing the passkey = %v, want the user kept", err)
		}
	})
}
