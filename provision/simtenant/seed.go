package simtenant

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"
)

// operatorClientID is the client id of the built-in "provision" app registration.
const operatorClientID = "7d1f5a2c-3b4e-4f60-9a8b-0c1d2e3f4a5b"

// operatorRights are the rights the operator identity holds in a new tenant: everything
// provision needs (graph.md §5.1), and Send-As management in Exchange.
func operatorRights() []string {
	return []string{"Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
		"User.Read.All", "Group.Read.All", exchangeManageAsApp, "Exchange Recipient Administrator", "Exchange Administrator"}
}

type catalogue struct {
	Resources []struct {
		AppID       string `yaml:"appId"`
		DisplayName string `yaml:"displayName"`
		Permissions []struct {
			Value                string `yaml:"value"`
			ID                   string `yaml:"id"`
			Type                 string `yaml:"type"`
			AdminConsentRequired *bool  `yaml:"adminConsentRequired"`
			Description          string `yaml:"description"`
		} `yaml:"permissions"`
	} `yaml:"resources"`
}

type seedPermission struct {
	value, id, kind, description string
	admin                        bool
}

// extraGraphPermissions are Graph permissions the simulator enforces that the reference
// catalogue does not list. Their ids are Microsoft's published ones.
func extraGraphPermissions() []seedPermission {
	return []seedPermission{
		{"Group.Read.All", "5b567255-7703-4780-807c-7be8301ae99b", "Role", "Read all groups", true},
		{"Group.Read.All", "5f8c59db-677d-491f-a6b8-5f174b11ec1d", "Scope", "Read all groups", true},
		{"GroupMember.Read.All", "98830695-27a2-44f7-8c18-0c3ebc4f0d5c", "Role", "Read all group memberships", true},
		{"GroupMember.Read.All", "bc024368-1153-4739-b217-4326f2e966d0", "Scope", "Read group memberships", true},
		{"DelegatedPermissionGrant.Read.All", "81b4724a-58aa-41c1-8a55-84ef97466587", "Role", "Read all delegated permission grants", true},
		{"DelegatedPermissionGrant.Read.All", "a197cdc4-a8e8-4d49-9d35-4ca7c83887b4", "Scope", "Read delegated permission grants", true},
		{"Directory.ReadWrite.All", "19dbc75e-c2e2-444c-a770-ec69d8559fc7", "Role", "Read and write directory data", true},
		{"Directory.ReadWrite.All", "c5366453-9fb0-48a5-a156-24f0c49a4b84", "Scope", "Read and write directory data", true},
	}
}

// seedID derives a stable object id, so a seeded tenant looks the same on every run.
func (t *Tenant) seedID(name string) string { return t.seedIDLocked(name) }

// seedIDLocked is seedID for callers that hold t.mu (it reads only the tenant id).
func (t *Tenant) seedIDLocked(name string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("simtenant:"+t.dir.TenantID+":"+name)).String()
}

// seed fills a new tenant. Seeded objects are dated a day back, so replication lag never hides them.
func (t *Tenant) seed() error {
	var cat catalogue
	if err := yaml.Unmarshal([]byte(permissionsYAML), &cat); err != nil {
		return fmt.Errorf("seed: parse permission catalogue: %w", err)
	}
	created := t.clock.Now().Add(-24 * time.Hour)
	for _, r := range cat.Resources {
		var perms []seedPermission
		for _, p := range r.Permissions {
			admin := p.AdminConsentRequired == nil || *p.AdminConsentRequired
			perms = append(perms, seedPermission{value: p.Value, id: p.ID, kind: p.Type, description: p.Description, admin: admin})
		}
		if r.AppID == graphAppID {
			perms = append(perms, extraGraphPermissions()...)
		}
		t.seedResource(r.AppID, r.DisplayName, perms, created)
	}

	users := []struct {
		key, upn, given, surname, display, mail string
		enabled                                 bool
	}{
		{"admin", "admin", "Admin", "OpenFire", "Administrateur OpenFire", "admin", true},
		{"jm", "jm", "Jean-Michel", "MARTIN", "Jean-Michel MARTIN", "jm", true},
		{"jojo", "jojo", "Josiane", "Martin", "Josiane Martin", "jojo", true},
		{"contact", "contact", "Contact", "OpenFire", "Contact OpenFire", "contact", true},
		{"ancien", "ancien.salarie", "Ancien", "Salarié", "Ancien Salarié", "ancien.salarie", false},
		{"stagiaire", "stagiaire", "Stagiaire", "Été", "Stagiaire Été", "", true},
	}
	for _, u := range users {
		p := t.kinds.user.newDefaults()
		upn := u.upn + "@" + t.dir.Domain
		p["id"] = t.seedID("user/" + u.key)
		p["userPrincipalName"], p["displayName"], p["givenName"], p["surname"] = upn, u.display, u.given, u.surname
		p["accountEnabled"], p["mailNickname"], p["userType"] = u.enabled, u.upn, "Member"
		p["preferredLanguage"], p["createdDateTime"] = "fr-FR", timestamp(created)
		p["businessPhones"] = []any{}
		if u.mail != "" {
			mail := u.mail + "@" + t.dir.Domain
			p["mail"], p["proxyAddresses"] = mail, []any{"SMTP:" + mail}
		}
		t.dir.add(t.dir.Users, p, created)
	}
	groups := []struct {
		key, name, nick string
		mail            bool
	}{
		{"compta", "Comptabilité", "compta", true},
		{"equipe", "Équipe OpenFire", "equipe-openfire", false},
	}
	for _, g := range groups {
		p := t.kinds.group.newDefaults()
		p["id"], p["displayName"], p["mailNickname"] = t.seedID("group/"+g.key), g.name, g.nick
		p["securityEnabled"], p["mailEnabled"], p["createdDateTime"] = true, g.mail, timestamp(created)
		p["visibility"] = "Private"
		if g.mail {
			mail := g.nick + "@" + t.dir.Domain
			p["mail"], p["proxyAddresses"] = mail, []any{"SMTP:" + mail}
		}
		t.dir.add(t.dir.Groups, p, created)
	}
	return t.seedOperator(created)
}

func (t *Tenant) seedResource(appID, name string, perms []seedPermission, created time.Time) {
	p := t.kinds.servicePrincipal.newDefaults()
	var roles, scopes []any
	for _, perm := range perms {
		if perm.kind == "Role" {
			roles = append(roles, map[string]any{
				"allowedMemberTypes": []any{"Application"}, "description": perm.description, "displayName": perm.description,
				"id": perm.id, "isEnabled": true, "origin": "Application", "value": perm.value,
			})
			continue
		}
		consent := "User"
		if perm.admin {
			consent = "Admin"
		}
		scopes = append(scopes, map[string]any{
			"adminConsentDescription": perm.description, "adminConsentDisplayName": perm.description, "id": perm.id,
			"isEnabled": true, "origin": "Application", "type": consent, "userConsentDescription": perm.description,
			"userConsentDisplayName": perm.description, "value": perm.value,
		})
	}
	resourceURL := graphResourceURL
	if appID == exchangeAppID {
		resourceURL = exchangeResourceURL
	}
	p["id"] = t.seedID("sp/" + appID)
	p["accountEnabled"], p["appDisplayName"], p["displayName"], p["appId"] = true, name, name, appID
	p["appOwnerOrganizationId"] = "f8cdef31-a31e-4b4a-93e4-5f571e91255a" // Microsoft services tenant
	p["appRoleAssignmentRequired"], p["servicePrincipalType"], p["signInAudience"] = false, "Application", "AzureADMultipleOrgs"
	p["appRoles"], p["oauth2PermissionScopes"] = orEmpty(roles), orEmpty(scopes)
	p["servicePrincipalNames"] = []any{appID, resourceURL, resourceURL + "/"}
	p["info"] = map[string]any{"logoUrl": nil, "marketingUrl": nil, "privacyStatementUrl": nil, "supportUrl": nil, "termsOfServiceUrl": nil}
	t.dir.add(t.dir.ServicePrincipals, p, created)
}

func orEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// seedOperator creates the "provision" app registration and its SP with the operator rights.
func (t *Tenant) seedOperator(created time.Time) error {
	app := t.applicationDefaults(map[string]any{"signInAudience": "AzureADMyOrg"})
	app["id"], app["appId"], app["displayName"] = t.seedID("app/provision"), operatorClientID, "provision"
	app["createdDateTime"], app["publisherDomain"] = timestamp(created), t.dir.Domain
	appEntry := t.dir.add(t.dir.Applications, app, created)
	sp := t.servicePrincipalFromApp(appEntry, created)
	sp["id"] = t.seedID("sp/provision")
	t.dir.add(t.dir.ServicePrincipals, sp, created)
	for _, r := range operatorRights() {
		if err := t.setOperatorRightLocked(r, true, created); err != nil {
			return fmt.Errorf("seed operator: %w", err)
		}
	}
	return nil
}
