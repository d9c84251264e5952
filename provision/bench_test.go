package provision_test

import (
	"context"
	"testing"

	"github.com/provisionhq/provision/provision/simtenant"
)

// BenchmarkPlanNoop plans openfire.yaml against a tenant that already matches it;
// roundtrips/op counts Graph requests only (Send-As reads go to Exchange).
func BenchmarkPlanNoop(b *testing.B) {
	f := newFixture(b, simtenant.Faults{})
	docs := example(b, "openfire.yaml")
	f.apply(b, f.plan(b, docs))
	f.plan(b, docs) // sign in once, outside the measurement
	f.tenant.ResetStats()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.engine.Plan(context.Background(), docs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(graphRoundTrips(f.tenant))/float64(b.N), "roundtrips/op")
}

// BenchmarkApplyFromEmpty plans and applies openfire.yaml on a fresh tenant each time.
func BenchmarkApplyFromEmpty(b *testing.B) {
	docs := example(b, "openfire.yaml")
	trips := 0
	for b.Loop() {
		b.StopTimer()
		f := newFixture(b, simtenant.Faults{})
		b.StartTimer()
		p, err := f.engine.Plan(context.Background(), docs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.engine.Apply(context.Background(), p, nil); err != nil {
			b.Fatal(err)
		}
		trips += graphRoundTrips(f.tenant)
	}
	b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/op")
}
