package provision

// Observed is what observe read from the tenant for one manifest document: everything the
// plan needs and nothing more. Planning reads only this, so it can be tested without a tenant.
// Each kind's part is described in its file.
type Observed struct {
	// Apps are the registrations that match the document's lookup key: the one with its
	// appId or uniqueName, else those with its display name (two or more is an error the
	// planner reports).
	Apps []ObservedApp
	// ServicePrincipal is the enterprise app of the matched registration, nil if it has none.
	ServicePrincipal *ObservedServicePrincipal
	// Resources are the resource APIs' service principals found for the manifest's apis
	// (and, for a complete observation, every api the registration refers to).
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
	// Sinks are what each managed secret's sinks hold, by secret name; nil when the engine
	// has no sink factory.
	Sinks map[string][]HeldSink
	// Mail is the mailbox side of mail access (the listed mailboxes, the application's
	// registration in Exchange), nil when the document lists no mailboxes.
	Mail *ObservedMail
}
