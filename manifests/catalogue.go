package manifests

import "strings"

//go:generate go run ./internal/gencatalogue -in ../../shared/reference/permissions.yaml -out catalogue_data.go

// Well-known resource applications (their appIds are the same in every tenant).
const (
	MicrosoftGraphAppID = "00000003-0000-0000-c000-000000000000"
	ExchangeOnlineAppID = "00000002-0000-0ff1-ce00-000000000000"
	MicrosoftGraphName  = "Microsoft Graph"
	ExchangeOnlineName  = "Office 365 Exchange Online"
)

// CatalogueEntry is one permission a resource exposes: a delegated permission (scope) or an
// application permission (app role).
type CatalogueEntry struct {
	Value string // the name a manifest writes, e.g. Mail.Send
	ID    string // the permission's id on the resource's service principal
	// AdminConsentRequired says whether an administrator must consent; meaningful only when
	// AdminConsentKnown (the reference does not know it for every Exchange Online scope).
	AdminConsentRequired bool
	AdminConsentKnown    bool
	Description          string
}

// Resource is an API that applications request permissions from.
type Resource struct {
	AppID       string
	DisplayName string
	Scopes      []CatalogueEntry
	Roles       []CatalogueEntry
}

// Catalogue is an offline list of resources and their permissions. It lets validation catch
// misspelt names without a tenant; at plan time the tenant's own service principals decide.
type Catalogue struct {
	resources []Resource
}

// NewCatalogue returns a catalogue of the given resources (tests use it for small ones).
func NewCatalogue(resources []Resource) *Catalogue {
	return &Catalogue{resources: resources}
}

// BuiltinCatalogue returns the catalogue generated from the reference permissions list:
// Microsoft Graph and Office 365 Exchange Online, without the ids known to be wrong.
func BuiltinCatalogue() *Catalogue {
	return NewCatalogue(builtinResources())
}

// Resources returns every resource of the catalogue.
func (c *Catalogue) Resources() []Resource {
	if c == nil {
		return nil
	}
	return c.resources
}

// Resource finds a resource by appId or display name (a manifest's api value), ignoring case.
func (c *Catalogue) Resource(api string) (Resource, bool) {
	if c == nil {
		return Resource{}, false
	}
	api = strings.TrimSpace(api)
	for _, r := range c.resources {
		if strings.EqualFold(r.AppID, api) || strings.EqualFold(r.DisplayName, api) {
			return r, true
		}
	}
	return Resource{}, false
}

// Scope returns the delegated permission value of resource api.
func (c *Catalogue) Scope(api, value string) (CatalogueEntry, bool) {
	r, ok := c.Resource(api)
	if !ok {
		return CatalogueEntry{}, false
	}
	return findEntry(r.Scopes, value)
}

// Role returns the application permission value of resource api.
func (c *Catalogue) Role(api, value string) (CatalogueEntry, bool) {
	r, ok := c.Resource(api)
	if !ok {
		return CatalogueEntry{}, false
	}
	return findEntry(r.Roles, value)
}

// findEntry matches exactly: permission values are case-sensitive in the tenant.
func findEntry(entries []CatalogueEntry, value string) (CatalogueEntry, bool) {
	for _, e := range entries {
		if e.Value == value {
			return e, true
		}
	}
	return CatalogueEntry{}, false
}

func entryValues(entries []CatalogueEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Value
	}
	return out
}
