package simtenant

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithuniquename"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

func TestApplicationLifecycleThroughSDK(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)

	app := models.NewApplication()
	app.SetDisplayName(ptr("OpenFire"))
	app.SetSignInAudience(ptr("AzureADMultipleOrgs"))
	web := models.NewWebApplication()
	web.SetRedirectUris([]string{"https://mabase.openfire.fr/microsoft_outlook/confirm"})
	app.SetWeb(web)
	created, err := f.client.Applications().Post(c, app, nil)
	if err != nil {
		t.Fatalf("create application: %v", err)
	}
	if created.GetId() == nil || created.GetAppId() == nil || deref(created.GetPublisherDomain()) != DefaultDomain {
		t.Fatalf("created application lacks server-set fields: id=%v appId=%v", created.GetId(), created.GetAppId())
	}
	if got := created.GetWeb().GetImplicitGrantSettings().GetEnableIdTokenIssuance(); got == nil || *got {
		t.Errorf("implicit grant default = %v, want false", got)
	}

	// The backing store sends only the changed field; the rest must survive (partial merge).
	patch := models.NewApplication()
	patch.SetNotes(ptr("managed by provision"))
	if _, err := f.client.Applications().ByApplicationId(*created.GetId()).Patch(c, patch, nil); err != nil {
		t.Fatalf("patch application: %v", err)
	}
	byAppID, err := f.client.ApplicationsWithAppId(created.GetAppId()).Get(c, nil)
	if err != nil {
		t.Fatalf("get by appId: %v", err)
	}
	if diff := cmp.Diff([]string{"https://mabase.openfire.fr/microsoft_outlook/confirm"}, byAppID.GetWeb().GetRedirectUris()); diff != "" {
		t.Errorf("redirect URIs after partial PATCH (-want +got):\n%s", diff)
	}
	if deref(byAppID.GetNotes()) != "managed by provision" {
		t.Errorf("notes = %q", deref(byAppID.GetNotes()))
	}

	// $filter on appId finds it; a filter matching nothing is 200 with an empty list.
	list, err := f.client.Applications().Get(c, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{
			Filter: ptr("appId eq '" + *created.GetAppId() + "'"), Select: []string{"id", "appId", "displayName"}},
	})
	if err != nil {
		t.Fatalf("list by appId: %v", err)
	}
	if len(list.GetValue()) != 1 || deref(list.GetValue()[0].GetDisplayName()) != "OpenFire" {
		t.Fatalf("filter appId eq returned %d items", len(list.GetValue()))
	}
	none, err := f.client.Applications().Get(c, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: ptr("displayName eq 'nothing like this'")},
	})
	if err != nil || len(none.GetValue()) != 0 {
		t.Fatalf("empty filter: %v, %d items", err, len(none.GetValue()))
	}

	if err := f.client.Applications().ByApplicationId(*created.GetId()).Delete(c, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = f.client.Applications().ByApplicationId(*created.GetId()).Get(c, nil)
	if status, code, _ := odataError(err); status != http.StatusNotFound || code != codeNotFound {
		t.Errorf("get after delete: status %d code %q, want 404 %s", status, code, codeNotFound)
	}
}

func TestUpsertByUniqueName(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	body := func(name string) models.Applicationable {
		a := models.NewApplication()
		a.SetDisplayName(ptr(name))
		return a
	}
	prefer := func(set bool) *applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderPatchRequestConfiguration {
		cfg := &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderPatchRequestConfiguration{Headers: abstractions.NewRequestHeaders()}
		if set {
			cfg.Headers.Add("Prefer", "create-if-missing")
		}
		return cfg
	}
	_, err := f.client.ApplicationsWithUniqueName(ptr("openfire-mail")).Patch(c, body("OpenFire"), prefer(false))
	if status, _, _ := odataError(err); status != http.StatusNotFound {
		t.Fatalf("upsert without Prefer: status %d (%v), want 404", status, err)
	}
	created, err := f.client.ApplicationsWithUniqueName(ptr("openfire-mail")).Patch(c, body("OpenFire"), prefer(true))
	if err != nil || created == nil {
		t.Fatalf("upsert create: %v, %v", created, err)
	}
	if deref(created.GetUniqueName()) != "openfire-mail" {
		t.Errorf("uniqueName = %q", deref(created.GetUniqueName()))
	}
	again, err := f.client.ApplicationsWithUniqueName(ptr("openfire-mail")).Patch(c, body("OpenFire 2"), prefer(true))
	if err != nil || again != nil {
		t.Fatalf("upsert existing: want 204 (nil, nil), got %v, %v", again, err)
	}
	got, err := f.client.ApplicationsWithUniqueName(ptr("openfire-mail")).Get(c, nil)
	if err != nil || deref(got.GetDisplayName()) != "OpenFire 2" {
		t.Fatalf("get by uniqueName: %v %v", got, err)
	}
	rename := models.NewApplication()
	rename.SetUniqueName(ptr("other-name"))
	_, err = f.client.Applications().ByApplicationId(*got.GetId()).Patch(c, rename, nil)
	if status, _, msg := odataError(err); status != http.StatusBadRequest || !strings.Contains(msg, "uniqueName") {
		t.Errorf("changing uniqueName: status %d %q, want 400", status, msg)
	}
}

func TestPasswordCredentialsSecretReturnedOnce(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	a := models.NewApplication()
	a.SetDisplayName(ptr("Secretive"))
	app, err := f.client.Applications().Post(c, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := applications.NewItemAddPasswordPostRequestBody()
	pc := models.NewPasswordCredential()
	pc.SetDisplayName(ptr("OpenFire Mail"))
	req.SetPasswordCredential(pc)
	cred, err := f.client.Applications().ByApplicationId(*app.GetId()).AddPassword().Post(c, req, nil)
	if err != nil {
		t.Fatalf("addPassword: %v", err)
	}
	secret := deref(cred.GetSecretText())
	if len(secret) < 16 || deref(cred.GetHint()) != secret[:3] {
		t.Fatalf("secretText %d chars, hint %q", len(secret), deref(cred.GetHint()))
	}
	if got := cred.GetEndDateTime().Sub(*cred.GetStartDateTime()); got.Hours() < 365*24*2-48 {
		t.Errorf("default lifetime %v, want two years", got)
	}
	read, err := f.client.Applications().ByApplicationId(*app.GetId()).Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	pcs := read.GetPasswordCredentials()
	if len(pcs) != 1 || pcs[0].GetSecretText() != nil || deref(pcs[0].GetHint()) != secret[:3] {
		t.Fatalf("read-back credential must have no secretText but keep the hint: %+v", pcs)
	}
	var buf strings.Builder
	if err := f.tenant.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), secret) {
		t.Fatal("state file contains the secret")
	}

	// The new secret signs in, through the real azidentity credential.
	sp := models.NewServicePrincipal()
	sp.SetAppId(app.GetAppId())
	if _, err := f.client.ServicePrincipals().Post(c, sp, nil); err != nil {
		t.Fatal(err)
	}
	tok, err := f.credential(DefaultTenantID, *app.GetAppId(), secret).GetToken(c, tokenOpts(f.srv.URL))
	if err != nil || tok.Token == "" {
		t.Fatalf("sign in with the new secret: %v", err)
	}
	if _, err := f.credential(DefaultTenantID, *app.GetAppId(), "wrong").GetToken(c, tokenOpts(f.srv.URL)); err == nil {
		t.Fatal("a wrong secret signed in")
	}

	rm := applications.NewItemRemovePasswordPostRequestBody()
	rm.SetKeyId(cred.GetKeyId())
	if err := f.client.Applications().ByApplicationId(*app.GetId()).RemovePassword().Post(c, rm, nil); err != nil {
		t.Fatalf("removePassword: %v", err)
	}
	err = f.client.Applications().ByApplicationId(*app.GetId()).RemovePassword().Post(c, rm, nil)
	if _, _, msg := odataError(err); !strings.Contains(msg, "No password credential found with keyId") {
		t.Errorf("removing an unknown keyId: %v", err)
	}
}

func TestPagingWithPageIterator(t *testing.T) {
	f := newFixture(t, Options{PageSize: 2})
	c := ctx(t)
	for _, name := range []string{"a1", "a2", "a3", "a4", "a5"} {
		a := models.NewApplication()
		a.SetDisplayName(ptr(name))
		if _, err := f.client.Applications().Post(c, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	f.tenant.ResetStats()
	resp, err := f.client.Applications().Get(c, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{
			Select: []string{"id", "displayName"}, Top: ptr(int32(999)), Filter: ptr("startswith(displayName,'a')")},
	})
	if err != nil {
		t.Fatal(err)
	}
	it, err := msgraphcore.NewPageIterator[models.Applicationable](resp, f.client.GetAdapter(), models.CreateApplicationCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := it.Iterate(c, func(a models.Applicationable) bool {
		names = append(names, deref(a.GetDisplayName()))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a1", "a2", "a3", "a4", "a5"}, names); diff != "" {
		t.Errorf("paged names (-want +got):\n%s", diff)
	}
	if got := f.tenant.Stats().ByRoute["GET /v1.0/applications"]; got != 3 {
		t.Errorf("pages fetched = %d, want 3", got)
	}
}
