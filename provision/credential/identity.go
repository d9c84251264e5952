package credential

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Identity is who an access token speaks for, read from its claims. It is for display and
// for checks such as "does the credential's tenant match the manifest's": the token is not
// verified here, the service that receives it does that.
type Identity struct {
	// TenantID is the directory the token was issued in (tid).
	TenantID string `json:"tenantId"`
	// AppID is the client the token was issued to (appid in v1 tokens, azp in v2).
	AppID string `json:"appId"`
	// ObjectID is the signed-in user or the service principal (oid).
	ObjectID string `json:"objectId"`
	// UserPrincipalName is set for delegated (user) tokens.
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	// Audience is the resource the token is for (aud).
	Audience string `json:"audience"`
	// AppOnly is true for application (client credentials, managed identity) tokens.
	AppOnly bool `json:"appOnly"`
	// Roles are app roles (application permissions) for app-only tokens.
	Roles []string `json:"roles,omitempty"`
	// Scopes are the delegated permissions of a user token.
	Scopes []string `json:"scopes,omitempty"`
	// DirectoryRoles are Entra role template ids (wids).
	DirectoryRoles []string `json:"directoryRoles,omitempty"`
}

// Identify decodes the claims of a JWT access token without verifying it.
func Identify(accessToken string) (Identity, error) {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return Identity{}, errors.New("identify token: not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Identity{}, fmt.Errorf("identify token: decode claims: %w", err)
	}
	var c struct {
		TID    string   `json:"tid"`
		AppID  string   `json:"appid"`
		AZP    string   `json:"azp"`
		OID    string   `json:"oid"`
		UPN    string   `json:"upn"`
		PUN    string   `json:"preferred_username"`
		Aud    string   `json:"aud"`
		IDTyp  string   `json:"idtyp"`
		Roles  []string `json:"roles"`
		SCP    string   `json:"scp"`
		WIDs   []string `json:"wids"`
		Subjct string   `json:"sub"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return Identity{}, fmt.Errorf("identify token: decode claims: %w", err)
	}
	id := Identity{
		TenantID: c.TID, AppID: c.AppID, ObjectID: c.OID, UserPrincipalName: c.UPN, Audience: c.Aud,
		Roles: c.Roles, DirectoryRoles: c.WIDs,
	}
	if c.SCP != "" {
		id.Scopes = strings.Fields(c.SCP)
	}
	if id.AppID == "" {
		id.AppID = c.AZP
	}
	if id.UserPrincipalName == "" {
		id.UserPrincipalName = c.PUN
	}
	// idtyp is only present when the app asked for it; an app-only token has no scp and the
	// subject is the service principal itself.
	id.AppOnly = c.IDTyp == "app" || (c.IDTyp == "" && c.SCP == "" && c.OID != "" && c.OID == c.Subjct)
	return id, nil
}
