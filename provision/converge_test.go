package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/sink"
)

// These tests hold the promise of issue 10: on a directory that replicates lazily, answers
// reads from stale replicas, fails and loses answers, one apply (with its wait) converges, and
// the tenant ends with exactly the objects a fault-free run makes, none twice.

// census counts what the tenant holds, read from its state (never through Graph, whose reads
// the faults distort): the objects of each collection, the client secrets of every
// application, the Send-As grants, and the applications of each display name. Two tenants that
// hold the same objects have the same census.
func census(tb testing.TB, tenant *simtenant.Tenant) map[string]int {
	tb.Helper()
	var buf bytes.Buffer
	if err := tenant.Save(&buf); err != nil {
		tb.Fatal(err)
	}
	var state struct {
		Applications      map[string]struct{ Props map[string]any } `json:"applications"`
		ServicePrincipals map[string]json.RawMessage                `json:"servicePrincipals"`
		Grants            map[string]json.RawMessage                `json:"oauth2PermissionGrants"`
		Assignments       map[string]json.RawMessage                `json:"appRoleAssignments"`
		Exchange          struct {
			Grants []json.RawMessage `json:"grants"`
		} `json:"exchange"`
	}
	if err := json.Unmarshal(buf.Bytes(), &state); err != nil {
		tb.Fatal(err)
	}
	out := map[string]int{
		"applications":           len(state.Applications),
		"servicePrincipals":      len(state.ServicePrincipals),
		"oauth2PermissionGrants": len(state.Grants),
		"appRoleAssignments":     len(state.Assignments),
		"sendAs":                 len(state.Exchange.Grants),
	}
	for _, a := range state.Applications {
		out[fmt.Sprintf("application %q", a.Props["displayName"])]++
		creds, _ := a.Props["passwordCredentials"].([]any)
		out["passwordCredentials"] += len(creds)
	}
	return out
}

// reference is the census of a fault-free tenant after one apply of docs: exactly one of each
// object the manifest describes.
func reference(tb testing.TB, docs []*manifests.Document) map[string]int {
	tb.Helper()
	f := newFixture(tb, simtenant.Faults{})
	f.applyAndWait(tb, docs)
	return census(tb, f.tenant)
}

// TestApplyThenPlanAtOnceUnderStaleReads: every read lands on a lagging replica with
// probability ½ during a 2 s replication window, so an object just made can be seen, then
// not, then seen. Apply (with its wait) then plan at once, without the test moving the clock,
// shows nothing to do; a second apply right after the first succeeds and leaves exactly what a
// fault-free run makes.
func TestApplyThenPlanAtOnceUnderStaleReads(t *testing.T) {
	for _, file := range exampleFiles(t) {
		name := filepath.Base(file)
		docs := example(t, name)
		want := reference(t, docs)
		for _, seed := range []uint64{1, 2, 3, 4} {
			t.Run(fmt.Sprintf("%s/seed=%d", name, seed), func(t *testing.T) {
				f := newFixture(t, simtenant.Faults{ReplicationLag: 2 * time.Second, StaleReadRate: 0.5, Seed: seed})
				f.applyAndWait(t, docs)
				if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
					t.Errorf("plan at once after apply -want +got:\n%s", diff)
				}
				if diff := cmp.Diff(want, census(t, f.tenant)); diff != "" {
					t.Errorf("objects after one apply -fault-free +stale reads:\n%s", diff)
				}
				f.applyAndWait(t, docs)
				if diff := cmp.Diff(want, census(t, f.tenant)); diff != "" {
					t.Errorf("objects after a second apply -fault-free +stale reads:\n%s", diff)
				}
				if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
					t.Errorf("plan after the second apply -want +got:\n%s", diff)
				}
				if f.tenant.FaultCounts().LagMisses == 0 {
					t.Error("no read missed an object: the stale replicas were not exercised")
				}
			})
		}
	}
}

// TestOneApplyConvergesOnAFaultyDirectory: the fault mix of the README (a fifth of the
// operations throttled, one in twenty answered with a server error before anything is done,
// one write in twenty performed and then answered with a server error or a dropped
// connection) on a 3 s replication window. One apply and its wait converge every example, and
// the tenant holds exactly what a fault-free run makes.
func TestOneApplyConvergesOnAFaultyDirectory(t *testing.T) {
	for _, file := range exampleFiles(t) {
		name := filepath.Base(file)
		docs := example(t, name)
		want := reference(t, docs)
		for _, seed := range []uint64{1, 2, 3, 19, 21, 35, 66, 76} {
			t.Run(fmt.Sprintf("%s/seed=%d", name, seed), func(t *testing.T) {
				// Throttled attempts do not count against the clients' attempts (the service asked
				// for the wait): the time budget bounds them.
				f := newFixtureWith(t, simtenant.Options{Faults: simtenant.Faults{ThrottleRate: 0.2, RetryAfter: time.Second,
					ServerErrorRate: 0.05, LostAnswerRate: 0.05, ReplicationLag: 3 * time.Second, Seed: seed}})
				f.applyAndWait(t, docs)
				t.Logf("faults met: %+v, %d answers >= 500 or none", f.tenant.FaultCounts(), serverErrors(f.tenant))
				if diff := cmp.Diff(want, census(t, f.tenant)); diff != "" {
					t.Errorf("objects after one apply -fault-free +faulty:\n%s", diff)
				}
				// The plan that checks the apply meets the same replication, but not the
				// throttling and errors: a plan that fails on them says nothing of the apply.
				f.tenant.SetFaults(simtenant.Faults{ReplicationLag: 3 * time.Second})
				if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
					t.Errorf("plan at once after apply -want +got:\n%s", diff)
				}
			})
		}
	}
}

// serverErrors counts the answers of the request log with a 5xx status or none at all.
func serverErrors(tenant *simtenant.Tenant) int {
	n := 0
	for _, r := range tenant.RequestLog() {
		if r.Status >= 500 || r.Status == 0 {
			n++
		}
	}
	return n
}

// TestEmptySuccessAnswersConverge: every create and update is performed and answered with its
// success status and no body, Graph's and Exchange's alike (a proxy that drops bodies, a
// service fault). No panic: the run either converges at once, or fails saying what happened,
// and the next apply converges; either way the tenant ends with exactly what a fault-free run
// makes.
func TestEmptySuccessAnswersConverge(t *testing.T) {
	for _, file := range exampleFiles(t) {
		name := filepath.Base(file)
		docs := example(t, name)
		want := reference(t, docs)
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, simtenant.Faults{EmptySuccessRate: 1, ReplicationLag: 2 * time.Second})
			ctx := context.Background()
			p := f.plan(t, docs)
			res, err := f.engine.Apply(ctx, p, nil)
			if err == nil {
				err = f.engine.AwaitVisible(ctx, docs, provision.PlanOptions{}, res, provision.WaitOptions{})
			}
			if f.tenant.FaultCounts().EmptyAnswers == 0 {
				t.Fatal("no answer came without its body: the fault was not exercised")
			}
			if err != nil {
				t.Logf("first apply: %v", err)
				f.tenant.SetFaults(simtenant.Faults{ReplicationLag: 2 * time.Second})
				f.applyAndWait(t, docs)
			}
			if diff := cmp.Diff(want, census(t, f.tenant)); diff != "" {
				t.Errorf("objects -fault-free +empty answers:\n%s", diff)
			}
			if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
				t.Errorf("plan after apply -want +got:\n%s", diff)
			}
		})
	}
}

// TestApplyRightAfterAFailedApply: an apply fails half-way (here its secret cannot be
// delivered), so it does not wait for the directory, and the user runs apply again at once.
// The second run's plan may land on replicas that have seen some of what the first made and
// not the rest (the application but not its service principal, say), and its writes may land
// on replicas that have not seen what they refer to. It converges in that one run all the same.
func TestApplyRightAfterAFailedApply(t *testing.T) {
	full := example(t, "openfire.yaml")
	noSecret := example(t, "openfire.yaml")
	noSecret[0].Application.Secrets = nil
	for _, tc := range []struct {
		name string
		docs []*manifests.Document
	}{
		{name: "openfire.yaml without its secret", docs: noSecret},
		{name: "openfire.yaml", docs: full},
	} {
		want := reference(t, tc.docs)
		for seed := range uint64(16) {
			t.Run(fmt.Sprintf("%s/seed=%d", tc.name, seed), func(t *testing.T) {
				f := newFixture(t, simtenant.Faults{ReplicationLag: 2 * time.Second, StaleReadRate: 0.5, Seed: seed})
				sinks := f.engine.Secrets.Sinks
				f.engine.Secrets.Sinks = func(manifests.SecretStore) ([]sink.Sink, error) {
					return nil, errors.New("the credentials file's directory is not mounted")
				}
				ctx := context.Background()
				first := f.plan(t, tc.docs)
				// Without a secret, the first apply is cut short after its consent instead.
				var cut provision.Plan
				for _, c := range first.Changes {
					if c.Kind != provision.KindUserAssignment && c.Kind != provision.KindSendAs {
						cut.Changes = append(cut.Changes, c)
					}
				}
				_, _ = f.engine.Apply(ctx, &cut, nil)
				f.engine.Secrets.Sinks = sinks
				f.applyAndWait(t, tc.docs)
				if diff := cmp.Diff(want, census(t, f.tenant)); diff != "" {
					t.Errorf("objects after the second apply -fault-free +stale reads:\n%s", diff)
				}
			})
		}
	}
}
