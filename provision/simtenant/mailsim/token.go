package mailsim

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// clockSkew is the leeway on exp and nbf, the default of Microsoft's token validation.
const clockSkew = 5 * time.Minute

// claims are the access token claims Exchange reads for a mail login: app-only tokens carry
// roles, delegated ones scp and the user's name (mailbox.md §5.1).
type claims struct {
	Audience          string   `json:"aud"`
	Issuer            string   `json:"iss"`
	TenantID          string   `json:"tid"`
	Expires           int64    `json:"exp"`
	NotBefore         int64    `json:"nbf"`
	AppID             string   `json:"appid"`
	AuthorizedParty   string   `json:"azp"`
	ObjectID          string   `json:"oid"`
	Roles             []string `json:"roles"`
	Scope             string   `json:"scp"`
	IdentityType      string   `json:"idtyp"`
	UserPrincipalName string   `json:"upn"`
	PreferredUsername string   `json:"preferred_username"`
	UniqueName        string   `json:"unique_name"`
}

// delegated reports whether a user signed in (a scp claim), rather than the application alone.
func (c claims) delegated() bool { return c.Scope != "" || c.IdentityType == "user" }

func (c claims) clientID() string {
	if c.AppID != "" {
		return c.AppID
	}
	return c.AuthorizedParty
}

func (c claims) hasRole(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func (c claims) hasScope(scope string) bool {
	for _, s := range strings.Fields(c.Scope) {
		if strings.EqualFold(s, scope) {
			return true
		}
	}
	return false
}

// userNames are the names a delegated token gives its user.
func (c claims) userNames() []string {
	return []string{c.UserPrincipalName, c.PreferredUsername, c.UniqueName, c.ObjectID}
}

// tokenProblem is why a token is not valid for Exchange; its text never holds the token.
type tokenProblem string

// The ways a token fails validation.
const (
	tokenMalformed    tokenProblem = "malformed"
	tokenBadSignature tokenProblem = "bad_signature"
	tokenWrongTenant  tokenProblem = "wrong_tenant"
	tokenExpired      tokenProblem = "expired"
	tokenNotYetValid  tokenProblem = "not_yet_valid"
	tokenAudience     tokenProblem = "wrong_audience"
	tokenKeysFailed   tokenProblem = "keys_unavailable"
)

// keySet is the authority's published signing keys, fetched from its JWKS as a resource server
// does and kept; an unknown key id makes it fetch again (a rotated key).
type keySet struct {
	url    string
	client *http.Client

	mu   sync.Mutex
	keys map[string]*rsa.PublicKey
}

func (k *keySet) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.keys[kid]; ok {
		return key, nil
	}
	keys, err := k.fetch(ctx)
	if err != nil {
		return nil, err
	}
	k.keys = keys
	key, ok := keys[kid]
	if !ok {
		return nil, fmt.Errorf("no signing key %q in %s", kid, k.url)
	}
	return key, nil
}

func (k *keySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch signing keys: %w", err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch signing keys: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch signing keys: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch signing keys from %s: HTTP %d", k.url, resp.StatusCode)
	}
	var jwks struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &jwks); err != nil {
		return nil, fmt.Errorf("decode signing keys: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, j := range jwks.Keys {
		n, nerr := base64.RawURLEncoding.DecodeString(j.N)
		e, eerr := base64.RawURLEncoding.DecodeString(j.E)
		if j.Kty != "RSA" || nerr != nil || eerr != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		keys[j.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys, nil
}

// validate checks an access token as Exchange does: RS256 signature by one of the authority's
// keys, the tenant, the validity window on now, and an Exchange audience.
func (s *Server) validate(ctx context.Context, token string) (claims, tokenProblem) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, tokenMalformed
	}
	head, herr := base64.RawURLEncoding.DecodeString(parts[0])
	payload, perr := base64.RawURLEncoding.DecodeString(parts[1])
	sig, serr := base64.RawURLEncoding.DecodeString(parts[2])
	if herr != nil || perr != nil || serr != nil {
		return claims{}, tokenMalformed
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var c claims
	if json.Unmarshal(head, &h) != nil || json.Unmarshal(payload, &c) != nil {
		return claims{}, tokenMalformed
	}
	if h.Alg != "RS256" {
		return claims{}, tokenBadSignature
	}
	key, err := s.keys.key(ctx, h.Kid)
	if err != nil {
		if errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "no signing key") {
			return claims{}, tokenBadSignature
		}
		return claims{}, tokenKeysFailed
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], sig) != nil {
		return claims{}, tokenBadSignature
	}
	tid := s.opts.Tenant.TenantID()
	if !strings.EqualFold(c.TenantID, tid) || !validIssuer(c.Issuer, tid) {
		return claims{}, tokenWrongTenant
	}
	now := s.clock.Now()
	if now.After(time.Unix(c.Expires, 0).Add(clockSkew)) {
		return claims{}, tokenExpired
	}
	if now.Add(clockSkew).Before(time.Unix(c.NotBefore, 0)) {
		return claims{}, tokenNotYetValid
	}
	for _, aud := range s.audiences {
		if strings.EqualFold(strings.TrimSuffix(c.Audience, "/"), strings.TrimSuffix(aud, "/")) {
			return c, ""
		}
	}
	return claims{}, tokenAudience
}

// validIssuer accepts the v1 and v2 issuers of the tenant.
func validIssuer(iss, tid string) bool {
	iss = strings.ToLower(iss)
	tid = strings.ToLower(tid)
	return iss == "https://sts.windows.net/"+tid+"/" || iss == "https://login.microsoftonline.com/"+tid+"/v2.0"
}
