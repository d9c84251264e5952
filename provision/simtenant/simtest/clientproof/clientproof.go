// Package clientproof makes up, for tests, what a confidential client proves its identity
// with besides a secret: a self-signed certificate and its key, and a federated token from an
// outside issuer. Only tests import it; it imports nothing of provision's, so any package's
// tests can.
package clientproof

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// Certificate returns a new self-signed certificate for commonName, valid from an hour ago to
// an hour ahead, and its key.
func Certificate(tb testing.TB, commonName string) (*x509.Certificate, *rsa.PrivateKey) {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

// PEM is the body of a certificate file holding cert and then key, as
// AZURE_CLIENT_CERTIFICATE_PATH names one.
func PEM(tb testing.TB, cert *x509.Certificate, key *rsa.PrivateKey) []byte {
	tb.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
}

// UnsignedJWT is a JWT with claims and a junk signature, as a federated token issuer would
// send it: the simulated authority checks its shape, never its signature.
func UnsignedJWT(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	return "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + JWTPayload(tb, claims) + ".c2ln"
}

// JWTPayload is the middle part of a JWT carrying claims (base64url, unpadded).
func JWTPayload(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}
