package authority

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// clockSkew is the leeway Verify allows on nbf and exp, as Entra-protected APIs do.
const clockSkew = 5 * time.Minute

// Claims are the claims of an app-only access token issued by the Authority, named as in a real
// Entra v1.0 access token.
type Claims struct {
	// Audience is the resource the token is for (https://graph.microsoft.com or an appId).
	Audience string `json:"aud"`
	// Issuer is https://sts.windows.net/{tenantId}/.
	Issuer string `json:"iss"`
	// IdentityProvider equals Issuer for an app in its own tenant.
	IdentityProvider string `json:"idp,omitempty"`
	// IssuedAt, NotBefore and Expires are Unix seconds.
	IssuedAt  int64 `json:"iat"`
	NotBefore int64 `json:"nbf"`
	Expires   int64 `json:"exp"`
	// AppID is the client's appId; AuthorizedParty repeats it (the v2.0 name).
	AppID           string `json:"appid"`
	AuthorizedParty string `json:"azp,omitempty"`
	// AppIDACR says how the client authenticated: "1" secret, "2" certificate or assertion.
	AppIDACR string `json:"appidacr,omitempty"`
	// IdentityType is "app" for app-only tokens.
	IdentityType string `json:"idtyp"`
	// ObjectID and Subject are the client's service principal object id.
	ObjectID string `json:"oid"`
	Subject  string `json:"sub"`
	// TenantID is the tenant id.
	TenantID string `json:"tid"`
	// Roles are the app roles the client holds on the audience.
	Roles []string `json:"roles,omitempty"`
	// DirectoryRoles are the Entra role template ids of the client (wids).
	DirectoryRoles []string `json:"wids,omitempty"`
	// TokenID is unique per token (uti).
	TokenID string `json:"uti"`
	// Version is "1.0".
	Version string `json:"ver"`
}

// ExpiresAt returns the expiry as a time.
func (c Claims) ExpiresAt() time.Time { return time.Unix(c.Expires, 0) }

// HasRole reports whether the token carries the app role value.
func (c Claims) HasRole(value string) bool {
	for _, r := range c.Roles {
		if r == value {
			return true
		}
	}
	return false
}

// HasDirectoryRole reports whether the token carries the directory role template id.
func (c Claims) HasDirectoryRole(templateID string) bool {
	for _, r := range c.DirectoryRoles {
		if strings.EqualFold(r, templateID) {
			return true
		}
	}
	return false
}

// jwtHeader is the part of a JOSE header this package reads or writes.
type jwtHeader struct {
	Alg       string   `json:"alg"`
	Typ       string   `json:"typ,omitempty"`
	KeyID     string   `json:"kid,omitempty"`
	X5T       string   `json:"x5t,omitempty"`
	X5TSHA256 string   `json:"x5t#S256,omitempty"`
	X5C       []string `json:"x5c,omitempty"`
}

// sign returns the compact RS256 serialisation of claims.
func (a *Authority) sign(claims Claims) (string, error) {
	head, err := json.Marshal(jwtHeader{Alg: "RS256", Typ: "JWT", KeyID: a.keyID, X5T: a.keyID})
	if err != nil {
		return "", fmt.Errorf("encode token header: %w", err)
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode token claims: %w", err)
	}
	signingInput := base64.RawURLEncoding.EncodeToString(head) + "." + base64.RawURLEncoding.EncodeToString(body)
	digest := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(nil, a.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// compactJWT is a JWT split into its decoded parts.
type compactJWT struct {
	header       jwtHeader
	payload      []byte
	signingInput string
	signature    []byte
}

// parseJWT splits and decodes a compact JWT without checking its signature.
func parseJWT(token string) (compactJWT, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return compactJWT{}, errors.New("not a compact JWT")
	}
	head, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return compactJWT{}, fmt.Errorf("decode header: %w", err)
	}
	var h jwtHeader
	if err := json.Unmarshal(head, &h); err != nil {
		return compactJWT{}, fmt.Errorf("decode header: %w", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return compactJWT{}, fmt.Errorf("decode payload: %w", err)
	}
	if !json.Valid(payload) {
		return compactJWT{}, errors.New("decode payload: not JSON")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return compactJWT{}, fmt.Errorf("decode signature: %w", err)
	}
	return compactJWT{header: h, payload: payload, signingInput: parts[0] + "." + parts[1], signature: sig}, nil
}

// verifyRSA checks an RS256 or PS256 signature with key.
func (t compactJWT) verifyRSA(key *rsa.PublicKey) error {
	digest := sha256.Sum256([]byte(t.signingInput))
	switch t.header.Alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], t.signature)
	case "PS256":
		return rsa.VerifyPSS(key, crypto.SHA256, digest[:], t.signature, nil)
	default:
		return fmt.Errorf("unsupported alg %q", t.header.Alg)
	}
}

// Verify checks that token was issued by this Authority (signature and key id), is within its
// validity window by the Authority's clock, and is for audience; it returns the claims. An
// audience that differs only by a trailing slash matches, as the resource URL is written both
// ways in the wild.
func (a *Authority) Verify(token, audience string) (Claims, error) {
	t, err := parseJWT(token)
	if err != nil {
		return Claims{}, fmt.Errorf("verify token: %w", err)
	}
	if t.header.Alg != "RS256" || t.header.KeyID != a.keyID {
		return Claims{}, errors.New("verify token: not signed by this authority")
	}
	if err := t.verifyRSA(&a.key.PublicKey); err != nil {
		return Claims{}, errors.New("verify token: bad signature")
	}
	var c Claims
	if err := json.Unmarshal(t.payload, &c); err != nil {
		return Claims{}, fmt.Errorf("verify token: decode claims: %w", err)
	}
	now := a.cfg.Clock.Now()
	if now.After(time.Unix(c.Expires, 0).Add(clockSkew)) {
		return Claims{}, fmt.Errorf("verify token: expired at %s", time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	if now.Add(clockSkew).Before(time.Unix(c.NotBefore, 0)) {
		return Claims{}, errors.New("verify token: not valid yet")
	}
	if c.TenantID != a.cfg.TenantID {
		return Claims{}, fmt.Errorf("verify token: issued for tenant %s", c.TenantID)
	}
	if !sameResource(c.Audience, audience) {
		return Claims{}, fmt.Errorf("verify token: audience is %q, want %q", c.Audience, audience)
	}
	return c, nil
}

// sameResource compares resource identifiers, ignoring case and a trailing slash.
func sameResource(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/"))
}
