package authority

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// federationAudience is the audience Entra requires of a federated (workload identity) assertion.
const federationAudience = "api://AzureADTokenExchange"

// maxTokenRequest bounds a token request body; real ones are a few kilobytes.
const maxTokenRequest = 64 << 10

// serveToken implements the client credentials grant of the v2.0 token endpoint.
func (a *Authority) serveToken(w http.ResponseWriter, r *http.Request) {
	segment := r.PathValue("tenant")
	if isMultiTenantAlias(segment) {
		a.writeError(w, r, noTenantInRequest())
		return
	}
	tid, ok := a.resolveTenant(segment)
	if !ok {
		a.writeError(w, r, tenantNotFound(segment))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		a.writeError(w, r, missingParameter("grant_type"))
		return
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	if grant == "" {
		a.writeError(w, r, missingParameter("grant_type"))
		return
	}
	if grant != "client_credentials" {
		a.writeError(w, r, unsupportedGrant(grant))
		return
	}
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok {
		clientID, secret = user, pass
	}
	if clientID == "" {
		a.writeError(w, r, missingParameter("client_id"))
		return
	}
	scope := form.Get("scope")
	if scope == "" {
		a.writeError(w, r, missingParameter("scope"))
		return
	}
	resource, ok := resourceFromScope(scope)
	if !ok {
		a.writeError(w, r, invalidScope(scope))
		return
	}
	client, ok := a.cfg.Lookup(clientID)
	if !ok {
		a.writeError(w, r, unknownApplication(clientID, tid))
		return
	}
	acr, fail := a.authenticate(r, client, tid, secret, form.Get("client_assertion"))
	if fail != nil {
		a.writeError(w, r, *fail)
		return
	}
	if a.cfg.KnownResource != nil && !a.cfg.KnownResource(resource) {
		a.writeError(w, r, resourceNotFound(resource, tid))
		return
	}
	now := a.cfg.Clock.Now()
	issuer := "https://sts.windows.net/" + tid + "/"
	claims := Claims{
		Audience:         resource,
		Issuer:           issuer,
		IdentityProvider: issuer,
		IssuedAt:         now.Unix(),
		NotBefore:        now.Unix(),
		Expires:          now.Add(a.cfg.TokenLifetime).Unix(),
		AppID:            client.ClientID,
		AuthorizedParty:  client.ClientID,
		AppIDACR:         acr,
		IdentityType:     "app",
		ObjectID:         client.ObjectID,
		Subject:          client.ObjectID,
		TenantID:         tid,
		Roles:            rolesFor(client, resource),
		DirectoryRoles:   slices.Clone(client.DirectoryRoles),
		TokenID:          uuid.NewString(),
		Version:          "1.0",
	}
	token, err := a.sign(claims)
	if err != nil {
		http.Error(w, "sign token", http.StatusInternalServerError)
		return
	}
	lifetime := int(a.cfg.TokenLifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     lifetime,
		"ext_expires_in": lifetime,
		"access_token":   token,
	})
}

// resourceFromScope extracts the resource of a client credentials scope "<resource>/.default".
// MSAL adds the OpenID scopes (openid, profile, offline_access) to every request; besides them
// exactly one scope is allowed, as Entra rejects a mix of resources in one app-only request.
func resourceFromScope(scope string) (string, bool) {
	var fields []string
	for _, f := range strings.Fields(scope) {
		switch f {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		fields = append(fields, f)
	}
	if len(fields) != 1 {
		return "", false
	}
	resource, ok := strings.CutSuffix(fields[0], "/.default")
	if !ok || resource == "" {
		return "", false
	}
	return resource, true
}

// rolesFor returns the client's roles on resource, found by the exact key or by the key that
// differs only by a trailing slash or case.
func rolesFor(client Client, resource string) []string {
	if roles, ok := client.Roles[resource]; ok {
		return slices.Clone(roles)
	}
	for k, roles := range client.Roles {
		if sameResource(k, resource) {
			return slices.Clone(roles)
		}
	}
	return nil
}

// authenticate checks the client's secret or assertion and returns the appidacr value, or the
// AADSTS failure.
func (a *Authority) authenticate(r *http.Request, client Client, tid, secret, assertion string) (string, *aadError) {
	switch {
	case secret != "":
		if client.CheckSecret == nil || !client.CheckSecret(secret) {
			e := invalidClientSecret(client.ClientID)
			return "", &e
		}
		return "1", nil
	case assertion != "":
		if fail := a.checkAssertion(r, client, tid, assertion); fail != nil {
			return "", fail
		}
		return "2", nil
	default:
		e := missingClientCredential()
		return "", &e
	}
}

// assertionClaims are the claims read from a client assertion.
type assertionClaims struct {
	Issuer    string          `json:"iss"`
	Subject   string          `json:"sub"`
	Audience  json.RawMessage `json:"aud"`
	Expires   int64           `json:"exp"`
	NotBefore int64           `json:"nbf"`
}

// audiences decodes aud, which JWTs write as a string or an array.
func (c assertionClaims) audiences() []string {
	var one string
	if err := json.Unmarshal(c.Audience, &one); err == nil {
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(c.Audience, &many); err == nil {
		return many
	}
	return nil
}

// checkAssertion accepts a certificate assertion (iss = sub = client id, signed by a registered
// certificate, aud = this token endpoint) or, when the client allows federation, an external
// assertion with the token-exchange audience. Federated assertions are checked for shape and
// time only: their issuer's keys are not fetched.
func (a *Authority) checkAssertion(r *http.Request, client Client, tid, assertion string) *aadError {
	t, err := parseJWT(assertion)
	if err != nil {
		e := malformedAssertion()
		return &e
	}
	var c assertionClaims
	if err := json.Unmarshal(t.payload, &c); err != nil || c.Issuer == "" || c.Subject == "" || c.Expires == 0 {
		e := malformedAssertion()
		return &e
	}
	now := a.cfg.Clock.Now()
	if now.After(time.Unix(c.Expires, 0).Add(clockSkew)) || (c.NotBefore != 0 && now.Add(clockSkew).Before(time.Unix(c.NotBefore, 0))) {
		e := assertionExpired()
		return &e
	}
	auds := c.audiences()
	if c.Issuer == client.ClientID && c.Subject == client.ClientID {
		return a.checkCertificateAssertion(r, client, t, auds)
	}
	if !client.AllowAssertion || !slices.Contains(auds, federationAudience) {
		e := noFederationMatch(c.Issuer, c.Subject, strings.Join(auds, ","))
		return &e
	}
	return nil
}

// checkCertificateAssertion verifies a self-signed client assertion against the client's
// registered certificates, chosen by thumbprint.
func (a *Authority) checkCertificateAssertion(r *http.Request, client Client, t compactJWT, auds []string) *aadError {
	notRegistered := certificateNotRegistered(client.ClientID)
	audienceOK := false
	for _, aud := range auds {
		if strings.HasSuffix(aud, "/oauth2/v2.0/token") || strings.HasSuffix(aud, "/oauth2/token") {
			audienceOK = true
		}
	}
	if !audienceOK {
		e := malformedAssertion()
		return &e
	}
	for _, cert := range client.Certificates {
		if t.header.X5TSHA256 != thumbprintSHA256(cert.Raw) && t.header.X5T != thumbprintSHA1(cert.Raw) {
			continue
		}
		key, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			continue
		}
		if t.verifyRSA(key) == nil {
			return nil
		}
	}
	return &notRegistered
}
