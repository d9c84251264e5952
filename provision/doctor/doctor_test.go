package doctor_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/doctor"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/simtenant"
)

// sim is a simulated tenant served over TLS.
type sim struct {
	tenant *simtenant.Tenant
	srv    *httptest.Server
	clock  *clock.Fake
}

func newSim(t *testing.T) *sim {
	t.Helper()
	fc := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	tenant, err := simtenant.New(simtenant.Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(tenant.Handler())
	t.Cleanup(srv.Close)
	return &sim{tenant: tenant, srv: srv, clock: fc}
}

// credential signs in as the tenant's operator. A new one has no cached token, so it sees
// the rights the operator holds now.
func (s *sim) credential(t *testing.T) *azidentity.ClientSecretCredential {
	t.Helper()
	tid, cid, secret := s.tenant.OperatorCredentials()
	cred, err := azidentity.NewClientSecretCredential(tid, cid, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.srv.URL + "/"}, Transport: s.srv.Client()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func (s *sim) inspect(t *testing.T) doctor.SignedIn {
	t.Helper()
	got, err := doctor.Inspect(context.Background(), s.credential(t), s.srv.URL+"/.default", s.srv.URL+"/exchange/.default")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// plan plans docs with a fresh sign-in: the reads a run starts with.
func (s *sim) plan(t *testing.T, docs []*manifests.Document) error {
	t.Helper()
	cred := s.credential(t)
	gc, err := graph.NewClient(graph.Options{BaseURL: s.srv.URL, Credential: cred, Transport: s.srv.Client().Transport, Clock: s.clock})
	if err != nil {
		t.Fatal(err)
	}
	tid, _, _ := s.tenant.OperatorCredentials()
	exo, err := exchange.New(exchange.Options{Endpoint: s.srv.URL + "/exchange", TenantID: tid, Credential: cred, HTTPClient: s.srv.Client(),
		Clock: s.clock, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&provision.Engine{Graph: gc, Exchange: exo}).Plan(context.Background(), docs)
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
func failing(r doctor.Report) []doctor.StepID {
	var out []doctor.StepID
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
		wantFailing []doctor.StepID
		wantFixes   []doctor.Right
		planFails   bool // the reads of plan need the right too
	}{
		{reason: "the simulator's operator holds every right openfire.yaml needs", wantFixes: []doctor.Right{}},
		{
			reason: "without Application.ReadWrite.All the application can be neither read nor written; " +
				"the fix is the one grant that does both, not Application.Read.All as well",
			revoke:      "Application.ReadWrite.All",
			wantFailing: []doctor.StepID{doctor.StepReadApplications, doctor.StepWriteApplication},
			wantFixes:   []doctor.Right{{Kind: doctor.GraphPermission, Name: "Application.ReadWrite.All"}},
			planFails:   true,
		},
		{
			reason:      "without AppRoleAssignment.ReadWrite.All neither application consent nor assignments can be granted",
			revoke:      "AppRoleAssignment.ReadWrite.All",
			wantFailing: []doctor.StepID{doctor.StepGrantApplication, doctor.StepAssign},
			wantFixes:   []doctor.Right{{Kind: doctor.GraphPermission, Name: "AppRoleAssignment.ReadWrite.All"}},
		},
		{
			reason:      "without DelegatedPermissionGrant.ReadWrite.All grants can be neither read nor written",
			revoke:      "DelegatedPermissionGrant.ReadWrite.All",
			wantFailing: []doctor.StepID{doctor.StepReadConsent, doctor.StepGrantDelegated},
			wantFixes:   []doctor.Right{{Kind: doctor.GraphPermission, Name: "DelegatedPermissionGrant.ReadWrite.All"}},
			planFails:   true,
		},
		{
			reason:      "without User.Read.All the users of assignments and Send-As cannot be looked up",
			revoke:      "User.Read.All",
			wantFailing: []doctor.StepID{doctor.StepReadUsers},
			wantFixes:   []doctor.Right{{Kind: doctor.GraphPermission, Name: "User.Read.All"}},
			planFails:   true,
		},
		{
			reason:      "without Group.Read.All Send-As trustees cannot be looked up as groups",
			revoke:      "Group.Read.All",
			wantFailing: []doctor.StepID{doctor.StepReadGroups},
			wantFixes:   []doctor.Right{{Kind: doctor.GraphPermission, Name: "Group.Read.All"}},
			planFails:   true,
		},
		{
			reason:      "without Exchange.ManageAsApp the Exchange admin API refuses Send-As",
			revoke:      "Exchange.ManageAsApp",
			wantFailing: []doctor.StepID{doctor.StepSendAs},
			wantFixes:   []doctor.Right{{Kind: doctor.ExchangePermission, Name: "Exchange.ManageAsApp"}},
			planFails:   true,
		},
		{
			reason:      "without an Exchange role the permission alone is not enough",
			revoke:      "Exchange Recipient Administrator",
			wantFailing: []doctor.StepID{doctor.StepSendAs},
			wantFixes:   []doctor.Right{{Kind: doctor.DirectoryRole, Name: doctor.RoleExchangeRecipientAdmin}},
			planFails:   true,
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			s := newSim(t)
			// An existing enterprise app, so plan reads its grants and assignments too.
			if _, err := s.tenant.SeedPortalApp(simtenant.PortalApp{DisplayName: "OpenFire", UniqueName: "openfire-mail", ServicePrincipal: true}); err != nil {
				t.Fatal(err)
			}
			if tc.revoke != "" {
				if err := s.tenant.RevokeOperatorRight(tc.revoke); err != nil {
					t.Fatal(err)
				}
			}
			signed := s.inspect(t)
			if !signed.Held.AppOnly || signed.Identity.TenantID != s.tenant.TenantID() {
				t.Errorf("identity = %+v, want the app-only operator of tenant %s", signed.Identity, s.tenant.TenantID())
			}
			rep := doctor.Check(signed.Held, doctor.Steps(doctor.NeedOf(docs)))
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
			if err := s.plan(t, docs); (err != nil) != tc.planFails {
				t.Errorf("plan error = %v, want failure %v", err, tc.planFails)
			}
			for _, f := range rep.Fixes {
				if err := s.tenant.GrantOperatorRight(f.Name); err != nil {
					t.Fatal(err)
				}
			}
			if again := doctor.Check(s.inspect(t).Held, doctor.Steps(doctor.NeedOf(docs))); !again.OK() {
				t.Errorf("after granting %v doctor still finds %v", rep.Fixes, failing(again))
			}
			if err := s.plan(t, docs); err != nil {
				t.Errorf("plan after granting %v: %v", rep.Fixes, err)
			}
		})
	}
}

func TestPreflightWarnsBeforeAnyWrite(t *testing.T) {
	docs := openfire(t)
	s := newSim(t)
	if err := s.tenant.RevokeOperatorRight("AppRoleAssignment.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	before := len(s.tenant.RequestLog())
	got, err := doctor.Preflight(context.Background(), s.credential(t), s.srv.URL+"/.default", s.srv.URL+"/exchange/.default", docs)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, w := range got {
		msgs = append(msgs, w.Message)
	}
	_, cid, _ := s.tenant.OperatorCredentials()
	want := []string{
		"the signed-in identity " + cid + " cannot grant admin consent to application permissions: missing: grant AppRoleAssignment.ReadWrite.All (provision doctor explains)",
		"the signed-in identity " + cid + " cannot assign users and groups to the enterprise application: missing: grant AppRoleAssignment.ReadWrite.All (provision doctor explains)",
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("preflight warnings -want +got:\n%s", diff)
	}
	for _, r := range s.tenant.RequestLog()[before:] {
		if r.Method != "POST" || !strings.Contains(r.Path, "token") {
			t.Errorf("preflight sent %s %s; it should only ask for tokens", r.Method, r.Path)
		}
	}
}
