package provision_test

import (
	"context"
	"strings"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"

	"github.com/provisionhq/provision/manifests"
)

// openfireIDs are the ids of what applying openfire.yaml made, read back through the SDK.
type openfireIDs struct {
	appObjectID, spID, grantID, exoSPID, assignmentID string
}

// imapAccessAsApp is the IMAP.AccessAsApp app role of Office 365 Exchange Online.
const imapAccessAsApp = "5e5addcd-3e8d-4e90-baf5-964efab2b20a"

func (f *fixture) observedIDs(t *testing.T, docs []*manifests.Document) openfireIDs {
	t.Helper()
	ctx := context.Background()
	client := f.engine.Graph.Graph
	unique := docs[0].Application.UniqueName
	app, err := client.ApplicationsWithUniqueName(&unique).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids openfireIDs
	ids.appObjectID = *app.GetId()
	sp, err := client.ServicePrincipalsWithAppId(app.GetAppId()).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids.spID = *sp.GetId()
	exo := manifests.ExchangeOnlineAppID
	exoSP, err := client.ServicePrincipalsWithAppId(&exo).Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids.exoSPID = *exoSP.GetId()
	filter := "clientId eq '" + ids.spID + "'"
	grants, err := client.Oauth2PermissionGrants().Get(ctx, &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
		QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &filter}})
	if err != nil {
		t.Fatal(err)
	}
	// Two tenant-wide grants: Microsoft Graph's and Exchange Online's delegated scopes.
	for _, g := range grants.GetValue() {
		if !strings.EqualFold(*g.GetResourceId(), ids.exoSPID) {
			ids.grantID = *g.GetId()
		}
	}
	if n := len(grants.GetValue()); n != 2 || ids.grantID == "" {
		t.Fatalf("grants of the OpenFire service principal: %d, want Graph's and Exchange Online's", n)
	}
	assignments, err := client.ServicePrincipals().ByServicePrincipalId(ids.spID).AppRoleAssignments().Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range assignments.GetValue() {
		if a.GetAppRoleId().String() == imapAccessAsApp {
			ids.assignmentID = *a.GetId()
		}
	}
	if ids.assignmentID == "" {
		t.Fatal("no IMAP.AccessAsApp assignment after apply")
	}
	return ids
}

func newApplication() models.Applicationable { return models.NewApplication() }

func newGrant(scope string) models.OAuth2PermissionGrantable {
	g := models.NewOAuth2PermissionGrant()
	g.SetScope(&scope)
	return g
}

func appsNamed(filter string) *applications.ApplicationsRequestBuilderGetRequestConfiguration {
	return &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &filter}}
}

// webRedirects is a fresh web platform (the SDK's backing store sends only values set on the
// object itself, so one read from Graph and modified would not be sent).
func webRedirects(uris ...string) models.WebApplicationable {
	w := models.NewWebApplication()
	w.SetRedirectUris(uris)
	return w
}
