package broker_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/broker"
	"github.com/latchkey/latchkey/broker/aaguids"
	"github.com/latchkey/latchkey/signeddata"
)

// record is what a login tells an app about the passkey, in signedPasskeyData and in the
// details of its passkey.used event.
type record struct {
	BackupEligible, BackedUp bool
	Attachment               string
	CrossDevice              bool
	AAGUID, ProviderName     string
}

func recordOfClaims(c signeddata.Claims) record {
	return record{c.BackupEligible, c.BackedUp, c.AuthenticatorAttachment, c.CrossDevice, c.AAGUID, c.ProviderName}
}

func recordOfEvent(t *testing.T, ev broker.Event) record {
	t.Helper()
	var r struct {
		BackupEligible          *bool   `json:"backupEligible"`
		BackedUp                *bool   `json:"backedUp"`
		AuthenticatorAttachment *string `json:"authenticatorAttachment"`
		CrossDevice             *bool   `json:"crossDevice"`
		AAGUID                  *string `json:"aaguid"`
		ProviderName            *string `json:"providerName"`
	}
	if err := json.Unmarshal(mustJSON(t, ev.Details), &r); err != nil {
		t.Fatal(err)
	}
	if r.BackupEligible == nil || r.BackedUp == nil || r.AuthenticatorAttachment == nil || r.CrossDevice == nil || r.AAGUID == nil || r.ProviderName == nil {
		t.Fatalf("passkey.used details = %v, want backupEligible, backedUp, authenticatorAttachment, crossDevice, aaguid and providerName", ev.Details)
	}
	return record{*r.BackupEligible, *r.BackedUp, *r.AuthenticatorAttachment, *r.CrossDevice, *r.AAGUID, *r.ProviderName}
}

// TestLoginRecords checks that a login's signedPasskeyData and its passkey.used event say
// whether the passkey is synced, how the client attached it, whether the login came from
// another device over hybrid, and which provider made the passkey.
func TestLoginRecords(t *testing.T) {
	const (
		gpm     = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4" // Google Password Manager
		yubikey = "cb69481e-8ff7-4039-93ec-0a2729a154a8" // YubiKey 5 Series
		unknown = "0badc0de-0000-4000-8000-000000000001"
	)
	tests := []struct {
		name           string
		be, bs         bool
		aaguid         string
		attachment     string   // what the client reports ("": platform)
		transports     []string // what registration reports (nil: internal and hybrid)
		omitAttachment bool     // the client reports no authenticatorAttachment
		want           record
	}{
		{name: "synced passkey on this device", be: true, bs: true, aaguid: gpm,
			want: record{BackupEligible: true, BackedUp: true, Attachment: "platform", AAGUID: gpm, ProviderName: "Google Password Manager"}},
		{name: "synced passkey from a phone over hybrid", be: true, bs: true, aaguid: gpm, attachment: "cross-platform",
			want: record{BackupEligible: true, BackedUp: true, Attachment: "cross-platform", CrossDevice: true, AAGUID: gpm, ProviderName: "Google Password Manager"}},
		{name: "device-bound security key", aaguid: yubikey, attachment: "cross-platform", transports: []string{"nfc", "usb"},
			want: record{Attachment: "cross-platform", AAGUID: yubikey, ProviderName: "YubiKey 5 Series"}},
		{name: "eligible but not backed up, unknown provider", be: true, aaguid: unknown, attachment: "platform",
			want: record{BackupEligible: true, Attachment: "platform", AAGUID: unknown}},
		{name: "no attachment reported", be: true, bs: true, aaguid: gpm, omitAttachment: true,
			want: record{BackupEligible: true, BackedUp: true, AAGUID: gpm, ProviderName: "Google Password Manager"}},
	}
	forDialects(t, func(t *testing.T, e *env) {
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				a := newAuthenticator()
				a.BackupEligible, a.BackedUp, a.Attachment, a.Transports = tc.be, tc.bs, tc.attachment, tc.transports
				id := uuid.MustParse(tc.aaguid)
				a.AAGUID = id[:]
				identifier := "user" + string(rune('a'+i))
				pk := e.register(t, a, identifier)
				if pk.ProviderName != tc.want.ProviderName {
					t.Errorf("FinishAppend() providerName = %q, want %q", pk.ProviderName, tc.want.ProviderName)
				}

				start := e.startLogin(t, broker.LoginRequest{Identifier: identifier})
				cred := get(t, a, start)
				if tc.omitAttachment {
					var m map[string]any
					if err := json.Unmarshal(cred, &m); err != nil {
						t.Fatal(err)
					}
					delete(m, "authenticatorAttachment")
					cred = mustJSON(t, m)
				}
				res, err := e.Broker.FinishLogin(e.ctx, e.pid, start.CeremonyID, cred)
				if err != nil {
					t.Fatalf("FinishLogin() = %v", err)
				}
				c := e.claims(t, res.SignedPasskeyData)
				if diff := cmp.Diff(tc.want, recordOfClaims(c)); diff != "" {
					t.Errorf("signedPasskeyData claims (-want +got):\n%s", diff)
				}
				if c.Credential != pk.ID || c.Username != identifier || !c.UV {
					t.Errorf("signedPasskeyData credential, username, uv = %q, %q, %v; want %q, %q, true", c.Credential, c.Username, c.UV, pk.ID, identifier)
				}

				used := e.events(t, broker.EventQuery{Type: broker.EventPasskeyUsed})
				if len(used) == 0 || used[len(used)-1].CredentialID != pk.ID {
					t.Fatalf("passkey.used events = %v, want the last for %s", used, pk.ID)
				}
				if diff := cmp.Diff(tc.want, recordOfEvent(t, used[len(used)-1])); diff != "" {
					t.Errorf("passkey.used details (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestProviderNamesFromConfig checks that a broker names providers from Config.Providers
// when it has them, instead of the embedded data.
func TestProviderNamesFromConfig(t *testing.T) {
	forDialects(t, func(t *testing.T, e *env) {
		const gpm = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"
		names, err := aaguids.Parse([]byte(`{"` + gpm + `": "Renamed Password Manager"}`))
		if err != nil {
			t.Fatal(err)
		}
		e.Broker = e.NewBroker(t, broker.Config{Providers: names, Now: e.clock.Now})
		a := newAuthenticator()
		id := uuid.MustParse(gpm)
		a.AAGUID = id[:]
		pk := e.register(t, a, "alice")
		if pk.ProviderName != "Renamed Password Manager" || pk.Label != "Renamed Password Manager" {
			t.Errorf("FinishAppend() providerName, label = %q, %q; want the configured name for both", pk.ProviderName, pk.Label)
		}
		c := e.claims(t, e.login(t, a, broker.LoginRequest{Identifier: "alice"}).SignedPasskeyData)
		if c.ProviderName != "Renamed Password Manager" {
			t.Errorf("signedPasskeyData providerName = %q, want %q", c.ProviderName, "Renamed Password Manager")
		}
	})
}
