package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/retry"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// BenchmarkReplicationOvershoot measures how long after an object becomes visible the
// replication retry (Client.Retry) notices: an application is created in a tenant whose
// objects stay invisible for the lag, then a PATCH of it is retried until it succeeds, all on
// the fake clock. overshoot-ms is the fake time between the end of the lag and the success
// (the mean over the iterations), attempts the PATCHes sent. The previous policy (one second
// doubling to thirty) is measured alongside for comparison.
func BenchmarkReplicationOvershoot(b *testing.B) {
	policies := []struct {
		name   string
		policy retry.Policy
	}{
		{"default", retry.Policy{}},
		{"previous", retry.Policy{BaseDelay: time.Second, MaxDelay: 30 * time.Second, Multiplier: 2}},
	}
	for _, p := range policies {
		for _, lag := range []time.Duration{500 * time.Millisecond, 2 * time.Second, 10 * time.Second} {
			b.Run(fmt.Sprintf("policy=%s/lag=%s", p.name, lag), func(b *testing.B) {
				f := simtest.Start(b, simtest.Faults(simtenant.Faults{ReplicationLag: lag}),
					simtest.Graph(func(o *graph.Options) { o.Replication = p.policy }))
				ctx := context.Background()
				var overshoot time.Duration
				attempts := 0
				for i := 0; b.Loop(); i++ {
					body := models.NewApplication()
					name := fmt.Sprintf("Lagging %d", i)
					body.SetDisplayName(&name)
					app, err := f.Graph.Graph.Applications().Post(ctx, body, nil)
					if err != nil {
						b.Fatal(graph.Wrap(err))
					}
					visible := f.Clock.Now().Add(lag)
					patch := models.NewApplication()
					notes := "replicated"
					patch.SetNotes(&notes)
					err = f.Graph.Retry(ctx, func(ctx context.Context) error {
						attempts++
						_, err := f.Graph.Graph.Applications().ByApplicationId(*app.GetId()).Patch(ctx, patch, nil)
						return err
					}, graph.IsReplicationLag)
					if err != nil {
						b.Fatal(err)
					}
					overshoot += f.Clock.Now().Sub(visible)
				}
				b.ReportMetric(float64(overshoot.Milliseconds())/float64(b.N), "overshoot-ms")
				b.ReportMetric(float64(attempts)/float64(b.N), "attempts")
			})
		}
	}
}
