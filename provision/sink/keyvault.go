package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/sensitive"
)

// KeyVaultContentType is the contentType of a secret version provision writes: the value is
// the bare client secret, which is what App Service Key Vault references, the CSI driver and
// `az keyvault secret show` hand to applications.
const KeyVaultContentType = "text/plain"

// KeyVaultManagedBy is the managedBy tag on every version provision writes.
const KeyVaultManagedBy = "provision"

// keyVaultSuffixes are the Key Vault DNS suffixes of Azure's clouds (Managed HSM holds no
// secrets, so its suffixes are not listed). A vault
// elsewhere (a private test double) cannot pass azsecrets' check that the challenge resource
// matches the vault host, so that check is turned off for it and only for it.
func keyVaultSuffixes() []string {
	return []string{
		".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de",
	}
}

// KeyVaultOptions tunes the Key Vault client; the zero value is right for production.
type KeyVaultOptions struct {
	// Transport sends the HTTP requests; nil means an http.Client over a clone of
	// http.DefaultTransport. Tests point it at keyvaultsim. Either way it sends through Deadline.
	Transport policy.Transporter
	// Deadline bounds each request to the vault and tells its Waiting callback about answers
	// slow to come.
	Deadline deadline.Options
	// Retry overrides azcore's retry policy (3 retries on 408, 429, 5xx, honouring Retry-After).
	Retry policy.RetryOptions
}

// KeyVault stores the client secret as a new version of a Key Vault secret, with the
// credential's expiry as the version's exp attribute and its identity in tags (keyId,
// clientId, tenantId, credentialName, managedBy=provision), so the vault shows which Entra
// credential each version is. Older versions are left alone: the vault keeps its history.
type KeyVault struct {
	vaultURL string
	name     string
	client   *azsecrets.Client
}

// NewKeyVault returns a sink for the secret name in the vault at vaultURL. cred must be able to
// set secrets there (the "Key Vault Secrets Officer" role or a secrets/set access policy). The
// token's audience comes from the vault's own challenge, so national clouds need nothing more.
func NewKeyVault(vaultURL, name string, cred azcore.TokenCredential, opts KeyVaultOptions) (*KeyVault, error) {
	u, err := url.Parse(vaultURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("key vault url %q: want https://<vault>.vault.azure.net", vaultURL)
	}
	if !validSecretName(name) {
		return nil, fmt.Errorf("key vault secret name %q: want 1 to 127 letters, digits and dashes", name)
	}
	if cred == nil {
		return nil, errors.New("key vault sink needs a credential")
	}
	client, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: opts.Deadline.WrapDoer(opts.Transport, func(r *http.Request) string {
				return "Key Vault " + r.Method + " " + r.URL.Path
			}),
			Retry: opts.Retry,
		},
		DisableChallengeResourceVerification: !isKeyVaultHost(u.Host),
	})
	if err != nil {
		return nil, fmt.Errorf("create key vault client: %w", err)
	}
	return &KeyVault{vaultURL: strings.TrimSuffix(vaultURL, "/"), name: name, client: client}, nil
}

// Describe names the vault and secret.
func (k *KeyVault) Describe() string { return "key vault " + k.vaultURL + " secret " + k.name }

// Write sets a new version of the secret.
func (k *KeyVault) Write(ctx context.Context, c Credential) error {
	if err := c.Validate(); err != nil {
		return err
	}
	value := c.Secret.Reveal()
	contentType := KeyVaultContentType
	enabled := true
	expires := c.ExpiresAt.UTC()
	tags := map[string]*string{}
	for key, v := range map[string]string{
		"keyId": c.KeyID, "clientId": c.ClientID, "tenantId": c.TenantID,
		"credentialName": c.DisplayName, "managedBy": KeyVaultManagedBy,
	} {
		if v != "" {
			v = truncate(v, 256) // Key Vault's limit on a tag value
			tags[key] = &v
		}
	}
	_, err := k.client.SetSecret(ctx, k.name, azsecrets.SetSecretParameters{
		Value:            &value,
		ContentType:      &contentType,
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: &enabled, Expires: &expires},
		Tags:             tags,
	}, nil)
	if err != nil {
		return sensitive.Scrub(fmt.Errorf("set secret %s: %w", k.name, responseError(err)), c.Secret)
	}
	return nil
}

// Observe reports which credential the secret's current version holds: the keyId tag
// provision writes on every version. A missing secret, or a current version that is disabled
// (consumers cannot read it), holds nothing. It reads the version as its consumers do (the
// "get" permission); the value goes no further than this function.
func (k *KeyVault) Observe(ctx context.Context) (Held, error) {
	c, held, err := k.current(ctx)
	if err != nil || held.State != 0 {
		return held, err
	}
	if c.KeyID == "" {
		return Held{State: HoldsCredential, Detail: "the current version of secret " + k.name + " has no keyId tag (not written by provision)"}, nil
	}
	return Held{State: HoldsCredential, KeyID: c.KeyID}, nil
}

// ReadCredential returns the credential of the secret's current version: the value, and the
// tenant, client, keyId and name from its tags, the expiry from its attributes.
func (k *KeyVault) ReadCredential(ctx context.Context) (Credential, error) {
	c, held, err := k.current(ctx)
	switch {
	case err != nil:
		return Credential{}, err
	case held.State == HoldsNothing:
		return Credential{}, fmt.Errorf("read %s: %s: %w", k.Describe(), held.Detail, ErrNothingHeld)
	}
	if err := c.Validate(); err != nil {
		return Credential{}, fmt.Errorf("read %s: %w (is it tagged tenantId and clientId as provision writes it?)", k.Describe(), err)
	}
	return c, nil
}

// current reads the secret's current version into a Credential; held is set (HoldsNothing)
// instead when there is none to read.
func (k *KeyVault) current(ctx context.Context) (Credential, Held, error) {
	resp, err := k.client.GetSecret(ctx, k.name, "", nil)
	if err != nil {
		var kv *KeyVaultError
		re := responseError(err)
		switch {
		case errors.As(re, &kv) && kv.StatusCode == http.StatusNotFound:
			return Credential{}, Held{State: HoldsNothing, Detail: "secret " + k.name + " does not exist in " + k.vaultURL}, nil
		case errors.As(re, &kv) && kv.InnerCode == "SecretDisabled":
			return Credential{}, Held{State: HoldsNothing, Detail: "the current version of secret " + k.name + " is disabled"}, nil
		}
		return Credential{}, Held{}, fmt.Errorf("read secret %s: %w", k.name, re)
	}
	tag := func(name string) string {
		if v := resp.Tags[name]; v != nil {
			return *v
		}
		return ""
	}
	c := Credential{TenantID: tag("tenantId"), ClientID: tag("clientId"), KeyID: tag("keyId"), DisplayName: tag("credentialName")}
	if resp.Value != nil {
		c.Secret = sensitive.New(*resp.Value)
	}
	// The version's creation time is when it was delivered, not when the credential was made,
	// so CreatedAt stays unknown.
	if a := resp.Attributes; a != nil && a.Expires != nil {
		c.ExpiresAt = *a.Expires
	}
	return c, Held{}, nil
}

// KeyVaultError is a refusal from the vault, shortened from azcore's multi-line response dump
// to what a user acts on. It keeps no reference to the HTTP exchange, whose request carried the
// value.
type KeyVaultError struct {
	StatusCode int    // e.g. 403
	Status     string // e.g. "403 Forbidden"
	ErrorCode  string // Key Vault's error.code, e.g. "Forbidden"
	InnerCode  string // error.innererror.code, e.g. "SecretDisabled"
	Message    string // Key Vault's error.message
}

// Error reads "key vault answered 403 Forbidden (Forbidden): <message>".
func (e *KeyVaultError) Error() string {
	msg := "key vault answered " + e.Status
	if e.ErrorCode != "" || e.Message != "" {
		msg += " (" + e.ErrorCode + "): " + e.Message
	}
	return msg
}

// responseError turns an *azcore.ResponseError into a *KeyVaultError; other errors (transport,
// token) pass through.
func responseError(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return err
	}
	out := &KeyVaultError{StatusCode: re.StatusCode, Status: re.RawResponse.Status, ErrorCode: re.ErrorCode}
	if body, perr := runtime.Payload(re.RawResponse); perr == nil {
		var e struct {
			Error struct {
				Code       string `json:"code"`
				Message    string `json:"message"`
				InnerError *struct {
					Code string `json:"code"`
				} `json:"innererror"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil {
			out.Message = e.Error.Message
			if e.Error.Code != "" {
				out.ErrorCode = e.Error.Code
			}
			if e.Error.InnerError != nil {
				out.InnerCode = e.Error.InnerError.Code
			}
		}
	}
	return out
}

func isKeyVaultHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for _, s := range keyVaultSuffixes() {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// validSecretName is Key Vault's rule for object names: 1–127 letters, digits and dashes.
func validSecretName(name string) bool {
	if name == "" || len(name) > 127 {
		return false
	}
	for _, c := range name {
		if c != '-' && (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
