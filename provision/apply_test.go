package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/rights"
	"github.com/provisionhq/provision/provision/simtenant"
)

func TestApplyingAStalePlanAgainIsHarmless(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "minimal.yaml")
	p := f.plan(t, docs)
	f.apply(t, p)
	// The same plan again: every create meets an object that exists (the lost-answer case),
	// which must be reconciled, not duplicated or reported as an error.
	f.apply(t, p)
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after applying a stale plan twice -want +got:\n%s", diff)
	}
}

func TestConsentCreatedTwiceIsReconciled(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "openfire.yaml")
	p := f.plan(t, docs)
	var consent provision.Plan
	for _, c := range p.Changes {
		if c.Kind != provision.KindSecret && c.Kind != provision.KindSendAs && c.Kind != provision.KindUserAssignment {
			consent.Changes = append(consent.Changes, c)
		}
	}
	f.apply(t, &consent)
	f.apply(t, &consent) // grants and role assignments exist: already-exists is success
	ctx := context.Background()
	ids := f.observedIDs(t, docs)
	assignments, err := f.engine.Graph.Graph.ServicePrincipals().ByServicePrincipalId(ids.spID).AppRoleAssignments().Get(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(assignments.GetValue()); got != 3 {
		t.Errorf("app role assignments after applying the consent twice: got %d, want 3", got)
	}
}

func TestCancelStopsAfterTheChangeInFlight(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "openfire.yaml")
	p := f.plan(t, docs)
	ctx, cancel := context.WithCancel(context.Background())
	var seen []string
	res, err := f.engine.Apply(ctx, p, func(r provision.ChangeResult) {
		seen = append(seen, string(r.Action)+" "+r.Address)
		cancel() // Ctrl-C while the first change runs
	})
	if err == nil {
		t.Fatal("apply after cancellation returned no error")
	}
	applied, failed, skipped := res.Counts()
	if diff := cmp.Diff([3]int{1, 0, len(p.Changes) - 1}, [3]int{applied, failed, skipped}); diff != "" {
		t.Errorf("applied, failed, skipped -want +got:\n%s", diff)
	}
	if len(seen) != len(p.Changes) {
		t.Errorf("progress called %d times, want once per change (%d)", len(seen), len(p.Changes))
	}
	for _, r := range res.Results[1:] {
		if !errors.Is(r.Err, provision.ErrSkipped) {
			t.Errorf("%s: err %v, want ErrSkipped", r.Address, r.Err)
		}
	}
	// The next run finishes the job.
	f.apply(t, f.plan(t, docs))
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after finishing a cancelled apply -want +got:\n%s", diff)
	}
}

func TestPermissionDeniedSaysWhatIsMissing(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs := example(t, "minimal.yaml")
	p := f.plan(t, docs)
	for _, right := range []string{"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy", "AppRegistration.Create"} {
		_ = f.tenant.RevokeOperatorRight(right) // the simulated operator may not hold all three
	}
	_, err := f.engine.Apply(context.Background(), p, nil)
	if err == nil {
		t.Fatal("apply without the right to create applications succeeded")
	}
	var denied *rights.DeniedError
	if !errors.As(err, &denied) || !strings.Contains(err.Error(), "Application.ReadWrite") {
		t.Errorf("apply error does not explain the missing permission: %v", err)
	}
}
