package simtenant

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// newAppWithSP creates an application and its service principal through the SDK.
func newAppWithSP(t *testing.T, f *fixture, name string) (models.Applicationable, models.ServicePrincipalable) {
	t.Helper()
	c := ctx(t)
	a := models.NewApplication()
	a.SetDisplayName(ptr(name))
	app, err := f.client.Applications().Post(c, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := models.NewServicePrincipal()
	s.SetAppId(app.GetAppId())
	sp, err := f.client.ServicePrincipals().Post(c, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return app, sp
}

func TestServicePrincipalCreateRules(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	s := models.NewServicePrincipal()
	s.SetAppId(ptr(uuid.NewString()))
	_, err := f.client.ServicePrincipals().Post(c, s, nil)
	if status, code, msg := odataError(err); status != http.StatusBadRequest || code != codeBadRequest ||
		!strings.Contains(msg, "does not reference a valid application object") {
		t.Errorf("SP for unknown appId: %d %s %q", status, code, msg)
	}
	app, sp := newAppWithSP(t, f, "Dup")
	s.SetAppId(app.GetAppId())
	_, err = f.client.ServicePrincipals().Post(c, s, nil)
	if status, code, _ := odataError(err); status != http.StatusConflict || code != codeDuplicate {
		t.Errorf("duplicate SP: %d %s", status, code)
	}
	got, err := f.client.ServicePrincipalsWithAppId(app.GetAppId()).Get(c, nil)
	if err != nil || deref(got.GetId()) != deref(sp.GetId()) {
		t.Fatalf("servicePrincipals(appId=): %v %v", got, err)
	}
	// Deleting the application removes its SP.
	if err := f.client.Applications().ByApplicationId(*app.GetId()).Delete(c, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).Get(c, nil); err == nil {
		t.Error("SP survived its application")
	}
}

func TestDelegatedGrants(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	_, sp := newAppWithSP(t, f, "Granted")
	graph, err := f.client.ServicePrincipalsWithAppId(ptr(graphAppID)).Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := models.NewOAuth2PermissionGrant()
	g.SetClientId(sp.GetId())
	g.SetResourceId(graph.GetId())
	g.SetConsentType(ptr("AllPrincipals"))
	g.SetScope(ptr("User.Read Mail.Send"))
	created, err := f.client.Oauth2PermissionGrants().Post(c, g, nil)
	if err != nil {
		t.Fatalf("create grant: %v", err)
	}
	if want := grantID(*sp.GetId(), *graph.GetId(), ""); deref(created.GetId()) != want {
		t.Errorf("grant id %q, want deterministic %q", deref(created.GetId()), want)
	}
	_, err = f.client.Oauth2PermissionGrants().Post(c, g, nil)
	if status, code, msg := odataError(err); status != http.StatusConflict || code != codeDuplicate || msg != msgDuplicateGrant {
		t.Errorf("duplicate grant: %d %s %q", status, code, msg)
	}
	upd := models.NewOAuth2PermissionGrant()
	upd.SetScope(ptr("User.Read"))
	if _, err := f.client.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(*created.GetId()).Patch(c, upd, nil); err != nil {
		t.Fatalf("patch scope: %v", err)
	}
	list, err := f.client.Oauth2PermissionGrants().Get(c, &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
		QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{
			Filter: ptr("clientId eq '" + *sp.GetId() + "' and consentType eq 'AllPrincipals'")},
	})
	if err != nil || len(list.GetValue()) != 1 || deref(list.GetValue()[0].GetScope()) != "User.Read" {
		t.Fatalf("list by clientId: %v %v", list, err)
	}
	nav, err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).Oauth2PermissionGrants().Get(c, nil)
	if err != nil || len(nav.GetValue()) != 1 {
		t.Fatalf("SP grants navigation: %v", err)
	}
	if err := f.client.Oauth2PermissionGrants().ByOAuth2PermissionGrantId(*created.GetId()).Delete(c, nil); err != nil {
		t.Fatalf("delete grant: %v", err)
	}
}

func TestAppRoleAssignments(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	_, sp := newAppWithSP(t, f, "Roles")
	exo, err := f.client.ServicePrincipalsWithAppId(ptr(exchangeAppID)).Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	assign := func(resource models.ServicePrincipalable, principal, role string) (models.AppRoleAssignmentable, error) {
		a := models.NewAppRoleAssignment()
		a.SetPrincipalId(ptr(uuid.MustParse(principal)))
		a.SetResourceId(ptr(uuid.MustParse(*resource.GetId())))
		a.SetAppRoleId(ptr(uuid.MustParse(role)))
		return f.client.ServicePrincipals().ByServicePrincipalId(*resource.GetId()).AppRoleAssignedTo().Post(c, a, nil)
	}
	const imap = "5e5addcd-3e8d-4e90-baf5-964efab2b20a"
	created, err := assign(exo, *sp.GetId(), imap)
	if err != nil {
		t.Fatalf("grant IMAP.AccessAsApp: %v", err)
	}
	if deref(created.GetPrincipalType()) != "ServicePrincipal" || deref(created.GetResourceDisplayName()) != "Office 365 Exchange Online" ||
		len(deref(created.GetId())) != 43 {
		t.Errorf("server-filled fields: type %q resource %q id %q", deref(created.GetPrincipalType()), deref(created.GetResourceDisplayName()), deref(created.GetId()))
	}
	tests := []struct {
		reason    string
		resource  models.ServicePrincipalable
		principal string
		role      string
		status    int
		message   string
	}{
		{"duplicate", exo, *sp.GetId(), imap, 400, msgDuplicateRole},
		{"unknown role", exo, *sp.GetId(), uuid.NewString(), 400, "Permission being assigned was not found"},
		{"unknown principal", exo, uuid.NewString(), imap, 404, "does not exist"},
		{"default access where the resource declares application roles only is fine for a user", sp, mustUser(t, f, "jm@"+DefaultDomain), defaultAccessRole, 201, ""},
		{"default access twice", sp, mustUser(t, f, "jm@"+DefaultDomain), defaultAccessRole, 400, msgDuplicateRole},
	}
	for _, tt := range tests {
		_, err := assign(tt.resource, tt.principal, tt.role)
		status, _, msg := odataError(err)
		if err == nil {
			status = 201
		}
		if status != tt.status || !strings.Contains(msg, tt.message) {
			t.Errorf("%s: got %d %q, want %d %q", tt.reason, status, msg, tt.status, tt.message)
		}
	}
	list, err := f.client.ServicePrincipals().ByServicePrincipalId(*exo.GetId()).AppRoleAssignedTo().Get(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, a := range list.GetValue() {
		found = found || deref(a.GetId()) == deref(created.GetId())
	}
	if !found {
		t.Error("appRoleAssignedTo list misses the new assignment")
	}
	held, err := f.client.ServicePrincipals().ByServicePrincipalId(*sp.GetId()).AppRoleAssignments().Get(c, nil)
	if err != nil || len(held.GetValue()) != 1 {
		t.Fatalf("appRoleAssignments of the client: %v", err)
	}
	if err := f.client.ServicePrincipals().ByServicePrincipalId(*exo.GetId()).AppRoleAssignedTo().ByAppRoleAssignmentId(*created.GetId()).Delete(c, nil); err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

func mustUser(t *testing.T, f *fixture, upn string) string {
	id, ok := f.tenant.UserID(upn)
	if !ok {
		t.Fatalf("no seeded user %s", upn)
	}
	return id
}

func TestUsersAndGroups(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	u, err := f.client.Users().ByUserId("jm@"+DefaultDomain).Get(c, nil)
	if err != nil || deref(u.GetDisplayName()) != "Jean-Michel MARTIN" {
		t.Fatalf("user by UPN: %v %v", u, err)
	}
	if u.GetAccountEnabled() != nil {
		t.Error("accountEnabled returned without $select (not in the default set)")
	}
	list, err := f.client.Users().Get(c, &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
		Filter: ptr("mail in ('jm@" + DefaultDomain + "', 'JOJO@" + DefaultDomain + "')"),
		Select: []string{"id", "mail", "accountEnabled"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var mails []string
	for _, v := range list.GetValue() {
		mails = append(mails, deref(v.GetMail()))
	}
	if diff := cmp.Diff([]string{"jm@" + DefaultDomain, "jojo@" + DefaultDomain}, mails); diff != "" {
		t.Errorf("mail in (...) (-want +got):\n%s", diff)
	}
	_, err = f.client.Users().Get(c, &users.UsersRequestBuilderGetRequestConfiguration{QueryParameters: &users.UsersRequestBuilderGetQueryParameters{
		Filter: ptr("endsWith(mail,'openfire.pro')")}})
	if status, code, _ := odataError(err); status != 400 || code != codeUnsupportedQuery {
		t.Errorf("endsWith without advanced query: %d %s", status, code)
	}
	if status, _, body := f.raw("GET", "/v1.0/users('jojo@"+DefaultDomain+"')", nil, nil); status != 200 || body["displayName"] != "Josiane Martin" {
		t.Errorf("users('upn') form: %d %v", status, body["displayName"])
	}
	if status, _, body := f.raw("GET", "/v1.0/groups?$filter=mailEnabled%20eq%20true%20and%20securityEnabled%20eq%20true&$select=mail", nil, nil); status != 200 ||
		len(asList(body["value"])) != 1 || asMap(asList(body["value"])[0])["mail"] != "compta@"+DefaultDomain {
		t.Errorf("mail-enabled security groups: %d %v", status, body)
	}
	groups, err := f.client.Groups().Get(c, nil)
	if err != nil || len(groups.GetValue()) != 2 {
		t.Fatalf("groups: %v", err)
	}
	if err := f.tenant.RevokeOperatorRight("Group.Read.All"); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.Groups().Get(c, nil)
	if status, code, msg := odataError(err); status != 403 || code != codeDenied || msg != msgDenied {
		t.Errorf("groups without Group.Read.All: %d %s %q", status, code, msg)
	}
}
