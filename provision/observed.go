package provision

// Observed is what observe read from the tenant for one manifest document: everything the
// plan needs and nothing more. Planning reads only this, so it can be tested without a tenant.
type Observed struct {
	// Apps are the registrations that match the document's lookup key: the one with its
	// appId or uniqueName, else those with its display name (two or more is an error the
	// planner reports).
	Apps []ObservedApp
	// ServicePrincipal is the enterprise app of the matched registration, nil if it has none.
	ServicePrincipal *ObservedServicePrincipal
	// Resources are the resource APIs' service principals found for the manifest's apis
	// (and for the apis the registration already requests).
	Resources []ResourceServicePrincipal
	// Grants are the delegated permission grants whose client is ServicePrincipal.
	Grants []Grant
	// AppRoleAssignments are the application permissions ServicePrincipal holds.
	AppRoleAssignments []AppRoleAssignment
	// Directory holds the users and groups the manifests name (assignments, sendAs).
	Directory *Directory
	// AssignedTo are the assignments on ServicePrincipal as a resource: its users and groups.
	AssignedTo []Assignment
	// SendAs is the Send-As state of the mailboxes the manifests name, read from Exchange.
	SendAs []ObservedSendAs
}

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

// PasswordCredential is a client secret's metadata; the value is never readable after
// creation, so it is not here.
type PasswordCredential struct {
	KeyID       string
	DisplayName string
	Hint        string
	StartDate   string // RFC 3339
	EndDate     string // RFC 3339
}

// ObservedServicePrincipal is the enterprise app of a registration.
type ObservedServicePrincipal struct {
	ID                        string
	AppID                     string
	AppRoleAssignmentRequired bool
	Tags                      []string
}

// ResourceServicePrincipal is an API's service principal and the permissions it offers.
type ResourceServicePrincipal struct {
	ID          string
	AppID       string
	DisplayName string
	AppRoles    []AppRole
	Scopes      []PermissionScope
}

// AppRole is an application permission (or a user role) a resource offers.
type AppRole struct {
	ID                 string
	Value              string
	IsEnabled          bool
	AllowedMemberTypes []string
}

// PermissionScope is a delegated permission a resource offers. Type is "Admin" when only an
// administrator may consent, "User" otherwise.
type PermissionScope struct {
	ID        string
	Value     string
	IsEnabled bool
	Type      string
}

// Grant is an oauth2PermissionGrant: delegated permissions consented for a client.
type Grant struct {
	ID          string
	ClientID    string
	ResourceID  string
	ConsentType string // AllPrincipals or Principal
	PrincipalID string
	Scope       string // space-separated scope values
}

// AppRoleAssignment is an app role held by a principal on a resource.
type AppRoleAssignment struct {
	ID                  string
	AppRoleID           string
	ResourceID          string
	ResourceDisplayName string
	PrincipalID         string
}

// ownershipTag marks an application provision manages. An application found without it was
// made elsewhere (the portal, a script) and is adopted: the plan says so and apply adds the
// tag. Graph copies application tags to a service principal created afterwards.
const ownershipTag = "provision:managed"

// The resource APIs every mail integration uses, by their well-known appIds, so a manifest
// naming them resolves without a display-name search.
const (
	GraphAppID    = "00000003-0000-0000-c000-000000000000"
	ExchangeAppID = "00000002-0000-0ff1-ce00-000000000000"
)

// wellKnownAPIs maps a resource's display name to its appId.
func wellKnownAPIs() map[string]string {
	return map[string]string{
		"Microsoft Graph":            GraphAppID,
		"Office 365 Exchange Online": ExchangeAppID,
	}
}
