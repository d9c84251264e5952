package provision

import (
	"fmt"

	"github.com/provisionhq/provision/manifests"
)

// Desired is what one manifest document asks of the tenant, in the engine's terms: Graph
// values instead of manifest words, and for each list whether the manifest manages it at all
// (a key left out is left as the tenant has it).
type Desired struct {
	// Address is the application's plan address, application["<name>"].
	Address    string
	Name       string
	UniqueName string
	AppID      string

	// SignInAudience is the Graph value; empty when the manifest does not say.
	SignInAudience string

	// Redirect URIs per platform; a nil slice means the platform is not managed.
	Web          []string
	SPA          []string
	PublicClient []string

	// Permissions lists what is requested per API; PermissionsManaged is false when the
	// manifest has no permissions key, and then neither requests nor consent are touched.
	Permissions        []DesiredAPI
	PermissionsManaged bool
	AdminConsent       bool

	// AssignmentRequired is appRoleAssignmentRequired on the enterprise app; nil: not managed.
	AssignmentRequired *bool
	// Assignments are the users and groups assigned to the enterprise app; nil: not managed.
	Assignments *DesiredAssignments
	// SendAs are the document's Send-As grants (Exchange Online).
	SendAs []DesiredSendAs

	// Secrets are the client secrets the manifest manages, recognised by name.
	Secrets []DesiredSecret

	// Source locates values in the manifest for diagnostics.
	Source manifests.Source
}

// DesiredAPI is the permissions requested from one resource API.
type DesiredAPI struct {
	API         string // display name or appId, as written
	Path        string // manifest path of the entry, e.g. application.permissions[0]
	Delegated   []DesiredName
	Application []DesiredName
}

// DesiredName is one permission name and where the manifest wrote it.
type DesiredName struct {
	Name string
	Path string
}

// DesiredFromDocument reads what d asks for. It does no validation beyond what planning
// needs; manifests.Validate has already run.
func DesiredFromDocument(d *manifests.Document) Desired {
	a := d.Application
	s := d.Source
	want := Desired{
		Address:            fmt.Sprintf("application[%q]", a.Name),
		Name:               a.Name,
		UniqueName:         a.UniqueName,
		AppID:              a.AppID,
		SignInAudience:     a.Audience.SignInAudience(),
		PermissionsManaged: s.Has("application.permissions") || len(a.Permissions) > 0,
		AdminConsent:       a.AdminConsent,
		Source:             s,
	}
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
	want.Secrets = desiredSecrets(a.Secrets)
	if a.Assignments != nil && a.Assignments.Required != nil {
		r := *a.Assignments.Required
		want.AssignmentRequired = &r
	}
	want.Assignments, want.SendAs = desiredAssignments(d), desiredSendAs(d)
	return want
}

// pos returns where the manifest wrote path.
func (d Desired) pos(path string) manifests.Pos { return d.Source.Pos(path) }

// problem is a diagnostic about the manifest value at path.
func (d Desired) problem(path string, err error) manifests.Diagnostic {
	return manifests.Diagnostic{Pos: d.pos(path), Path: path, Message: err.Error()}
}
