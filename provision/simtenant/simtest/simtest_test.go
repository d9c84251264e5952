package simtest_test

import (
	"bytes"
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

func TestStartSignsTheClientsIn(t *testing.T) {
	f := simtest.Start(t)
	ctx := context.Background()
	users, err := f.Graph.Graph.Users().Get(ctx, nil)
	if err != nil {
		t.Fatalf("list users through Graph: %v", err)
	}
	if len(users.GetValue()) == 0 {
		t.Error("the seeded tenant listed no users")
	}
	if _, err := f.Exchange.SendAsTrustees(ctx, "jm@"+simtenant.DefaultDomain); err != nil {
		t.Errorf("Send-As through Exchange: %v", err)
	}
	if diff := cmp.Diff(simtest.Epoch(), f.Clock.Now()); diff != "" {
		t.Errorf("clock (-want +got):\n%s", diff)
	}
}

func TestFreshSignInOutlivesTheFakeClock(t *testing.T) {
	f := simtest.Start(t, simtest.FreshSignIn())
	ctx := context.Background()
	if _, err := f.Graph.Graph.Users().Get(ctx, nil); err != nil {
		t.Fatalf("list users: %v", err)
	}
	// Months ahead, past the lifetime of every token issued so far.
	f.Clock.Advance(200 * 24 * time.Hour)
	if _, err := f.Graph.Graph.Users().Get(ctx, nil); err != nil {
		t.Fatalf("list users 200 days on: %v", err)
	}
}

func TestOptionsReachTenantAndClients(t *testing.T) {
	var seeded, wrapped atomic.Int32
	var log bytes.Buffer
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	f := simtest.Start(t,
		simtest.PageSize(2),
		simtest.ClockAt(start),
		simtest.Seed(func(testing.TB, *simtenant.Tenant) { seeded.Add(1) }),
		simtest.Wrap(func(tenant http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				wrapped.Add(1)
				tenant.ServeHTTP(w, r)
			})
		}),
		simtest.Graph(func(o *graph.Options) { o.RequestLog = &log }))
	users, err := f.Graph.Graph.Users().Get(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{seeded.Load(), wrapped.Load() > 0, len(users.GetValue()), users.GetOdataNextLink() != nil, log.Len() > 0, f.Clock.Now()}
	want := []any{int32(1), true, 2, true, true, start}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("seed runs, wrap sees requests, page size 2, request log written, clock start (-want +got):\n%s", diff)
	}
}
