package simtenant

// User is a user of the tenant as `simulate serve` and the README list it.
type User struct {
	UserPrincipalName string
	DisplayName       string
	// Mail is the user's mailbox address, "" for a user without a mailbox.
	Mail    string
	Enabled bool
}

// Group is a group of the tenant as `simulate serve` and the README list it.
type Group struct {
	DisplayName string
	// Mail is the group's address when it is mail-enabled (a recipient in Exchange), else "".
	Mail string
}

// Users returns the tenant's users in creation order: the seeded ones first.
func (t *Tenant) Users() []User {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []User
	for _, u := range sorted(t.dir.Users) {
		enabled, _ := u.Props["accountEnabled"].(bool)
		out = append(out, User{UserPrincipalName: str(u.Props["userPrincipalName"]), DisplayName: str(u.Props["displayName"]),
			Mail: str(u.Props["mail"]), Enabled: enabled})
	}
	return out
}

// Groups returns the tenant's groups in creation order.
func (t *Tenant) Groups() []Group {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Group
	for _, g := range sorted(t.dir.Groups) {
		var mail string
		if g.Props["mailEnabled"] == true {
			mail = str(g.Props["mail"])
		}
		out = append(out, Group{DisplayName: str(g.Props["displayName"]), Mail: mail})
	}
	return out
}
