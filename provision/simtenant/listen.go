package simtenant

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/provisionhq/provision/provision/simtenant/mailsim"
)

// ListenOptions configures a simulated tenant served on a loopback TLS address.
type ListenOptions struct {
	// Addr is the listen address; "" means 127.0.0.1:0 (a free port).
	Addr string
	// StateFile keeps the tenant between runs: loaded if it exists, saved after each write
	// and on Close. "" keeps the tenant in memory only.
	StateFile string
	// Faults are injected from the start (see ParseFaults for PROVISION_SIMULATE_FAULTS).
	Faults Faults
	// Options configures a tenant created anew (Domain, TenantID, PageSize, Clock). A state
	// file holds one tenant: when it exists, a Domain or TenantID other than its own is an
	// error rather than a silent switch of tenant.
	Options Options
}

// Server is a simulated tenant listening on loopback TLS with a CA of its own.
type Server struct {
	// Tenant is the tenant being served.
	Tenant *Tenant
	// GraphEndpoint is the Graph base URL (without /v1.0), for PROVISION_GRAPH_ENDPOINT.
	GraphEndpoint string
	// ExchangeEndpoint is the Exchange admin base URL, for PROVISION_EXCHANGE_ENDPOINT.
	ExchangeEndpoint string
	// AuthorityHost is the identity platform host, for AZURE_AUTHORITY_HOST.
	AuthorityHost string
	// MetadataHost is the host:port serving the Azure Resource Manager metadata document, for
	// ARM_METADATA_HOSTNAME (terraform's azuread provider discovers Graph and the identity
	// platform from it).
	MetadataHost string
	// KeyVaultEndpoint is where Key Vault requests for any vault are answered, for
	// PROVISION_KEYVAULT_ENDPOINT; in-process clients use RouteKeyVault with it instead.
	KeyVaultEndpoint string
	// CAFile is the PEM file of the CA that signed the server certificate, for SSL_CERT_FILE.
	CAFile string
	// CAPool trusts the server certificate, for in-process clients.
	CAPool *x509.CertPool
	// Mail is the tenant's SMTP (STARTTLS), IMAP and POP (TLS) listeners on the same loopback
	// host, with the same certificate, for PROVISION_SMTP_ENDPOINT and the others.
	Mail *mailsim.Server

	srv       *http.Server
	stateFile string
	vaultFile string
	saveMu    sync.Mutex
	done      chan error
}

// KeyVaultStateFile is where Listen keeps the simulated vaults' content for a state file: next
// to it, tenant.json → tenant.keyvault.json. It holds the secret values the vaults were given.
func KeyVaultStateFile(stateFile string) string {
	return strings.TrimSuffix(stateFile, filepath.Ext(stateFile)) + ".keyvault.json"
}

// Listen starts a tenant on loopback TLS, with its mail listeners (Server.Mail) on free ports
// of the same host. The CA certificate is written next to the state file
// (tenant.json → tenant.ca.pem), or to a temporary directory as simulate-ca.pem without one.
// The state file and the vaults' file (KeyVaultStateFile) are written after every successful
// write request and on Close.
func Listen(ctx context.Context, opts ListenOptions) (*Server, error) {
	opts.Options.Faults = opts.Faults
	tenant, err := New(opts.Options)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if opts.StateFile != "" {
		loaded, err := loadFile(opts.StateFile, tenant.LoadState)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		if loaded {
			if err := sameTenant(opts.StateFile, tenant, opts.Options); err != nil {
				return nil, fmt.Errorf("listen: %w", err)
			}
		}
		if _, err := loadFile(KeyVaultStateFile(opts.StateFile), tenant.LoadKeyVaults); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	dir := filepath.Dir(opts.StateFile)
	if opts.StateFile == "" {
		if dir, err = os.MkdirTemp("", "provision-simulate-"); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	caPEM, cert, pool, err := newCertificates()
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	// Absolute, because SSL_CERT_FILE is read by programs started in other directories.
	// Named after the state file, so tenants served side by side from one directory (one
	// state file each) do not overwrite each other's CA.
	caFile := filepath.Join(dir, "simulate-ca.pem")
	if opts.StateFile != "" {
		caFile = strings.TrimSuffix(opts.StateFile, filepath.Ext(opts.StateFile)) + ".ca.pem"
	}
	caFile, err = filepath.Abs(caFile)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("listen: write CA: %w", err)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	base := "https://" + ln.Addr().String()
	s := &Server{
		Tenant: tenant, GraphEndpoint: base, ExchangeEndpoint: base + exchangePrefix, AuthorityHost: base + "/",
		MetadataHost: ln.Addr().String(), KeyVaultEndpoint: base,
		CAFile: caFile, CAPool: pool, stateFile: opts.StateFile, done: make(chan error, 1),
	}
	if opts.StateFile != "" {
		s.vaultFile = KeyVaultStateFile(opts.StateFile)
	}
	tenant.hosts.add("graph", base)
	tenant.hosts.add("exchange", base+exchangePrefix)
	if opts.StateFile != "" {
		tenant.onWrite = func() { _ = s.save() }
	}
	s.srv = &http.Server{
		Handler:           tenant.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { s.done <- s.srv.Serve(tls.NewListener(ln, s.srv.TLSConfig)) }()
	// The mail listeners check tokens against the authority served above, and accept the
	// Exchange endpoint's audience, which a token for PROVISION_EXCHANGE_ENDPOINT carries.
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	s.Mail, err = mailsim.Start(ctx, mailsim.Options{
		Tenant: tenant, AuthorityHost: s.AuthorityHost, Host: host, Clock: tenant.clock,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}},
		TLS:        &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Audiences:  []string{s.ExchangeEndpoint},
	})
	if err != nil {
		_ = s.srv.Close()
		<-s.done
		return nil, fmt.Errorf("listen: %w", err)
	}
	return s, nil
}

// Env returns the environment that points provision, azidentity and Go's TLS stack at this
// tenant and its mail listeners, as NAME=value. It includes the operator's client secret: print it only where the
// user asked for it (simulate serve).
func (s *Server) Env() []string {
	tid, cid, secret := s.Tenant.OperatorCredentials()
	return append([]string{
		"PROVISION_GRAPH_ENDPOINT=" + s.GraphEndpoint,
		"PROVISION_EXCHANGE_ENDPOINT=" + s.ExchangeEndpoint,
		"AZURE_AUTHORITY_HOST=" + s.AuthorityHost,
		"AZURE_TENANT_ID=" + tid,
		"AZURE_CLIENT_ID=" + cid,
		"AZURE_CLIENT_SECRET=" + secret,
		"SSL_CERT_FILE=" + s.CAFile,
		"ARM_METADATA_HOSTNAME=" + s.MetadataHost,
		"PROVISION_KEYVAULT_ENDPOINT=" + s.KeyVaultEndpoint,
	}, s.Mail.Env()...)
}

// loadFile opens path and hands it to load, reporting whether it existed.
func loadFile(path string, load func(io.Reader) error) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	if err := load(f); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// sameTenant refuses to serve a state file's tenant under another identity than asked for.
func sameTenant(stateFile string, t *Tenant, want Options) error {
	domain, id := t.Domain(), t.TenantID()
	if (want.Domain != "" && !strings.EqualFold(want.Domain, domain)) || (want.TenantID != "" && !strings.EqualFold(want.TenantID, id)) {
		asked := want.Domain
		if asked == "" {
			asked = want.TenantID
		}
		return fmt.Errorf("state file %s holds the simulated tenant %s (%s), not %s: a state file holds one tenant, so give another state file for another tenant",
			stateFile, domain, id, asked)
	}
	return nil
}

// Close stops serving (the mail listeners too) and saves the state.
func (s *Server) Close() error {
	_ = s.Mail.Close()
	err := s.srv.Close()
	<-s.done
	if serr := s.save(); serr != nil {
		return serr
	}
	if err != nil {
		return fmt.Errorf("close simulated tenant: %w", err)
	}
	return nil
}

// save writes the state file atomically (temp file + rename), 0600.
func (s *Server) save() error {
	if s.stateFile == "" {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if err := writeAtomically(s.stateFile, s.Tenant.Save); err != nil {
		return err
	}
	return writeAtomically(s.vaultFile, s.Tenant.SaveKeyVaults)
}

// writeAtomically writes what save produces to path, 0600, through a temporary file and a
// rename, so a reader never sees half a file.
func writeAtomically(path string, save func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := save(&buf); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// certificateNames are the host names the server certificate holds: localhost, and every vault
// of Azure's clouds, whose requests RouteKeyVault sends here under their own names.
func certificateNames() []string {
	names := []string{"localhost"}
	for _, suffix := range keyVaultSuffixes() {
		names = append(names, "*"+suffix)
	}
	return names
}

// newCertificates makes a CA and a server certificate for 127.0.0.1, localhost and the vaults.
func newCertificates() (caPEM []byte, cert tls.Certificate, pool *x509.CertPool, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "provision simulated tenant CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, nil, fmt.Errorf("create CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, cert, nil, fmt.Errorf("parse CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, nil, fmt.Errorf("generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}, DNSNames: certificateNames(),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, cert, nil, fmt.Errorf("create server certificate: %w", err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return caPEM, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: nil}, pool, nil
}
