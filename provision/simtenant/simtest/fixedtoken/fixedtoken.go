// Package fixedtoken is a token credential for tests about everything but sign-in: it hands
// out one fixed token and remembers what it was asked for. Only tests import it; it imports
// nothing of provision's, so any package's tests can.
package fixedtoken

import (
	"context"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Credential is an azcore.TokenCredential that answers every request with Token, valid for
// an hour of wall-clock time. It is safe for concurrent use; its zero value hands out "".
type Credential struct {
	// Token is the bearer token handed out.
	Token string

	mu       sync.Mutex
	requests []policy.TokenRequestOptions
}

// GetToken records opts and returns Token.
func (c *Credential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, opts)
	return azcore.AccessToken{Token: c.Token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Requests returns the token requests so far, oldest first.
func (c *Credential) Requests() []policy.TokenRequestOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]policy.TokenRequestOptions(nil), c.requests...)
}

// Scopes returns the scopes of every token request so far, in order; nil if none.
func (c *Credential) Scopes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.requests {
		out = append(out, r.Scopes...)
	}
	return out
}
