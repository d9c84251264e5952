package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithuniquename"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/internal/sets"
	"github.com/provisionhq/provision/provision/retry"
	"github.com/provisionhq/provision/provision/rights"
)

// KindApplication is the app registration: its display name, audience, redirect URIs,
// requested permissions (requiredResourceAccess) and the ownership tag.
const KindApplication Kind = "application"

// applicationKind manages the app registration.
//
// Observe: round 1, the registrations matching the document's lookup key (by appId; else by
// uniqueName and by display name), with their client secrets' metadata.
// Plan: create, update, or adopt (stamp the ownership tag on a registration made elsewhere).
// Apply: a create with a uniqueName is an upsert (Prefer: create-if-missing), so a create
// retried after a lost answer updates what the first made; without one, the application an
// earlier run made (its name and the ownership tag) is looked up before a POST. Produces the
// object id and appId (st.objectID, st.appID, st.freshApp).
// Stage 1, one at a time.
type applicationKind struct{}

func (applicationKind) name() Kind { return KindApplication }

func (applicationKind) traits() traits {
	return traits{stage: 1, rotation: true, operations: []rights.Operation{
		rights.OpFindApplication, rights.OpCreateApplication, rights.OpUpdateApplication}}
}

// ownershipTag marks an application provision manages. An application found without it was
// made elsewhere (the portal, a script) and is adopted: the plan says so and apply adds the
// tag. Graph copies application tags to a service principal created afterwards.
const ownershipTag = "provision:managed"

// ObservedApp is an application registration as read from Graph.
type ObservedApp struct {
	ID                     string
	AppID                  string
	DisplayName            string
	UniqueName             string
	SignInAudience         string
	Web                    []string
	SPA                    []string
	PublicClient           []string
	RequiredResourceAccess []RequiredResourceAccess
	Tags                   []string
	PasswordCredentials    []PasswordCredential
}

// RequiredResourceAccess is the permissions an application requests from one resource API.
type RequiredResourceAccess struct {
	ResourceAppID  string
	ResourceAccess []ResourceAccess
}

// ResourceAccess is one requested permission: Type is "Scope" (delegated) or "Role"
// (application).
type ResourceAccess struct {
	ID   string
	Type string
}

// The values of ResourceAccess.Type.
const (
	AccessScope = "Scope"
	AccessRole  = "Role"
)

// applicationSpec holds the application properties to write; a nil field is left unchanged.
type applicationSpec struct {
	DisplayName            string
	UniqueName             string
	SignInAudience         string
	Web                    *[]string
	SPA                    *[]string
	PublicClient           *[]string
	RequiredResourceAccess *[]RequiredResourceAccess
	Tags                   *[]string
}

// desiredApplication reads the registration's own properties into want.
func desiredApplication(d *manifests.Document, want *Desired) {
	a, s := d.Application, d.Source
	want.SignInAudience = a.Audience.SignInAudience()
	want.PermissionsManaged = s.Has("application.permissions") || len(a.Permissions) > 0
	want.AdminConsent = a.AdminConsent
	platform := func(key string, uris []string) []string {
		if uris == nil && !s.Has("application.redirectUris."+key) && !s.Has("application.redirectUris") {
			return nil
		}
		return append([]string{}, uris...)
	}
	want.Web = platform("web", a.RedirectURIs.Web)
	want.SPA = platform("spa", a.RedirectURIs.SPA)
	want.PublicClient = platform("publicClient", a.RedirectURIs.PublicClient)
	for i, p := range a.Permissions {
		api := DesiredAPI{API: p.API, Path: fmt.Sprintf("application.permissions[%d]", i)}
		for j, n := range p.Delegated {
			api.Delegated = append(api.Delegated, DesiredName{Name: n, Path: fmt.Sprintf("%s.delegated[%d]", api.Path, j)})
		}
		for j, n := range p.Application {
			api.Application = append(api.Application, DesiredName{Name: n, Path: fmt.Sprintf("%s.application[%d]", api.Path, j)})
		}
		want.Permissions = append(want.Permissions, api)
	}
}

// appFields are the application properties observe selects, so responses carry only what
// planning reads.
func appFields() []string {
	return []string{"id", "appId", "displayName", "uniqueName", "signInAudience", "web", "spa", "publicClient",
		"requiredResourceAccess", "tags", "passwordCredentials"}
}

// appFromModel converts an SDK application (read with appFields) to what the planner
// compares; secrets keep their metadata only, never a value.
func appFromModel(m models.Applicationable) ObservedApp {
	a := ObservedApp{
		ID: str(m.GetId()), AppID: str(m.GetAppId()), DisplayName: str(m.GetDisplayName()),
		UniqueName: str(m.GetUniqueName()), SignInAudience: str(m.GetSignInAudience()), Tags: m.GetTags(),
	}
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
		rra := RequiredResourceAccess{ResourceAppID: str(r.GetResourceAppId())}
		for _, ra := range r.GetResourceAccess() {
			rra.ResourceAccess = append(rra.ResourceAccess, ResourceAccess{ID: uuidStr(ra.GetId()), Type: str(ra.GetTypeEscaped())})
		}
		a.RequiredResourceAccess = append(a.RequiredResourceAccess, rra)
	}
	for _, p := range m.GetPasswordCredentials() {
		a.PasswordCredentials = append(a.PasswordCredentials, passwordCredentialFromModel(p))
	}
	return a
}

func (applicationKind) observe(ctx context.Context, n int, r *round) {
	if n != 1 {
		return
	}
	client := r.e.Graph.Graph
	for i, w := range r.wants {
		o := r.obs[i]
		byFilter := func(f string) {
			r.graph(func(ctx context.Context, res graph.BatchResponse) error {
				apps, err := decodeList[models.ApplicationCollectionResponseable](ctx, r.e, res, models.CreateApplicationCollectionResponseFromDiscriminatorValue, appFromModel)
				if err != nil {
					return fmt.Errorf("read applications (%s): %w", f, rights.ExplainDenied(err, rights.OpFindApplication))
				}
				for _, a := range apps {
					if !slices.ContainsFunc(o.Apps, func(x ObservedApp) bool { return x.ID == a.ID }) {
						o.Apps = append(o.Apps, a)
					}
				}
				return nil
			})(client.Applications().ToGetRequestInformation(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
				QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &f, Select: appFields()}}))
		}
		if w.AppID != "" {
			byFilter(eqFilter("appId", w.AppID))
			continue
		}
		if w.UniqueName != "" {
			name := w.UniqueName
			r.graph(func(_ context.Context, res graph.BatchResponse) error {
				app, err := decodeOne(r.e, res, models.CreateApplicationFromDiscriminatorValue, appFromModel)
				if err != nil {
					return fmt.Errorf("read application %q: %w", name, rights.ExplainDenied(err, rights.OpFindApplication))
				}
				if app != nil {
					// The uniqueName match goes first: it is the one the document means.
					o.Apps = append([]ObservedApp{*app}, slices.DeleteFunc(o.Apps, func(x ObservedApp) bool { return x.ID == app.ID })...)
				}
				return nil
			})(client.ApplicationsWithUniqueName(&name).ToGetRequestInformation(ctx,
				&applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderGetRequestConfiguration{
					QueryParameters: &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderGetQueryParameters{Select: appFields()}}))
		}
		byFilter(eqFilter("displayName", w.Name))
	}
}

// matchedApp is the registration observed for want that later rounds read further: the one
// the plan can be about, or nil when there is none or the match is ambiguous.
func matchedApp(want Desired, o *Observed) *ObservedApp {
	if app, err := matchApp(want, o.Apps); err == nil {
		return app
	}
	return nil
}

// matchApp finds the registration the document means: by appId when given, else by
// uniqueName, else the one application with its display name. A registration without a
// uniqueName that carries the display name also matches a document with a uniqueName, so an
// app made in the portal is adopted rather than duplicated.
func matchApp(want Desired, apps []ObservedApp) (*ObservedApp, error) {
	if want.AppID != "" {
		for i := range apps {
			if strings.EqualFold(apps[i].AppID, want.AppID) {
				return &apps[i], nil
			}
		}
		return nil, manifests.Diagnostics{want.problem("application.appId",
			fmt.Errorf("no application with appId %s in the tenant", want.AppID))}
	}
	if want.UniqueName != "" {
		for i := range apps {
			if apps[i].UniqueName == want.UniqueName {
				return &apps[i], nil
			}
		}
	}
	var found []*ObservedApp
	for i := range apps {
		if apps[i].DisplayName == want.Name && (want.UniqueName == "" || apps[i].UniqueName == "") {
			found = append(found, &apps[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, a := range found {
		ids[i] = a.AppID
	}
	slices.Sort(ids)
	return nil, manifests.Diagnostics{want.problem("application.name",
		fmt.Errorf("%d applications are named %q (appIds %s): set application.appId or application.uniqueName to say which one",
			len(found), want.Name, strings.Join(ids, ", ")))}
}

// plan matches the registration the document means (for every later kind) and plans it.
func (applicationKind) plan(d *docPlan) {
	app, err := matchApp(d.want, d.obs.Apps)
	var diags manifests.Diagnostics
	if errors.As(err, &diags) {
		d.probs = append(d.probs, diags...)
	}
	d.app = app
	if d.opts.SecretsOnly {
		return
	}
	if d.opts.Destroy {
		if app == nil {
			return
		}
		if !d.removesApplication() {
			d.warn(Warning{Address: d.want.Address, Source: d.want.pos("application"), Message: fmt.Sprintf(
				"application %q (appId %s) was not made by provision (no %s tag): destroy keeps it and its enterprise application, and removes only what the manifest manages on it; --include-adopted deletes it too",
				app.DisplayName, app.AppID, ownershipTag)})
			return
		}
		d.change(Change{Address: d.want.Address, Kind: KindApplication, Action: Delete,
			Reason: "soft-deleted: the directory keeps it 30 days, restorable (POST /directory/deletedItems/{id}/restore, or Restore in the portal's Deleted applications) with the same appId",
			Attrs:  []AttrChange{{Name: "name", Before: app.DisplayName}, {Name: "appId", Before: app.AppID}},
			Source: d.want.pos("application"), Target: Target{ID: app.ID, AppID: app.AppID}})
		return
	}
	if c := planApplication(d.want, app, d.apis, d.obs.Resources); c != nil {
		d.change(*c)
	}
}

// planApplication diffs the registration's own properties. It returns nil when nothing
// differs. An existing registration without the ownership tag is adopted: the change stamps
// the tag along with whatever else differs.
func planApplication(want Desired, app *ObservedApp, apis []resolvedAPI, resources []ResourceServicePrincipal) *Change {
	rra := desiredAccess(apis)
	if app == nil {
		spec := &applicationSpec{
			DisplayName:    want.Name,
			UniqueName:     want.UniqueName,
			SignInAudience: want.SignInAudience,
			Tags:           &[]string{ownershipTag},
		}
		if spec.SignInAudience == "" {
			spec.SignInAudience = manifests.SingleOrg.SignInAudience()
		}
		attrs := []AttrChange{{Name: "name", After: want.Name}}
		if want.UniqueName != "" {
			attrs = append(attrs, AttrChange{Name: "uniqueName", After: want.UniqueName})
		}
		attrs = append(attrs, AttrChange{Name: "audience", After: audienceWord(spec.SignInAudience)})
		for _, p := range platforms(want, nil) {
			if p.want != nil {
				uris := sets.Sorted(*p.want)
				p.assign(spec, &uris)
				if len(uris) > 0 {
					attrs = append(attrs, AttrChange{Name: "redirectUris." + p.name, After: uris})
				}
			}
		}
		if want.PermissionsManaged {
			spec.RequiredResourceAccess = &rra
			attrs = append(attrs, accessAttrs(nil, rra, resources, true)...)
		}
		attrs = append(attrs,
			AttrChange{Name: "appId", KnownAfterApply: true},
			AttrChange{Name: "tags", After: []string{ownershipTag}})
		return &Change{
			Address: want.Address, Kind: KindApplication, Action: Create, Attrs: attrs,
			Source: want.pos("application"),
			Target: Target{Spec: spec},
		}
	}

	spec := &applicationSpec{}
	var attrs []AttrChange
	if app.DisplayName != want.Name {
		spec.DisplayName = want.Name
		attrs = append(attrs, AttrChange{Name: "name", Before: app.DisplayName, After: want.Name})
	}
	if want.SignInAudience != "" && app.SignInAudience != want.SignInAudience {
		spec.SignInAudience = want.SignInAudience
		attrs = append(attrs, AttrChange{Name: "audience", Before: audienceWord(app.SignInAudience), After: audienceWord(want.SignInAudience)})
	}
	for _, p := range platforms(want, app) {
		if p.want != nil && !sets.Same(*p.want, p.have) {
			uris := sets.Sorted(*p.want)
			p.assign(spec, &uris)
			attrs = append(attrs, AttrChange{Name: "redirectUris." + p.name, Before: sets.Sorted(p.have), After: uris})
		}
	}
	if want.PermissionsManaged && !sameAccess(app.RequiredResourceAccess, rra) {
		spec.RequiredResourceAccess = &rra
		attrs = append(attrs, accessAttrs(app.RequiredResourceAccess, rra, resources, false)...)
	}
	action, reason := Update, ""
	// A manifest that names the registration by its appId (as provision export writes) has
	// adopted it already: the tag alone is no reason for a change, so an exported manifest
	// plans empty. The tag is stamped with the next change that has one.
	if !slices.Contains(app.Tags, ownershipTag) && (want.AppID == "" || len(attrs) > 0) {
		tags := append(append([]string{}, app.Tags...), ownershipTag)
		spec.Tags = &tags
		action = Adopt
		reason = fmt.Sprintf("adopt existing registration (appId %s) made outside provision", app.AppID)
		attrs = append(attrs, AttrChange{Name: "tags", Before: sets.Sorted(app.Tags), After: sets.Sorted(tags)})
	}
	if len(attrs) == 0 {
		return nil
	}
	return &Change{
		Address: want.Address, Kind: KindApplication, Action: action, Reason: reason, Attrs: attrs,
		Source: want.pos("application"),
		Target: Target{ID: app.ID, AppID: app.AppID, Spec: spec},
	}
}

// platform is one redirect URI platform: what the manifest wants (nil: not managed), what the
// tenant has, and where the value goes in a request.
type platform struct {
	name   string
	want   *[]string
	have   []string
	assign func(*applicationSpec, *[]string)
}

// platforms lists the three redirect URI platforms of want against app (which may be nil).
func platforms(want Desired, app *ObservedApp) []platform {
	ptr := func(xs []string) *[]string {
		if xs == nil {
			return nil
		}
		return &xs
	}
	if app == nil {
		app = &ObservedApp{}
	}
	return []platform{
		{"web", ptr(want.Web), app.Web, func(s *applicationSpec, v *[]string) { s.Web = v }},
		{"spa", ptr(want.SPA), app.SPA, func(s *applicationSpec, v *[]string) { s.SPA = v }},
		{"publicClient", ptr(want.PublicClient), app.PublicClient, func(s *applicationSpec, v *[]string) { s.PublicClient = v }},
	}
}

// audienceWord returns the manifest word for a Graph signInAudience, or the value itself when
// it has none.
func audienceWord(signInAudience string) string {
	if a := manifests.AudienceFromSignIn(signInAudience); a != "" {
		return string(a)
	}
	return signInAudience
}

// desiredAccess is the requiredResourceAccess the resolved permissions make, one entry per
// resource in manifest order, each permission once.
func desiredAccess(apis []resolvedAPI) []RequiredResourceAccess {
	out := []RequiredResourceAccess{}
	index := map[string]int{}
	for _, api := range apis {
		i, ok := index[api.Resource.AppID]
		if !ok {
			i = len(out)
			index[api.Resource.AppID] = i
			out = append(out, RequiredResourceAccess{ResourceAppID: api.Resource.AppID, ResourceAccess: []ResourceAccess{}})
		}
		add := func(id, typ string) {
			ra := ResourceAccess{ID: id, Type: typ}
			if !slices.Contains(out[i].ResourceAccess, ra) {
				out[i].ResourceAccess = append(out[i].ResourceAccess, ra)
			}
		}
		for _, p := range api.Delegated {
			add(p.ID, AccessScope)
		}
		for _, p := range api.Application {
			add(p.ID, AccessRole)
		}
	}
	return out
}

// accessKeys flattens requiredResourceAccess into "resourceAppId/type/id" strings, the form
// compared as a set.
func accessKeys(rra []RequiredResourceAccess) []string {
	var keys []string
	for _, r := range rra {
		for _, a := range r.ResourceAccess {
			keys = append(keys, strings.ToLower(r.ResourceAppID+"/"+a.Type+"/"+a.ID))
		}
	}
	return keys
}

// sameAccess compares two requiredResourceAccess lists as sets of permissions.
func sameAccess(a, b []RequiredResourceAccess) bool { return sets.Same(accessKeys(a), accessKeys(b)) }

// accessAttrs renders the difference between two requiredResourceAccess lists as one
// attribute per resource and type, with permission names instead of ids.
func accessAttrs(have, want []RequiredResourceAccess, resources []ResourceServicePrincipal, create bool) []AttrChange {
	type key struct{ appID, typ string }
	names := func(rra []RequiredResourceAccess) map[key][]string {
		m := map[key][]string{}
		for _, r := range rra {
			res := ResourceByAppID(resources, r.ResourceAppID)
			for _, a := range r.ResourceAccess {
				k := key{strings.ToLower(r.ResourceAppID), a.Type}
				m[k] = append(m[k], res.PermissionName(a.ID, a.Type))
			}
		}
		return m
	}
	before, after := names(have), names(want)
	var keys []key
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	var attrs []AttrChange
	for _, k := range keys {
		b, a := sets.Sorted(before[k]), sets.Sorted(after[k])
		if slices.Equal(b, a) {
			continue
		}
		label := k.appID
		if res := ResourceByAppID(resources, k.appID); res != nil && res.DisplayName != "" {
			label = res.DisplayName
		}
		kind := "application"
		if k.typ == AccessScope {
			kind = "delegated"
		}
		c := AttrChange{Name: fmt.Sprintf("permissions[%q].%s", label, kind), After: a}
		if !create {
			c.Before = b
		}
		attrs = append(attrs, c)
	}
	slices.SortFunc(attrs, func(x, y AttrChange) int { return strings.Compare(x.Name, y.Name) })
	return attrs
}

// applicationBody builds the request body of an application create or update.
func applicationBody(s *applicationSpec) (models.Applicationable, error) {
	body := models.NewApplication()
	if s.DisplayName != "" {
		body.SetDisplayName(&s.DisplayName)
	}
	if s.SignInAudience != "" {
		body.SetSignInAudience(&s.SignInAudience)
	}
	if s.Web != nil {
		w := models.NewWebApplication()
		w.SetRedirectUris(*s.Web)
		body.SetWeb(w)
	}
	if s.SPA != nil {
		w := models.NewSpaApplication()
		w.SetRedirectUris(*s.SPA)
		body.SetSpa(w)
	}
	if s.PublicClient != nil {
		w := models.NewPublicClientApplication()
		w.SetRedirectUris(*s.PublicClient)
		body.SetPublicClient(w)
	}
	if s.RequiredResourceAccess != nil {
		rras := []models.RequiredResourceAccessable{}
		for _, r := range *s.RequiredResourceAccess {
			rra := models.NewRequiredResourceAccess()
			rra.SetResourceAppId(&r.ResourceAppID)
			accesses := []models.ResourceAccessable{}
			for _, a := range r.ResourceAccess {
				id, err := uuid.Parse(a.ID)
				if err != nil {
					return nil, fmt.Errorf("permission id %q: %w", a.ID, err)
				}
				ra := models.NewResourceAccess()
				ra.SetId(&id)
				ra.SetTypeEscaped(&a.Type)
				accesses = append(accesses, ra)
			}
			rra.SetResourceAccess(accesses)
			rras = append(rras, rra)
		}
		body.SetRequiredResourceAccess(rras)
	}
	if s.Tags != nil {
		body.SetTags(*s.Tags)
	}
	return body, nil
}

// removesApplication reports whether a destroy plan deletes the document's application:
// provision made it (the ownership tag), or the user said --include-adopted.
func (d *docPlan) removesApplication() bool {
	return d.app != nil && (slices.Contains(d.app.Tags, ownershipTag) || d.opts.IncludeAdopted)
}

// apply creates, updates, adopts or (soft-)deletes the registration.
func (applicationKind) apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error) {
	if c.Action == Delete {
		id := c.Target.ID
		err := e.retry(ctx, false, func(ctx context.Context) error {
			return e.Graph.Graph.Applications().ByApplicationId(id).Delete(ctx, nil)
		})
		if err != nil && !graph.IsNotFound(err) {
			return "", fmt.Errorf("delete application: %w", rights.ExplainDenied(err, rights.OpUpdateApplication))
		}
		return id, nil
	}
	spec, ok := c.Target.Spec.(*applicationSpec)
	if !ok {
		return "", errors.New("apply application: the change carries no application")
	}
	body, err := applicationBody(spec)
	if err != nil {
		return "", err
	}
	client := e.Graph.Graph
	if c.Action != Create {
		id := c.Target.ID
		err := e.write(ctx, st.freshApp, func(ctx context.Context) error {
			_, err := client.Applications().ByApplicationId(id).Patch(ctx, body, nil)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("update application: %w", rights.ExplainDenied(err, rights.OpUpdateApplication))
		}
		st.objectID = id
		return id, nil
	}
	var app models.Applicationable
	if spec.UniqueName != "" {
		if app, err = upsertApplication(ctx, e, spec.UniqueName, body); err != nil {
			return "", err
		}
	} else {
		if app, err = createApplicationOnce(ctx, e, spec.DisplayName, body); err != nil {
			return "", err
		}
	}
	if app == nil || str(app.GetId()) == "" || str(app.GetAppId()) == "" {
		return "", errors.New("create application: Graph answered without the application's ids; run apply again")
	}
	st.objectID, st.appID, st.freshApp = str(app.GetId()), str(app.GetAppId()), true
	return st.objectID, nil
}

// upsertApplication creates or updates the application with uniqueName name (PATCH with
// Prefer: create-if-missing): 201 with the created object, or 204 when it existed already (an
// earlier apply's create whose answer was lost, or replication hid it from observe), after
// which its ids are read. An upsert that lands on a replica which has not seen the application
// yet (made moments ago by this very upsert, its answer lost and the PATCH repeated, or by an
// earlier run) tries to create it and collides with it: "Another object with the same value
// for property uniqueName already exists". That says the application exists; the upsert is
// sent again, with the replication backoff, until a replica that knows it updates it.
func upsertApplication(ctx context.Context, e *Engine, name string, body models.Applicationable) (models.Applicationable, error) {
	client := e.Graph.Graph
	cfg := &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderPatchRequestConfiguration{Headers: abstractions.NewRequestHeaders()}
	cfg.Headers.Add("Prefer", "create-if-missing")
	var app models.Applicationable
	if err := e.Graph.Retry(ctx, func(ctx context.Context) error {
		var err error
		app, err = client.ApplicationsWithUniqueName(&name).Patch(ctx, body, cfg)
		return err
	}, graph.IsAlreadyExists); err != nil {
		return nil, fmt.Errorf("create application: %w", rights.ExplainDenied(err, rights.OpCreateApplication))
	}
	if app != nil && str(app.GetAppId()) != "" {
		return app, nil
	}
	if err := e.retry(ctx, true, func(ctx context.Context) error {
		var err error
		app, err = client.ApplicationsWithUniqueName(&name).Get(ctx, &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderGetRequestConfiguration{
			QueryParameters: &applicationswithuniquename.ApplicationsWithUniqueNameRequestBuilderGetQueryParameters{Select: []string{"id", "appId"}}})
		if err == nil && (app == nil || str(app.GetAppId()) == "") {
			return &graph.Error{Status: 404, Code: "Request_ResourceNotFound", Message: "the upserted application is not readable yet"}
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("read application %q: %w", name, err)
	}
	return app, nil
}

// findOwnApplication returns the one application named name that carries the ownership tag,
// or nil when there is none.
func findOwnApplication(ctx context.Context, e *Engine, name string) (models.Applicationable, error) {
	f := eqFilter("displayName", name)
	page, err := e.Graph.Graph.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &f, Select: []string{"id", "appId", "tags"}}})
	if err != nil {
		return nil, graph.Wrap(err)
	}
	if page == nil {
		return nil, nil
	}
	for _, a := range page.GetValue() {
		if slices.Contains(a.GetTags(), ownershipTag) {
			return a, nil
		}
	}
	return nil, nil
}

// createApplicationOnce creates the application of a manifest without a uniqueName. Its
// create is a POST that Graph would happily repeat, making a second application of the same
// name: so the application an earlier run made (recognised by its name and the ownership tag)
// is looked up first, and after a POST whose outcome is unknown (a 5xx, a lost answer) it is
// looked for until it shows or visibleWithin has passed, before the POST is sent again.
func createApplicationOnce(ctx context.Context, e *Engine, name string, body models.Applicationable) (models.Applicationable, error) {
	client := e.Graph.Graph
	app, err := findOwnApplication(ctx, e, name)
	if err != nil {
		return nil, fmt.Errorf("create application: %w", rights.ExplainDenied(err, rights.OpFindApplication))
	}
	if app != nil {
		id := str(app.GetId())
		if err := e.write(ctx, false, func(ctx context.Context) error {
			_, err := client.Applications().ByApplicationId(id).Patch(ctx, body, nil)
			return err
		}); err != nil {
			return nil, fmt.Errorf("update application: %w", rights.ExplainDenied(err, rights.OpUpdateApplication))
		}
		return app, nil
	}
	for attempt := 1; ; attempt++ {
		err := e.retry(ctx, false, func(ctx context.Context) error {
			var err error
			if app, err = client.Applications().Post(ctx, body, nil); err == nil && (app == nil || str(app.GetAppId()) == "") {
				return errAnswerLost
			}
			return err
		})
		if err == nil {
			return app, nil
		}
		if !outcomeUnknown(err) || attempt == createAttempts {
			return nil, fmt.Errorf("create application: %w", rights.ExplainDenied(err, rights.OpCreateApplication))
		}
		// The POST may have made the application: wait for it to show before sending another.
		if app, err = awaitOwnApplication(ctx, e, name); err != nil || app != nil {
			return app, err
		}
	}
}

// awaitOwnApplication looks for the application named name with the ownership tag until it
// shows, or visibleWithin has passed (nil then: the create did not happen).
func awaitOwnApplication(ctx context.Context, e *Engine, name string) (models.Applicationable, error) {
	var app models.Applicationable
	policy := retry.Policy{BaseDelay: firstPoll, MaxDelay: maxPoll, MaxElapsed: visibleWithin}
	err := retry.Do(ctx, e.clock(), policy, func(ctx context.Context) error {
		var err error
		if app, err = findOwnApplication(ctx, e, name); err == nil && app == nil {
			return errNotVisible
		}
		return err
	}, func(err error) bool { return errors.Is(err, errNotVisible) })
	if errors.Is(err, errNotVisible) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look for the application %q a create may have made: %w", name, err)
	}
	return app, nil
}
