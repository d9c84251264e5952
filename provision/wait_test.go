package provision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/simtenant"
)

// applyAndWait plans, applies and waits for the directory to show the writes, as
// `provision apply` does.
func (f *fixture) applyAndWait(tb testing.TB, docs []*manifests.Document) {
	tb.Helper()
	ctx := context.Background()
	p := f.plan(tb, docs)
	res, err := f.engine.Apply(ctx, p, nil)
	if err != nil {
		tb.Fatalf("apply: %v", err)
	}
	if err := f.engine.AwaitVisible(ctx, docs, provision.PlanOptions{}, res, provision.WaitOptions{}); err != nil {
		tb.Fatalf("wait for the directory: %v", err)
	}
}

// inventory counts the tenant's objects of each collection that are not seeded: what a run
// made. Two runs that make the same objects leave the same inventory.
func inventory(tb testing.TB, tenant *simtenant.Tenant) map[string]int {
	tb.Helper()
	var buf bytes.Buffer
	if err := tenant.Save(&buf); err != nil {
		tb.Fatal(err)
	}
	var state map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &state); err != nil {
		tb.Fatal(err)
	}
	out := map[string]int{}
	for _, coll := range []string{"applications", "servicePrincipals", "oauth2PermissionGrants", "appRoleAssignments"} {
		var objs map[string]json.RawMessage
		_ = json.Unmarshal(state[coll], &objs)
		out[coll] = len(objs)
	}
	return out
}

// exampleFiles lists every manifest of examples/.
func exampleFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no examples: %v", err)
	}
	sort.Strings(files)
	return files
}

func TestApplyThenPlanAtOnceUnderReplicationLag(t *testing.T) {
	// A 2 s replication window (every read of an object in its first 2 s misses it), and no
	// clock advanced by the test between apply and plan: what the user who runs
	// `apply && plan --detailed-exitcode` sees.
	for _, file := range exampleFiles(t) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, simtenant.Faults{ReplicationLag: 2 * time.Second})
			docs := example(t, name)
			start := f.clock.Now()
			f.applyAndWait(t, docs)
			waited := f.clock.Now().Sub(start)
			if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
				t.Fatalf("plan at once after apply -want +got:\n%s", diff)
			}
			made := inventory(t, f.tenant)
			// And a second apply right after the first: no error, nothing duplicated.
			f.applyAndWait(t, docs)
			if diff := cmp.Diff(made, inventory(t, f.tenant)); diff != "" {
				t.Errorf("objects after a second apply -first +second:\n%s", diff)
			}
			if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
				t.Errorf("plan after the second apply -want +got:\n%s", diff)
			}
			t.Logf("%s: apply and wait took %s of (fake) time under a 2 s lag", name, waited.Round(time.Millisecond))
		})
	}
}

func TestAwaitVisibleNamesWhatIsNotVisible(t *testing.T) {
	// A lag longer than the bound: the wait gives up, names the changes still not visible,
	// and a later plan (once replication caught up) is empty: the writes were made.
	// A minute of lag: apply rides it out creating the service principal, which then stays
	// invisible for a minute, longer than the 20 s the wait is given.
	f := newFixture(t, simtenant.Faults{ReplicationLag: time.Minute})
	docs := example(t, "minimal.yaml")
	ctx := context.Background()
	p := f.plan(t, docs)
	res, err := f.engine.Apply(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var progress []string
	err = f.engine.AwaitVisible(ctx, docs, provision.PlanOptions{}, res, provision.WaitOptions{Timeout: 20 * time.Second,
		Progress: func(pending []provision.Change, _ time.Duration) {
			progress = append(progress, fmt.Sprint(len(pending)))
		}})
	var nv *provision.NotVisibleError
	if !errors.As(err, &nv) {
		t.Fatalf("wait beyond its bound: %v, want a NotVisibleError", err)
	}
	for _, want := range []string{`+ application["Minimal Example"].service_principal`, "raise --wait-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}
	if len(progress) < 2 {
		t.Errorf("progress told %d times while waiting 20 s, want a report per read", len(progress))
	}
	f.clock.Advance(time.Minute)
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan once replicated -want +got:\n%s", diff)
	}
}

func TestAwaitVisibleWithNothingApplied(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "minimal.yaml")
	f.tenant.ResetStats()
	start := f.clock.Now()
	err := f.engine.AwaitVisible(context.Background(), docs, provision.PlanOptions{}, &provision.ApplyResult{}, provision.WaitOptions{})
	if err != nil || graphRoundTrips(f.tenant) != 0 || !f.clock.Now().Equal(start) {
		t.Errorf("a wait after an apply that changed nothing: err %v, %d round trips, %s waited; want none of them",
			err, graphRoundTrips(f.tenant), f.clock.Now().Sub(start))
	}
}

func TestAwaitVisibleIgnoresChangesItDidNotMake(t *testing.T) {
	// Only what the apply wrote is waited for: a change left for later (drift made by
	// someone else meanwhile) does not hold the wait.
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "openfire.yaml")
	f.applyAndWait(t, docs)
	unique := docs[0].Application.UniqueName
	app, err := f.engine.Graph.Graph.ApplicationsWithUniqueName(&unique).Get(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tenant.AddRedirectURI(*app.GetAppId(), "https://elsewhere.example/cb"); err != nil {
		t.Fatal(err)
	}
	p := f.plan(t, docs)
	if !slices.Equal(lines(p), []string{`~ application["OpenFire"]`}) {
		t.Fatalf("drift plan: %v", lines(p))
	}
	res := &provision.ApplyResult{Results: []provision.ChangeResult{{Address: `application["OpenFire"].secret["OpenFire Mail"]`, Kind: provision.KindSecret}}}
	if err := f.engine.AwaitVisible(context.Background(), docs, provision.PlanOptions{}, res, provision.WaitOptions{Timeout: time.Minute}); err != nil {
		t.Errorf("wait held by a change it did not make: %v", err)
	}
}
