package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithappid"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
)

// Query says which application to export and which mailboxes' Send-As to include.
type Query struct {
	// AppID is the application's client id; when empty, Name is its display name, which must
	// name exactly one application.
	AppID string
	Name  string
	// Mailboxes are the mailboxes (UPN or address) whose Send-As trustees are exported.
	Mailboxes []string
}

// ErrNotFound reports that no application matches the query.
var ErrNotFound = errors.New("no such application")

// Read reads everything the manifest of one application is made of: the registration, its
// service principal, the resource APIs it requests permissions from (to turn ids into names),
// its consent, the users and groups assigned to it, and, through exc, the Send-As trustees
// of q.Mailboxes. It only reads. exc may be nil when q names no mailbox.
func Read(ctx context.Context, c *graph.Client, exc *exchange.Client, q Query) (*Snapshot, error) {
	app, err := findApp(ctx, c, q)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{App: *app, Principals: map[string]provision.DirectoryObject{}}
	if s.ServicePrincipal, err = readServicePrincipal(ctx, c, app.AppID); err != nil {
		return nil, err
	}
	if sp := s.ServicePrincipal; sp != nil {
		if s.Grants, err = readGrants(ctx, c, sp.ID); err != nil {
			return nil, err
		}
		if s.AppRoleAssignments, err = readAppRoleAssignments(ctx, c, sp.ID); err != nil {
			return nil, err
		}
		if s.AssignedTo, err = readAssignedTo(ctx, c, sp.ID); err != nil {
			return nil, err
		}
	}
	if s.Resources, err = readResources(ctx, c, s); err != nil {
		return nil, err
	}
	if err := readPrincipals(ctx, c, s); err != nil {
		return nil, err
	}
	if len(q.Mailboxes) > 0 {
		if exc == nil {
			return nil, errors.New("read Send-As: no Exchange Online client")
		}
		for _, mb := range q.Mailboxes {
			got, err := readSendAs(ctx, exc, mb)
			if err != nil {
				return nil, err
			}
			s.SendAs = append(s.SendAs, got)
		}
	}
	return s, nil
}

func appFields() []string {
	return []string{"id", "appId", "displayName", "uniqueName", "signInAudience", "web", "spa", "publicClient",
		"requiredResourceAccess", "tags", "passwordCredentials"}
}

// findApp reads the registration by client id, or the one registration with the display name.
func findApp(ctx context.Context, c *graph.Client, q Query) (*provision.ObservedApp, error) {
	if q.AppID != "" {
		m, err := c.Graph.ApplicationsWithAppId(&q.AppID).Get(ctx, &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetQueryParameters{Select: appFields()}})
		if graph.IsNotFound(err) {
			return nil, fmt.Errorf("read application %s: %w with this appId", q.AppID, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read application %s: %w", q.AppID, graph.ExplainDenied(graph.Wrap(err), graph.OpFindApplication))
		}
		app := appFromModel(m)
		return &app, nil
	}
	filter := "displayName eq '" + strings.ReplaceAll(q.Name, "'", "''") + "'"
	page, err := c.Graph.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &filter, Select: appFields()}})
	if err != nil {
		return nil, fmt.Errorf("read applications named %q: %w", q.Name, graph.ExplainDenied(graph.Wrap(err), graph.OpFindApplication))
	}
	apps, err := all[models.Applicationable](ctx, c, page, models.CreateApplicationCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("read applications named %q: %w", q.Name, err)
	}
	switch len(apps) {
	case 0:
		return nil, fmt.Errorf("read application %q: %w with this display name", q.Name, ErrNotFound)
	case 1:
		app := appFromModel(apps[0])
		return &app, nil
	}
	ids := make([]string, len(apps))
	for i, a := range apps {
		ids[i] = str(a.GetAppId())
	}
	slices.Sort(ids)
	return nil, fmt.Errorf("read application %q: %d applications have this display name (appIds %s): export one with --app-id",
		q.Name, len(apps), strings.Join(ids, ", "))
}

func readServicePrincipal(ctx context.Context, c *graph.Client, appID string) (*provision.ObservedServicePrincipal, error) {
	m, err := c.Graph.ServicePrincipalsWithAppId(&appID).Get(ctx, &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{
			Select: []string{"id", "appId", "appRoleAssignmentRequired", "tags"}}})
	if graph.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read service principal of %s: %w", appID, graph.ExplainDenied(graph.Wrap(err), graph.OpReadServicePrincipals))
	}
	required := m.GetAppRoleAssignmentRequired() != nil && *m.GetAppRoleAssignmentRequired()
	return &provision.ObservedServicePrincipal{ID: str(m.GetId()), AppID: str(m.GetAppId()), AppRoleAssignmentRequired: required, Tags: m.GetTags()}, nil
}

func readGrants(ctx context.Context, c *graph.Client, spID string) ([]provision.Grant, error) {
	filter := "clientId eq '" + spID + "'"
	page, err := c.Graph.Oauth2PermissionGrants().Get(ctx, &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
		QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &filter}})
	if err != nil {
		return nil, fmt.Errorf("read permission grants: %w", graph.Wrap(err))
	}
	ms, err := all[models.OAuth2PermissionGrantable](ctx, c, page, models.CreateOAuth2PermissionGrantCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("read permission grants: %w", err)
	}
	out := make([]provision.Grant, len(ms))
	for i, m := range ms {
		out[i] = provision.Grant{ID: str(m.GetId()), ClientID: str(m.GetClientId()), ResourceID: str(m.GetResourceId()),
			ConsentType: str(m.GetConsentType()), PrincipalID: str(m.GetPrincipalId()), Scope: str(m.GetScope())}
	}
	return out, nil
}

func readAppRoleAssignments(ctx context.Context, c *graph.Client, spID string) ([]provision.AppRoleAssignment, error) {
	page, err := c.Graph.ServicePrincipals().ByServicePrincipalId(spID).AppRoleAssignments().Get(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read application permissions granted: %w", graph.Wrap(err))
	}
	ms, err := all[models.AppRoleAssignmentable](ctx, c, page, models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("read application permissions granted: %w", err)
	}
	out := make([]provision.AppRoleAssignment, len(ms))
	for i, m := range ms {
		out[i] = provision.AppRoleAssignment{ID: str(m.GetId()), AppRoleID: uuidStr(m.GetAppRoleId()), ResourceID: uuidStr(m.GetResourceId()),
			ResourceDisplayName: str(m.GetResourceDisplayName()), PrincipalID: uuidStr(m.GetPrincipalId())}
	}
	return out, nil
}

func readAssignedTo(ctx context.Context, c *graph.Client, spID string) ([]provision.Assignment, error) {
	top := int32(999)
	page, err := c.Graph.ServicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().Get(ctx,
		&serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{Top: &top}})
	if err != nil {
		return nil, fmt.Errorf("read users and groups assigned: %w", graph.Wrap(err))
	}
	ms, err := all[models.AppRoleAssignmentable](ctx, c, page, models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("read users and groups assigned: %w", err)
	}
	out := make([]provision.Assignment, len(ms))
	for i, m := range ms {
		out[i] = provision.Assignment{ID: str(m.GetId()), AppRoleID: uuidStr(m.GetAppRoleId()), PrincipalID: uuidStr(m.GetPrincipalId()),
			PrincipalType: str(m.GetPrincipalType()), PrincipalDisplayName: str(m.GetPrincipalDisplayName())}
	}
	return out, nil
}

// readResources reads the resource APIs the application requests permissions from (by appId)
// and those its consent names (by object id), each once.
func readResources(ctx context.Context, c *graph.Client, s *Snapshot) ([]provision.ResourceServicePrincipal, error) {
	fields := []string{"id", "appId", "displayName", "appRoles", "oauth2PermissionScopes"}
	var out []provision.ResourceServicePrincipal
	have := func(match func(provision.ResourceServicePrincipal) bool) bool { return slices.ContainsFunc(out, match) }
	for _, r := range s.App.RequiredResourceAccess {
		appID := r.ResourceAppID
		if have(func(x provision.ResourceServicePrincipal) bool { return strings.EqualFold(x.AppID, appID) }) {
			continue
		}
		m, err := c.Graph.ServicePrincipalsWithAppId(&appID).Get(ctx, &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{Select: fields}})
		if graph.IsNotFound(err) {
			continue // an API without a service principal in this tenant: Build says so
		}
		if err != nil {
			return nil, fmt.Errorf("read resource API %s: %w", appID, graph.ExplainDenied(graph.Wrap(err), graph.OpReadServicePrincipals))
		}
		out = append(out, resourceFromModel(m))
	}
	var ids []string
	for _, g := range s.Grants {
		ids = append(ids, g.ResourceID)
	}
	for _, a := range s.AppRoleAssignments {
		ids = append(ids, a.ResourceID)
	}
	for _, id := range ids {
		if have(func(x provision.ResourceServicePrincipal) bool { return strings.EqualFold(x.ID, id) }) {
			continue
		}
		m, err := c.Graph.ServicePrincipals().ByServicePrincipalId(id).Get(ctx, &serviceprincipals.ServicePrincipalItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ServicePrincipalItemRequestBuilderGetQueryParameters{Select: fields}})
		if graph.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read resource API %s: %w", id, graph.ExplainDenied(graph.Wrap(err), graph.OpReadServicePrincipals))
		}
		out = append(out, resourceFromModel(m))
	}
	return out, nil
}

// maxInValues is how many values one "in (...)" filter carries (Graph's limit is 15).
const maxInValues = 15

// readPrincipals reads the users and groups assigned, by object id, in filtered pages.
func readPrincipals(ctx context.Context, c *graph.Client, s *Snapshot) error {
	var userIDs, groupIDs []string
	for _, a := range s.AssignedTo {
		switch a.PrincipalType {
		case provision.PrincipalUser:
			userIDs = append(userIDs, a.PrincipalID)
		case provision.PrincipalGroup:
			groupIDs = append(groupIDs, a.PrincipalID)
		}
	}
	for _, chunk := range chunks(userIDs) {
		f := inFilter("id", chunk)
		page, err := c.Graph.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &f,
				Select: []string{"id", "userPrincipalName", "mail", "displayName", "accountEnabled"}}})
		if err != nil {
			return fmt.Errorf("read assigned users: %w", graph.ExplainDenied(graph.Wrap(err), graph.OpReadUsers))
		}
		ms, err := all[models.Userable](ctx, c, page, models.CreateUserCollectionResponseFromDiscriminatorValue)
		if err != nil {
			return fmt.Errorf("read assigned users: %w", err)
		}
		for _, m := range ms {
			s.Principals[strings.ToLower(str(m.GetId()))] = provision.DirectoryObject{ID: str(m.GetId()), Type: provision.PrincipalUser,
				UserPrincipalName: str(m.GetUserPrincipalName()), Mail: str(m.GetMail()), DisplayName: str(m.GetDisplayName()),
				AccountEnabled: m.GetAccountEnabled() == nil || *m.GetAccountEnabled()}
		}
	}
	for _, chunk := range chunks(groupIDs) {
		f := inFilter("id", chunk)
		page, err := c.Graph.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &f,
				Select: []string{"id", "displayName", "mail", "mailEnabled", "securityEnabled"}}})
		if err != nil {
			return fmt.Errorf("read assigned groups: %w", graph.Wrap(err))
		}
		ms, err := all[models.Groupable](ctx, c, page, models.CreateGroupCollectionResponseFromDiscriminatorValue)
		if err != nil {
			return fmt.Errorf("read assigned groups: %w", err)
		}
		for _, m := range ms {
			s.Principals[strings.ToLower(str(m.GetId()))] = provision.DirectoryObject{ID: str(m.GetId()), Type: provision.PrincipalGroup,
				Mail: str(m.GetMail()), DisplayName: str(m.GetDisplayName())}
		}
	}
	return nil
}

// readSendAs reads one mailbox's Send-As trustees; a mailbox Exchange does not know is
// reported as Missing, for Build to say.
func readSendAs(ctx context.Context, exc *exchange.Client, mailbox string) (provision.ObservedSendAs, error) {
	perms, err := exc.SendAsPermissions(ctx, mailbox)
	switch {
	case exchange.IsNotFound(err):
		return provision.ObservedSendAs{Mailbox: mailbox, Missing: true}, nil
	case err != nil:
		return provision.ObservedSendAs{}, fmt.Errorf("read Send-As of %s: %w", mailbox, err)
	}
	return provision.ObservedSendAs{Mailbox: mailbox, Trustees: perms.Trustees, Ignored: perms.Ignored}, nil
}

// page is a Graph collection response.
type page[M any] interface {
	serialization.Parsable
	GetValue() []M
	GetOdataNextLink() *string
}

// all returns the items of p and of the pages its next links lead to.
func all[M serialization.Parsable, P page[M]](ctx context.Context, c *graph.Client, p P, ctor serialization.ParsableFactory) ([]M, error) {
	if p.GetOdataNextLink() == nil {
		return p.GetValue(), nil
	}
	iter, err := msgraphcore.NewPageIterator[M](p, c.Adapter, ctor)
	if err != nil {
		return nil, fmt.Errorf("page: %w", err)
	}
	var out []M
	if err := iter.Iterate(ctx, func(m M) bool { out = append(out, m); return true }); err != nil {
		return nil, fmt.Errorf("page: %w", graph.Wrap(err))
	}
	return out, nil
}

func chunks(xs []string) [][]string {
	var out [][]string
	for len(xs) > 0 {
		n := min(len(xs), maxInValues)
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	return out
}

func inFilter(prop string, values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return prop + " in (" + strings.Join(q, ",") + ")"
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func uuidStr[T fmt.Stringer](p *T) string {
	if p == nil {
		return ""
	}
	return (*p).String()
}

func appFromModel(m models.Applicationable) provision.ObservedApp {
	a := provision.ObservedApp{ID: str(m.GetId()), AppID: str(m.GetAppId()), DisplayName: str(m.GetDisplayName()),
		UniqueName: str(m.GetUniqueName()), SignInAudience: str(m.GetSignInAudience()), Tags: m.GetTags()}
	if w := m.GetWeb(); w != nil {
		a.Web = w.GetRedirectUris()
	}
	if s := m.GetSpa(); s != nil {
		a.SPA = s.GetRedirectUris()
	}
	if p := m.GetPublicClient(); p != nil {
		a.PublicClient = p.GetRedirectUris()
	}
	for _, r := range m.GetRequiredResourceAccess() {
		rra := provision.RequiredResourceAccess{ResourceAppID: str(r.GetResourceAppId())}
		for _, ra := range r.GetResourceAccess() {
			rra.ResourceAccess = append(rra.ResourceAccess, provision.ResourceAccess{ID: uuidStr(ra.GetId()), Type: str(ra.GetTypeEscaped())})
		}
		a.RequiredResourceAccess = append(a.RequiredResourceAccess, rra)
	}
	for _, p := range m.GetPasswordCredentials() {
		pc := provision.PasswordCredential{KeyID: uuidStr(p.GetKeyId()), DisplayName: str(p.GetDisplayName()), Hint: str(p.GetHint())}
		if t := p.GetStartDateTime(); t != nil {
			pc.StartDate = t.UTC().Format("2006-01-02T15:04:05Z")
		}
		if t := p.GetEndDateTime(); t != nil {
			pc.EndDate = t.UTC().Format("2006-01-02T15:04:05Z")
		}
		a.PasswordCredentials = append(a.PasswordCredentials, pc)
	}
	return a
}

func resourceFromModel(m models.ServicePrincipalable) provision.ResourceServicePrincipal {
	r := provision.ResourceServicePrincipal{ID: str(m.GetId()), AppID: str(m.GetAppId()), DisplayName: str(m.GetDisplayName())}
	for _, a := range m.GetAppRoles() {
		enabled := a.GetIsEnabled() != nil && *a.GetIsEnabled()
		r.AppRoles = append(r.AppRoles, provision.AppRole{ID: uuidStr(a.GetId()), Value: str(a.GetValue()), IsEnabled: enabled, AllowedMemberTypes: a.GetAllowedMemberTypes()})
	}
	for _, s := range m.GetOauth2PermissionScopes() {
		enabled := s.GetIsEnabled() != nil && *s.GetIsEnabled()
		r.Scopes = append(r.Scopes, provision.PermissionScope{ID: uuidStr(s.GetId()), Value: str(s.GetValue()), IsEnabled: enabled, Type: str(s.GetTypeEscaped())})
	}
	return r
}
