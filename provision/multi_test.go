package provision_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/simtenant"
)

func TestSmallPagesAreFollowed(t *testing.T) {
	// Two items per page: the three app role assignments and the resource lists come back
	// paged, and observe must follow the next links to see everything.
	f := newFixtureWith(t, simtenant.Options{PageSize: 2})
	docs := example(t, "openfire.yaml")
	f.apply(t, f.plan(t, docs))
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after apply with two items per page -want +got:\n%s", diff)
	}
}

func TestSeveralDocumentsShareTheRoundTrips(t *testing.T) {
	f := newFixture(t, simtenant.Faults{})
	docs, diags := manifests.Parse("two.yaml", []byte(`apiVersion: provision/v1
application:
  name: First
  uniqueName: first-app
  permissions:
    - api: Microsoft Graph
      delegated: [User.Read]
  adminConsent: true
---
apiVersion: provision/v1
application:
  name: Second
  permissions:
    - api: 00000003-0000-0000-c000-000000000000
      delegated: [User.Read, Mail.Send]
    - api: Office 365 Exchange Online
      application: [SMTP.SendAsApp]
  adminConsent: true
`), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	first := f.plan(t, docs)
	want := []string{
		`+ application["First"]`,
		`+ application["Second"]`,
		`+ application["First"].service_principal`,
		`+ application["Second"].service_principal`,
		`+ application["First"].consent["Microsoft Graph"].delegated`,
		`+ application["Second"].consent["Microsoft Graph"].delegated`,
		`+ application["Second"].consent["Office 365 Exchange Online"].role["SMTP.SendAsApp"]`,
	}
	if diff := cmp.Diff(want, lines(first)); diff != "" {
		t.Fatalf("first plan -want +got:\n%s", diff)
	}
	f.apply(t, first)
	f.tenant.ResetStats()
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after apply -want +got:\n%s", diff)
	}
	if n := graphRoundTrips(f.tenant); n > 3 {
		t.Errorf("a no-op plan of two documents took %d Graph round trips, want 3 as for one", n)
	}
}
