package doctor_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/doctor"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/rights"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// newSim is a simulated tenant served over TLS whose Exchange client tries once.
func newSim(t *testing.T) *simtest.Fixture {
	t.Helper()
	return simtest.Start(t, simtest.Exchange(func(o *exchange.Options) { o.MaxAttempts = 1 }))
}

func inspect(t *testing.T, s *simtest.Fixture) doctor.SignedIn {
	t.Helper()
	got, err := doctor.Inspect(context.Background(), s.NewCredential(t), s.Server.URL+"/.default", s.Server.URL+"/exchange/.default")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// plan plans docs with a fresh sign-in: the reads a run starts with.
func plan(t *testing.T, s *simtest.Fixture, docs []*manifests.Document) error {
	t.Helper()
	gc, exo := s.Clients(t, s.NewCredential(t))
	_, err := (&provision.Engine{Graph: gc, Exchange: exo}).Plan(context.Background(), docs)
	return err
}

func openfire(t *testing.T) []*manifests.Document {
	t.Helper()
	docs, diags := manifests.LoadFile(filepath.Join("..", "..", "examples", "openfire.yaml"), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return docs
}

// failing lists the steps a report says cannot be performed.
func failing(r doctor.Report) []rights.StepID {
	var out []rights.StepID
	for _, s := range r.Steps {
		if !s.OK {
			out = append(out, s.Step.ID)
		}
	}
	return out
}

func TestDoctorNamesTheRevokedRight(t *testing.T) {
	docs := openfire(t)
	for _, tc := range []struct {
		reason      string
		revoke      string
		wantFailing []rights.StepID
		wantFixes   []rights.Right
		planFails   bool // the reads of plan need the right too
	}{
		{reason: "the simulator's operator holds every right openfire.yaml needs", wantFixes: []rights.Right{}},
		{
			reason: "without Application.ReadWrite.All the application can be neither read nor written; " +
				"the fix is the one grant that does both, not Application.Read.All as well",
			revoke:      "Application.ReadWrite.All",
			wantFailing: []rights.StepID{rights.StepReadApplications, rights.StepWriteApplication},
			wantFixes:   []rights.Right{{Kind: rights.GraphPermission, Name: "Application.ReadWrite.All"}},
			planFails:   true,
		},
		{
			reason:      "without AppRoleAssignment.ReadWrite.All neither application consent nor assignments can be granted",
			revoke:      "AppRoleAssignment.ReadWrite.All",
			wantFailing: []rights.StepID{rights.StepGrantApplication, rights.StepAssign},
			wantFixes:   []rights.Right{{Kind: rights.GraphPermission, Name: "AppRoleAssignment.ReadWrite.All"}},
		},
		{
			reason:      "without DelegatedPermissionGrant.ReadWrite.All grants can be neither read nor written",
			revoke:      "DelegatedPermissionGrant.ReadWrite.All",
			wantFailing: []rights.StepID{rights.StepReadConsent, rights.StepGrantDelegated},
			wantFixes:   []rights.Right{{Kind: rights.GraphPermission, Name: "DelegatedPermissionGrant.ReadWrite.All"}},
			planFails:   true,
		},
		{
			reason:      "without User.Read.All the users of assignments and Send-As cannot be looked up",
			revoke:      "User.Read.All",
			wantFailing: []rights.StepID{rights.StepReadUsers},
			wantFixes:   []rights.Right{{Kind: rights.GraphPermission, Name: "User.Read.All"}},
			planFails:   true,
		},
		{
			reason:      "without Group.Read.All Send-As trustees cannot be looked up as groups",
			revoke:      "Group.Read.All",
			wantFailing: []rights.StepID{rights.StepReadGroups},
			wantFixes:   []rights.Right{{Kind: rights.GraphPermission, Name: "Group.Read.All"}},
			planFails:   true,
		},
		{
			reason:      "without Exchange.ManageAsApp the Exchange admin API refuses Send-As",
			revoke:      "Exchange.ManageAsApp",
			wantFailing: []rights.StepID{rights.StepSendAs, rights.StepExchangeServicePrincipal, rights.StepMailboxAccess},
			wantFixes:   []rights.Right{{Kind: rights.ExchangePermission, Name: "Exchange.ManageAsApp"}},
			planFails:   true,
		},
		{
			reason:      "without an Exchange role the permission alone is not enough",
			revoke:      "Exchange Recipient Administrator,Exchange Administrator",
			wantFailing: []rights.StepID{rights.StepSendAs, rights.StepExchangeServicePrincipal, rights.StepMailboxAccess},
			wantFixes:   []rights.Right{{Kind: rights.DirectoryRole, Name: rights.RoleExchangeAdmin}},
			planFails:   true,
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			s := newSim(t)
			// An existing enterprise app, so plan reads its grants and assignments too.
			if _, err := s.Tenant.SeedPortalApp(simtenant.PortalApp{DisplayName: "OpenFire", UniqueName: "openfire-mail", ServicePrincipal: true}); err != nil {
				t.Fatal(err)
			}
			for _, right := range strings.Split(tc.revoke, ",") {
				if right == "" {
					continue
				}
				if err := s.Tenant.RevokeOperatorRight(right); err != nil {
					t.Fatal(err)
				}
			}
			signed := inspect(t, s)
			if !signed.Held.AppOnly || signed.Identity.TenantID != s.Tenant.TenantID() {
				t.Errorf("identity = %+v, want the app-only operator of tenant %s", signed.Identity, s.Tenant.TenantID())
			}
			rep := doctor.Check(signed.Held, rights.Steps(doctor.NeedOf(docs)))
			if diff := cmp.Diff(tc.wantFailing, failing(rep)); diff != "" {
				t.Errorf("failing steps -want +got:\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantFixes, rep.Fixes); diff != "" {
				t.Errorf("fixes -want +got:\n%s", diff)
			}
			for _, res := range rep.Steps {
				if !res.OK && len(res.Fix) == 0 {
					t.Errorf("step %s fails without a fix", res.Step.ID)
				}
			}
			// The simulator enforces the rights as Graph and Exchange do: plan's reads fail
			// exactly when doctor says a read step would, and work once the fix is granted.
			if err := plan(t, s, docs); (err != nil) != tc.planFails {
				t.Errorf("plan error = %v, want failure %v", err, tc.planFails)
			}
			for _, f := range rep.Fixes {
				if err := s.Tenant.GrantOperatorRight(f.Name); err != nil {
					t.Fatal(err)
				}
			}
			if again := doctor.Check(inspect(t, s).Held, rights.Steps(doctor.NeedOf(docs))); !again.OK() {
				t.Errorf("after granting %v doctor still finds %v", rep.Fixes, failing(again))
			}
			if err := plan(t, s, docs); err != nil {
				t.Errorf("plan after granting %v: %v", rep.Fixes, err)
			}
		})
	}
}

func TestPreflightWarnsBeforeAnyWrite(t *testing.T) {
	docs := openfire(t)
	s := newSim(t)
	if err := s.Tenant.RevokeOperatorRight("AppRoleAssignment.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	before := len(s.Tenant.RequestLog())
	got, err := doctor.Preflight(context.Background(), s.NewCredential(t), s.Server.URL+"/.default", s.Server.URL+"/exchange/.default", docs)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, w := range got {
		msgs = append(msgs, w.Message)
	}
	_, cid, _ := s.Tenant.OperatorCredentials()
	want := []string{
		"the signed-in identity " + cid + " cannot grant admin consent to application permissions: missing: grant AppRoleAssignment.ReadWrite.All (provision doctor explains)",
		"the signed-in identity " + cid + " cannot assign users and groups to the enterprise application: missing: grant AppRoleAssignment.ReadWrite.All (provision doctor explains)",
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("preflight warnings -want +got:\n%s", diff)
	}
	for _, r := range s.Tenant.RequestLog()[before:] {
		if r.Method != "POST" || !strings.Contains(r.Path, "token") {
			t.Errorf("preflight sent %s %s; it should only ask for tokens", r.Method, r.Path)
		}
	}
}
