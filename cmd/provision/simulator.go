package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/provisionhq/provision/provision/simtenant"
)

// envSimulateFaults switches faults on in the simulated tenant, e.g.
// "latency=50ms,throttle=0.1,5xx=0.05,lag=2s" (see simtenant.ParseFaults).
const envSimulateFaults = "PROVISION_SIMULATE_FAULTS"

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

// defaultSimulatorState is where --simulate keeps its tenant when no STATE_FILE is given.
func (f *factory) defaultSimulatorState() (string, error) {
	dir, err := f.cacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory for the simulated tenant (pass --simulate=STATE_FILE): %w", err)
	}
	return filepath.Join(dir, "provision", "simulated-tenant.json"), nil
}

// startSimulator starts the simulated tenant on a loopback TLS address with its state in
// stateFile (or the default), and faults from PROVISION_SIMULATE_FAULTS.
func (f *factory) startSimulator(ctx context.Context, stateFile, addr string) (*simulator, error) {
	if stateFile == "" {
		var err error
		if stateFile, err = f.defaultSimulatorState(); err != nil {
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
	srv, err := simtenant.Listen(ctx, simtenant.ListenOptions{Addr: addr, StateFile: stateFile, Faults: faults})
	if err != nil {
		return nil, fmt.Errorf("start simulated tenant: %w", err)
	}
	env := map[string]string{}
	for _, kv := range srv.Env() {
		name, value, _ := strings.Cut(kv, "=")
		env[name] = value
	}
	// The process's certificate pool is fixed at its first use, so in-process clients trust
	// the simulator's CA through their transport rather than through SSL_CERT_FILE.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: srv.CAPool, MinVersion: tls.VersionTLS12}
	return &simulator{server: srv, transport: tr, env: env}, nil
}
