package provision_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// peopleOptions shape the tenant and clients of a fixture for assignments and Send-As.
type peopleOptions struct {
	faults simtenant.Faults
	// pageSize is the tenant's page size; 0 keeps simtenant's small default.
	pageSize int
	// exchangeConcurrency is the Exchange client's MaxConcurrency; 0 keeps its default.
	exchangeConcurrency int
	// seed runs on the tenant before the server starts (extra users).
	seed func(testing.TB, *simtenant.Tenant)
}

// newPeopleFixture is newFixture with the Exchange client the engine needs for sendAs, both
// clients signing in to the simulated tenant with a real azidentity credential.
func newPeopleFixture(tb testing.TB, opts peopleOptions) *fixture {
	tb.Helper()
	sim := simtest.Start(tb, simtest.Faults(opts.faults), simtest.PageSize(opts.pageSize), simtest.Seed(opts.seed),
		simtest.Exchange(func(o *exchange.Options) { o.MaxConcurrency = opts.exchangeConcurrency }))
	return &fixture{tenant: sim.Tenant, engine: &provision.Engine{Graph: sim.Graph, Exchange: sim.Exchange}, clock: sim.Clock}
}

const domain = "@" + simtenant.DefaultDomain

// people is a manifest of an app assigning users and groups, with one sendAs entry on jm@.
type people struct {
	users, groups, trustees []string
	exclusive               bool
}

func (p people) yaml() string {
	var b strings.Builder
	b.WriteString("apiVersion: provision/v1\napplication:\n  name: People\n  uniqueName: people-app\n  assignments:\n")
	list := func(indent, key string, xs []string) {
		if len(xs) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s%s:\n", indent, key)
		for _, x := range xs {
			fmt.Fprintf(&b, "%s  - %s\n", indent, x)
		}
	}
	list("    ", "users", p.users)
	list("    ", "groups", p.groups)
	if len(p.trustees) > 0 {
		b.WriteString("sendAs:\n  - mailbox: jm" + domain + "\n")
		list("    ", "trustees", p.trustees)
		fmt.Fprintf(&b, "    exclusive: %t\n", p.exclusive)
	}
	return b.String()
}

func (p people) docs(tb testing.TB) []*manifests.Document {
	tb.Helper()
	docs, diags := manifests.Load("people.yaml", []byte(p.yaml()), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		tb.Fatalf("load people.yaml: %v\n%s", diags, p.yaml())
	}
	return docs
}

// sendAsOf lists the trustees holding Send-As on mailbox, read back through the Exchange client.
func (f *fixture) sendAsOf(tb testing.TB, mailbox string) []string {
	tb.Helper()
	ts, err := f.engine.Exchange.SendAsTrustees(context.Background(), mailbox)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.Address)
	}
	slices.Sort(out)
	return out
}

// assignedTo lists "type:name" of the principals assigned to the app with the uniqueName.
func (f *fixture) assignedTo(tb testing.TB, uniqueName string) []string {
	tb.Helper()
	ctx := context.Background()
	client := f.engine.Graph.Graph
	app, err := client.ApplicationsWithUniqueName(&uniqueName).Get(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, a := range f.tenant.AppRoleAssignedTo(*app.GetAppId()) {
		if a["appRoleId"] != provision.DefaultAccessRoleID {
			tb.Errorf("assignment of %v has app role %v, want default access", a["principalDisplayName"], a["appRoleId"])
		}
		out = append(out, fmt.Sprintf("%v:%v", a["principalType"], a["principalDisplayName"]))
	}
	slices.Sort(out)
	return out
}

func TestOpenFireAssignsUsersAndGrantsSendAs(t *testing.T) {
	f := newFixture(t, simtenant.Faults{}) // with secret delivery, which openfire.yaml needs
	docs := example(t, "openfire.yaml")
	p := f.plan(t, docs)
	var got []string
	for _, l := range lines(p) {
		if strings.Contains(l, "assignment.") || strings.Contains(l, "send_as") {
			got = append(got, l)
		}
	}
	want := []string{
		`+ application["OpenFire"].assignment.user["jm@office.openfire.pro"]`,
		`+ application["OpenFire"].assignment.user["jojo@office.openfire.pro"]`,
		`+ send_as["jm@office.openfire.pro"].trustee["jojo@office.openfire.pro"]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("first plan of openfire.yaml, assignments and Send-As -want +got:\n%s", diff)
	}
	f.apply(t, p)
	if diff := cmp.Diff([]string{"User:Jean-Michel MARTIN", "User:Josiane Martin"}, f.assignedTo(t, "openfire-mail")); diff != "" {
		t.Errorf("users assigned to OpenFire -want +got:\n%s", diff)
	}
	if diff := cmp.Diff([]string{"jojo" + domain}, f.sendAsOf(t, "jm"+domain)); diff != "" {
		t.Errorf("Send-As on jm@ -want +got:\n%s", diff)
	}
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after apply -want +got:\n%s", diff)
	}
}

func TestAssignmentsAndSendAsFollowTheManifest(t *testing.T) {
	base := people{users: []string{"jm" + domain, "jojo" + domain, "contact" + domain}, trustees: []string{"jojo" + domain, "contact" + domain}}
	cases := map[string]struct {
		reason   string
		next     people
		want     []string
		warnings []string
		sendAs   []string
	}{
		"EmployeeAdded": {
			reason: "a new employee in both lists is one assignment and one Send-As grant",
			next: people{users: append(slices.Clone(base.users), "admin"+domain),
				trustees: append(slices.Clone(base.trustees), "admin"+domain)},
			want: []string{
				`+ application["People"].assignment.user["admin@office.openfire.pro"]`,
				`+ send_as["jm@office.openfire.pro"].trustee["admin@office.openfire.pro"]`,
			},
			sendAs: []string{"admin" + domain, "contact" + domain, "jojo" + domain},
		},
		"EmployeeRemoved": {
			reason: "assignments are authoritative; Send-As is additive, so the unlisted trustee is only reported",
			next:   people{users: base.users[:2], trustees: base.trustees[:1]},
			want:   []string{`- application["People"].assignment.user["Contact OpenFire"]`},
			warnings: []string{`send_as["jm@office.openfire.pro"].trustee["contact@office.openfire.pro"]: ` +
				`contact@office.openfire.pro also holds Send-As on jm@office.openfire.pro without being listed; kept, since exclusive is false`},
			sendAs: []string{"contact" + domain, "jojo" + domain},
		},
		"EmployeeRemovedExclusive": {
			reason: "with exclusive: true the unlisted trustee loses Send-As too",
			next:   people{users: base.users[:2], trustees: base.trustees[:1], exclusive: true},
			want: []string{
				`- application["People"].assignment.user["Contact OpenFire"]`,
				`- send_as["jm@office.openfire.pro"].trustee["contact@office.openfire.pro"]`,
			},
			sendAs: []string{"jojo" + domain},
		},
		"Groups": {
			reason: "a group by display name and another by object id; a mail-enabled security group as trustee",
			next: people{users: base.users, groups: []string{"Comptabilité", "{{equipe}}"},
				trustees: append(slices.Clone(base.trustees), "compta"+domain)},
			want: []string{
				`+ application["People"].assignment.group["Comptabilité"]`,
				`+ application["People"].assignment.group["{{equipe}}"]`,
				`+ send_as["jm@office.openfire.pro"].trustee["compta@office.openfire.pro"]`,
			},
			sendAs: []string{"compta" + domain, "contact" + domain, "jojo" + domain},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newPeopleFixture(t, peopleOptions{})
			f.apply(t, f.plan(t, base.docs(t)))
			equipe, ok := f.tenant.GroupID("Équipe OpenFire")
			if !ok {
				t.Fatal("the seeded group Équipe OpenFire is missing")
			}
			for i, g := range tc.next.groups {
				tc.next.groups[i] = strings.ReplaceAll(g, "{{equipe}}", equipe)
			}
			for i, w := range tc.want {
				tc.want[i] = strings.ReplaceAll(w, "{{equipe}}", equipe)
			}
			docs := tc.next.docs(t)
			p := f.plan(t, docs)
			if diff := cmp.Diff(tc.want, lines(p)); diff != "" {
				t.Fatalf("%s\nplan -want +got:\n%s", tc.reason, diff)
			}
			var warnings []string
			for _, w := range p.Warnings {
				warnings = append(warnings, w.Address+": "+w.Message)
			}
			if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
				t.Errorf("%s\nwarnings -want +got:\n%s", tc.reason, diff)
			}
			f.apply(t, p)
			if diff := cmp.Diff(tc.sendAs, f.sendAsOf(t, "jm"+domain)); diff != "" {
				t.Errorf("%s\nSend-As on jm@ after apply -want +got:\n%s", tc.reason, diff)
			}
			if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
				t.Errorf("%s\nplan after apply -want +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestAssignmentAndSendAsProblems(t *testing.T) {
	cases := map[string]struct {
		reason string
		people people
		want   string
	}{
		"UnknownUser": {
			reason: "a user the tenant does not have is an error at its line",
			people: people{users: []string{"jm" + domain, "nobody" + domain}},
			want:   `people.yaml:8:9: application.assignments.users[1]: no user with userPrincipalName or mail "nobody@office.openfire.pro" in the tenant`,
		},
		"MisspeltUser": {
			reason: "a user name one letter off names the directory's closest users, compared by local part within the domain",
			people: people{users: []string{"jm" + domain, "jojoo" + domain}},
			want: `people.yaml:8:9: application.assignments.users[1]: no user with userPrincipalName or mail "jojoo@office.openfire.pro" in the tenant` +
				` (did you mean "jojo@office.openfire.pro"?)`,
		},
		"MisspeltDomain": {
			reason: "a misspelt domain is compared whole, nearest first",
			people: people{users: []string{"jm@office.openfire.fr"}},
			want: `people.yaml:7:9: application.assignments.users[0]: no user with userPrincipalName or mail "jm@office.openfire.fr" in the tenant` +
				` (did you mean "jm@office.openfire.pro" or "jojo@office.openfire.pro" or "admin@office.openfire.pro"?)`,
		},
		"MisspeltGroup": {
			reason: "a group name one letter off names the closest group",
			people: people{users: []string{"jm" + domain}, groups: []string{"Comptabilite"}},
			want: `people.yaml:9:9: application.assignments.groups[0]: no group with display name or object id "Comptabilite" in the tenant` +
				` (did you mean "Comptabilité"?)`,
		},
		"UnknownGroup": {
			reason: "a group is found by display name or id, and this one by neither",
			people: people{users: []string{"jm" + domain}, groups: []string{"Ventes"}},
			want:   `people.yaml:9:9: application.assignments.groups[0]: no group with display name or object id "Ventes" in the tenant`,
		},
		"TrusteeWithoutMailbox": {
			reason: "stagiaire@ has no mailbox, so cannot be a Send-As trustee",
			people: people{users: []string{"jm" + domain}, trustees: []string{"stagiaire" + domain}},
			want: `people.yaml:11:9: sendAs[0].trustees[0]: user stagiaire@office.openfire.pro has no mailbox (no mail address in Entra ID): ` +
				`a Send-As trustee must be a mailbox user or a mail-enabled security group`,
		},
		"GroupNotMailEnabled": {
			reason: "a trustee group must be a mail-enabled security group; Équipe OpenFire has no mail at all, so it is not found",
			people: people{users: []string{"jm" + domain}, trustees: []string{"equipe-openfire" + domain}},
			want: `people.yaml:11:9: sendAs[0].trustees[0]: no user or mail-enabled security group with userPrincipalName or mail ` +
				`"equipe-openfire@office.openfire.pro" in the tenant`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newPeopleFixture(t, peopleOptions{})
			_, err := f.engine.Plan(context.Background(), tc.people.docs(t))
			var d manifests.Diagnostics
			if !errors.As(err, &d) {
				t.Fatalf("%s\nplan error %v, want manifests.Diagnostics", tc.reason, err)
			}
			if diff := cmp.Diff(tc.want, fmt.Sprint(err)); diff != "" {
				t.Errorf("%s\nplan error -want +got:\n%s\nmanifest:\n%s", tc.reason, diff, tc.people.yaml())
			}
		})
	}
}

func TestMailboxWithoutExchangeMailbox(t *testing.T) {
	f := newPeopleFixture(t, peopleOptions{})
	docs, diags := manifests.Load("m.yaml", []byte(strings.Join([]string{
		"apiVersion: provision/v1",
		"application:",
		"  name: People",
		"sendAs:",
		"  - mailbox: stagiaire" + domain,
		"    trustees: [jojo" + domain + "]",
	}, "\n")), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, err := f.engine.Plan(context.Background(), docs)
	want := `m.yaml:5:14: sendAs[0].mailbox: user stagiaire@office.openfire.pro has no mailbox (no mail address in Entra ID): ` +
		`Send-As needs an Exchange Online mailbox; assign an Exchange licence or remove this entry`
	if diff := cmp.Diff(want, fmt.Sprint(err)); diff != "" {
		t.Errorf("plan error -want +got:\n%s", diff)
	}
}

func TestDisabledUserIsAWarning(t *testing.T) {
	f := newPeopleFixture(t, peopleOptions{})
	docs := people{users: []string{"jm" + domain, "ancien.salarie" + domain}}.docs(t)
	p := f.plan(t, docs)
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w.Source.String()+": "+w.Message)
	}
	want := []string{"people.yaml:8:9: user ancien.salarie@office.openfire.pro is disabled: the assignment is kept, but the user cannot sign in"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings -want +got:\n%s", diff)
	}
	f.apply(t, p)
	if diff := cmp.Diff([]string{"User:Ancien Salarié", "User:Jean-Michel MARTIN"}, f.assignedTo(t, "people-app")); diff != "" {
		t.Errorf("assigned -want +got:\n%s", diff)
	}
}

func TestSendAsWithoutExchangeClient(t *testing.T) {
	f := newPeopleFixture(t, peopleOptions{})
	f.engine.Exchange = nil
	_, err := f.engine.Plan(context.Background(), people{users: []string{"jm" + domain}, trustees: []string{"jojo" + domain}}.docs(t))
	if !errors.Is(err, provision.ErrNoExchange) {
		t.Errorf("plan with sendAs and no Exchange client: error %v, want ErrNoExchange", err)
	}
	if s := f.tenant.Stats(); s.RoundTrips != 0 {
		t.Errorf("plan without an Exchange client made %d round trips before failing, want 0", s.RoundTrips)
	}
}

func TestParallelAssignmentFailureSkipsLaterKindsOnly(t *testing.T) {
	f := newPeopleFixture(t, peopleOptions{})
	f.apply(t, f.plan(t, people{users: []string{"jm" + domain}}.docs(t)))
	next := people{users: []string{"jm" + domain, "jojo" + domain, "contact" + domain, "admin" + domain}, trustees: []string{"jojo" + domain}}
	docs := next.docs(t)
	p := f.plan(t, docs)
	unique := "people-app"
	app, err := f.engine.Graph.Graph.ApplicationsWithUniqueName(&unique).Get(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := f.tenant.ServicePrincipal(*app.GetAppId())
	// The three new assignments fail in their $batch, then the first one retried alone fails again.
	f.tenant.FailNext(http.MethodPost, fmt.Sprintf("/v1.0/servicePrincipals/%v/appRoleAssignedTo", sp["id"]), 4, http.StatusBadRequest)

	res, err := f.engine.Apply(context.Background(), p, nil)
	if err == nil {
		t.Fatal("apply with a failing assignment succeeded")
	}
	var got []string
	for _, r := range res.Results {
		state := "ok"
		switch {
		case errors.Is(r.Err, provision.ErrSkipped):
			state = "skipped"
		case r.Err != nil:
			state = "failed"
		}
		got = append(got, fmt.Sprintf("%s %s", r.Kind, state))
	}
	slices.Sort(got)
	want := []string{"send_as skipped", "user_assignment failed", "user_assignment ok", "user_assignment ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results -want +got:\n%s", diff)
	}
	f.apply(t, f.plan(t, docs))
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after the second apply -want +got:\n%s", diff)
	}
}

func TestAssignmentsGoInBatches(t *testing.T) {
	const n = 45
	f := newPeopleFixture(t, peopleOptions{seed: func(tb testing.TB, t *simtenant.Tenant) { seedUsers(tb, t, n) }})
	var users []string
	for i := range n {
		users = append(users, fmt.Sprintf("employee%04d%s", i, domain))
	}
	docs := people{users: users}.docs(t)
	p := f.plan(t, docs)
	f.tenant.ResetStats()
	f.apply(t, p)
	// The application, its service principal, one read that it answers (it was created
	// moments ago), then 45 assignments in $batch calls of 20.
	if got, want := graphRoundTrips(f.tenant), 2+1+3; got != want {
		t.Errorf("apply of %d assignments took %d Graph round trips, want %d: %v", n, got, want, f.tenant.Stats().ByRoute)
	}
	if got := len(f.assignedTo(t, "people-app")); got != n {
		t.Errorf("assigned after apply: %d, want %d", got, n)
	}
	if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
		t.Errorf("plan after apply -want +got:\n%s", diff)
	}
}
