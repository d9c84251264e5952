// Package export turns an application that already exists in a tenant (made in the portal,
// by a script, or by provision) into a provision/v1 manifest, so an existing setup can be
// adopted: the manifest validates, and planning it against the same tenant shows no change.
//
// Read does the I/O (Graph, and Exchange for Send-As); Build is pure and decides what the
// manifest says; Render writes it as YAML with comments for what a manifest cannot carry
// (secret values, consent that differs from the request, objects it cannot name).
package export

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/internal/sets"
)

// Snapshot is what Read found about one application: the inputs of Build.
type Snapshot struct {
	// TenantID is written as the manifest's tenant when set.
	TenantID         string
	App              provision.ObservedApp
	ServicePrincipal *provision.ObservedServicePrincipal
	// Resources are the resource APIs the application requests or holds permissions of.
	Resources          []provision.ResourceServicePrincipal
	Grants             []provision.Grant
	AppRoleAssignments []provision.AppRoleAssignment
	AssignedTo         []provision.Assignment
	// Principals are the users and groups of AssignedTo, by lower-cased object id.
	Principals map[string]provision.DirectoryObject
	// SendAs are the mailboxes asked for, in the order asked.
	SendAs []provision.ObservedSendAs
	// ExchangeServicePrincipal is the application's registration in Exchange Online, nil when
	// it has none (or no mailbox was asked for).
	ExchangeServicePrincipal *exchange.ServicePrincipal
	// Mailboxes are the mailboxes asked for, with their Exchange settings.
	Mailboxes []Mailbox
}

// Mailbox is one mailbox asked for and what Exchange holds of it.
type Mailbox struct {
	Address string
	// Found is false when the directory or Exchange has no such mailbox.
	Found bool
	State exchange.MailboxState
}

// Result is an exported manifest: the document, and the comments Render places in it.
type Result struct {
	Document *manifests.Document
	Notes    Notes
}

// Notes are the comments of an exported manifest, each a list of lines.
type Notes struct {
	// Header opens the file.
	Header []string
	// APIs names the resource of a permissions entry written by appId, by that appId.
	APIs map[string]string
	// Permissions explains permissions the manifest cannot carry.
	Permissions []string
	// Consent explains why adminConsent is false although some consent exists.
	Consent []string
	// Secrets lists the application's client secrets, commented out: their values cannot be
	// read back, and a manifest secret needs a store for new values.
	Secrets []string
	// Assignments explains assignments the manifest cannot carry.
	Assignments []string
	// Groups names an assigned group written by object id, by that id.
	Groups map[string]string
	// SendAs explains mailboxes and trustees the manifest cannot carry.
	SendAs []string
	// Mailboxes explains the mailbox side (the registration in Exchange, FullAccess, SMTP AUTH).
	Mailboxes []string
}

// Build decides the manifest of s. now dates the secrets' comments (expired or not). The
// document is meant to plan empty against the tenant s was read from; whatever would not is
// said in Notes.
func Build(s *Snapshot, now time.Time) Result {
	app := s.App
	doc := &manifests.Document{APIVersion: manifests.APIVersion, Tenant: s.TenantID}
	n := Notes{APIs: map[string]string{}, Groups: map[string]string{}}
	n.Header = []string{
		fmt.Sprintf("Exported by provision from the application %q (appId %s).", app.DisplayName, app.AppID),
		"appId pins this registration: plan and apply change it in place, they never create another.",
		"Lists are authoritative: what you remove here is removed from the tenant by apply.",
	}
	a := &doc.Application
	a.Name, a.AppID, a.UniqueName = app.DisplayName, app.AppID, app.UniqueName
	if aud := manifests.AudienceFromSignIn(app.SignInAudience); aud != "" {
		a.Audience = aud
	} else {
		n.Header = append(n.Header, fmt.Sprintf("signInAudience %q has no manifest word: audience is left out, so it is not managed.", app.SignInAudience))
	}
	a.RedirectURIs = manifests.RedirectURIs{Web: sets.Sorted(app.Web), SPA: sets.Sorted(app.SPA), PublicClient: sets.Sorted(app.PublicClient)}

	a.Permissions = []manifests.Permission{}
	for _, r := range app.RequiredResourceAccess {
		p, notes := permission(r, s.Resources, n.APIs)
		n.Permissions = append(n.Permissions, notes...)
		if p != nil {
			a.Permissions = append(a.Permissions, *p)
		}
	}
	a.AdminConsent, n.Consent = consent(s)
	n.Secrets = secrets(app.PasswordCredentials, now)
	a.Assignments, n.Assignments = assignments(s, n.Groups)
	doc.SendAs, n.SendAs = sendAs(s.SendAs)
	doc.Mailboxes, n.Mailboxes = mailboxes(s)
	if s.ServicePrincipal == nil {
		n.Header = append(n.Header, "The application has no enterprise application (service principal) yet: plan will create one.")
	}
	return Result{Document: doc, Notes: n}
}

// permission turns one requiredResourceAccess entry into a manifest entry, with names from
// the resource's service principal. Microsoft Graph and Exchange Online are written by name;
// other APIs by appId, since their display name need not be unique in the tenant.
func permission(r provision.RequiredResourceAccess, resources []provision.ResourceServicePrincipal, apiNames map[string]string) (*manifests.Permission, []string) {
	res := provision.ResourceByAppID(resources, r.ResourceAppID)
	if res == nil {
		return nil, []string{fmt.Sprintf("The application requests %d permission(s) of API %s, which has no service principal in this tenant: "+
			"they cannot be named and are left out (plan will show their removal).", len(r.ResourceAccess), r.ResourceAppID)}
	}
	p := &manifests.Permission{API: r.ResourceAppID}
	if name, ok := manifests.WellKnownAPIName(r.ResourceAppID); ok {
		p.API = name
	} else if res.DisplayName != "" {
		apiNames[r.ResourceAppID] = res.DisplayName
	}
	var notes []string
	for _, ra := range r.ResourceAccess {
		name := res.OfferedPermission(ra.ID, ra.Type)
		if name == "" {
			kind := "application"
			if ra.Type == provision.AccessScope {
				kind = "delegated"
			}
			notes = append(notes, fmt.Sprintf("%s no longer offers the %s permission %s: it is left out (plan will show its removal).",
				label(res), kind, ra.ID))
			continue
		}
		if ra.Type == provision.AccessScope {
			p.Delegated = appendOnce(p.Delegated, name)
		} else {
			p.Application = appendOnce(p.Application, name)
		}
	}
	return p, notes
}

// consent says whether adminConsent: true describes the tenant exactly: one tenant-wide
// grant per requested API carrying exactly its delegated permissions, exactly the requested
// application permissions held, and nothing else. Anything short of that exports as false,
// which leaves consent as it is, with a note saying how it differs.
func consent(s *Snapshot) (bool, []string) {
	sp := s.ServicePrincipal
	if sp == nil || len(s.App.RequiredResourceAccess) == 0 {
		return false, nil
	}
	var diffs []string
	wantScopes := map[string][]string{} // resource object id -> scope values
	wantRoles := map[string]bool{}      // resource object id/app role id
	for _, r := range s.App.RequiredResourceAccess {
		res := provision.ResourceByAppID(s.Resources, r.ResourceAppID)
		if res == nil {
			diffs = append(diffs, fmt.Sprintf("API %s has no service principal", r.ResourceAppID))
			continue
		}
		key := strings.ToLower(res.ID)
		if _, ok := wantScopes[key]; !ok {
			wantScopes[key] = []string{}
		}
		for _, ra := range r.ResourceAccess {
			name := res.OfferedPermission(ra.ID, ra.Type)
			switch {
			case name == "":
			case ra.Type == provision.AccessScope:
				wantScopes[key] = append(wantScopes[key], name)
			default:
				wantRoles[key+"/"+strings.ToLower(ra.ID)] = true
			}
		}
	}
	grants := map[string][]provision.Grant{}
	for _, g := range s.Grants {
		if g.ConsentType == "AllPrincipals" && strings.EqualFold(g.ClientID, sp.ID) {
			grants[strings.ToLower(g.ResourceID)] = append(grants[strings.ToLower(g.ResourceID)], g)
		}
	}
	for _, key := range sortedKeys(wantScopes) {
		want, have := sets.Sorted(wantScopes[key]), grants[key]
		name := label(provision.ResourceByID(s.Resources, key))
		switch {
		case len(have) > 1:
			diffs = append(diffs, fmt.Sprintf("%s has %d tenant-wide grants", name, len(have)))
		case len(have) == 0 && len(want) > 0:
			diffs = append(diffs, fmt.Sprintf("%s: %s not consented", name, strings.Join(want, ", ")))
		case len(have) == 1 && !slices.Equal(sets.Sorted(strings.Fields(have[0].Scope)), want):
			diffs = append(diffs, fmt.Sprintf("%s: consented [%s], requested [%s]", name,
				strings.Join(sets.Sorted(strings.Fields(have[0].Scope)), " "), strings.Join(want, " ")))
		}
	}
	for _, key := range sortedKeys(grants) {
		if _, ok := wantScopes[key]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: delegated consent without a request", label(provision.ResourceByID(s.Resources, key))))
		}
	}
	held := map[string]bool{}
	for _, a := range s.AppRoleAssignments {
		if strings.EqualFold(a.PrincipalID, sp.ID) {
			held[strings.ToLower(a.ResourceID+"/"+a.AppRoleID)] = true
		}
	}
	for _, k := range sortedKeys(wantRoles) {
		if !held[k] {
			diffs = append(diffs, "application permission "+roleLabel(s.Resources, k)+" not consented")
		}
	}
	for _, k := range sortedKeys(held) {
		if !wantRoles[k] {
			diffs = append(diffs, "application permission "+roleLabel(s.Resources, k)+" held without a request")
		}
	}
	if len(diffs) == 0 {
		return true, nil
	}
	if len(s.Grants) == 0 && len(held) == 0 {
		return false, []string{"No administrator has consented to these permissions yet: set adminConsent: true to grant consent tenant-wide."}
	}
	notes := []string{"Consent in the tenant differs from the permissions requested, so adminConsent is false and plan leaves consent as it is:"}
	for _, d := range diffs {
		notes = append(notes, "  - "+d)
	}
	return false, append(notes, "Set adminConsent: true to make consent match the list exactly (plan shows the changes first).")
}

// secrets describes the application's client secrets as commented-out manifest entries.
// Their values cannot be read back, and a manifest secret must say where a new value goes;
// inventing a store would send the next rotated value somewhere nobody looks.
func secrets(creds []provision.PasswordCredential, now time.Time) []string {
	if len(creds) == 0 {
		return nil
	}
	byName := map[string][]provision.PasswordCredential{}
	var unnamed []string
	for _, c := range creds {
		if c.DisplayName == "" {
			unnamed = append(unnamed, c.KeyID)
			continue
		}
		byName[c.DisplayName] = append(byName[c.DisplayName], c)
	}
	lines := []string{
		"Client secrets: a secret's value is shown only when it is created, so none can be exported,",
		"and provision manages a secret only with a store for the new values it creates. To let",
		"provision rotate one, uncomment it and add a store (file, keyVault, exec or githubOutput).",
		"Until then provision leaves these secrets alone and only warns before they expire.",
	}
	if len(byName) > 0 {
		lines = append(lines, "secrets:")
	}
	for _, name := range sortedKeys(byName) {
		cs := byName[name]
		slices.SortFunc(cs, func(a, b provision.PasswordCredential) int { return strings.Compare(b.EndDate, a.EndDate) })
		newest := cs[0]
		lines = append(lines, "  - name: "+yamlScalar(name))
		if d := lifetime(newest); d > 0 {
			lines = append(lines, "    lifetime: "+d.String())
		}
		desc := fmt.Sprintf("%d credential(s) of this name; the newest (keyId %s", len(cs), newest.KeyID)
		if end, err := time.Parse(time.RFC3339, newest.EndDate); err == nil {
			if end.Before(now) {
				desc += ", expired " + end.Format("2006-01-02")
			} else {
				desc += ", expires " + end.Format("2006-01-02")
			}
		}
		lines = append(lines, "    # "+desc+")", "    store: {}  # add one: file, keyVault, exec or githubOutput")
	}
	for _, id := range unnamed {
		lines = append(lines, fmt.Sprintf("A secret without a description (keyId %s) cannot be recognised by name; provision never touches it.", id))
	}
	return lines
}

// lifetime is a credential's validity, rounded to whole days and capped at the manifest
// maximum; 0 when unknown.
func lifetime(c provision.PasswordCredential) manifests.Duration {
	start, err1 := time.Parse(time.RFC3339, c.StartDate)
	end, err2 := time.Parse(time.RFC3339, c.EndDate)
	if err1 != nil || err2 != nil || !end.After(start) {
		return 0
	}
	days := (end.Sub(start) + 12*time.Hour) / (24 * time.Hour)
	d := manifests.Duration(days * 24 * time.Hour)
	if d > manifests.MaxLifetime {
		d = manifests.MaxLifetime
	}
	if d == 0 {
		return 0
	}
	return d
}

// assignments lists the users (by UPN) and groups (by object id, a name need not be unique)
// assigned to the enterprise app, and whether assignment is required.
func assignments(s *Snapshot, groupNames map[string]string) (*manifests.Assignments, []string) {
	if s.ServicePrincipal == nil {
		return nil, nil
	}
	required := s.ServicePrincipal.AppRoleAssignmentRequired
	out := &manifests.Assignments{Required: &required, Users: []string{}, Groups: []string{}}
	var notes []string
	for _, as := range s.AssignedTo {
		p, ok := s.Principals[strings.ToLower(as.PrincipalID)]
		switch {
		case as.PrincipalType == provision.PrincipalUser && ok && p.UserPrincipalName != "":
			out.Users = appendOnce(out.Users, strings.ToLower(p.UserPrincipalName))
		case as.PrincipalType == provision.PrincipalGroup && ok:
			out.Groups = appendOnce(out.Groups, p.ID)
			groupNames[p.ID] = p.DisplayName
		case as.PrincipalType == provision.PrincipalUser || as.PrincipalType == provision.PrincipalGroup:
			notes = append(notes, fmt.Sprintf("%s %s (%s) is assigned but could not be read: it is left out (plan will show its removal).",
				strings.ToLower(as.PrincipalType), as.PrincipalID, as.PrincipalDisplayName))
		default:
			notes = append(notes, fmt.Sprintf("%s %q is assigned too; provision leaves assignments of applications alone.",
				as.PrincipalType, as.PrincipalDisplayName))
		}
		if as.AppRoleID != "" && as.AppRoleID != provision.DefaultAccessRoleID {
			notes = append(notes, fmt.Sprintf("%s holds the app role %s; provision assigns default access only.", as.PrincipalDisplayName, as.AppRoleID))
		}
	}
	slices.Sort(out.Users)
	slices.Sort(out.Groups)
	return out, notes
}

// sendAs lists each mailbox's Send-As trustees. Entries are additive (exclusive: false): the
// export lists every trustee, and setting exclusive is a decision for whoever adopts it.
func sendAs(boxes []provision.ObservedSendAs) ([]manifests.SendAs, []string) {
	var out []manifests.SendAs
	var notes []string
	for _, b := range boxes {
		if b.Missing {
			notes = append(notes, fmt.Sprintf("Exchange Online has no mailbox %s: it is left out.", b.Mailbox))
			continue
		}
		entry := manifests.SendAs{Mailbox: b.Mailbox, Trustees: []string{}}
		for _, t := range b.Trustees {
			name := t.Address
			if name == "" && strings.Contains(t.Raw, "@") {
				name = strings.ToLower(t.Raw)
			}
			if name == "" {
				notes = append(notes, fmt.Sprintf("%s holds Send-As on %s but has no address a manifest can name: it is left out (plan reports it).", t.Raw, b.Mailbox))
				continue
			}
			entry.Trustees = appendOnce(entry.Trustees, name)
		}
		for _, r := range b.Ignored {
			if r.Reason == exchange.IgnoredDeny || r.Reason == exchange.IgnoredOrphan {
				notes = append(notes, fmt.Sprintf("The %s Send-As entry of %s on %s is not exported; provision leaves it alone.", r.Reason, r.Trustee, b.Mailbox))
			}
		}
		if len(entry.Trustees) == 0 {
			notes = append(notes, fmt.Sprintf("Nobody holds Send-As on %s: it is left out (an entry needs at least one trustee).", b.Mailbox))
			continue
		}
		slices.Sort(entry.Trustees)
		out = append(out, entry)
	}
	return out, notes
}

func label(r *provision.ResourceServicePrincipal) string {
	switch {
	case r == nil:
		return "an unknown API"
	case r.DisplayName != "":
		return r.DisplayName
	}
	return r.AppID
}

// roleLabel names "resourceId/appRoleId" as "API: value".
func roleLabel(rs []provision.ResourceServicePrincipal, key string) string {
	resID, roleID, _ := strings.Cut(key, "/")
	r := provision.ResourceByID(rs, resID)
	name := roleID
	if r != nil {
		if v := r.OfferedPermission(roleID, provision.AccessRole); v != "" {
			name = v
		}
	}
	return label(r) + " " + name
}

func appendOnce(xs []string, x string) []string {
	if slices.Contains(xs, x) {
		return xs
	}
	return append(xs, x)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mailboxes writes the mailbox side of the asked mailboxes: each one's SMTP AUTH as it is,
// and appAccess where the application's registration holds FullAccess. The key is written
// only when there is something to manage (a registration, or a mailbox with its own SMTP
// AUTH setting), since a mailboxes key makes the registration authoritative.
func mailboxes(s *Snapshot) ([]manifests.Mailbox, []string) {
	var out []manifests.Mailbox
	var notes []string
	reg := s.ExchangeServicePrincipal
	wrongID := reg != nil && s.ServicePrincipal != nil && !strings.EqualFold(reg.ObjectID, s.ServicePrincipal.ID)
	anyAccess, anySetting := false, false
	for _, m := range s.Mailboxes {
		if !m.Found {
			notes = append(notes, fmt.Sprintf("Exchange Online has no mailbox %s: it is left out of mailboxes.", m.Address))
			continue
		}
		entry := manifests.Mailbox{Address: m.Address, SMTPAuth: manifests.SMTPAuth(m.State.CAS.SMTPAuth)}
		if reg != nil && s.ServicePrincipal != nil {
			fa := m.State.Permissions.FullAccessOf(exchange.ServicePrincipal{ObjectID: s.ServicePrincipal.ID})
			entry.AppAccess = fa.Granted
			if fa.Denied {
				notes = append(notes, fmt.Sprintf("A Deny row on %s refuses the application FullAccess; provision leaves it alone.", m.Address))
			}
		}
		anyAccess = anyAccess || entry.AppAccess
		anySetting = anySetting || entry.SMTPAuth != manifests.SMTPAuthOrganization
		out = append(out, entry)
	}
	switch {
	case wrongID:
		notes = append(notes, fmt.Sprintf("The application is registered in Exchange Online with object id %s, which is not its enterprise application's (%s): no app-only login can work, and plan replaces the registration.",
			reg.ObjectID, s.ServicePrincipal.ID))
	case reg != nil && !anyAccess:
		notes = append(notes, "The application is registered in Exchange Online but holds FullAccess on none of the exported mailboxes: mailboxes is left out (listing them would remove the registration); export the mailboxes it signs in to with --mailbox.")
		return nil, notes
	case reg == nil && !anySetting:
		return nil, notes // nothing of the mailbox side to manage
	}
	return out, notes
}
