package provision_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// newRealtimeFixture is a fixture that lives on the wall clock, for benchmarks whose wall time
// is the point: the engine's clients really wait (backoffs, Retry-After, the wait for the
// directory), and the tenant's clock follows the wall clock, so replication lag lasts as long
// as it says, as latency does. exchangeConcurrency is the Exchange client's MaxConcurrency (0:
// its default).
func newRealtimeFixture(tb testing.TB, exchangeConcurrency int, opts ...simtest.Option) *fixture {
	tb.Helper()
	sim := simtest.Start(tb, opts...)
	followWallClock(tb, sim.Clock)
	gc, err := graph.NewClient(graph.Options{BaseURL: sim.Server.URL, Credential: sim.Credential, Transport: sim.Transport, Clock: clock.Real{}})
	if err != nil {
		tb.Fatal(err)
	}
	xc, err := exchange.New(exchange.Options{Endpoint: sim.Server.URL + "/exchange", TenantID: sim.TenantID, Credential: sim.Credential,
		HTTPClient: sim.HTTPClient, Clock: clock.Real{}, MaxConcurrency: exchangeConcurrency})
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{tenant: sim.Tenant, engine: newEngine(tb, sim, gc, xc, clock.Real{}), clock: sim.Clock}
}

// followWallClock moves c with the wall clock, every millisecond, until the test ends. Nothing
// else may move c meanwhile (a realtime fixture's clients wait on the wall clock).
func followWallClock(tb testing.TB, c *clock.Fake) {
	base, wall := c.Now(), time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				c.Set(base.Add(time.Since(wall)))
			}
		}
	}()
	tb.Cleanup(func() { close(done); <-stopped })
}

// applyRun is what one apply and its wait cost.
type applyRun struct {
	wall       time.Duration // Apply and AwaitVisible, on the wall clock
	applyWall  time.Duration // Apply alone
	roundTrips int           // Graph round trips of Apply and AwaitVisible
}

// measureApply plans docs (not measured), then applies and waits as provision apply does.
func measureApply(b *testing.B, f *fixture, docs []*manifests.Document) applyRun {
	b.Helper()
	ctx := context.Background()
	p, err := f.engine.Plan(ctx, docs)
	if err != nil {
		b.Fatal(err)
	}
	f.tenant.ResetStats()
	start := time.Now()
	res, err := f.engine.Apply(ctx, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	applied := time.Since(start)
	if err := f.engine.AwaitVisible(ctx, docs, provision.PlanOptions{}, res, provision.WaitOptions{}); err != nil {
		b.Fatal(err)
	}
	return applyRun{wall: time.Since(start), applyWall: applied, roundTrips: graphRoundTrips(f.tenant)}
}

// BenchmarkOpenFireUnderLag applies examples/openfire.yaml to an empty tenant and waits for
// the directory, once without replication lag and once with a 2 s lag, on the wall clock. The
// dependency chain is two lags deep (the service principal refers to the application, the
// consent to the service principal), so the target is the lag-free wall + 2 × lag + 1 s
// (issue 10); target-s and over-target-s say how the lagged run compares.
// Run it: go test ./provision -run '^$' -bench OpenFireUnderLag -benchtime 1x
func BenchmarkOpenFireUnderLag(b *testing.B) {
	const lag = 2 * time.Second
	docs := example(b, "openfire.yaml")
	var free, lagged applyRuns
	for b.Loop() {
		b.StopTimer()
		free.add(measureApply(b, newRealtimeFixture(b, 0), docs))
		lagged.add(measureApply(b, newRealtimeFixture(b, 0, simtest.Faults(simtenant.Faults{ReplicationLag: lag})), docs))
		b.StartTimer()
	}
	target := free.wall() + 2*lag + time.Second
	b.ReportMetric(free.wall().Seconds(), "lagfree-s")
	b.ReportMetric(lagged.wall().Seconds(), "lagged-s")
	b.ReportMetric(target.Seconds(), "target-s")
	b.ReportMetric((lagged.wall() - target).Seconds(), "over-target-s")
	b.ReportMetric(free.roundTrips(), "lagfree-roundtrips")
	b.ReportMetric(lagged.roundTrips(), "lagged-roundtrips")
	b.Logf("lag-free: %s", free)
	b.Logf("2 s lag:  %s", lagged)
}

// applyRuns gathers the runs of one benchmark case, for their means.
type applyRuns []applyRun

func (rs *applyRuns) add(r applyRun) { *rs = append(*rs, r) }

func (rs applyRuns) mean(of func(applyRun) float64) float64 {
	sum := 0.0
	for _, r := range rs {
		sum += of(r)
	}
	return sum / float64(max(len(rs), 1))
}

func (rs applyRuns) wall() time.Duration {
	return time.Duration(rs.mean(func(r applyRun) float64 { return float64(r.wall) }))
}

func (rs applyRuns) roundTrips() float64 {
	return rs.mean(func(r applyRun) float64 { return float64(r.roundTrips) })
}

// String lists each run: the apply, the apply with its wait, the Graph round trips.
func (rs applyRuns) String() string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("apply %v, with the wait %v, %d Graph round trips",
			r.applyWall.Round(time.Millisecond), r.wall.Round(time.Millisecond), r.roundTrips))
	}
	return strings.Join(out, "; ")
}
