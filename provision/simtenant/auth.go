package simtenant

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision/simtenant/authority"
)

// The simulator's permission checks (these ids, directoryRoleNames and the can* checks of each
// route) model what Microsoft's services enforce, and are kept apart from package rights, the
// table of what provision's own steps need, on purpose: a fake that shared the client's table
// could not catch the client being wrong about the service.

// Well-known ids of the first-party resources and directory roles the simulator models.
const (
	graphAppID            = "00000003-0000-0000-c000-000000000000"
	exchangeAppID         = "00000002-0000-0ff1-ce00-000000000000"
	graphResourceURL      = "https://graph.microsoft.com"
	exchangeResourceURL   = "https://outlook.office365.com"
	exchangeManageAsApp   = "Exchange.ManageAsApp"
	roleGlobalAdmin       = "62e90394-69f5-4237-9190-012177145e10"
	roleAppAdmin          = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
	roleCloudAppAdmin     = "158c047a-c907-4556-b7ef-446551a6b5f7"
	rolePrivilegedRole    = "e8611ab8-c189-46e8-94e1-60213ab1f814"
	roleDirectoryReaders  = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
	roleExchangeAdmin     = "29232cdf-9323-42fd-ade2-1d097af3e4de"
	roleExchangeRecipient = "31392ffb-586c-42d1-9346-e59415a2cc4e"
)

// directoryRoleNames maps Entra role display names to their template ids (the wids claim).
func directoryRoleNames() map[string]string {
	return map[string]string{
		"Global Administrator":             roleGlobalAdmin,
		"Application Administrator":        roleAppAdmin,
		"Cloud Application Administrator":  roleCloudAppAdmin,
		"Privileged Role Administrator":    rolePrivilegedRole,
		"Directory Readers":                roleDirectoryReaders,
		"Exchange Administrator":           roleExchangeAdmin,
		"Exchange Recipient Administrator": roleExchangeRecipient,
	}
}

// roleImplies lists the Graph permissions a directory role carries for an app-only caller whose
// service principal holds it. Global Administrator carries everything.
func roleImplies(roleID, permission string) bool {
	readAll := []string{"Application.Read.All", "Directory.Read.All", "User.Read.All", "User.ReadBasic.All",
		"Group.Read.All", "GroupMember.Read.All", "DelegatedPermissionGrant.Read.All"}
	appWrite := []string{"Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"}
	switch roleID {
	case roleGlobalAdmin:
		return true
	case roleAppAdmin, roleCloudAppAdmin:
		return slices.Contains(appWrite, permission) || slices.Contains(readAll, permission)
	case rolePrivilegedRole:
		return permission == "AppRoleAssignment.ReadWrite.All" || permission == "DelegatedPermissionGrant.ReadWrite.All" ||
			slices.Contains(readAll, permission)
	case roleDirectoryReaders:
		return slices.Contains(readAll, permission)
	}
	return false
}

// caller is the identity behind a request's token, with the rights it holds in the directory now.
type caller struct {
	clientID string          // appid claim
	spID     string          // object id of its service principal
	roles    map[string]bool // Graph application permissions (app role values on the Graph SP)
	exoRoles map[string]bool // app role values on the Exchange Online SP
	wids     map[string]bool // directory role template ids
}

// can reports whether the caller holds any of the permissions, directly or through a directory role.
func (c *caller) can(perms ...string) bool {
	for _, p := range perms {
		if c.roles[p] {
			return true
		}
		for w := range c.wids {
			if roleImplies(w, p) {
				return true
			}
		}
	}
	return false
}

// callerFor computes the rights of a client from the directory as it is now. The real service
// reads them from the token, fixed at issuance; reading them live lets a test revoke a right
// without waiting for a token to expire.
func (t *Tenant) callerFor(clientID string) (*caller, bool) {
	sp := findBy(t.dir.ServicePrincipals, "appId", clientID)
	if sp == nil {
		return nil, false
	}
	c := &caller{clientID: clientID, spID: sp.id(), roles: map[string]bool{}, exoRoles: map[string]bool{}, wids: map[string]bool{}}
	for _, a := range t.dir.Assignments {
		if str(a.Props["principalId"]) != c.spID {
			continue
		}
		res := t.dir.ServicePrincipals[str(a.Props["resourceId"])]
		if res == nil {
			continue
		}
		value := appRoleValue(res, str(a.Props["appRoleId"]))
		switch str(res.Props["appId"]) {
		case graphAppID:
			c.roles[value] = true
		case exchangeAppID:
			c.exoRoles[value] = true
		}
	}
	for _, w := range t.dir.DirectoryRoles[c.spID] {
		c.wids[w] = true
	}
	return c, true
}

func appRoleValue(sp *entry, roleID string) string {
	for _, r := range asList(sp.Props["appRoles"]) {
		if m := asMap(r); strings.EqualFold(str(m["id"]), roleID) {
			return str(m["value"])
		}
	}
	return ""
}

// tokenVerifier checks a bearer token for one of the audiences and returns its claims.
type tokenVerifier interface {
	verify(token string, audiences []string) (authority.Claims, error)
}

// authenticate resolves the caller of a Graph or Exchange request, or answers 401 as Graph does.
func (t *Tenant) authenticate(rq *request, audiences []string) (*caller, *response) {
	h := rq.header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return nil, rq.graphError(http.StatusUnauthorized, codeInvalidToken, "Access token is empty.")
	}
	t.mu.Lock()
	verifier := t.verifier
	t.mu.Unlock()
	claims, err := verifier.verify(strings.TrimSpace(token), audiences)
	if err != nil {
		msg := "Access token validation failure."
		if strings.Contains(err.Error(), "audience") {
			msg += " Invalid audience."
		}
		return nil, rq.graphError(http.StatusUnauthorized, codeInvalidToken, msg)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.callerFor(claims.AppID)
	if !ok {
		return nil, rq.graphError(http.StatusUnauthorized, codeInvalidToken, "Access token validation failure.")
	}
	c.restrictTo(claims)
	return c, nil
}

// restrictTo keeps the rights both the token and the directory grant: a right given after the
// token was issued needs a new token, as with the real service, while a right taken away stops
// working at once (the real service would honour the token until it expires).
func (c *caller) restrictTo(claims authority.Claims) {
	for _, m := range []map[string]bool{c.roles, c.exoRoles} {
		for r := range m {
			if !claims.HasRole(r) {
				delete(m, r)
			}
		}
	}
	for w := range c.wids {
		if !claims.HasDirectoryRole(w) {
			delete(c.wids, w)
		}
	}
}

// hashSecret salts and hashes a password credential; only this is stored.
func hashSecret(secret string) secretHash {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	sum := sha256.Sum256(append(salt, secret...))
	return secretHash{Salt: hex.EncodeToString(salt), Hash: hex.EncodeToString(sum[:])}
}

func (h secretHash) matches(secret string) bool {
	salt, err := hex.DecodeString(h.Salt)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(append(salt, secret...))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(h.Hash)) == 1
}

// checkSecret reports whether secret is a valid (started, not expired) password credential of
// the application whose appId is clientID.
func (t *Tenant) checkSecret(clientID, secret string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if clientID == operatorClientID && subtle.ConstantTimeCompare([]byte(secret), []byte(t.operatorSecret())) == 1 {
		return true
	}
	// A password credential of the application or of its service principal signs it in.
	now := t.clock.Now()
	for _, owner := range []*entry{findBy(t.dir.Applications, "appId", clientID), findBy(t.dir.ServicePrincipals, "appId", clientID)} {
		if owner == nil {
			continue
		}
		for _, pc := range asList(owner.Props["passwordCredentials"]) {
			m := asMap(pc)
			if h, ok := t.dir.Secrets[str(m["keyId"])]; ok && h.matches(secret) && inValidity(m, now) {
				return true
			}
		}
	}
	return false
}

// operatorSecret is derived from the tenant id rather than stored: the state file keeps no
// usable secret, yet `simulate serve` can print the same one on every run.
func (t *Tenant) operatorSecret() string {
	sum := sha256.Sum256([]byte("provision-simulated-operator:" + t.dir.TenantID))
	return "sim~" + hex.EncodeToString(sum[:])[:36]
}

// OperatorCredentials returns the tenant id and the client credentials of the built-in operator
// identity (the "provision" app registration), which holds every right provision needs.
func (t *Tenant) OperatorCredentials() (tenantID, clientID, clientSecret string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dir.TenantID, operatorClientID, t.operatorSecret()
}

// RevokeOperatorRight takes a right away from the operator identity: a Graph or Exchange Online
// application permission value (e.g. "Application.ReadWrite.All") or an Entra role name.
func (t *Tenant) RevokeOperatorRight(name string) error {
	return t.setOperatorRight(name, false)
}

// GrantOperatorRight gives the operator identity a right (see RevokeOperatorRight for names).
func (t *Tenant) GrantOperatorRight(name string) error {
	return t.setOperatorRight(name, true)
}

func (t *Tenant) setOperatorRight(name string, grant bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Dated before the lag window: a right given by a test is in force at once.
	return t.setOperatorRightLocked(name, grant, t.clock.Now().Add(-t.faultsLag()-time.Second))
}

func (t *Tenant) setOperatorRightLocked(name string, grant bool, created time.Time) error {
	op := findBy(t.dir.ServicePrincipals, "appId", operatorClientID)
	if op == nil {
		return fmt.Errorf("set operator right %q: operator service principal is gone", name)
	}
	if roleID, ok := directoryRoleNames()[name]; ok {
		roles := slices.DeleteFunc(slices.Clone(t.dir.DirectoryRoles[op.id()]), func(r string) bool { return r == roleID })
		if grant {
			roles = append(roles, roleID)
		}
		t.dir.DirectoryRoles[op.id()] = roles
		return nil
	}
	for _, resAppID := range []string{graphAppID, exchangeAppID} {
		res := findBy(t.dir.ServicePrincipals, "appId", resAppID)
		if res == nil {
			continue
		}
		roleID := ""
		for _, r := range asList(res.Props["appRoles"]) {
			if m := asMap(r); str(m["value"]) == name {
				roleID = str(m["id"])
			}
		}
		if roleID == "" {
			continue
		}
		for id, a := range t.dir.Assignments {
			if str(a.Props["principalId"]) == op.id() && str(a.Props["resourceId"]) == res.id() && str(a.Props["appRoleId"]) == roleID {
				if grant {
					return nil
				}
				delete(t.dir.Assignments, id)
			}
		}
		if grant {
			t.assignRole(op, res, roleID, created)
		}
		return nil
	}
	return fmt.Errorf("set operator right %q: neither an application permission nor a directory role", name)
}
