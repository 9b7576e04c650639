package sqlstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchkey/latchkey/broker/sqlstore"
	"github.com/latchkey/latchkey/broker/sqlstore/sqlstoretest"
)

func TestCeremonies(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")

		t.Run("round trip", func(t *testing.T) {
			bound := newCeremony("pa", "cer-bound", t0, t0+60_000)
			bound.Kind, bound.UserID, bound.ConnectTokenID, bound.Conditional = "registration", ptr("u-1"), ptr("tok-1"), true
			expired := newCeremony("pa", "cer-expired", t0-60_000, t0-1)
			for _, want := range []sqlstore.Ceremony{newCeremony("pa", "cer-plain", t0, t0+60_000), bound, expired} {
				addCeremony(t, s, want)
				got, err := s.Ceremony(ctx, "pa", want.ID, want.Kind)
				mustNil(t, "Ceremony(pa, "+want.ID+")", err)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Ceremony(pa, %s, %s) mismatch (-want +got):\n%s", want.ID, want.Kind, diff)
				}
			}
		})

		t.Run("already exists", func(t *testing.T) {
			addCeremony(t, s, newCeremony("pa", "cer-dup", t0, t0+60_000))
			for _, limit := range []int{0, 100} {
				ok, err := s.InsertCeremony(ctx, newCeremony("pb", "cer-dup", t0, t0+60_000), limit)
				if ok || !errors.Is(err, sqlstore.ErrAlreadyExists) {
					t.Errorf("InsertCeremony(cer-dup again, %d) = %v, %v, want false, %v", limit, ok, err, sqlstore.ErrAlreadyExists)
				}
			}
		})

		t.Run("not found", func(t *testing.T) {
			addCeremony(t, s, newCeremony("pa", "cer-nf", t0, t0+60_000))
			tests := []struct{ name, project, id, kind string }{
				{"unknown id", "pa", "cer-none", "login"},
				{"other kind", "pa", "cer-nf", "registration"},
				{"through another project", "pb", "cer-nf", "login"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, err := s.Ceremony(ctx, tt.project, tt.id, tt.kind)
					checkErr(t, fmt.Sprintf("Ceremony(%s, %s, %s)", tt.project, tt.id, tt.kind), err, sqlstore.ErrNotFound)
				})
			}
			if _, err := s.Ceremony(ctx, "pa", "cer-nf", "login"); err != nil {
				t.Errorf("Ceremony(pa, cer-nf, login) = %v, want nil", err)
			}
		})

		t.Run("EndCeremony", func(t *testing.T) {
			addCeremony(t, s, newCeremony("pa", "cer-end", t0-1000, t0+1))
			addCeremony(t, s, newCeremony("pa", "cer-end-now", t0-1000, t0))
			addCeremony(t, s, newCeremony("pa", "cer-end-past", t0-1000, t0-1))
			tests := []struct {
				name, id string
				want     error
			}{
				{"expires at now", "cer-end-now", sqlstore.ErrNotFound},
				{"expired", "cer-end-past", sqlstore.ErrNotFound},
				{"unknown", "cer-none", sqlstore.ErrNotFound},
				{"unexpired", "cer-end", nil},
				{"ended", "cer-end", sqlstore.ErrNotFound},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					checkErr(t, fmt.Sprintf("EndCeremony(%s, now)", tt.id), s.EndCeremony(ctx, tt.id, t0), tt.want)
				})
			}
			_, err := s.Ceremony(ctx, "pa", "cer-end", "login")
			checkErr(t, "Ceremony(pa, cer-end) after EndCeremony", err, sqlstore.ErrNotFound)
			for _, id := range []string{"cer-end-now", "cer-end-past"} {
				if _, err := s.Ceremony(ctx, "pa", id, "login"); err != nil {
					t.Errorf("Ceremony(pa, %s): the expired ceremony EndCeremony refused = %v, want it kept", id, err)
				}
			}
		})
	})
}

func TestInsertCeremonyCap(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		const limit = 3
		for _, p := range []string{"pa", "pb", "pc", "pd"} {
			addProject(t, s, p)
		}
		// insert calls InsertCeremony and checks its answer.
		insert := func(t *testing.T, c sqlstore.Ceremony, limit int, want bool) {
			t.Helper()
			ok, err := s.InsertCeremony(ctx, c, limit)
			if err != nil || ok != want {
				t.Fatalf("InsertCeremony(%s, %d) = %v, %v, want %v, nil", c.ID, limit, ok, err, want)
			}
			_, err = s.Ceremony(ctx, c.ProjectID, c.ID, c.Kind)
			if (err == nil) != want {
				t.Fatalf("Ceremony(%s) after InsertCeremony = %v, want it stored: %v", c.ID, err, want)
			}
		}

		t.Run("the cap refuses the next", func(t *testing.T) {
			for i := range limit {
				insert(t, newCeremony("pa", fmt.Sprintf("cap-a%d", i), t0, t0+60_000), limit, true)
			}
			insert(t, newCeremony("pa", "cap-a-over", t0, t0+60_000), limit, false)
			insert(t, newCeremony("pa", "cap-a-over2", t0+59_999, t0+120_000), limit, false)
			if n := rowCount(t, s, "ceremonies"); n != limit {
				t.Errorf("CountRows(ceremonies) = %d, want %d", n, limit)
			}
		})

		t.Run("another project is not affected", func(t *testing.T) {
			insert(t, newCeremony("pb", "cap-b0", t0, t0+60_000), limit, true)
		})

		t.Run("expired ones do not count", func(t *testing.T) {
			addCeremony(t, s, newCeremony("pc", "cap-c-old1", t0-120_000, t0-60_000))
			addCeremony(t, s, newCeremony("pc", "cap-c-old2", t0-120_000, t0-1))
			addCeremony(t, s, newCeremony("pc", "cap-c-now", t0-120_000, t0)) // expires at the new one's creation
			for i := range limit {
				insert(t, newCeremony("pc", fmt.Sprintf("cap-c%d", i), t0, t0+60_000), limit, true)
			}
			insert(t, newCeremony("pc", "cap-c-over", t0, t0+60_000), limit, false)
			// Once the pending ones expire, there is room again.
			insert(t, newCeremony("pc", "cap-c-later", t0+60_000, t0+120_000), limit, true)
		})

		t.Run("limit 0 is no cap", func(t *testing.T) {
			for i := range 3 * limit {
				insert(t, newCeremony("pd", fmt.Sprintf("cap-d%d", i), t0, t0+60_000), 0, true)
			}
			insert(t, newCeremony("pd", "cap-d-over", t0, t0+60_000), limit, false)
			insert(t, newCeremony("pd", "cap-d-negative", t0, t0+60_000), -1, true)
		})

		t.Run("in a transaction", func(t *testing.T) {
			addProject(t, s, "pe")
			var oks []bool
			err := s.InTx(ctx, func(tx *sqlstore.Tx) error {
				for i := range limit + 1 {
					ok, err := tx.InsertCeremony(ctx, newCeremony("pe", fmt.Sprintf("cap-e%d", i), t0, t0+60_000), limit)
					if err != nil {
						return err
					}
					oks = append(oks, ok)
				}
				return nil
			})
			mustNil(t, "InTx(InsertCeremony ×4)", err)
			if diff := cmp.Diff([]bool{true, true, true, false}, oks); diff != "" {
				t.Errorf("InsertCeremony(limit %d) ×%d in one transaction mismatch (-want +got):\n%s", limit, limit+1, diff)
			}
		})
	})
}

func TestDeleteCeremoniesOf(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		consumed := newToken("pa", "tok-alice-used", "alice", t0+60_000)
		for _, tok := range []sqlstore.ConnectToken{
			newToken("pa", "tok-alice", "alice", t0+60_000), consumed, newToken("pa", "tok-bob", "bob", t0+60_000),
			newToken("pb", "tok-alice-b", "alice", t0+60_000),
		} {
			addToken(t, s, tok)
		}
		mustNil(t, "ConsumeConnectToken(tok-alice-used)", s.ConsumeConnectToken(ctx, consumed.ID, t0))
		ceremony := func(project, id string, userID, tokenID *string) sqlstore.Ceremony {
			c := newCeremony(project, id, t0, t0+60_000)
			c.UserID, c.ConnectTokenID = userID, tokenID
			return c
		}
		for _, c := range []sqlstore.Ceremony{
			ceremony("pa", "c-user", ptr("u-alice"), nil),                  // deleted: the user's
			ceremony("pa", "c-user-token", ptr("u-alice"), ptr("tok-bob")), // deleted: the user's
			ceremony("pa", "c-token", nil, ptr("tok-alice")),               // deleted: bound to an unconsumed token for alice
			ceremony("pa", "c-token-used", nil, ptr("tok-alice-used")),     // kept: the token is consumed
			ceremony("pa", "c-bob", ptr("u-bob"), ptr("tok-bob")),          // kept
			ceremony("pa", "c-none", nil, nil),                             // kept
			ceremony("pb", "c-b-user", ptr("u-alice"), nil),                // kept: another project
			ceremony("pb", "c-b-token", nil, ptr("tok-alice-b")),           // kept: another project
			ceremony("pb", "c-b-cross", nil, ptr("tok-alice")),             // kept: another project
		} {
			addCeremony(t, s, c)
		}
		n, err := s.DeleteCeremoniesOf(ctx, "pa", "u-alice", "alice")
		if err != nil || n != 3 {
			t.Errorf("DeleteCeremoniesOf(pa, u-alice, alice) = %d, %v, want 3, nil", n, err)
		}
		var kept []string
		for _, id := range []string{"c-user", "c-user-token", "c-token", "c-token-used", "c-bob", "c-none"} {
			if _, err := s.Ceremony(ctx, "pa", id, "login"); err == nil {
				kept = append(kept, id)
			}
		}
		for _, id := range []string{"c-b-user", "c-b-token", "c-b-cross"} {
			if _, err := s.Ceremony(ctx, "pb", id, "login"); err == nil {
				kept = append(kept, id)
			}
		}
		if diff := cmp.Diff([]string{"c-token-used", "c-bob", "c-none", "c-b-user", "c-b-token", "c-b-cross"}, kept); diff != "" {
			t.Errorf("ceremonies kept by DeleteCeremoniesOf(pa, u-alice, alice) mismatch (-want +got):\n%s", diff)
		}
		if n, err := s.DeleteCeremoniesOf(ctx, "pa", "u-alice", "alice"); err != nil || n != 0 {
			t.Errorf("DeleteCeremoniesOf(pa, u-alice, alice) again = %d, %v, want 0, nil", n, err)
		}
	})
}

func TestConnectTokens(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		tok := newToken("pa", "tok-1", "alice", t0+60_000)
		addToken(t, s, tok)

		t.Run("round trip", func(t *testing.T) {
			got, err := s.ConnectToken(ctx, "pa", tok.ID)
			mustNil(t, "ConnectToken(pa, tok-1)", err)
			if diff := cmp.Diff(tok, got); diff != "" {
				t.Errorf("ConnectToken(pa, tok-1) mismatch (-want +got):\n%s", diff)
			}
			got, err = s.ConnectTokenByHash(ctx, "pa", tok.SecretHash)
			mustNil(t, "ConnectTokenByHash(pa, hash-tok-1)", err)
			if diff := cmp.Diff(tok, got); diff != "" {
				t.Errorf("ConnectTokenByHash(pa, hash-tok-1) mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("already exists", func(t *testing.T) {
			sameID := newToken("pb", "tok-1", "bob", t0+60_000)
			sameID.SecretHash = "fresh"
			checkErr(t, "InsertConnectToken(tok-1 again)", s.InsertConnectToken(ctx, sameID), sqlstore.ErrAlreadyExists)
			sameHash := newToken("pb", "tok-fresh", "bob", t0+60_000)
			sameHash.SecretHash = tok.SecretHash
			checkErr(t, "InsertConnectToken(tok-1's hash)", s.InsertConnectToken(ctx, sameHash), sqlstore.ErrAlreadyExists)
		})

		t.Run("not found", func(t *testing.T) {
			tests := []struct {
				name string
				call func() error
			}{
				{"ConnectToken(pa, tok-none)", func() error { _, err := s.ConnectToken(ctx, "pa", "tok-none"); return err }},
				{"ConnectTokenByHash(pa, no-hash)", func() error { _, err := s.ConnectTokenByHash(ctx, "pa", "no-hash"); return err }},
				{"ConsumeConnectToken(tok-none)", func() error { return s.ConsumeConnectToken(ctx, "tok-none", t0) }},
				{"DeleteConnectToken(pa, tok-none)", func() error { return s.DeleteConnectToken(ctx, "pa", "tok-none") }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.name, tt.call(), sqlstore.ErrNotFound) })
			}
		})

		t.Run("scoped by project", func(t *testing.T) {
			tests := []struct {
				name string
				call func() error
			}{
				{"ConnectToken(pb, tok-1)", func() error { _, err := s.ConnectToken(ctx, "pb", "tok-1"); return err }},
				{"ConnectTokenByHash(pb, hash-tok-1)", func() error { _, err := s.ConnectTokenByHash(ctx, "pb", tok.SecretHash); return err }},
				{"DeleteConnectToken(pb, tok-1)", func() error { return s.DeleteConnectToken(ctx, "pb", "tok-1") }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { checkErr(t, tt.name, tt.call(), sqlstore.ErrNotFound) })
			}
			mustNil(t, "RenameTokenIdentifier(pb, alice, mallory)", s.RenameTokenIdentifier(ctx, "pb", "alice", "mallory"))
			if ids, err := s.DeleteUnconsumedTokens(ctx, "pb", "alice"); err != nil || len(ids) != 0 {
				t.Errorf("DeleteUnconsumedTokens(pb, alice) = %v, %v, want none, nil", ids, err)
			}
			got, err := s.ConnectToken(ctx, "pa", "tok-1")
			mustNil(t, "ConnectToken(pa, tok-1)", err)
			if diff := cmp.Diff(tok, got); diff != "" {
				t.Errorf("ConnectToken(pa, tok-1) after project pb's calls mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("consume", func(t *testing.T) {
			addToken(t, s, newToken("pa", "tok-c", "carol", t0+1))
			addToken(t, s, newToken("pa", "tok-c-now", "carol", t0))
			addToken(t, s, newToken("pa", "tok-c-past", "carol", t0-1))
			tests := []struct {
				name, id string
				want     error
			}{
				{"expires at now", "tok-c-now", sqlstore.ErrNotFound},
				{"expired", "tok-c-past", sqlstore.ErrNotFound},
				{"unconsumed", "tok-c", nil},
				{"consumed", "tok-c", sqlstore.ErrNotFound},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					checkErr(t, fmt.Sprintf("ConsumeConnectToken(%s, now)", tt.id), s.ConsumeConnectToken(ctx, tt.id, t0), tt.want)
				})
			}
			for _, tt := range []struct {
				id   string
				want *int64
			}{{"tok-c", ptr(t0)}, {"tok-c-now", nil}, {"tok-c-past", nil}} {
				got, err := s.ConnectToken(ctx, "pa", tt.id)
				mustNil(t, "ConnectToken(pa, "+tt.id+")", err)
				if diff := cmp.Diff(tt.want, got.ConsumedAt); diff != "" {
					t.Errorf("ConnectToken(pa, %s).ConsumedAt mismatch (-want +got):\n%s", tt.id, diff)
				}
			}
		})

		t.Run("delete", func(t *testing.T) {
			addToken(t, s, newToken("pa", "tok-d", "dave", t0+60_000))
			mustNil(t, "DeleteConnectToken(pa, tok-d)", s.DeleteConnectToken(ctx, "pa", "tok-d"))
			_, err := s.ConnectToken(ctx, "pa", "tok-d")
			checkErr(t, "ConnectToken(pa, tok-d) after DeleteConnectToken", err, sqlstore.ErrNotFound)
			checkErr(t, "DeleteConnectToken(pa, tok-d) again", s.DeleteConnectToken(ctx, "pa", "tok-d"), sqlstore.ErrNotFound)
		})

		t.Run("rename and delete unconsumed", func(t *testing.T) {
			for _, tk := range []sqlstore.ConnectToken{
				newToken("pa", "tok-e1", "erin", t0+60_000), newToken("pa", "tok-e2", "erin", t0-1), // expired, still unconsumed
				newToken("pa", "tok-e-used", "erin", t0+60_000), newToken("pa", "tok-f", "frank", t0+60_000),
				newToken("pb", "tok-e-b", "erin", t0+60_000),
			} {
				addToken(t, s, tk)
			}
			mustNil(t, "ConsumeConnectToken(tok-e-used)", s.ConsumeConnectToken(ctx, "tok-e-used", t0))
			mustNil(t, "RenameTokenIdentifier(pa, erin, erin2)", s.RenameTokenIdentifier(ctx, "pa", "erin", "erin2"))
			identifiers := map[string]string{}
			for _, id := range []string{"tok-e1", "tok-e2", "tok-e-used", "tok-f"} {
				got, err := s.ConnectToken(ctx, "pa", id)
				mustNil(t, "ConnectToken(pa, "+id+")", err)
				identifiers[id] = got.Identifier
			}
			got, err := s.ConnectToken(ctx, "pb", "tok-e-b")
			mustNil(t, "ConnectToken(pb, tok-e-b)", err)
			identifiers["tok-e-b"] = got.Identifier
			want := map[string]string{"tok-e1": "erin2", "tok-e2": "erin2", "tok-e-used": "erin", "tok-f": "frank", "tok-e-b": "erin"}
			if diff := cmp.Diff(want, identifiers); diff != "" {
				t.Errorf("identifiers after RenameTokenIdentifier(pa, erin, erin2) mismatch (-want +got):\n%s", diff)
			}

			before := rowCount(t, s, "connect_tokens")
			ids, err := s.DeleteUnconsumedTokens(ctx, "pa", "erin2")
			mustNil(t, "DeleteUnconsumedTokens(pa, erin2)", err)
			slices.Sort(ids)
			if diff := cmp.Diff([]string{"tok-e1", "tok-e2"}, ids); diff != "" {
				t.Errorf("DeleteUnconsumedTokens(pa, erin2) mismatch (-want +got):\n%s", diff)
			}
			if got := rowCount(t, s, "connect_tokens"); got != before-2 {
				t.Errorf("CountRows(connect_tokens) after DeleteUnconsumedTokens = %d, want %d", got, before-2)
			}
			ids, err = s.DeleteUnconsumedTokens(ctx, "pa", "erin")
			if err != nil || len(ids) != 0 {
				t.Errorf("DeleteUnconsumedTokens(pa, erin): only a consumed token left = %v, %v, want none, nil", ids, err)
			}
			for _, id := range []string{"tok-e-used", "tok-f"} {
				if _, err := s.ConnectToken(ctx, "pa", id); err != nil {
					t.Errorf("ConnectToken(pa, %s) after DeleteUnconsumedTokens = %v, want it kept", id, err)
				}
			}
		})
	})
}

func TestVerifiedTokens(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		addProject(t, s, "pa")
		addProject(t, s, "pb")
		v := sqlstore.VerifiedToken{ProjectID: "pa", JTI: "jti-1", VerifiedAt: t0, ExpiresAt: t0 + 60_000}
		mustNil(t, "InsertVerifiedToken(pa, jti-1)", s.InsertVerifiedToken(ctx, v))
		again := v
		again.VerifiedAt++
		checkErr(t, "InsertVerifiedToken(pa, jti-1) again", s.InsertVerifiedToken(ctx, again), sqlstore.ErrAlreadyExists)
		other := v
		other.ProjectID = "pb"
		checkErr(t, "InsertVerifiedToken(pb, jti-1)", s.InsertVerifiedToken(ctx, other), nil)
		// verified_tokens has no reader but DumpTable.
		got, err := s.DumpTable(ctx, "verified_tokens")
		mustNil(t, "DumpTable(verified_tokens)", err)
		want := "[pa jti-1 1700000000000 1700000060000]\n[pb jti-1 1700000000000 1700000060000]\n"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DumpTable(verified_tokens) mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestDeleteExpired(t *testing.T) {
	for _, d := range sqlstoretest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			// fill adds to every expiring table of project expired rows that expired before now, and
			// three rows that expire at now or later, their keys starting with prefix.
			fill := func(t *testing.T, s *sqlstore.Store, project, prefix string, expired int) {
				t.Helper()
				for i := range expired {
					id := fmt.Sprintf("%s-x%d", prefix, i)
					addCeremony(t, s, newCeremony(project, "cer-"+id, t0-120_000, t0-1-int64(i)))
					addToken(t, s, newToken(project, "tok-"+id, "alice", t0-1-int64(i)))
					mustNil(t, "InsertVerifiedToken", s.InsertVerifiedToken(t.Context(), sqlstore.VerifiedToken{
						ProjectID: project, JTI: "jti-" + id, VerifiedAt: t0 - 120_000, ExpiresAt: t0 - 1 - int64(i)}))
				}
				for _, at := range []int64{t0, t0 + 1, t0 + 60_000} { // expiring at now or later: kept
					id := fmt.Sprintf("%s-at%d", prefix, at-t0)
					addCeremony(t, s, newCeremony(project, "cer-"+id, t0-120_000, at))
					addToken(t, s, newToken(project, "tok-"+id, "alice", at))
					mustNil(t, "InsertVerifiedToken", s.InsertVerifiedToken(t.Context(), sqlstore.VerifiedToken{
						ProjectID: project, JTI: "jti-" + id, VerifiedAt: t0 - 120_000, ExpiresAt: at}))
				}
			}
			expiring := []string{"ceremonies", "connect_tokens", "verified_tokens"}

			t.Run("removes only expired rows", func(t *testing.T) {
				ctx := t.Context()
				s := newStore(t, d)
				addProject(t, s, "pa")
				addProject(t, s, "pb")
				fill(t, s, "pa", "a", 4)
				fill(t, s, "pb", "b", 2)
				mustNil(t, "ConsumeConnectToken(tok-a-at1)", s.ConsumeConnectToken(ctx, "tok-a-at1", t0))
				n, err := s.DeleteExpired(ctx, t0, 100)
				if err != nil || n != 3*6 {
					t.Errorf("DeleteExpired(now, 100) = %d, %v, want %d, nil", n, err, 3*6)
				}
				for _, table := range expiring {
					if got := rowCount(t, s, table); got != 6 {
						t.Errorf("CountRows(%s) after DeleteExpired = %d, want the 6 unexpired rows", table, got)
					}
				}
				if _, err := s.Ceremony(ctx, "pa", "cer-a-at0", "login"); err != nil {
					t.Errorf("Ceremony(cer-a-at0): expiring at now = %v, want it kept", err)
				}
				if n, err := s.DeleteExpired(ctx, t0, 100); err != nil || n != 0 {
					t.Errorf("DeleteExpired(now, 100) again = %d, %v, want 0, nil", n, err)
				}
			})

			t.Run("at most limit per table per call", func(t *testing.T) {
				ctx := t.Context()
				s := newStore(t, d)
				addProject(t, s, "pa")
				const backlog, limit = 11, 4
				fill(t, s, "pa", "a", backlog)
				var calls, total int64
				for {
					n, err := s.DeleteExpired(ctx, t0, limit)
					mustNil(t, fmt.Sprintf("DeleteExpired(now, %d)", limit), err)
					if want := 3 * min(limit, backlog-calls*limit); n != max(want, 0) {
						t.Errorf("DeleteExpired(now, %d) call %d = %d, want %d", limit, calls+1, n, max(want, 0))
					}
					total += n
					calls++
					if n == 0 || calls > backlog {
						break
					}
				}
				if total != 3*backlog {
					t.Errorf("DeleteExpired(now, %d) removed %d rows in %d calls, want %d", limit, total, calls, 3*backlog)
				}
				for _, table := range expiring {
					if got := rowCount(t, s, table); got != 3 {
						t.Errorf("CountRows(%s) after emptying the backlog = %d, want the 3 unexpired rows", table, got)
					}
				}
			})

			t.Run("a jti expired in one project only", func(t *testing.T) {
				ctx := t.Context()
				s := newStore(t, d)
				addProject(t, s, "pa")
				addProject(t, s, "pb")
				for _, v := range []sqlstore.VerifiedToken{
					{ProjectID: "pa", JTI: "jti-same", VerifiedAt: t0 - 120_000, ExpiresAt: t0 - 1},
					{ProjectID: "pb", JTI: "jti-same", VerifiedAt: t0 - 1000, ExpiresAt: t0 + 60_000},
				} {
					mustNil(t, "InsertVerifiedToken("+v.ProjectID+", jti-same)", s.InsertVerifiedToken(ctx, v))
				}
				n, err := s.DeleteExpired(ctx, t0, 100)
				if err != nil || n != 1 {
					t.Errorf("DeleteExpired(now, 100) = %d, %v, want 1, nil", n, err)
				}
				// pb's jti is unexpired: it must still refuse a second verification.
				err = s.InsertVerifiedToken(ctx, sqlstore.VerifiedToken{ProjectID: "pb", JTI: "jti-same", VerifiedAt: t0, ExpiresAt: t0 + 60_000})
				checkErr(t, "InsertVerifiedToken(pb, jti-same) after DeleteExpired", err, sqlstore.ErrAlreadyExists)
			})
		})
	}
}
