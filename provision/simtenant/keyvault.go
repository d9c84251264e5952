package simtenant

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/provisionhq/provision/provision/simtenant/keyvaultsim"
)

// The tenant serves Azure Key Vault too, for every vault of Azure's clouds: a request whose
// host is <vault>.vault.azure.net (or a national cloud's suffix) reaches that vault's fake,
// made empty on first use. Clients keep their real vault URLs; what sends their connections
// here is the transport (RouteKeyVault), so a manifest's keyVault sink never reaches a real
// vault while the simulated tenant stands in for Azure. Tokens are checked with the tenant's
// identity platform, as the real vault checks Entra's.

// keyVaultDNSSuffix is the public cloud's Key Vault suffix, which the metadata document names.
const keyVaultDNSSuffix = "vault.azure.net"

// keyVaultResource is the token audience the vaults ask for in their challenge.
const keyVaultResource = "https://vault.azure.net"

// keyVaultSuffixes are the vault host suffixes of Azure's clouds.
func keyVaultSuffixes() []string {
	return []string{"." + keyVaultDNSSuffix, ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de"}
}

// IsKeyVaultHost reports whether host (with or without a port) names a vault of one of
// Azure's clouds, such as openfire-kv.vault.azure.net.
func IsKeyVaultHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, s := range keyVaultSuffixes() {
		if strings.HasSuffix(host, s) && len(host) > len(s) {
			return true
		}
	}
	return false
}

// RouteKeyVault makes tr connect to addr (host:port) whenever a request is for a vault host,
// keeping the vault's name for TLS and the Host header; other connections are left as they
// were. The server at addr must hold a certificate for the vault names (a Server made by
// Listen does).
func RouteKeyVault(tr *http.Transport, addr string) {
	next := tr.DialContext
	if next == nil {
		next = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, target string) (net.Conn, error) {
		if IsKeyVaultHost(target) {
			target = addr
		}
		return next(ctx, network, target)
	}
}

// vaults holds the tenant's vault fakes by host, and the saved content of those not used yet.
type vaults struct {
	mu     sync.Mutex
	byHost map[string]*keyvaultsim.Server
	saved  map[string]keyvaultsim.State
}

// serveKeyVault answers a request addressed to a vault host, reporting whether it was one.
func (t *Tenant) serveKeyVault(w http.ResponseWriter, r *http.Request) bool {
	if !IsKeyVaultHost(r.Host) {
		return false
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	t.vault(r.Host).Handler().ServeHTTP(rec, r)
	if r.Method != http.MethodGet && rec.status < 300 && t.onWrite != nil {
		t.onWrite()
	}
	return true
}

// vault returns the fake of the vault at host, making it on first use.
func (t *Tenant) vault(host string) *keyvaultsim.Server {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	t.vaults.mu.Lock()
	defer t.vaults.mu.Unlock()
	if v := t.vaults.byHost[host]; v != nil {
		return v
	}
	opts := keyvaultsim.Options{
		TenantID: t.TenantID(),
		Resource: keyVaultResource,
		Verify: func(token string) error {
			t.mu.Lock()
			verifier := t.verifier
			t.mu.Unlock()
			_, err := verifier.verify(token, []string{keyVaultResource, keyVaultResource + "/"})
			return err
		},
		Clock: t.clock,
	}
	if st, ok := t.vaults.saved[host]; ok {
		opts.State = &st
	}
	v := keyvaultsim.New(opts)
	if t.vaults.byHost == nil {
		t.vaults.byHost = map[string]*keyvaultsim.Server{}
	}
	t.vaults.byHost[host] = v
	return v
}

// KeyVault returns the fake of the vault at host (openfire-kv.vault.azure.net), for tests
// and for listing what a run stored.
func (t *Tenant) KeyVault(host string) *keyvaultsim.Server { return t.vault(host) }

// vaultsFile is the JSON form of every vault's content, by host.
type vaultsFile struct {
	Vaults map[string]keyvaultsim.State `json:"vaults"`
}

// SaveKeyVaults writes the content of the tenant's vaults as JSON. It holds secret values in
// the clear (they are the fake vaults' storage), so it is kept apart from Save's state, which
// never does.
func (t *Tenant) SaveKeyVaults(w io.Writer) error {
	t.vaults.mu.Lock()
	out := vaultsFile{Vaults: map[string]keyvaultsim.State{}}
	for host, st := range t.vaults.saved {
		out.Vaults[host] = st
	}
	for host, v := range t.vaults.byHost {
		out.Vaults[host] = v.State()
	}
	t.vaults.mu.Unlock()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("save key vaults: %w", err)
	}
	return nil
}

// LoadKeyVaults replaces the vaults' content with what SaveKeyVaults wrote.
func (t *Tenant) LoadKeyVaults(r io.Reader) error {
	var in vaultsFile
	if err := json.NewDecoder(r).Decode(&in); err != nil {
		return fmt.Errorf("load key vaults: %w", err)
	}
	t.vaults.mu.Lock()
	defer t.vaults.mu.Unlock()
	t.vaults.byHost, t.vaults.saved = nil, in.Vaults
	return nil
}
