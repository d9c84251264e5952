package simtenant

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/directoryobjects"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
)

func ownerIDs(t *testing.T, objs []models.DirectoryObjectable) []string {
	t.Helper()
	var out []string
	for _, o := range objs {
		out = append(out, deref(o.GetOdataType())+" "+deref(o.GetId()))
	}
	return out
}

func TestOwnersThroughSDK(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	app, sp := newAppWithSP(t, f, "Owned")
	jm, _ := f.tenant.UserID("jm@" + DefaultDomain)
	operator := f.tenant.operatorSP()
	ref := models.NewReferenceCreate()
	ref.SetOdataId(ptr("https://graph.microsoft.com/v1.0/directoryObjects/" + jm))

	apps := f.client.Applications().ByApplicationId(*app.GetId()).Owners()
	sps := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).Owners()
	cases := []struct {
		reason string
		list   func() ([]models.DirectoryObjectable, error)
		add    func() error
		remove func(id string) error
	}{
		{
			reason: "an application's owners",
			list: func() ([]models.DirectoryObjectable, error) {
				r, err := apps.Get(c, nil)
				if err != nil {
					return nil, err
				}
				return r.GetValue(), nil
			},
			add:    func() error { return apps.Ref().Post(c, ref, nil) },
			remove: func(id string) error { return apps.ByDirectoryObjectId(id).Ref().Delete(c, nil) },
		},
		{
			reason: "a service principal's owners",
			list: func() ([]models.DirectoryObjectable, error) {
				r, err := sps.Get(c, nil)
				if err != nil {
					return nil, err
				}
				return r.GetValue(), nil
			},
			add:    func() error { return sps.Ref().Post(c, ref, nil) },
			remove: func(id string) error { return sps.ByDirectoryObjectId(id).Ref().Delete(c, nil) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			got, err := tc.list()
			if err != nil {
				t.Fatalf("list owners: %v", err)
			}
			// The creator (an application signed in app-only) owns what it created.
			if diff := cmp.Diff([]string{"#microsoft.graph.servicePrincipal " + operator}, ownerIDs(t, got)); diff != "" {
				t.Errorf("owners after create (-want +got):\n%s", diff)
			}
			if err := tc.add(); err != nil {
				t.Fatalf("add owner: %v", err)
			}
			if status, _, msg := odataError(tc.add()); status != http.StatusBadRequest || msg != msgOwnerExists {
				t.Errorf("adding the owner again: %d %q, want 400 %q", status, msg, msgOwnerExists)
			}
			if err := tc.remove(operator); err != nil {
				t.Fatalf("remove owner: %v", err)
			}
			if status, code, _ := odataError(tc.remove(operator)); status != http.StatusNotFound || code != codeNotFound {
				t.Errorf("removing a non-owner: %d %s, want 404 %s", status, code, codeNotFound)
			}
			got, err = tc.list()
			if err != nil {
				t.Fatalf("list owners: %v", err)
			}
			if diff := cmp.Diff([]string{"#microsoft.graph.user " + jm}, ownerIDs(t, got)); diff != "" {
				t.Errorf("owners after the change (-want +got):\n%s", diff)
			}
			if u, ok := got[0].(models.Userable); !ok || deref(u.GetUserPrincipalName()) != "jm@"+DefaultDomain {
				t.Errorf("a user owner is not a user with its UPN: %T", got[0])
			}
		})
	}
}

func TestServicePrincipalPasswordsThroughSDK(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	app, sp := newAppWithSP(t, f, "Daemon")
	f.clock.Advance(time.Minute)
	body := serviceprincipals.NewItemAddPasswordPostRequestBody()
	pc := models.NewPasswordCredential()
	pc.SetDisplayName(ptr("sp secret"))
	body.SetPasswordCredential(pc)
	created, err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).AddPassword().Post(c, body, nil)
	if err != nil {
		t.Fatalf("addPassword on the service principal: %v", err)
	}
	if deref(created.GetSecretText()) == "" || created.GetKeyId() == nil || created.GetHint() != nil {
		t.Fatalf("addPassword answer: secret %t, keyId %v, hint %v; want a secret, a keyId and no hint (as recorded)",
			deref(created.GetSecretText()) != "", created.GetKeyId(), created.GetHint())
	}
	read, err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).Get(c, nil)
	if err != nil || len(read.GetPasswordCredentials()) != 1 || read.GetPasswordCredentials()[0].GetSecretText() != nil {
		t.Fatalf("the service principal's passwords after addPassword: %v (err %v); want one, without its secret", read.GetPasswordCredentials(), err)
	}
	// A service principal's password signs its application in.
	tid, _, _ := f.tenant.OperatorCredentials()
	if _, err := f.credential(tid, *app.GetAppId(), *created.GetSecretText()).GetToken(c, tokenOpts(f.srv.URL)); err != nil {
		t.Fatalf("sign in with the service principal's password: %v", err)
	}
	rm := serviceprincipals.NewItemRemovePasswordPostRequestBody()
	rm.SetKeyId(created.GetKeyId())
	if err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).RemovePassword().Post(c, rm, nil); err != nil {
		t.Fatalf("removePassword: %v", err)
	}
	if _, err := f.credential(tid, *app.GetAppId(), *created.GetSecretText()).GetToken(c, tokenOpts(f.srv.URL)); err == nil {
		t.Error("a removed password still signs in")
	}
}

func TestGetByIDsThroughSDK(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	jm, _ := f.tenant.UserID("jm@" + DefaultDomain)
	compta, _ := f.tenant.GroupID("Comptabilité")
	operator := f.tenant.operatorSP()
	unknown := "00000000-1111-2222-3333-444444444444"
	cases := []struct {
		reason string
		types  []string
		revoke string // a right taken from the operator first
		want   []string
		// limited are the ids answered with their type and id only.
		limited []string
	}{
		{reason: "every type, in the order asked, unknown ids left out",
			want: []string{"#microsoft.graph.user " + jm, "#microsoft.graph.group " + compta, "#microsoft.graph.servicePrincipal " + operator}},
		{reason: "only the types asked for", types: []string{"group", "servicePrincipal"},
			want: []string{"#microsoft.graph.group " + compta, "#microsoft.graph.servicePrincipal " + operator}},
		{reason: "an object the caller may not read comes with its type and id only", revoke: "Group.Read.All",
			want:    []string{"#microsoft.graph.user " + jm, "#microsoft.graph.group " + compta, "#microsoft.graph.servicePrincipal " + operator},
			limited: []string{compta}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			client := f.client
			if tc.revoke != "" {
				if err := f.tenant.RevokeOperatorRight(tc.revoke); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = f.tenant.GrantOperatorRight(tc.revoke) })
				tid, cid, secret := f.tenant.OperatorCredentials()
				client = f.clientFor(tid, cid, secret)
			}
			body := directoryobjects.NewGetByIdsPostRequestBody()
			body.SetIds([]string{jm, unknown, compta, operator})
			body.SetTypes(tc.types)
			resp, err := client.DirectoryObjects().GetByIds().PostAsGetByIdsPostResponse(c, body, nil)
			if err != nil {
				t.Fatalf("getByIds: %v", err)
			}
			if diff := cmp.Diff(tc.want, ownerIDs(t, resp.GetValue())); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			for _, o := range resp.GetValue() {
				g, isGroup := o.(models.Groupable)
				if isGroup && (g.GetDisplayName() == nil) != (len(tc.limited) > 0) {
					t.Errorf("group %s displayName %v, limited information expected: %v", deref(o.GetId()), g.GetDisplayName(), len(tc.limited) > 0)
				}
			}
		})
	}
}

func TestUserWithoutManagerThroughSDK(t *testing.T) {
	f := newFixture(t, Options{})
	_, err := f.client.Users().ByUserId("jojo@"+DefaultDomain).Manager().Get(ctx(t), nil)
	if status, code, _ := odataError(err); status != http.StatusNotFound || code != codeNotFound {
		t.Errorf("manager of a user without one: %d %s (%v), want 404 %s", status, code, err, codeNotFound)
	}
}

func TestDeletedItemsThroughSDK(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	app, sp := newAppWithSP(t, f, "Short-lived")
	if err := f.client.Applications().ByApplicationId(*app.GetId()).Delete(c, nil); err != nil {
		t.Fatalf("delete application: %v", err)
	}
	// The application and its service principal are gone from their collections…
	if _, err := f.client.Applications().ByApplicationId(*app.GetId()).Get(c, nil); !isNotFound(err) {
		t.Fatalf("get a deleted application: %v, want 404", err)
	}
	if _, err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).Get(c, nil); !isNotFound(err) {
		t.Fatalf("get the deleted application's service principal: %v, want 404", err)
	}
	// …and in the deleted items, typed, with deletedDateTime set.
	deletedApps, err := f.client.Directory().DeletedItems().GraphApplication().Get(c, nil)
	if err != nil || len(deletedApps.GetValue()) != 1 || deref(deletedApps.GetValue()[0].GetId()) != *app.GetId() || deletedApps.GetValue()[0].GetDeletedDateTime() == nil {
		t.Fatalf("deleted applications: %v (err %v), want the one deleted, dated", deletedApps, err)
	}
	deletedSPs, err := f.client.Directory().DeletedItems().GraphServicePrincipal().Get(c, nil)
	if err != nil || len(deletedSPs.GetValue()) != 1 {
		t.Fatalf("deleted service principals: %v (err %v), want one", deletedSPs, err)
	}
	item, err := f.client.Directory().DeletedItems().ByDirectoryObjectId(*app.GetId()).Get(c, nil)
	if _, isApp := item.(models.Applicationable); err != nil || !isApp {
		t.Fatalf("get the deleted item: %T (err %v), want an application", item, err)
	}

	// Restoring the application does not restore its service principal (documented).
	restored, err := f.client.Directory().DeletedItems().ByDirectoryObjectId(*app.GetId()).Restore().Post(c, nil)
	if _, isApp := restored.(models.Applicationable); err != nil || !isApp {
		t.Fatalf("restore the application: %T (err %v)", restored, err)
	}
	back, err := f.client.Applications().ByApplicationId(*app.GetId()).Get(c, nil)
	if err != nil || back.GetDeletedDateTime() != nil || deref(back.GetAppId()) != *app.GetAppId() {
		t.Fatalf("the restored application: %v (err %v)", back, err)
	}
	if _, err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).Get(c, nil); !isNotFound(err) {
		t.Fatalf("the service principal came back with its application: %v", err)
	}
	if _, err := f.client.Directory().DeletedItems().ByDirectoryObjectId(*sp.GetId()).Restore().Post(c, nil); err != nil {
		t.Fatalf("restore the service principal: %v", err)
	}
	if _, err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).Get(c, nil); err != nil {
		t.Fatalf("get the restored service principal: %v", err)
	}

	// Deleted for good: gone from the deleted items too.
	if err := f.client.Applications().ByApplicationId(*app.GetId()).Delete(c, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Directory().DeletedItems().ByDirectoryObjectId(*app.GetId()).Delete(c, nil); err != nil {
		t.Fatalf("delete for good: %v", err)
	}
	if _, err := f.client.Directory().DeletedItems().ByDirectoryObjectId(*app.GetId()).Get(c, nil); !isNotFound(err) {
		t.Fatalf("get an item deleted for good: %v, want 404", err)
	}

	// After 30 days the directory forgets a deleted object by itself. (A new client after
	// each jump: the old one's token has expired on the tenant's clock.)
	getLater := func(after time.Duration) error {
		f.clock.Advance(after)
		tid, cid, secret := f.tenant.OperatorCredentials()
		_, err := f.clientFor(tid, cid, secret).Directory().DeletedItems().ByDirectoryObjectId(*sp.GetId()).Get(c, nil)
		return err
	}
	if err := getLater(0); err != nil {
		t.Fatalf("the service principal deleted with the app: %v", err)
	}
	if err := getLater(deletedRetention - time.Minute); err != nil {
		t.Fatalf("a deleted item before 30 days: %v", err)
	}
	if err := getLater(2 * time.Minute); !isNotFound(err) {
		t.Fatalf("a deleted item after 30 days: %v, want 404", err)
	}
}

func isNotFound(err error) bool {
	status, code, _ := odataError(err)
	return status == http.StatusNotFound && code == codeNotFound
}

// rawCall sends one request with the operator's token and decodes a JSON answer.
func rawCall(t *testing.T, f *fixture, method, path, body string) (*http.Response, map[string]any) {
	t.Helper()
	tid, cid, secret := f.tenant.OperatorCredentials()
	tok, err := f.credential(tid, cid, secret).GetToken(ctx(t), tokenOpts(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d answer is not JSON (%s): %q", method, path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
	return resp, out
}

func TestUnknownRoutesAnswerGraphErrors(t *testing.T) {
	f := newFixture(t, Options{})
	cases := []struct {
		reason, method, path string
		status               int
	}{
		{"an unknown version segment", http.MethodGet, "/v2.0/me", http.StatusBadRequest},
		{"the root", http.MethodGet, "/", http.StatusBadRequest},
		{"an unknown collection", http.MethodGet, "/v1.0/devices", http.StatusBadRequest},
		{"a navigation the simulator does not serve", http.MethodGet, "/v1.0/applications(appId='" + operatorClientID + "')/extensionProperties", http.StatusBadRequest},
		{"a /beta route the simulator does not serve", http.MethodGet, "/beta/users", http.StatusBadRequest},
		{"a /beta write the simulator does not serve", http.MethodPost, "/beta/applications", http.StatusBadRequest},
		{"an identity platform path it does not serve", http.MethodGet, "/" + DefaultTenantID + "/oauth2/v2.0/authorize", http.StatusBadRequest},
		{"the token endpoint with the wrong method", http.MethodGet, "/" + DefaultTenantID + "/oauth2/v2.0/token", http.StatusBadRequest},
		{"the deleted items without a type", http.MethodGet, "/v1.0/directory/deletedItems", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			resp, body := rawCall(t, f, tc.method, tc.path, "")
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s: %d %s, want %d with JSON", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status)
			}
			if msg := checkErrorEnvelope(body); msg != "" {
				t.Errorf("%s %s: %s", tc.method, tc.path, msg)
			}
		})
	}
}

func TestBetaServesWhatToolsReadOnEveryRun(t *testing.T) {
	f := newFixture(t, Options{})
	app, sp := newAppWithSP(t, f, "Read from beta")
	resp, got := rawCall(t, f, http.MethodGet, "/beta/servicePrincipals/"+*sp.GetId()+"?$select=samlMetadataUrl", "")
	want := map[string]any{"@odata.context": f.srv.URL + "/beta/$metadata#servicePrincipals(samlMetadataUrl)/$entity", "samlMetadataUrl": nil}
	if diff := cmp.Diff(want, got); resp.StatusCode != http.StatusOK || diff != "" {
		t.Errorf("beta read of samlMetadataUrl: %d (-want +got):\n%s", resp.StatusCode, diff)
	}
	if resp, _ := rawCall(t, f, http.MethodGet, "/v1.0/servicePrincipals/"+*sp.GetId()+"?$select=samlMetadataUrl", ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("v1.0 read of the beta-only samlMetadataUrl: %d, want 400", resp.StatusCode)
	}
	if resp, _ := rawCall(t, f, http.MethodPatch, "/beta/applications/"+*app.GetId(), `{"oauth2RequirePostResponse":true}`); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("beta update of oauth2RequirePostResponse: %d, want 204", resp.StatusCode)
	}
	read, err := f.client.Applications().ByApplicationId(*app.GetId()).Get(ctx(t), nil)
	if err != nil || read.GetOauth2RequirePostResponse() == nil || !*read.GetOauth2RequirePostResponse() {
		t.Errorf("the v1.0 object after the beta update: %v (err %v)", read.GetOauth2RequirePostResponse(), err)
	}
	resp, got = rawCall(t, f, http.MethodGet, "/beta/applications/"+*app.GetId()+"?$select=oauth2RequirePostResponse", "")
	if resp.StatusCode != http.StatusOK || got["oauth2RequirePostResponse"] != true {
		t.Errorf("beta read of oauth2RequirePostResponse: %d %v", resp.StatusCode, got)
	}
}

func TestCloudMetadataPointsAtTheTenant(t *testing.T) {
	f := newFixture(t, Options{})
	resp, err := f.srv.Client().Get(f.srv.URL + "/metadata/endpoints?api-version=2022-09-01")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Name                     string `json:"name"`
		ResourceManager          string `json:"resourceManager"`
		MicrosoftGraphResourceID string `json:"microsoftGraphResourceId"`
		Graph                    string `json:"graph"`
		Authentication           struct {
			LoginEndpoint string   `json:"loginEndpoint"`
			Audiences     []string `json:"audiences"`
		} `json:"authentication"`
		Suffixes struct {
			KeyVaultDNS string `json:"keyVaultDns"`
		} `json:"suffixes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %d %v", resp.StatusCode, err)
	}
	base := f.srv.URL
	if doc.Name == "" || doc.ResourceManager != base+"/" || doc.MicrosoftGraphResourceID != base+"/" || doc.Graph != base+"/" ||
		doc.Authentication.LoginEndpoint != base || len(doc.Authentication.Audiences) == 0 || doc.Suffixes.KeyVaultDNS != "vault.azure.net" {
		t.Errorf("metadata does not point at the tenant (%s): %+v", base, doc)
	}
	// What a tool does next: a token from the advertised login endpoint for the advertised
	// Graph resource, then a Graph call with it.
	tid, cid, secret := f.tenant.OperatorCredentials()
	tok, err := f.credential(tid, cid, secret).GetToken(ctx(t), tokenOpts(strings.TrimSuffix(doc.MicrosoftGraphResourceID, "/")))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(doc.MicrosoftGraphResourceID, "/")+"/v1.0/servicePrincipals(appId='"+graphAppID+"')?$select=id", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	gr, err := f.srv.Client().Do(req)
	if err != nil || gr.StatusCode != http.StatusOK {
		t.Fatalf("Graph through the advertised endpoint: %v %v", gr, err)
	}
	gr.Body.Close()
}
