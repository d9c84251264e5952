package provision

// planServicePrincipal makes sure the registration has its enterprise app, with
// appRoleAssignmentRequired as the manifest says when it says.
func planServicePrincipal(want Desired, app *ObservedApp, sp *ObservedServicePrincipal) *Change {
	address := want.Address + ".service_principal"
	if sp == nil {
		appID := AttrChange{Name: "appId", KnownAfterApply: true}
		t := Target{AssignmentRequired: want.AssignmentRequired}
		if app != nil {
			appID = AttrChange{Name: "appId", After: app.AppID}
			t.AppID = app.AppID
		}
		attrs := []AttrChange{appID}
		if want.AssignmentRequired != nil {
			attrs = append(attrs, AttrChange{Name: "appRoleAssignmentRequired", After: *want.AssignmentRequired})
		}
		attrs = append(attrs, AttrChange{Name: "id", KnownAfterApply: true})
		return &Change{Address: address, Kind: KindServicePrincipal, Action: Create, Attrs: attrs,
			Source: want.pos("application"), Target: t}
	}
	if want.AssignmentRequired == nil || *want.AssignmentRequired == sp.AppRoleAssignmentRequired {
		return nil
	}
	return &Change{
		Address: address, Kind: KindServicePrincipal, Action: Update,
		Attrs:  []AttrChange{{Name: "appRoleAssignmentRequired", Before: sp.AppRoleAssignmentRequired, After: *want.AssignmentRequired}},
		Source: want.pos("application.assignments.required"),
		Target: Target{ID: sp.ID, AppID: sp.AppID, AssignmentRequired: want.AssignmentRequired},
	}
}
