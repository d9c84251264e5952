package exchange

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

// BenchmarkSendAsGrants applies N Send-As grants (mailboxes × trustees) through the client
// against the fake endpoint, which really sleeps 50 ms per request and throttles anything
// above 3 in flight, as the per-tenant budget would. It reports the wall time, the round
// trips and the lower bound latency × requests ÷ concurrency the client should approach.
func BenchmarkSendAsGrants(b *testing.B) {
	const (
		latency     = 50 * time.Millisecond
		concurrency = 3
	)
	for _, grants := range []int{100, 500} {
		b.Run(fmt.Sprintf("grants=%d", grants), func(b *testing.B) {
			const trusteesPerMailbox = 20
			mailboxes := grants / trusteesPerMailbox
			var dir exchangesim.StaticDirectory
			for m := range mailboxes {
				dir = append(dir, exchangesim.Recipient{Name: fmt.Sprintf("mbx%02d", m), PrimarySmtpAddress: fmt.Sprintf("mbx%02d@contoso.com", m),
					ExternalDirectoryObjectId: fmt.Sprintf("m-%02d", m), RecipientType: "UserMailbox", RecipientTypeDetails: "SharedMailbox"})
			}
			for u := range trusteesPerMailbox {
				dir = append(dir, exchangesim.Recipient{Name: fmt.Sprintf("user%02d", u), PrimarySmtpAddress: fmt.Sprintf("user%02d@contoso.com", u),
					ExternalDirectoryObjectId: fmt.Sprintf("u-%02d", u), RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox"})
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
				work := make(chan [2]string)
				errs := make(chan error, grants)
				var wg sync.WaitGroup
				start := time.Now()
				// More workers than slots: the client's bound, not the caller, limits concurrency.
				for range 2 * concurrency {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for p := range work {
							if err := c.AddSendAs(context.Background(), p[0], p[1]); err != nil {
								errs <- err
							}
						}
					}()
				}
				for m := range mailboxes {
					for u := range trusteesPerMailbox {
						work <- [2]string{fmt.Sprintf("mbx%02d@contoso.com", m), fmt.Sprintf("user%02d@contoso.com", u)}
					}
				}
				close(work)
				wg.Wait()
				wall := time.Since(start)
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				st := sim.Stats()
				if got := len(sim.Snapshot().Grants); got != grants {
					b.Fatalf("%d grants in the fake, want %d", got, grants)
				}
				bound := latency * time.Duration(st.Requests) / concurrency
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(float64(st.Requests), "round-trips")
				b.ReportMetric(bound.Seconds(), "bound-s")
				b.ReportMetric(float64(st.MaxInFlight), "max-in-flight")
				b.ReportMetric(float64(st.Throttled), "throttled")
				ts.Close()
			}
		})
	}
}
