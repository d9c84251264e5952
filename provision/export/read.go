package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// findApp reads the registration by client id, or the one registration with the display name.
func findApp(ctx context.Context, c *graph.Client, q Query) (*provision.ObservedApp, error) {
	if q.AppID != "" {
		m, err := c.Graph.ApplicationsWithAppId(&q.AppID).Get(ctx, &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetQueryParameters{Select: provision.AppFields()}})
		if graph.IsNotFound(err) {
			return nil, fmt.Errorf("read application %s: %w with this appId", q.AppID, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read application %s: %w", q.AppID, graph.ExplainDenied(graph.Wrap(err), graph.OpFindApplication))
		}
		app := provision.AppFromModel(m)
		return &app, nil
	}
	filter := "displayName eq '" + strings.ReplaceAll(q.Name, "'", "''") + "'"
	page, err := c.Graph.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &filter, Select: provision.AppFields()}})
	if err != nil {
		return nil, fmt.Errorf("read applications named %q: %w", q.Name, graph.ExplainDenied(graph.Wrap(err), graph.OpFindApplication))
	}
	apps, err := graph.AllItems[models.Applicationable](ctx, c, page, models.CreateApplicationCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("read applications named %q: %w", q.Name, err)
	}
	switch len(apps) {
	case 0:
		return nil, fmt.Errorf("read application %q: %w with this display name", q.Name, ErrNotFound)
	case 1:
		app := provision.AppFromModel(apps[0])
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
			Select: provision.ServicePrincipalFields()}})
	if graph.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read service principal of %s: %w", appID, graph.ExplainDenied(graph.Wrap(err), graph.OpReadServicePrincipals))
	}
	sp := provision.ServicePrincipalFromModel(m)
	return &sp, nil
}

func readGrants(ctx context.Context, c *graph.Client, spID string) ([]provision.Grant, error) {
	filter := "clientId eq '" + spID + "'"
	page, err := c.Graph.Oauth2PermissionGrants().Get(ctx, &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetRequestConfiguration{
		QueryParameters: &oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilderGetQueryParameters{Filter: &filter}})
	if err != nil {
		return nil, fmt.Errorf("read permission grants: %w", graph.ExplainDenied(graph.Wrap(err), graph.OpReadGrants))
	}
	ms, err := graph.AllItems[models.OAuth2PermissionGrantable](ctx, c, page, models.CreateOAuth2PermissionGrantCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("read permission grants: %w", err)
	}
	return convert(ms, provision.GrantFromModel), nil
}

func readAppRoleAssignments(ctx context.Context, c *graph.Client, spID string) ([]provision.AppRoleAssignment, error) {
	page, err := c.Graph.ServicePrincipals().ByServicePrincipalId(spID).AppRoleAssignments().Get(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read application permissions granted: %w", graph.Wrap(err))
	}
	ms, err := graph.AllItems[models.AppRoleAssignmentable](ctx, c, page, models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("read application permissions granted: %w", err)
	}
	return convert(ms, provision.AppRoleAssignmentFromModel), nil
}

func readAssignedTo(ctx context.Context, c *graph.Client, spID string) ([]provision.Assignment, error) {
	top := int32(999)
	page, err := c.Graph.ServicePrincipals().ByServicePrincipalId(spID).AppRoleAssignedTo().Get(ctx,
		&serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{Top: &top}})
	if err != nil {
		return nil, fmt.Errorf("read users and groups assigned: %w", graph.Wrap(err))
	}
	ms, err := graph.AllItems[models.AppRoleAssignmentable](ctx, c, page, models.CreateAppRoleAssignmentCollectionResponseFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("read users and groups assigned: %w", err)
	}
	return convert(ms, provision.AssignmentFromModel), nil
}

// readResources reads the resource APIs the application requests permissions from (by appId)
// and those its consent names (by object id), each once.
func readResources(ctx context.Context, c *graph.Client, s *Snapshot) ([]provision.ResourceServicePrincipal, error) {
	fields := provision.ResourceFields()
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
		out = append(out, provision.ResourceFromModel(m))
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
		out = append(out, provision.ResourceFromModel(m))
	}
	return out, nil
}

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
	for _, chunk := range provision.InFilterChunks(userIDs) {
		f := provision.InFilter("id", chunk)
		page, err := c.Graph.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &f,
				Select: provision.UserFields()}})
		if err != nil {
			return fmt.Errorf("read assigned users: %w", graph.ExplainDenied(graph.Wrap(err), graph.OpReadUsers))
		}
		ms, err := graph.AllItems[models.Userable](ctx, c, page, models.CreateUserCollectionResponseFromDiscriminatorValue)
		if err != nil {
			return fmt.Errorf("read assigned users: %w", err)
		}
		for _, m := range ms {
			u := provision.UserFromModel(m)
			s.Principals[strings.ToLower(u.ID)] = u
		}
	}
	for _, chunk := range provision.InFilterChunks(groupIDs) {
		f := provision.InFilter("id", chunk)
		page, err := c.Graph.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &f,
				Select: provision.GroupFields()}})
		if err != nil {
			return fmt.Errorf("read assigned groups: %w", graph.ExplainDenied(graph.Wrap(err), graph.OpReadGroups))
		}
		ms, err := graph.AllItems[models.Groupable](ctx, c, page, models.CreateGroupCollectionResponseFromDiscriminatorValue)
		if err != nil {
			return fmt.Errorf("read assigned groups: %w", err)
		}
		for _, m := range ms {
			g := provision.GroupFromModel(m)
			s.Principals[strings.ToLower(g.ID)] = g
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

// convert converts each SDK model with conv, the engine's conversion of the same read.
func convert[M, O any](ms []M, conv func(M) O) []O {
	out := make([]O, len(ms))
	for i, m := range ms {
		out[i] = conv(m)
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
