package simtenant

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/provisionhq/provision/provision/simtenant/authority"
)

// mountAuthority starts the identity platform, backed by the directory: any application with a
// service principal can sign in with a current client secret, and gets the app roles and
// directory roles it holds now.
func (t *Tenant) mountAuthority() error {
	a, err := authority.New(authority.Config{
		TenantID:   t.dir.TenantID,
		Domains:    []string{t.dir.Domain},
		Lookup:     t.lookupClient,
		Clock:      t.clock,
		SigningKey: t.opts.SigningKey,
	})
	if err != nil {
		return fmt.Errorf("mount authority: %w", err)
	}
	t.verifier = authorityVerifier{a}
	t.authority = a
	return nil
}

// servesAuthority reports whether r is a request for the identity platform.
func (t *Tenant) servesAuthority(r *http.Request) bool {
	t.mu.Lock()
	a := t.authority
	t.mu.Unlock()
	return a.Serves(r)
}

func (t *Tenant) serveAuthority(w http.ResponseWriter, r *http.Request) {
	t.recordToken()
	t.mu.Lock()
	a := t.authority
	t.mu.Unlock()
	a.Handler().ServeHTTP(w, r)
}

// lookupClient describes a client to the authority. Roles are keyed by every name its
// resources answer to: their appId, their public URL and the URLs this tenant is served at.
func (t *Tenant) lookupClient(clientID string) (authority.Client, bool) {
	t.mu.Lock()
	c, ok := t.callerFor(clientID)
	var name string
	if sp := findBy(t.dir.ServicePrincipals, "appId", clientID); sp != nil {
		name = str(sp.Props["displayName"])
	}
	t.mu.Unlock()
	if !ok {
		return authority.Client{}, false
	}
	graphRoles := keys(c.roles)
	exoRoles := keys(c.exoRoles)
	roles := map[string][]string{
		graphAppID: graphRoles, graphResourceURL: graphRoles,
		exchangeAppID: exoRoles, exchangeResourceURL: exoRoles,
	}
	for _, u := range t.hosts.list("graph") {
		roles[u] = graphRoles
	}
	for _, u := range t.hosts.list("exchange") {
		roles[u] = append(slices.Clone(roles[u]), exoRoles...)
	}
	return authority.Client{
		ClientID:       clientID,
		ObjectID:       c.spID,
		DisplayName:    name,
		CheckSecret:    func(secret string) bool { return t.checkSecret(clientID, secret) },
		Roles:          roles,
		DirectoryRoles: keys(c.wids),
	}, true
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// authorityVerifier checks tokens with the tenant's authority, for any of the audiences.
type authorityVerifier struct{ a *authority.Authority }

func (v authorityVerifier) verify(token string, audiences []string) (authority.Claims, error) {
	var last error
	for _, aud := range audiences {
		c, err := v.a.Verify(token, aud)
		if err == nil {
			return c, nil
		}
		last = err
		if !strings.Contains(err.Error(), "audience") {
			break // a bad signature or an expired token fails for every audience
		}
	}
	return authority.Claims{}, last
}
