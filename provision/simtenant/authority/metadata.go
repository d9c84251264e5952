package authority

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
)

// serveInstanceDiscovery answers MSAL's instance discovery with this host as the only alias.
// MSAL asks it only for hosts it trusts; a private authority is normally used with instance
// discovery disabled, but answering keeps a misconfigured client working the real way.
func (a *Authority) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	tenant := "common"
	if u, err := url.Parse(r.URL.Query().Get("authorization_endpoint")); err == nil {
		if seg := strings.Split(strings.Trim(u.Path, "/"), "/"); len(seg) > 0 && seg[0] != "" {
			tenant = seg[0]
		}
	}
	host := r.Host
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": base + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host,
			"preferred_cache":   host,
			"aliases":           []string{host},
		}},
	})
}

// serveOpenIDConfiguration answers the v2.0 OpenID metadata. As on Entra, a tenant named by
// domain gets its tenant id in every URL, and the multi-tenant aliases get the "{tenantid}"
// placeholder in the issuer.
func (a *Authority) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	segment := r.PathValue("tenant")
	pathTenant, issuerTenant := segment, "{tenantid}"
	if tid, ok := a.resolveTenant(segment); ok {
		pathTenant, issuerTenant = tid, tid
	} else if !isMultiTenantAlias(segment) {
		a.writeError(w, r, tenantNotFound(segment))
		return
	}
	base := baseURL(r)
	root := base + "/" + pathTenant
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        root + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              root + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/" + issuerTenant + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                root + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         root + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  root + "/oauth2/v2.0/logout",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
			"cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
			"preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"tenant_region_scope":      "EU",
		"cloud_instance_name":      "microsoftonline.com",
		"cloud_graph_host_name":    "graph.windows.net",
		"msgraph_host":             "graph.microsoft.com",
		"rbac_url":                 "https://pas.windows.net",
		"kerberos_endpoint":        root + "/kerberos",
		"tenant_discovery_version": "simulated",
	})
}

// serveKeys publishes the signing key as a JWKS.
func (a *Authority) serveKeys(w http.ResponseWriter, r *http.Request) {
	segment := r.PathValue("tenant")
	if _, ok := a.resolveTenant(segment); !ok && !isMultiTenantAlias(segment) {
		a.writeError(w, r, tenantNotFound(segment))
		return
	}
	pub := a.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{
		"keys": []map[string]any{{
			"kty": "RSA",
			"use": "sig",
			"kid": a.keyID,
			"x5t": a.keyID,
			"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			"x5c": []string{base64.StdEncoding.EncodeToString(a.certDER)},
		}},
	})
}

// writeJSON writes v with the status and the headers Entra sends on its JSON answers.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
