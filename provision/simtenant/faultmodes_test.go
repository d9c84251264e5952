package simtenant_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// These tests drive the fault modes of issues 10 and 14 through provision's real clients (the
// Graph SDK with provision's middleware, the Exchange client) against the simulated tenant.

// shortDeadlines makes a stalled request fail in milliseconds of real time.
func shortDeadlines() []simtest.Option {
	d := deadline.Options{HeaderTimeout: 40 * time.Millisecond, IdleTimeout: 40 * time.Millisecond}
	return []simtest.Option{
		simtest.Graph(func(o *graph.Options) { o.Deadline = d }),
		simtest.Exchange(func(o *exchange.Options) { o.Deadline = d }),
	}
}

func createApp(t *testing.T, c *graph.Client, name string) models.Applicationable {
	t.Helper()
	body := models.NewApplication()
	body.SetDisplayName(&name)
	app, err := c.Graph.Applications().Post(context.Background(), body, nil)
	if err != nil {
		t.Fatalf("create %s: %v", name, graph.Wrap(err))
	}
	return app
}

// appsNamed lists the applications whose name starts with prefix, once the faults are off.
func appsNamed(t *testing.T, f *simtest.Fixture, prefix string) []models.Applicationable {
	t.Helper()
	f.Tenant.SetFaults(simtenant.Faults{})
	filter := fmt.Sprintf("startswith(displayName,'%s')", prefix)
	resp, err := f.Graph.Graph.Applications().Get(context.Background(), &applications.ApplicationsRequestBuilderGetRequestConfiguration{
		QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &filter, Top: ptr(int32(999))},
	})
	if err != nil {
		t.Fatalf("list applications: %v", graph.Wrap(err))
	}
	all, err := graph.AllItems[models.Applicationable](context.Background(), f.Graph, resp, models.CreateApplicationCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatalf("list applications: %v", err)
	}
	return all
}

func ptr[T any](v T) *T { return &v }

// TestStaleReads checks stale-reads: within the lag each operation lands on a lagging replica
// at random, so a new object is seen, then not, then seen; reads by id, filtered lists,
// $count and $batch items all obey it, each operation sees one replica (both new objects or
// neither), and after the lag every read sees them.
func TestStaleReads(t *testing.T) {
	const lag = 2 * time.Second
	f := simtest.Start(t)
	ctx := context.Background()
	first := createApp(t, f.Graph, "Stale One")
	createApp(t, f.Graph, "Stale Two")
	f.Tenant.SetFaults(simtenant.Faults{ReplicationLag: lag, StaleReadRate: 0.5, Seed: 11})

	filter := "startswith(displayName,'Stale')"
	listed := func() int {
		resp, err := f.Graph.Graph.Applications().Get(ctx, &applications.ApplicationsRequestBuilderGetRequestConfiguration{
			QueryParameters: &applications.ApplicationsRequestBuilderGetQueryParameters{Filter: &filter},
		})
		if err != nil {
			t.Fatalf("list: %v", graph.Wrap(err))
		}
		return len(resp.GetValue())
	}
	byID := func() bool {
		_, err := f.Graph.Graph.Applications().ByApplicationId(*first.GetId()).Get(ctx, nil)
		if err != nil && !graph.IsNotFound(err) {
			t.Fatalf("get by id: %v", graph.Wrap(err))
		}
		return err == nil
	}
	counted := func() int32 {
		h := abstractions.NewRequestHeaders()
		h.Add("ConsistencyLevel", "eventual")
		n, err := f.Graph.Graph.Applications().Count().Get(ctx, &applications.CountRequestBuilderGetRequestConfiguration{Headers: h})
		if err != nil {
			t.Fatalf("$count: %v", graph.Wrap(err))
		}
		return *n
	}
	before := counted()
	var seen []bool
	for range 12 {
		seen = append(seen, byID())
	}
	if !flips(seen) {
		t.Errorf("reads by id within the lag: %v, want seen, then not, then seen", seen)
	}
	counts := map[int]bool{}
	for range 12 {
		n := listed()
		if n != 0 && n != 2 {
			t.Errorf("a filtered list saw %d of the 2 new applications: one operation sees one replica", n)
		}
		counts[n] = true
	}
	if !counts[0] || !counts[2] {
		t.Errorf("filtered lists within the lag saw %v new applications, want both 0 and 2 over 12 lists", counts)
	}
	countsSeen := map[int32]bool{}
	for range 12 {
		countsSeen[counted()-before] = true
	}
	if !countsSeen[0] || !countsSeen[2] || len(countsSeen) != 2 {
		t.Errorf("$count within the lag moved by %v, want both with and without the new applications", countsSeen)
	}
	var reqs []graph.BatchRequest
	for i := range 12 {
		ri, err := f.Graph.Graph.Applications().ByApplicationId(*first.GetId()).ToGetRequestInformation(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.Graph.BatchRequestFrom(fmt.Sprint(i), ri)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
	}
	resps, err := f.Graph.Batch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	var batchSeen []bool
	for _, r := range resps {
		batchSeen = append(batchSeen, r.Status == http.StatusOK)
	}
	if !flips(batchSeen) {
		t.Errorf("batch items within the lag: %v, want each on its own replica", batchSeen)
	}
	if f.Tenant.FaultCounts().LagMisses == 0 {
		t.Error("FaultCounts reports no lag misses")
	}

	f.Clock.Advance(lag)
	for i := range 10 {
		if !byID() || listed() != 2 {
			t.Fatalf("read %d after the lag missed the object: replication is over", i)
		}
	}
}

// flips reports whether seen holds true, then false, then true.
func flips(seen []bool) bool {
	state := 0
	for _, s := range seen {
		switch {
		case state == 0 && s, state == 2 && s:
			state++
		case state == 1 && !s:
			state++
		}
	}
	return state == 3
}

// TestFixedLagWindow checks that without stale-reads every read within the lag misses.
func TestFixedLagWindow(t *testing.T) {
	f := simtest.Start(t)
	app := createApp(t, f.Graph, "Fixed")
	f.Tenant.SetFaults(simtenant.Faults{ReplicationLag: time.Minute})
	for range 5 {
		if _, err := f.Graph.Graph.Applications().ByApplicationId(*app.GetId()).Get(context.Background(), nil); !graph.IsNotFound(err) {
			t.Fatalf("a read within the fixed window answered %v, want 404", err)
		}
	}
}

// waitNoStalled fails the test if a stalled handler outlives its client.
func waitNoStalled(t *testing.T, tn *simtenant.Tenant) {
	t.Helper()
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if tn.StalledRequests() == 0 {
			return
		}
	}
	t.Errorf("%d stalled requests outlived their clients", tn.StalledRequests())
}

func TestStall(t *testing.T) {
	f := simtest.Start(t, shortDeadlines()...)
	ctx := context.Background()

	f.Tenant.SetFaults(simtenant.Faults{StallRate: 1})
	body := models.NewApplication()
	body.SetDisplayName(ptr("Stalled"))
	_, err := f.Graph.Graph.Applications().Post(ctx, body, nil)
	want := "send POST /v1.0/applications: POST /v1.0/applications: no answer within 40ms"
	if err == nil || graph.Wrap(err).Error() != want {
		t.Errorf("a stalled create: error %v, want %q", graph.Wrap(err), want)
	}
	_, err = f.Graph.Graph.Applications().Get(ctx, nil)
	var stall *deadline.Error
	if !errors.As(err, &stall) || !strings.Contains(graph.Wrap(err).Error(), "gave up after 6 attempts") {
		t.Errorf("a read that always stalls: error %v, want the deadline error after 6 attempts", graph.Wrap(err))
	}
	if got := f.Tenant.FaultCounts().Stalls; got != 7 {
		t.Errorf("%d stalls counted, want 7 (one create, six reads)", got)
	}
	waitNoStalled(t, f.Tenant)

	f.Tenant.SetFaults(simtenant.Faults{StallRate: 0.5, Seed: 3})
	for i := range 6 {
		if _, err := f.Graph.Graph.Applications().Get(ctx, nil); err != nil {
			t.Fatalf("read %d with half the requests stalled: %v, want a retry to succeed", i, graph.Wrap(err))
		}
	}
	if _, err := f.Exchange.GetRecipient(ctx, "jm@"+simtenant.DefaultDomain); err != nil {
		t.Fatalf("Get-Recipient with half the requests stalled: %v", err)
	}
	if f.Tenant.FaultCounts().Stalls == 0 {
		t.Error("no request stalled: the fault was not exercised")
	}
	waitNoStalled(t, f.Tenant)
	if got := appsNamed(t, f, "Stalled"); len(got) != 0 {
		t.Errorf("a stalled create was performed %d times; stall never processes the request", len(got))
	}
}

func TestEmptySuccessAnswers(t *testing.T) {
	f := simtest.Start(t)
	ctx := context.Background()
	f.Tenant.SetFaults(simtenant.Faults{EmptySuccessRate: 1})
	body := models.NewApplication()
	body.SetDisplayName(ptr("Empty"))
	app, err := f.Graph.Graph.Applications().Post(ctx, body, nil)
	if err != nil || app != nil {
		t.Fatalf("a create answered 201 with no body gave %v, %v; want no model and no error, as the SDK returns", app, err)
	}
	made := appsNamed(t, f, "Empty")
	if len(made) != 1 {
		t.Fatalf("%d applications made, want the one the empty answer hid", len(made))
	}
	f.Tenant.SetFaults(simtenant.Faults{EmptySuccessRate: 1})
	pw, err := f.Graph.Graph.Applications().ByApplicationId(*made[0].GetId()).AddPassword().Post(ctx, applications.NewItemAddPasswordPostRequestBody(), nil)
	if err != nil || pw != nil {
		t.Errorf("addPassword answered 200 with no body gave %v, %v; want no model, no error", pw, err)
	}
	err = f.Exchange.AddSendAs(ctx, "jm@"+simtenant.DefaultDomain, "jojo@"+simtenant.DefaultDomain)
	if err == nil || !strings.Contains(err.Error(), "answered with an empty body") {
		t.Errorf("Add-RecipientPermission answered with no body: error %v, want one naming the empty body", err)
	}
	if got := f.Tenant.FaultCounts().EmptyAnswers; got < 3 {
		t.Errorf("%d empty answers counted, want at least 3", got)
	}
	f.Tenant.SetFaults(simtenant.Faults{})
	if creds := appsNamed(t, f, "Empty")[0].GetPasswordCredentials(); len(creds) != 1 {
		t.Errorf("the application holds %d credentials, want the one addPassword made", len(creds))
	}
	trustees, err := f.Exchange.SendAsTrustees(ctx, "jm@"+simtenant.DefaultDomain)
	if err != nil || len(trustees) != 1 {
		t.Errorf("Send-As after the empty answers: %v, %v; want the one trustee added", trustees, err)
	}
}

func TestLostAnswers(t *testing.T) {
	f := simtest.Start(t)
	ctx := context.Background()
	f.Tenant.SetFaults(simtenant.Faults{LostAnswerRate: 1, Seed: 5})
	kinds := map[string]int{}
	const creates = 12
	for i := range creates {
		body := models.NewApplication()
		body.SetDisplayName(ptr(fmt.Sprintf("Lost %02d", i)))
		_, err := f.Graph.Graph.Applications().Post(ctx, body, nil)
		switch status := graph.StatusCode(err); {
		case err == nil:
			t.Fatalf("create %d succeeded; every answer was to be lost", i)
		case status != 0:
			kinds[fmt.Sprint(status)]++
		default:
			var te *graph.TransportError
			if !errors.As(err, &te) || te.Attempts > 1 {
				t.Errorf("create %d: %v, want one dropped connection, not repeated", i, graph.Wrap(err))
			}
			kinds["dropped"]++
		}
	}
	if len(kinds) < 3 || kinds["dropped"] == 0 {
		t.Errorf("lost answers were %v, want server errors of several kinds and dropped connections", kinds)
	}
	if got := len(appsNamed(t, f, "Lost")); got != creates {
		t.Errorf("%d applications exist, want %d: a lost answer follows a performed write, not repeated", got, creates)
	}

	f.Tenant.SetFaults(simtenant.Faults{LostAnswerRate: 1, Seed: 5})
	err := f.Exchange.AddSendAs(ctx, "jm@"+simtenant.DefaultDomain, "jojo@"+simtenant.DefaultDomain)
	if err == nil {
		t.Error("Add-RecipientPermission succeeded; every answer was to be lost")
	}
	f.Tenant.SetFaults(simtenant.Faults{})
	trustees, err := f.Exchange.SendAsTrustees(ctx, "jm@"+simtenant.DefaultDomain)
	if err != nil || len(trustees) != 1 {
		t.Errorf("Send-As after lost answers: %v, %v; want the trustee the lost calls added, once", trustees, err)
	}
}

// TestLostAnswerOfABatchItem checks that a batch item's write can lose its answer too: the
// item answers a server error, the object exists.
func TestLostAnswerOfABatchItem(t *testing.T) {
	f := simtest.Start(t)
	ctx := context.Background()
	f.Tenant.SetFaults(simtenant.Faults{LostAnswerRate: 1})
	body := models.NewApplication()
	body.SetDisplayName(ptr("Batched"))
	ri, err := f.Graph.Graph.Applications().ToPostRequestInformation(ctx, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := f.Graph.BatchRequestFrom("1", ri)
	if err != nil {
		t.Fatal(err)
	}
	resps, err := f.Graph.Batch(ctx, []graph.BatchRequest{req})
	if err != nil {
		t.Fatal(err)
	}
	if s := resps[0].Status; s < 500 || resps[0].Attempts != 1 {
		t.Errorf("the item answered %d after %d attempts, want one server error, not repeated", s, resps[0].Attempts)
	}
	if got := len(appsNamed(t, f, "Batched")); got != 1 {
		t.Errorf("%d applications exist, want the one the lost item made", got)
	}
}
