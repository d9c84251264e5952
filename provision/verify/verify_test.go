package verify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
	"github.com/provisionhq/provision/provision/verify"
)

// lagging makes the first n token requests arrive with a mangled client secret, which is what
// a replica that has not received a new secret yet sees: the real authority then answers
// AADSTS7000215 for them.
type lagging struct {
	next http.Handler
	n    atomic.Int32
}

func (l *lagging) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") && l.n.Add(-1) >= 0 {
		if err := r.ParseForm(); err == nil && r.PostForm.Get("client_secret") != "" {
			r.PostForm.Set("client_secret", "not-replicated-yet")
			body := r.PostForm.Encode()
			r.Body = http.NoBody
			r2 := r.Clone(r.Context())
			r2.Body = readCloser{strings.NewReader(body)}
			r2.ContentLength = int64(len(body))
			r2.Form, r2.PostForm = nil, nil
			l.next.ServeHTTP(w, r2)
			return
		}
	}
	l.next.ServeHTTP(w, r)
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func TestVerify(t *testing.T) {
	cases := map[string]struct {
		reason       string
		lagged       int32
		tenant       string // empty: the simulated tenant
		wrongSecret  bool
		wantCode     string // empty: success
		wantAttempts int
		wantTokens   int
	}{
		"works at once": {
			reason: "a replicated secret signs in on the first request", wantTokens: 1,
		},
		"propagation delay": {
			reason: "AADSTS7000215 while the secret propagates is retried until it signs in",
			lagged: 3, wantTokens: 4,
		},
		"never works": {
			reason:      "a secret that never signs in fails with the platform's code once the bound is spent",
			wrongSecret: true, wantCode: "AADSTS7000215", wantAttempts: -1,
		},
		"unknown tenant": {
			reason: "errors that are not propagation fail at once",
			tenant: "00000000-0000-0000-0000-00000000dead", wantCode: "AADSTS90002", wantAttempts: 1, wantTokens: 1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			l := &lagging{}
			l.n.Store(tc.lagged)
			sim := simtest.Start(t, simtest.Wrap(func(tenant http.Handler) http.Handler { l.next = tenant; return l }))
			tenant, srv, fc := sim.Tenant, sim.Server, sim.Clock
			tid, cid, secret := tenant.OperatorCredentials()
			if tc.tenant != "" {
				tid = tc.tenant
			}
			if tc.wrongSecret {
				secret = "an-old-secret-that-was-removed"
			}
			v := verify.ClientSecret{AuthorityHost: srv.URL, Scope: srv.URL + "/.default", Transport: srv.Client(), Clock: fc}
			tenant.ResetStats()
			err := v.Verify(context.Background(), tid, cid, sensitive.New(secret))
			var verr *verify.Error
			switch {
			case tc.wantCode == "" && err != nil:
				t.Fatalf("%s: Verify: %v", tc.reason, err)
			case tc.wantCode != "" && !errors.As(err, &verr):
				t.Fatalf("%s: Verify error = %v, want a *verify.Error", tc.reason, err)
			case tc.wantCode != "":
				want := tc.wantAttempts
				if want < 0 { // retried until the bound, a jittered number of times
					want = max(verr.Attempts, 9)
					tc.wantTokens = verr.Attempts
				}
				if diff := cmp.Diff([]any{tc.wantCode, want}, []any{verr.Code, verr.Attempts}); diff != "" {
					t.Errorf("%s: code and attempts (-want +got):\n%s", tc.reason, diff)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Trace ID") {
					t.Errorf("%s: error is not short and clean: %v", tc.reason, err)
				}
				if verr.Waited > verify.RetryPolicy().MaxElapsed {
					t.Errorf("%s: waited %s, more than the bound %s", tc.reason, verr.Waited, verify.RetryPolicy().MaxElapsed)
				}
			}
			if got := tenant.Stats().TokenRequests; got < tc.wantTokens || got > tc.wantTokens+1 {
				// +1: the first request of a credential may fetch the tenant's metadata.
				t.Errorf("%s: %d requests to the authority, want %d", tc.reason, got, tc.wantTokens)
			}
		})
	}
}

func TestVerifyNeedsAScope(t *testing.T) {
	err := verify.ClientSecret{}.Verify(context.Background(), "t", "c", sensitive.New("s"))
	if err == nil {
		t.Fatal("Verify without a scope must fail rather than guess the Graph endpoint")
	}
}

// The lagging handler must forward the form it rewrote; guard it against url encoding drift.
func TestLaggingRewritesTheSecret(t *testing.T) {
	var got string
	l := &lagging{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = r.PostForm.Get("client_secret")
	})}
	l.n.Store(1)
	form := url.Values{"client_secret": {"real"}, "client_id": {"x"}}.Encode()
	r := httptest.NewRequest(http.MethodPost, "/t/oauth2/v2.0/token", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	l.ServeHTTP(httptest.NewRecorder(), r)
	if got != "not-replicated-yet" {
		t.Fatalf("client_secret forwarded = %q", got)
	}
}
