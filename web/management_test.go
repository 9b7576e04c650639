package web_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/brokertest"
	"github.com/latchkey/latchkey/broker/softauthn"
	"github.com/latchkey/latchkey/web"
)

// mgmtEnv is an env whose broker runs on real time plus an offset the test can move,
// so that events become readable (broker.EventFeedDelay) without sleeping.
type mgmtEnv struct {
	*env
	offset *atomic.Int64
}

func newMgmtEnv(t *testing.T, dialect string) *mgmtEnv {
	t.Helper()
	e := newEnv(t, dialect)
	offset := new(atomic.Int64)
	e.f.Broker.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	return &mgmtEnv{env: e, offset: offset}
}

// other returns a second project on the same broker and server, with its credentials.
func (e *mgmtEnv) other(t *testing.T) map[string]string {
	t.Helper()
	p, secret := e.f.AddProject(t, "other.example", "https://other.example")
	return map[string]string{"Authorization": basicAuth(p.ID, secret)}
}

func (e *mgmtEnv) createUser(t *testing.T, identifier, displayName string) response {
	t.Helper()
	r := e.backend(t, http.MethodPost, "/v2/users", map[string]any{"identifier": identifier, "displayName": displayName})
	r.wantStatus(t, http.StatusCreated)
	return r
}

// events reads the project's events matching query (a URL query string) page after page,
// after moving the clock past the feed delay.
func (e *mgmtEnv) events(t *testing.T, query string, headers map[string]string) []map[string]any {
	t.Helper()
	e.offset.Add(int64(broker.EventFeedDelay))
	if headers == nil {
		headers = e.basic()
	}
	var all []map[string]any
	after := ""
	for range 100 {
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		if after != "" {
			q.Set("after", after)
		}
		r := e.doJSON(t, http.MethodGet, "/v2/events?"+q.Encode(), nil, headers)
		r.wantStatus(t, http.StatusOK)
		var page struct {
			Events     []map[string]any `json:"events"`
			NextCursor string           `json:"nextCursor"`
			HasMore    bool             `json:"hasMore"`
		}
		if err := json.Unmarshal(r.Body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Events...)
		if !page.HasMore {
			return all
		}
		after = page.NextCursor
	}
	t.Fatal("more than 100 pages of events")
	return nil
}

func eventTypes(evs []map[string]any) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprint(ev["type"]))
	}
	return out
}

// listAll reads every page of a list endpoint with page size limit, and returns the values of
// key (e.g. "identifier") of its items.
func (e *mgmtEnv) listAll(t *testing.T, path, items, key string, limit int) (values []string, pages int) {
	t.Helper()
	cursor := ""
	for range 100 {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		r := e.backend(t, http.MethodGet, path+sep+q.Encode(), nil)
		r.wantStatus(t, http.StatusOK)
		pages++
		list := asList(r.get(items))
		if len(list) > limit {
			t.Fatalf("GET %s: %d items, more than limit %d", path, len(list), limit)
		}
		for _, it := range list {
			values = append(values, fmt.Sprint(it.(map[string]any)[key]))
		}
		next, _ := r.get("nextCursor").(string)
		if next == "" {
			return values, pages
		}
		cursor = next
	}
	t.Fatal("more than 100 pages")
	return nil, 0
}

func TestManageUsers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newMgmtEnv(t, dialect)
		created := e.createUser(t, "jane@example.com", "Jane Doe")
		id := created.str(t, "id")
		if loc := created.Header.Get("Location"); loc != "/v2/users/"+id {
			t.Errorf("Location = %q, want /v2/users/%s", loc, id)
		}
		if !strings.HasPrefix(id, "usr-") || created.get("identifier") != "jane@example.com" || created.get("displayName") != "Jane Doe" {
			t.Errorf("POST /v2/users = %s", created.Body)
		}
		got := e.backend(t, http.MethodGet, "/v2/users/"+id, nil)
		got.wantStatus(t, http.StatusOK)
		if diff := cmp.Diff(created.JSON, got.JSON); diff != "" {
			t.Errorf("GET /v2/users/%s (-created +got):\n%s", id, diff)
		}
		found := e.backend(t, http.MethodGet, "/v2/users?identifier="+url.QueryEscape("jane@example.com"), nil)
		found.wantStatus(t, http.StatusOK)
		if users := asList(found.get("users")); len(users) != 1 || users[0].(map[string]any)["id"] != id {
			t.Errorf("GET /v2/users?identifier= = %s, want jane", found.Body)
		}
		if none := e.backend(t, http.MethodGet, "/v2/users?identifier=nobody", nil); len(asList(none.get("users"))) != 0 || none.get("nextCursor") != nil {
			t.Errorf("GET /v2/users?identifier=nobody = %s, want no users and no cursor", none.Body)
		}
		assertError(t, e.backend(t, http.MethodPost, "/v2/users", map[string]any{"identifier": "jane@example.com"}), http.StatusConflict, "already_exists")

		// Validation.
		for _, tc := range []struct {
			body  any
			field string
		}{
			{map[string]any{"displayName": "x"}, "identifier"},
			{map[string]any{"identifier": strings.Repeat("x", 256)}, "identifier"},
			{map[string]any{"identifier": "a\u0000b"}, "identifier"},
			{map[string]any{"identifier": "a", "displayName": strings.Repeat("x", 256)}, "displayName"},
			{map[string]any{"identifier": 42}, "identifier"},
		} {
			assertValidation(t, e.backend(t, http.MethodPost, "/v2/users", tc.body), tc.field)
		}
		assertError(t, e.backend(t, http.MethodPost, "/v2/users", "{"), http.StatusBadRequest, "invalid_json")
		assertError(t, e.backend(t, http.MethodPost, "/v2/users", "[]"), http.StatusBadRequest, "")
		assertValidation(t, e.backend(t, http.MethodGet, "/v2/users?identifier=", nil), "identifier")
		assertError(t, e.doJSON(t, http.MethodGet, "/v2/users/"+id, nil, nil), http.StatusUnauthorized, "login_error")

		// Another project sees none of it, and may use the same identifier.
		other := e.other(t)
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			assertError(t, e.doJSON(t, method, "/v2/users/"+id, nil, other), http.StatusNotFound, "not_found")
		}
		assertError(t, e.doJSON(t, http.MethodPatch, "/v2/users/"+id, map[string]any{"displayName": "Mine"}, other), http.StatusNotFound, "not_found")
		assertError(t, e.doJSON(t, http.MethodGet, "/v2/users/"+id+"/passkeys", nil, other), http.StatusNotFound, "not_found")
		if r := e.doJSON(t, http.MethodGet, "/v2/users?identifier=jane@example.com", nil, other); len(asList(r.get("users"))) != 0 {
			t.Errorf("another project finds jane: %s", r.Body)
		}
		e.doJSON(t, http.MethodPost, "/v2/users", map[string]any{"identifier": "jane@example.com"}, other).wantStatus(t, http.StatusCreated)
		for _, bad := range []string{"usr-000000000000000000000000", "nobody", "usr-%27%3B"} {
			assertError(t, e.backend(t, http.MethodGet, "/v2/users/"+bad, nil), http.StatusNotFound, "not_found")
		}

		// Delete.
		e.backend(t, http.MethodDelete, "/v2/users/"+id, nil).wantStatus(t, http.StatusNoContent)
		assertError(t, e.backend(t, http.MethodGet, "/v2/users/"+id, nil), http.StatusNotFound, "not_found")
		assertError(t, e.backend(t, http.MethodDelete, "/v2/users/"+id, nil), http.StatusNotFound, "not_found")
	})
}

func TestManageUsersPagination(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newMgmtEnv(t, dialect)
		var want []string
		for i := range 7 {
			id := e.createUser(t, fmt.Sprintf("user-%d", i), "").str(t, "id")
			want = append(want, id)
		}
		e.doJSON(t, http.MethodPost, "/v2/users", map[string]any{"identifier": "not-mine"}, e.other(t)).wantStatus(t, http.StatusCreated)
		all, pages := e.listAll(t, "/v2/users", "users", "id", 100)
		if pages != 1 || len(all) != 7 {
			t.Fatalf("GET /v2/users?limit=100 = %d users in %d pages, want 7 in 1", len(all), pages)
		}
		for _, limit := range []int{1, 2, 3, 7} {
			got, pages := e.listAll(t, "/v2/users", "users", "id", limit)
			if diff := cmp.Diff(all, got); diff != "" {
				t.Errorf("limit %d: pages differ from one read (-one read +pages):\n%s", limit, diff)
			}
			if want := (7 + limit - 1) / limit; pages != want {
				t.Errorf("limit %d: %d pages, want %d", limit, pages, want)
			}
		}
		for _, id := range want {
			if !strings.Contains(strings.Join(all, " "), id) {
				t.Errorf("user %s is missing from the list", id)
			}
		}
		first := e.backend(t, http.MethodGet, "/v2/users?limit=2", nil)
		cursor := first.str(t, "nextCursor")
		for _, q := range []string{"limit=0", "limit=101", "limit=-1", "limit=two"} {
			assertValidation(t, e.backend(t, http.MethodGet, "/v2/users?"+q, nil), "limit")
		}
		for _, c := range []string{"nope!", "bm9wZQ", b64url64("u|1|usr-1|x"), b64url64("p|1|AAAA"), b64url64("u|one|usr-1")} {
			assertValidation(t, e.backend(t, http.MethodGet, "/v2/users?cursor="+c, nil), "cursor")
		}
		// A cursor of this list means the same to another project: its own users after it.
		if r := e.doJSON(t, http.MethodGet, "/v2/users?cursor="+url.QueryEscape(cursor), nil, e.other(t)); r.Status != http.StatusOK || strings.Contains(string(r.Body), want[0]) {
			t.Errorf("another project reading with this project's cursor = %d %s", r.Status, r.Body)
		}
	})
}

func TestManageUsersBulk(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newMgmtEnv(t, dialect)
		e.createUser(t, "existing", "Existing")
		r := e.backend(t, http.MethodPost, "/v2/users/bulk", map[string]any{"users": []map[string]any{
			{"identifier": "a", "displayName": "Ann"}, {"identifier": "existing", "displayName": "Changed"}, {"identifier": "a"},
		}})
		r.wantStatus(t, http.StatusOK)
		var res struct {
			Results []struct {
				Status string         `json:"status"`
				User   map[string]any `json:"user"`
			} `json:"results"`
		}
		if err := json.Unmarshal(r.Body, &res); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, row := range res.Results {
			got = append(got, row.Status+" "+fmt.Sprint(row.User["identifier"])+" "+fmt.Sprint(row.User["displayName"]))
		}
		want := []string{"created a Ann", "already_existed existing Existing", "already_existed a Ann"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("POST /v2/users/bulk (-want +got):\n%s", diff)
		}

		// 1,000 users with long names: more than 64 KiB, within the bulk limit.
		users := make([]map[string]any, broker.MaxBulkUsers)
		for i := range users {
			users[i] = map[string]any{"identifier": fmt.Sprintf("%04d-%s@example.com", i, strings.Repeat("x", 200)), "displayName": strings.Repeat("y", 200)}
		}
		big := e.backend(t, http.MethodPost, "/v2/users/bulk", map[string]any{"users": users})
		big.wantStatus(t, http.StatusOK)
		if n := len(asList(big.get("results"))); n != broker.MaxBulkUsers {
			t.Errorf("POST /v2/users/bulk of 1000: %d results", n)
		}
		if page := e.backend(t, http.MethodGet, "/v2/users?limit=100", nil); page.get("nextCursor") == nil {
			t.Errorf("after the bulk create, the user list has no second page")
		}

		before := e.f.Counts(t)["users"]
		assertValidation(t, e.backend(t, http.MethodPost, "/v2/users/bulk", map[string]any{"users": append(users, map[string]any{"identifier": "one-too-many"})}), "users")
		assertValidation(t, e.backend(t, http.MethodPost, "/v2/users/bulk", map[string]any{"users": []any{}}), "users")
		assertValidation(t, e.backend(t, http.MethodPost, "/v2/users/bulk", map[string]any{}), "users")
		assertValidation(t, e.backend(t, http.MethodPost, "/v2/users/bulk", map[string]any{"users": []map[string]any{
			{"identifier": "fine"}, {"identifier": ""}}}), "users[1].identifier")
		assertError(t, e.backend(t, http.MethodPost, "/v2/users/bulk", `{"users": [`+strings.Repeat(" ", web.MaxBulkBodyBytes)+`]}`), http.StatusRequestEntityTooLarge, "payload_too_large")
		if after := e.f.Counts(t)["users"]; after != before {
			t.Errorf("refused bulk requests changed the users from %d to %d", before, after)
		}
		assertError(t, e.doJSON(t, http.MethodPost, "/v2/users/bulk", map[string]any{"users": []any{}}, nil), http.StatusUnauthorized, "login_error")
	})
}

func TestManageRenameUser(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newMgmtEnv(t, dialect)
		_, pk := e.register(t, "old@example.com")
		id := e.backend(t, http.MethodGet, "/v2/users?identifier=old@example.com", nil).first(t, "users").id
		e.createUser(t, "taken@example.com", "")

		assertError(t, e.backend(t, http.MethodPatch, "/v2/users/"+id, map[string]any{"identifier": "taken@example.com"}), http.StatusConflict, "already_exists")
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/users/"+id, map[string]any{"identifier": ""}), "identifier")
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/users/"+id, map[string]any{"displayName": strings.Repeat("x", 256)}), "displayName")
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/users/"+id, map[string]any{"identifier": true}), "identifier")
		assertError(t, e.backend(t, http.MethodPatch, "/v2/users/usr-000000000000000000000000", map[string]any{"identifier": "x"}), http.StatusNotFound, "not_found")

		r := e.backend(t, http.MethodPatch, "/v2/users/"+id, map[string]any{"identifier": "new@example.com"})
		r.wantStatus(t, http.StatusOK)
		if r.get("identifier") != "new@example.com" || r.get("id") != id {
			t.Errorf("PATCH = %s, want %s renamed", r.Body, id)
		}
		if r.get("displayName") != "Name of old@example.com" {
			t.Errorf("PATCH without displayName changed it: %s", r.Body)
		}
		// The passkey signs in under the new identifier, and signedPasskeyData names it.
		fin := e.login(t, "new@example.com")
		if fin.get("username") != "new@example.com" {
			t.Errorf("login/finish username = %v, want new@example.com", fin.get("username"))
		}
		v := e.backend(t, http.MethodPost, "/v2/passkey/verifySignedData", map[string]any{
			"signedPasskeyData": fin.str(t, "signedPasskeyData"), "username": "new@example.com"})
		if v.get("verificationResult") != "success" || v.get("userID") != id || v.get("credentialID") != pk["id"] {
			t.Errorf("verifySignedData after the rename = %s", v.Body)
		}
		if start := e.front(t, "login/start", map[string]any{"identifier": "old@example.com"}); start.get("fallback.reason") != "no_passkey" {
			t.Errorf("login/start with the old identifier = %s, want the fallback", start.Body)
		}
		list := e.front(t, "manage/list", map[string]any{"connectToken": e.token(t, "passkey-list", "new@example.com")})
		if ids := asList(list.get("passkeys")); len(ids) != 1 {
			t.Errorf("manage/list with a token for the new identifier = %s", list.Body)
		}
	})
}

func TestManagePasskeys(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newMgmtEnv(t, dialect)
		var ids []string
		for range 3 {
			e.auth = softauthn.NewAuthenticator(brokertest.RPID, brokertest.Origin)
			_, pk := e.register(t, "alice")
			ids = append(ids, pk["id"].(string))
		}
		e.register(t, "bob")
		alice := e.backend(t, http.MethodGet, "/v2/users?identifier=alice", nil).first(t, "users").id

		all, pages := e.listAll(t, "/v2/users/"+alice+"/passkeys", "passkeys", "id", 2)
		if pages != 2 || len(all) != 3 {
			t.Errorf("passkeys of alice in pages of 2: %v in %d pages, want 3 in 2", all, pages)
		}
		for _, id := range ids {
			if !strings.Contains(strings.Join(all, " "), id) {
				t.Errorf("passkey %s is missing from alice's list %v", id, all)
			}
		}
		assertValidation(t, e.backend(t, http.MethodGet, "/v2/users/"+alice+"/passkeys?cursor=zzz", nil), "cursor")
		assertValidation(t, e.backend(t, http.MethodGet, "/v2/users/"+alice+"/passkeys?limit=1000", nil), "limit")
		assertError(t, e.backend(t, http.MethodGet, "/v2/users/usr-000000000000000000000000/passkeys", nil), http.StatusNotFound, "not_found")

		pk := e.backend(t, http.MethodGet, "/v2/passkeys/"+ids[0], nil)
		pk.wantStatus(t, http.StatusOK)
		checkPasskey(t, pk.JSON, ids[0], false)
		if pk.get("userID") != alice {
			t.Errorf("GET /v2/passkeys/%s userID = %v, want %s", ids[0], pk.get("userID"), alice)
		}

		relabelled := e.backend(t, http.MethodPatch, "/v2/passkeys/"+ids[0], map[string]any{"label": "Work laptop"})
		relabelled.wantStatus(t, http.StatusOK)
		if relabelled.get("label") != "Work laptop" {
			t.Errorf("PATCH label = %s", relabelled.Body)
		}
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/passkeys/"+ids[0], map[string]any{}), "label")
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/passkeys/"+ids[0], map[string]any{"label": " "}), "label")
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/passkeys/"+ids[0], map[string]any{"label": strings.Repeat("x", 256)}), "label")
		assertValidation(t, e.backend(t, http.MethodPatch, "/v2/passkeys/"+ids[0], map[string]any{"label": 7}), "label")
		list := e.front(t, "manage/list", map[string]any{"connectToken": e.token(t, "passkey-list", "alice")})
		if !strings.Contains(string(list.Body), "Work laptop") {
			t.Errorf("manage/list after the relabel = %s, want the new label", list.Body)
		}

		other := e.other(t)
		assertError(t, e.doJSON(t, http.MethodGet, "/v2/passkeys/"+ids[0], nil, other), http.StatusNotFound, "not_found")
		assertError(t, e.doJSON(t, http.MethodPatch, "/v2/passkeys/"+ids[0], map[string]any{"label": "Mine"}, other), http.StatusNotFound, "not_found")
		assertError(t, e.doJSON(t, http.MethodDelete, "/v2/passkeys/"+ids[0], nil, other), http.StatusNotFound, "not_found")
		for _, bad := range []string{"AAAA", "not%20base64"} {
			assertError(t, e.backend(t, http.MethodGet, "/v2/passkeys/"+bad, nil), http.StatusNotFound, "not_found")
		}

		e.backend(t, http.MethodDelete, "/v2/passkeys/"+ids[0], nil).wantStatus(t, http.StatusNoContent)
		assertError(t, e.backend(t, http.MethodDelete, "/v2/passkeys/"+ids[0], nil), http.StatusNotFound, "not_found")
		assertError(t, e.backend(t, http.MethodGet, "/v2/passkeys/"+ids[0], nil), http.StatusNotFound, "not_found")
		if rest, _ := e.listAll(t, "/v2/users/"+alice+"/passkeys", "passkeys", "id", 50); len(rest) != 2 {
			t.Errorf("after deleting one: %v, want 2 passkeys", rest)
		}

		// Deleting the user takes the rest of its passkeys.
		e.backend(t, http.MethodDelete, "/v2/users/"+alice, nil).wantStatus(t, http.StatusNoContent)
		for _, id := range ids[1:] {
			assertError(t, e.backend(t, http.MethodGet, "/v2/passkeys/"+id, nil), http.StatusNotFound, "not_found")
		}
	})
}

func TestManageEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		e := newMgmtEnv(t, dialect)
		created := e.doJSON(t, http.MethodPost, "/v2/users", map[string]any{"identifier": "jane"},
			map[string]string{"Authorization": e.basic()["Authorization"], "User-Agent": "app-backend/1.0"})
		created.wantStatus(t, http.StatusCreated)
		jane := created.str(t, "id")
		_, pk := e.register(t, "jane")
		e.login(t, "jane")
		e.register(t, "bob")

		evs := e.events(t, "", nil)
		if len(evs) < 10 {
			t.Fatalf("GET /v2/events = %d events, want the project's secret, users, tokens, ceremonies and passkeys", len(evs))
		}
		first := evs[1]
		if first["type"] != "user.created" || first["userID"] != jane || first["requestID"] != created.Header.Get("X-Request-ID") ||
			first["userAgent"] != "app-backend/1.0" || first["clientIP"] != "127.0.0.1" {
			t.Errorf("the user.created event = %v, want jane's with the request ID %s, the user agent and 127.0.0.1",
				first, created.Header.Get("X-Request-ID"))
		}
		for _, ev := range evs {
			for _, k := range []string{"secret", "challenge", "signedPasskeyData", "connectToken"} {
				if _, ok := ev["details"].(map[string]any)[k]; ok {
					t.Errorf("event %v has %s in its details", ev, k)
				}
			}
		}

		byUser := e.events(t, "userID="+jane, nil)
		// (A login without a connect token writes no ceremony.started: see broker's sealed.go.)
		want := []string{"user.created", "connect_token.minted", "ceremony.started", "connect_token.consumed", "ceremony.finished",
			"passkey.added", "ceremony.finished", "passkey.used"}
		if diff := cmp.Diff(want, eventTypes(byUser)); diff != "" {
			t.Errorf("GET /v2/events?userID=jane (-want +got):\n%s", diff)
		}
		added := e.events(t, "type=passkey.added", nil)
		if len(added) != 2 || added[0]["credentialID"] != pk["id"] {
			t.Errorf("GET /v2/events?type=passkey.added = %v", added)
		}
		if both := e.events(t, "type=passkey.used&userID="+jane, nil); len(both) != 1 {
			t.Errorf("GET /v2/events?type=passkey.used&userID=jane = %v, want one", both)
		}

		// Pages of 3 add up to the whole log.
		all, paged := eventTypes(e.events(t, "", nil)), eventTypes(e.events(t, "limit=3", nil))
		if diff := cmp.Diff(all, paged); diff != "" {
			t.Errorf("events in pages of 3 (-one read +pages):\n%s", diff)
		}
		page := e.backend(t, http.MethodGet, "/v2/events?limit=2", nil)
		if page.get("hasMore") != true || len(asList(page.get("events"))) != 2 {
			t.Errorf("GET /v2/events?limit=2 = %s", page.Body)
		}
		rest := e.backend(t, http.MethodGet, "/v2/events?limit=100&after="+url.QueryEscape(page.str(t, "nextCursor")), nil)
		if n := len(asList(rest.get("events"))); n != len(all)-2 {
			t.Errorf("GET /v2/events after the first 2 = %d events, want %d", n, len(all)-2)
		}

		assertValidation(t, e.backend(t, http.MethodGet, "/v2/events?type=nope", nil), "type")
		assertValidation(t, e.backend(t, http.MethodGet, "/v2/events?userID=usr-%27", nil), "userID")
		assertValidation(t, e.backend(t, http.MethodGet, "/v2/events?after=%21", nil), "after")
		assertValidation(t, e.backend(t, http.MethodGet, "/v2/events?limit=0", nil), "limit")
		assertError(t, e.doJSON(t, http.MethodGet, "/v2/events", nil, nil), http.StatusUnauthorized, "login_error")

		// Another project reads only its own log, also with this project's user ID.
		other := e.other(t)
		if got := eventTypes(e.events(t, "", other)); !cmp.Equal(got, []string{"api_secret.added"}) {
			t.Errorf("another project's events = %v, want its own api_secret.added", got)
		}
		if got := e.events(t, "userID="+jane, other); len(got) != 0 {
			t.Errorf("another project's events of jane = %v, want none", got)
		}
	})
}

func b64url64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// item is one object of a list in a response.
type item struct {
	id string
	m  map[string]any
}

// first returns the first object of the list at path, failing the test if there is none.
func (r response) first(t *testing.T, path string) item {
	t.Helper()
	list := asList(r.get(path))
	if len(list) == 0 {
		t.Fatalf("%s is empty; body %s", path, r.Body)
	}
	m, _ := list[0].(map[string]any)
	id, _ := m["id"].(string)
	return item{id, m}
}
