package verify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/retry"
	"github.com/provisionhq/provision/provision/sensitive"
)

// tokenClaims are the claims of an app-only access token verify reads; nothing checks the
// signature on this side, the resource does.
type tokenClaims struct {
	Audience string   `json:"aud"`
	TenantID string   `json:"tid"`
	AppID    string   `json:"appid"`
	ObjectID string   `json:"oid"` // the application's service principal, as New-ServicePrincipal needs it
	Roles    []string `json:"roles"`
}

// decodeClaims reads the payload of a compact JWT.
func decodeClaims(token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, errors.New("the access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return tokenClaims{}, fmt.Errorf("decode the access token: %w", err)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenClaims{}, fmt.Errorf("decode the access token: %w", err)
	}
	return c, nil
}

// credential is the application's client secret credential against the authority, built
// once per run so both tokens share its metadata reads.
func (r *run) credential() (*azidentity.ClientSecretCredential, error) {
	if r.cred != nil {
		return r.cred, nil
	}
	host := firstOf(r.Endpoints.AuthorityHost, credential.DefaultAuthority)
	if !strings.HasSuffix(host, "/") {
		host += "/"
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("authority host %q: %w", host, err)
	}
	r.cred, err = azidentity.NewClientSecretCredential(r.app.TenantID, r.app.ClientID, r.app.Secret.Reveal(), &azidentity.ClientSecretCredentialOptions{
		// azcore retries what never reached the platform; the propagation retries are ours.
		ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: host}, Transport: r.Transport},
		DisableInstanceDiscovery: !credential.IsPublicAuthority(u.Hostname()),
	})
	return r.cred, err
}

// tokenCheck gets a client-credentials token for endpoint, waiting while a new secret
// propagates, and checks that it carries the declared roles.
func (r *run) tokenCheck(ctx context.Context, kind, endpoint string, declared []string) Check {
	c := Check{ID: "token:" + kind, Kind: "token", Target: endpoint}
	if r.tokens == nil {
		r.tokens, r.claims = map[string]string{}, map[string]tokenClaims{}
	}
	cred, err := r.credential()
	if err != nil {
		return failed(c, CauseSignIn, sensitive.Scrub(err, r.app.Secret).Error(), "the client secret credential could not be built",
			"check the tenant id, the client id and AZURE_AUTHORITY_HOST")
	}
	var last *Error
	var token string
	err = retry.Do(ctx, r.Clock, r.Retry, func(ctx context.Context) error {
		c.Attempts++
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{endpoint + "/.default"}})
		if err != nil {
			last = describe(err, r.app.Secret)
			return last
		}
		token = tok.Token
		return nil
	}, func(err error) bool {
		var e *Error
		return errors.As(err, &e) && propagating(e)
	})
	if c.Attempts == 1 {
		c.Attempts = 0 // only a wait is worth reporting
	}
	if err != nil {
		detail := sensitive.Scrub(err, r.app.Secret).Error()
		if last != nil {
			detail = last.Description
		}
		return failed(c, CauseSignIn, detail, "the application could not sign in with the secret its sink holds",
			"check that the secret is current (provision rotate FILE makes a new one) and that the application exists in this tenant")
	}
	claims, err := decodeClaims(token)
	if err != nil {
		return failed(c, CauseProtocolError, err.Error(), "the identity platform returned a token verify cannot read", "")
	}
	r.tokens[kind], r.claims[kind] = token, claims
	var missing []string
	for _, role := range declared {
		if !hasRole(claims.Roles, role) {
			missing = append(missing, role)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		c = failed(c, CauseRoleMissing, "the token carries roles ["+strings.Join(claims.Roles, ", ")+"]",
			"the token lacks "+strings.Join(missing, ", ")+r.consentHint(),
			"grant admin consent: adminConsent: true in the manifest, then provision apply FILE; a token issued before the consent keeps its old roles")
		c.MissingRoles = missing
		return c
	}
	c.Status = Passed
	return c
}

// consentHint is the "consent pending?" of a missing role.
func (r *run) consentHint() string {
	if r.app.ConsentGranted {
		return ", although the tenant shows consent (was the grant made moments ago, or removed since?)"
	}
	return ": consent pending? The tenant shows no admin consent for the application"
}

func failed(c Check, cause Cause, detail, explanation, fix string) Check {
	c.Status, c.Cause, c.Detail, c.Explanation, c.Fix = Failed, cause, detail, explanation, fix
	return c
}
