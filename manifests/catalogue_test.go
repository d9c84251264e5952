package manifests

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuiltinCatalogue(t *testing.T) {
	cat := BuiltinCatalogue()
	type lookup struct {
		ID                   string
		AdminConsentRequired bool
		AdminConsentKnown    bool
		Found                bool
	}
	cases := map[string]struct {
		reason string
		get    func() (CatalogueEntry, bool)
		want   lookup
	}{
		"GraphScopeByName": {
			reason: "User.Read is a Graph scope that needs no admin consent",
			get:    func() (CatalogueEntry, bool) { return cat.Scope("Microsoft Graph", "User.Read") },
			want:   lookup{ID: "e1fe6dd8-ba31-4d61-89e7-88639da4683d", AdminConsentKnown: true, Found: true},
		},
		"GraphScopeByAppID": {
			reason: "a resource is found by appId as well as by name",
			get:    func() (CatalogueEntry, bool) { return cat.Scope(MicrosoftGraphAppID, "User.Read.All") },
			want:   lookup{ID: "a154be20-db9c-4678-8ab7-66f6cc099a59", AdminConsentRequired: true, AdminConsentKnown: true, Found: true},
		},
		"GraphRoleSameName": {
			reason: "User.Read.All is also a role, with its own id",
			get:    func() (CatalogueEntry, bool) { return cat.Role("microsoft graph", "User.Read.All") },
			want:   lookup{ID: "df021288-bdef-4463-88db-98f22de89214", AdminConsentRequired: true, AdminConsentKnown: true, Found: true},
		},
		"ExchangeRole": {
			reason: "SMTP.SendAsApp is an Exchange Online app role",
			get:    func() (CatalogueEntry, bool) { return cat.Role("Office 365 Exchange Online", "SMTP.SendAsApp") },
			want:   lookup{ID: "7146a1f0-8703-45b3-9eae-527a64c00995", AdminConsentRequired: true, AdminConsentKnown: true, Found: true},
		},
		"ExchangeScopeConsentUnknown": {
			reason: "the reference does not know whether Exchange Online scopes need admin consent",
			get:    func() (CatalogueEntry, bool) { return cat.Scope(ExchangeOnlineAppID, "SMTP.Send") },
			want:   lookup{ID: "76faac2a-0f20-42f1-928a-50de5b9dbe52", Found: true},
		},
		"ScopeIsNotRole": {
			reason: "Mail.Send.Shared exists only as a scope",
			get:    func() (CatalogueEntry, bool) { return cat.Role("Microsoft Graph", "Mail.Send.Shared") },
		},
		"CaseSensitiveValue": {
			reason: "permission values are case-sensitive",
			get:    func() (CatalogueEntry, bool) { return cat.Scope("Microsoft Graph", "mail.send") },
		},
		"UnknownAPI": {
			reason: "a custom API is not in the catalogue",
			get:    func() (CatalogueEntry, bool) { return cat.Scope("My API", "Things.Read") },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e, ok := tc.get()
			got := lookup{e.ID, e.AdminConsentRequired, e.AdminConsentKnown, ok}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestBuiltinCatalogueSkipsKnownBadIDs(t *testing.T) {
	bad := map[string]bool{"5df07973-7d5d-46ed-f847-aeb6baeafa96": true}
	graphOnly := map[string]bool{
		"258f6531-6087-4cc4-bb90-092c5fb3ed3f": true, // SMTP.Send
		"652390e4-393a-48de-9484-05f9b1212954": true, // IMAP.AccessAsUser.All
		"d7b7f2d9-0f45-4ea1-9d42-e50810c06991": true, // POP.AccessAsUser.All
	}
	for _, r := range BuiltinCatalogue().Resources() {
		for _, e := range append(append([]CatalogueEntry{}, r.Scopes...), r.Roles...) {
			if bad[e.ID] {
				t.Errorf("%s %s has the known-bad id %s", r.DisplayName, e.Value, e.ID)
			}
			if graphOnly[e.ID] && r.AppID != MicrosoftGraphAppID {
				t.Errorf("%s %s has the Graph-only id %s", r.DisplayName, e.Value, e.ID)
			}
		}
	}
}

func TestBuiltinCatalogueIsFresh(t *testing.T) {
	a := BuiltinCatalogue()
	a.Resources()[0].Scopes[0].ID = "changed"
	if b := BuiltinCatalogue(); b.Resources()[0].Scopes[0].ID == "changed" {
		t.Errorf("BuiltinCatalogue shares its data between callers")
	}
}
