package exchange

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

// BenchmarkMailboxStates observes N mailboxes (Get-CASMailbox and Get-MailboxPermission each,
// ten cmdlets to a $batch) against the fake endpoint, which really sleeps 20 ms per request
// and throttles anything above 3 in flight. It reports the round trips (⌈2N ÷ 10⌉), the
// cmdlets, and the wall time against the lower bound latency × requests ÷ concurrency.
func BenchmarkMailboxStates(b *testing.B) {
	const (
		latency     = 20 * time.Millisecond
		concurrency = 3
	)
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("mailboxes=%d", n), func(b *testing.B) {
			var dir exchangesim.StaticDirectory
			var mailboxes []string
			for m := range n {
				addr := fmt.Sprintf("mbx%02d@contoso.com", m)
				mailboxes = append(mailboxes, addr)
				dir = append(dir, exchangesim.Recipient{Name: fmt.Sprintf("mbx%02d", m), PrimarySmtpAddress: addr,
					ExternalDirectoryObjectId: fmt.Sprintf("m-%02d", m), RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox"})
			}
			for range b.N {
				sim := exchangesim.New(dir, nil, exchangesim.Options{Clock: clock.Real{},
					Faults: exchangesim.Faults{Latency: latency, MaxConcurrent: concurrency}})
				ts := mount(b, sim)
				c, err := New(Options{Endpoint: ts.URL, TenantID: tenantID, Credential: &fixedtoken.Credential{Token: adminToken},
					HTTPClient: ts.Client(), MaxConcurrency: concurrency})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := c.MailboxStates(context.Background(), mailboxes); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				st := sim.Stats()
				b.ReportMetric(float64(st.Requests), "roundtrips/op")
				b.ReportMetric(float64(st.ByCmdlet["Get-CASMailbox"]+st.ByCmdlet["Get-MailboxPermission"]), "cmdlets/op")
				b.ReportMetric(float64(elapsed.Milliseconds()), "wall-ms/op")
				b.ReportMetric(float64((latency * time.Duration((st.Requests+concurrency-1)/concurrency)).Milliseconds()), "bound-ms/op")
				b.ReportMetric(float64(st.Throttled), "throttled/op")
			}
		})
	}
}
