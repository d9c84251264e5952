package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/provisionhq/provision/provision/simtenant"
)

// Environment variables of the simulated tenant.
const (
	// envSimulateFaults switches faults on in the simulated tenant, e.g.
	// "latency=50ms,throttle=0.1,5xx=0.05,lag=2s" (see simtenant.ParseFaults).
	envSimulateFaults = "PROVISION_SIMULATE_FAULTS"
	// envSimulateTenant chooses the primary domain (and so the id) of the simulated tenant
	// --simulate creates, e.g. contoso.onmicrosoft.com; `simulate serve --tenant` overrides it.
	envSimulateTenant = "PROVISION_SIMULATE_TENANT"
	// envKeyVaultEndpoint sends every Key Vault request to this https URL instead of the
	// vault's own host (the vault's name stays in the request, for TLS and the Host header):
	// `simulate serve` prints it, so that other shells' runs reach its vaults.
	envKeyVaultEndpoint = "PROVISION_KEYVAULT_ENDPOINT"
)

// simulator is the simulated tenant a --simulate run talks to, and the environment that
// points the ordinary credential chain at it.
type simulator struct {
	server    *simtenant.Server
	transport *http.Transport
	env       map[string]string
}

// Close stops the simulated tenant; it saves its state.
func (s *simulator) Close() error { return s.server.Close() }

// getenv answers the simulator's variables first (endpoints, authority, its operator
// credentials), then the real environment, so the same sign-in code runs as for a tenant.
func (s *simulator) getenv(lookup func(string) (string, bool)) func(string) string {
	return func(name string) string {
		if v, ok := s.env[name]; ok {
			return v
		}
		v, _ := lookup(name)
		return v
	}
}

// defaultSimulatorState is where --simulate keeps the tenant of domain when no STATE_FILE is
// given: one file per tenant, the seed procedure's under its historical name.
func (f *factory) defaultSimulatorState(domain string) (string, error) {
	dir, err := f.cacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory for the simulated tenant (pass --simulate=STATE_FILE): %w", err)
	}
	name := "simulated-tenant.json"
	if domain != "" && !strings.EqualFold(domain, simtenant.DefaultDomain) {
		name = "simulated-tenant-" + strings.ToLower(domain) + ".json"
	}
	return filepath.Join(dir, "provision", name), nil
}

// startSimulator starts the simulated tenant of PROVISION_SIMULATE_TENANT (the default one if
// unset) with its state in stateFile (or the default for that tenant).
func (f *factory) startSimulator(ctx context.Context, stateFile, addr string) (*simulator, error) {
	return f.startSimulatorFor(ctx, stateFile, addr, f.getenv(envSimulateTenant))
}

// startSimulatorFor starts the simulated tenant whose primary domain is domain ("" keeps the
// state file's, or the default for a new one) on a loopback TLS address, with its state in
// stateFile (or the default) and faults from PROVISION_SIMULATE_FAULTS.
func (f *factory) startSimulatorFor(ctx context.Context, stateFile, addr, domain string) (*simulator, error) {
	if stateFile == "" {
		var err error
		if stateFile, err = f.defaultSimulatorState(domain); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o700); err != nil {
		return nil, fmt.Errorf("create simulated tenant directory: %w", err)
	}
	var faults simtenant.Faults
	if spec := f.getenv(envSimulateFaults); spec != "" {
		var err error
		if faults, err = simtenant.ParseFaults(spec); err != nil {
			return nil, fmt.Errorf("read %s: %w", envSimulateFaults, err)
		}
	}
	srv, err := simtenant.Listen(ctx, simtenant.ListenOptions{Addr: addr, StateFile: stateFile, Faults: faults,
		Options: simtenant.Options{Domain: domain, Clock: f.clock}})
	if err != nil {
		return nil, fmt.Errorf("start simulated tenant: %w", err)
	}
	env := map[string]string{}
	for _, kv := range srv.Env() {
		name, value, _ := strings.Cut(kv, "=")
		env[name] = value
	}
	// The process's certificate pool is fixed at its first use, so in-process clients trust
	// the simulator's CA through their transport rather than through SSL_CERT_FILE. Key Vault
	// requests go to the simulator under the vault's own name.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: srv.CAPool, MinVersion: tls.VersionTLS12}
	simtenant.RouteKeyVault(tr, srv.MetadataHost)
	return &simulator{server: srv, transport: tr, env: env}, nil
}

// newTransport is the HTTP transport of a session with a tenant: Go's default, with every Key
// Vault request sent to PROVISION_KEYVAULT_ENDPOINT when it is set (a `simulate serve` in
// another shell).
func (f *factory) newTransport() (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	endpoint := f.getenv(envKeyVaultEndpoint)
	if endpoint == "" {
		return tr, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("read %s: %q is not an https URL such as https://127.0.0.1:8443", envKeyVaultEndpoint, endpoint)
	}
	addr := u.Host
	if u.Port() == "" {
		addr += ":443"
	}
	simtenant.RouteKeyVault(tr, addr)
	return tr, nil
}
