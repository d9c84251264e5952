// Package verify checks that a new client secret works by doing what its consumers will do:
// signing in with it (OAuth client credentials) against the tenant's authority. A secret
// just created takes a while to reach every replica of the identity platform, so the
// "invalid secret" and "unknown application" answers are retried with backoff, bounded, on an
// injectable clock; anything else fails at once.
package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/retry"
	"github.com/provisionhq/provision/provision/sensitive"
)

// RetryPolicy is the default of ClientSecret.Retry, the wait for a new secret to be accepted.
// Entra usually accepts a new secret within seconds; a couple of minutes covers the slow
// replicas without holding a CI job for long.
func RetryPolicy() retry.Policy {
	return retry.Policy{BaseDelay: 2 * time.Second, MaxDelay: 15 * time.Second, MaxElapsed: 2 * time.Minute, Multiplier: 2}
}

// The AADSTS errors a secret or application not replicated yet produces: the secret is
// unknown (7000215), the application is unknown (700016), or its service principal is
// (7000229, right after the enterprise app was created).
const (
	codeInvalidSecret    = "AADSTS7000215"
	codeUnknownApp       = "AADSTS700016"
	codeMissingPrincipal = "AADSTS7000229"
)

// ClientSecret signs in with client secrets. The zero value needs Scope only.
type ClientSecret struct {
	// AuthorityHost is the identity platform; empty means https://login.microsoftonline.com/.
	// Instance discovery is disabled for hosts that are not a public Microsoft one, so national,
	// private and simulated authorities work.
	AuthorityHost string
	// Scope is what the token is requested for, <Graph endpoint>/.default: every application
	// may get an app-only token for it, whatever permissions it holds.
	Scope string
	// Transport sends the token requests (tests trust the simulator's CA with it); nil means
	// an http.Client over a clone of http.DefaultTransport. Deadline bounds each of them.
	Transport policy.Transporter
	// Deadline bounds each token request and tells its Waiting callback about slow answers.
	Deadline deadline.Options
	// Clock paces the retries; nil means the wall clock.
	Clock clock.Clock
	// Retry bounds the wait for propagation; zero fields take RetryPolicy's.
	Retry retry.Policy
}

// Error is a secret that did not sign in: the AADSTS code and description the identity
// platform gave last (never the secret), and how long verification tried.
type Error struct {
	Code        string // e.g. AADSTS7000215; empty when no answer came
	Description string // the first line of the platform's description, or the transport error
	Attempts    int
	Waited      time.Duration
}

// Error reads "sign in with the new secret failed after 7 attempts over 1m52s: AADSTS7000215: …".
func (e *Error) Error() string {
	return fmt.Sprintf("sign in with the new secret failed after %d attempts over %s: %s", e.Attempts, e.Waited.Round(time.Second), e.Description)
}

// Verify returns nil once clientID signs in to tenantID with secret, retrying while the
// platform may not know the secret yet. Its error never carries the secret.
func (v ClientSecret) Verify(ctx context.Context, tenantID, clientID string, secret sensitive.String) error {
	if v.Scope == "" {
		return errors.New("verify secret: no token scope configured")
	}
	clk := clock.Or(v.Clock)
	host := v.AuthorityHost
	if host == "" {
		host = credential.DefaultAuthority
	}
	if !strings.HasSuffix(host, "/") {
		host += "/"
	}
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("verify secret: authority host %q: %w", host, err)
	}
	opts := &azidentity.ClientSecretCredentialOptions{
		ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: host},
			// azcore retries what never reached the platform (throttling, 5xx, dropped
			// connections); the propagation retries are ours, on the injected clock.
			Transport: v.Deadline.WrapDoer(v.Transport, func(r *http.Request) string { return "sign-in " + r.Method + " " + r.URL.Path }),
		},
		DisableInstanceDiscovery: !credential.IsPublicAuthority(u.Hostname()),
	}
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret.Reveal(), opts)
	if err != nil {
		return fmt.Errorf("verify secret: %w", sensitive.Scrub(err, secret))
	}
	start := clk.Now()
	var last *Error
	attempts := 0
	err = retry.Do(ctx, clk, v.Retry.Or(RetryPolicy()), func(ctx context.Context) error {
		attempts++
		_, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{v.Scope}})
		if err == nil {
			return nil
		}
		last = describe(err, secret)
		return last
	}, func(err error) bool {
		var e *Error
		return errors.As(err, &e) && propagating(e)
	})
	if err == nil {
		return nil
	}
	if last == nil || ctx.Err() != nil {
		return fmt.Errorf("verify secret: %w", sensitive.Scrub(err, secret))
	}
	last.Attempts, last.Waited = attempts, clk.Now().Sub(start)
	return last
}

// propagating reports the answers a secret or application not replicated yet gives.
func propagating(e *Error) bool {
	switch e.Code {
	case codeInvalidSecret, codeUnknownApp, codeMissingPrincipal:
		return true
	}
	return false
}

// aadsts finds "AADSTS<n>: <description>" up to the end of its sentence list (the platform
// appends "Trace ID: …").
func aadsts() *regexp.Regexp {
	return regexp.MustCompile(`(AADSTS\d+)(:[^\n\\"]*?)(?: Trace ID:|\\r|\\n|"|\n|$)`)
}

// describe shortens an azidentity error, which dumps the whole response, to the AADSTS code and
// description; the secret is scrubbed in any case.
func describe(err error, secret sensitive.String) *Error {
	text := sensitive.Scrub(err, secret).Error()
	if m := aadsts().FindStringSubmatch(text); m != nil {
		return &Error{Code: m[1], Description: m[1] + strings.TrimRight(m[2], " .") + "."}
	}
	line, _, _ := strings.Cut(text, "\n")
	return &Error{Description: line}
}
