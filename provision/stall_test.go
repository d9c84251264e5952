package provision_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// stallDeadline is the Graph client's per-request deadline in these tests. Deadlines guard real
// sockets, so they run on the wall clock (package deadline); a short one keeps each stall to a
// fraction of a second while everything else runs on the fake clock.
const stallDeadline = 300 * time.Millisecond

// TestStalledAnswerEndsWithinItsDeadline: a request the directory takes and never answers
// (held until the client gives up), performed or not, on a $batch of writes, on a $batch of
// reads and on the uniqueName upsert; and stalls at random on any Graph or Exchange request.
// The request gives up at its deadline, and the run retries what may be repeated and looks up
// what may have happened: one apply and its wait converge, with exactly what a fault-free run
// makes.
func TestStalledAnswerEndsWithinItsDeadline(t *testing.T) {
	reads := func(r *http.Request, body string) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/v1.0/$batch" && !strings.Contains(body, `"method":"POST"`)
	}
	upsert := request(http.MethodPatch, "/v1.0/applications(uniqueName='openfire-mail')")
	lag := simtenant.Faults{ReplicationLag: 2 * time.Second}
	cases := []struct {
		name, reason string
		faults       simtenant.Faults
		stall        *loseRule
	}{
		{name: "$batch of writes, performed", reason: "the grants and roles were made; each is sent alone and found", faults: lag,
			stall: &loseRule{what: "$batch of writes", match: batchCreating("/appRoleAssignedTo"), n: 1, how: answerStalled}},
		{name: "$batch of writes, not performed", reason: "nothing was made; each is sent alone", faults: lag,
			stall: &loseRule{what: "$batch of writes", match: batchCreating("/appRoleAssignedTo"), n: 1, how: stalledUnperformed}},
		{name: "$batch of reads", reason: "the observation's batch of reads is sent again", faults: lag,
			stall: &loseRule{what: "$batch of reads", match: reads, n: 1, how: stalledUnperformed}},
		{name: "upsert, performed", reason: "the PATCH is repeated and meets the application it made", faults: lag,
			stall: &loseRule{what: "upsert", match: upsert, n: 1, how: answerStalled}},
		{name: "upsert, not performed", reason: "the PATCH is repeated", faults: lag,
			stall: &loseRule{what: "upsert", match: upsert, n: 1, how: stalledUnperformed}},
		{name: "any request, at random", reason: "one Graph or Exchange request in twenty stalls",
			faults: simtenant.Faults{ReplicationLag: 2 * time.Second, StallRate: 0.05, Seed: 1}},
	}
	docs := example(t, "openfire.yaml")
	want := reference(t, docs)
	short := deadline.Options{HeaderTimeout: stallDeadline, IdleTimeout: stallDeadline}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rules []*loseRule
			if tc.stall != nil {
				rules = append(rules, tc.stall)
			}
			f, loser := loseAnswers(t, tc.faults, rules,
				simtest.Graph(func(o *graph.Options) { o.Deadline = short }),
				simtest.Exchange(func(o *exchange.Options) { o.Deadline = short }))
			ctx := context.Background()
			start := time.Now()
			res, err := f.engine.Apply(ctx, f.plan(t, docs), nil)
			if err == nil {
				err = f.engine.AwaitVisible(ctx, docs, provision.PlanOptions{}, res, provision.WaitOptions{})
			}
			stalls := len(loser.lostAnswers()) + f.tenant.FaultCounts().Stalls
			t.Logf("plan, apply and wait: %v of wall time, %d stalls, a deadline of %v", time.Since(start).Round(time.Millisecond), stalls, stallDeadline)
			if err != nil {
				t.Fatalf("%s\napply: %v", tc.reason, err)
			}
			if stalls == 0 || (tc.stall != nil && tc.stall.n > 0) {
				t.Fatalf("%s\nnothing stalled: the case does not test what it says", tc.reason)
			}
			if diff := cmp.Diff(want, census(t, f.tenant)); diff != "" {
				t.Errorf("%s\nobjects after one apply -fault-free +stalled:\n%s", tc.reason, diff)
			}
			f.tenant.ReleaseStalled()
		})
	}
}
