package provision_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// answerLoser stands between the server and the tenant and loses the answers of chosen
// requests: the tenant performs the request, then the client gets a server error, its
// connection is closed without an answer, or no answer ever comes (until the client gives up);
// or the request stalls without being performed at all. A rule is spent only by a write the
// tenant carried out (a refusal, say a 404 while replication lags, passes through), so each
// rule loses the answer of exactly that many writes that happened.
type answerLoser struct {
	tenant http.Handler
	mu     sync.Mutex
	rules  []*loseRule
	lost   []string
}

// answerFault is what becomes of a request a rule matches.
type answerFault int

const (
	answer500          answerFault = iota // performed, then answered 500
	answerDropped                         // performed, then the connection closed
	answerStalled                         // performed, then never answered
	stalledUnperformed                    // never performed nor answered
)

func (a answerFault) String() string {
	return [...]string{"500", "dropped", "stalled", "stalled before the write"}[a]
}

// loseRule loses the answers of the next n requests it matches.
type loseRule struct {
	what  string
	match func(r *http.Request, body string) bool
	n     int
	how   answerFault
}

// loseAnswers makes a fixture whose server loses answers as rules say, whose tenant injects
// faults (a replication window makes the retries meet objects not yet visible, as they would
// on a real directory); more are further simtest options.
func loseAnswers(tb testing.TB, faults simtenant.Faults, rules []*loseRule, more ...simtest.Option) (*fixture, *answerLoser) {
	tb.Helper()
	l := &answerLoser{rules: rules}
	f := newFixtureWith(tb, simtenant.Options{Faults: faults},
		append(more, simtest.Wrap(func(tenant http.Handler) http.Handler { l.tenant = tenant; return l }))...)
	return f, l
}

func (l *answerLoser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	rule := l.ruleFor(r, requestText(r, raw))
	switch {
	case rule == nil:
		l.tenant.ServeHTTP(w, r)
		return
	case rule.how == stalledUnperformed:
		if l.spend(rule) {
			stall(r)
			return
		}
		l.tenant.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	l.tenant.ServeHTTP(rec, r)
	if rec.Code < 200 || rec.Code > 299 || !l.spend(rule) {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	switch rule.how {
	case answerDropped:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
		}
	case answerStalled:
		stall(r)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"code":"UnknownError","message":"An internal server error occurred."}}`)
	}
}

// stall holds a request (whose body has been read, so net/http notices a client that gives
// up) until its client gives up, or for a minute at most so a test that fails never hangs.
func stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(time.Minute):
	}
}

// requestText is the request body as text, gunzipped when the client compressed it.
func requestText(r *http.Request, raw []byte) string {
	if r.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
			if b, err := io.ReadAll(zr); err == nil {
				return string(b)
			}
		}
	}
	return string(raw)
}

func (l *answerLoser) ruleFor(r *http.Request, body string) *loseRule {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rule := range l.rules {
		if rule.n > 0 && rule.match(r, body) {
			return rule
		}
	}
	return nil
}

// spend counts one lost answer against rule; false when concurrent requests spent it first.
func (l *answerLoser) spend(rule *loseRule) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rule.n <= 0 {
		return false
	}
	rule.n--
	l.lost = append(l.lost, rule.what)
	return true
}

// lostAnswers lists the answers lost so far, one line per write.
func (l *answerLoser) lostAnswers() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lost...)
}

// request matches method and an exact URL path.
func request(method, path string) func(*http.Request, string) bool {
	return func(r *http.Request, _ string) bool { return r.Method == method && r.URL.Path == path }
}

// requestTo matches method and a URL path with prefix and suffix.
func requestTo(method, prefix, suffix string) func(*http.Request, string) bool {
	return func(r *http.Request, _ string) bool {
		return r.Method == method && strings.HasPrefix(r.URL.Path, prefix) && strings.HasSuffix(r.URL.Path, suffix)
	}
}

// batchCreating matches a $batch that carries a POST to a URL containing target: a batch of
// writes, not the reads of an observation.
func batchCreating(target string) func(*http.Request, string) bool {
	return func(r *http.Request, body string) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/v1.0/$batch" &&
			strings.Contains(body, `"method":"POST"`) && strings.Contains(body, target)
	}
}

// cmdlet matches an Exchange admin API call of the named cmdlet.
func cmdlet(name string) func(*http.Request, string) bool {
	return func(r *http.Request, _ string) bool { return strings.EqualFold(r.Header.Get("X-CmdletName"), name) }
}

// assignedManifest assigns two users to an application and nothing else, so the only
// appRoleAssignedTo writes are the user assignments.
const assignedManifest = `apiVersion: provision/v1
application:
  name: Assigned
  uniqueName: assigned-app
  assignments:
    users: [jm@office.openfire.pro, jojo@office.openfire.pro]
`

// TestCreateWithItsAnswerLostConvergesInOneRun: for every kind of create, the directory
// performs it and the answer is lost (a 500, or the connection closed), while objects made
// moments ago stay invisible for 2 s. One apply and its wait converge, and the tenant holds
// exactly what a fault-free run makes: the create is looked up or sent again, never doubled.
func TestCreateWithItsAnswerLostConvergesInOneRun(t *testing.T) {
	type lose struct {
		what  string
		match func(*http.Request, string) bool
		n     int
	}
	// failNext fails requests before the tenant performs them (simtenant's FailNext, 500).
	type failNext struct {
		method, prefix string
		n              int
	}
	cases := []struct {
		name, reason string
		manifest     string // a file of examples/, or inline YAML
		failFirst    []failNext
		lose         []lose
	}{
		{name: "application upsert", manifest: "openfire.yaml",
			reason: "the uniqueName upsert is repeated and meets the application it made, still replicating",
			lose:   []lose{{"PATCH applications(uniqueName)", request(http.MethodPatch, "/v1.0/applications(uniqueName='openfire-mail')"), 1}}},
		{name: "application POST", manifest: "minimal.yaml",
			reason: "without a uniqueName the POST would make a second application: it is looked for first",
			lose:   []lose{{"POST applications", request(http.MethodPost, "/v1.0/applications"), 1}}},
		{name: "service principal", manifest: "minimal.yaml",
			reason: "a second POST for the same appId is refused as a duplicate, then the one made is found",
			lose:   []lose{{"POST servicePrincipals", request(http.MethodPost, "/v1.0/servicePrincipals"), 1}}},
		{name: "delegated grant batch", manifest: "openfire.yaml",
			reason: "the $batch carrying the grants is lost whole: each grant goes alone and meets the one made",
			lose:   []lose{{"$batch of grants", batchCreating(`"/oauth2PermissionGrants"`), 1}}},
		{name: "delegated grant alone", manifest: "openfire.yaml",
			reason:    "the grants' items of the $batch fail before the write, so each grant goes alone, and loses its answer",
			failFirst: []failNext{{http.MethodPost, "/v1.0/oauth2PermissionGrants", 2}},
			lose:      []lose{{"POST oauth2PermissionGrants", request(http.MethodPost, "/v1.0/oauth2PermissionGrants"), 2}}},
		{name: "app role assignment batch", manifest: "openfire.yaml",
			reason: "the $batch carrying the consent to application permissions is lost whole",
			lose:   []lose{{"$batch of app roles", batchCreating("/appRoleAssignedTo"), 1}}},
		{name: "app role assignment alone", manifest: "openfire.yaml",
			reason:    "the roles' items fail before the write, so each goes alone and loses its answer",
			failFirst: []failNext{{http.MethodPost, "/v1.0/servicePrincipals/", 3}},
			lose:      []lose{{"POST appRoleAssignedTo", requestTo(http.MethodPost, "/v1.0/servicePrincipals/", "/appRoleAssignedTo"), 3}}},
		{name: "user assignment batch", manifest: assignedManifest,
			reason: "the $batch of user assignments is lost whole",
			lose:   []lose{{"$batch of assignments", batchCreating("/appRoleAssignedTo"), 1}}},
		{name: "user assignment alone", manifest: assignedManifest,
			reason:    "the assignments' items fail before the write, so each goes alone and loses its answer",
			failFirst: []failNext{{http.MethodPost, "/v1.0/servicePrincipals/", 2}},
			lose:      []lose{{"POST appRoleAssignedTo", requestTo(http.MethodPost, "/v1.0/servicePrincipals/", "/appRoleAssignedTo"), 2}}},
		{name: "secret", manifest: "openfire.yaml",
			reason: "the credential whose value was lost is removed, and a new one delivered",
			lose:   []lose{{"POST addPassword", requestTo(http.MethodPost, "/v1.0/applications/", "/addPassword"), 1}}},
		{name: "Send-As", manifest: "openfire.yaml",
			reason: "Add-RecipientPermission is repeated; Exchange says the ACE is present",
			lose:   []lose{{"Add-RecipientPermission", cmdlet("Add-RecipientPermission"), 1}}},
		{name: "SMTP AUTH of a mailbox", manifest: "openfire.yaml",
			reason: "Set-CASMailbox is repeated; setting what is set already changes nothing",
			lose:   []lose{{"Set-CASMailbox", cmdlet("Set-CASMailbox"), 1}}},
		{name: "Exchange service principal", manifest: "openfire.yaml",
			reason: "New-ServicePrincipal is repeated, answers \"already exists\", and the pointer made is read back",
			lose:   []lose{{"New-ServicePrincipal", cmdlet("New-ServicePrincipal"), 1}}},
		{name: "mailbox FullAccess", manifest: "openfire.yaml",
			reason: "Add-MailboxPermission is repeated; Exchange says the entry is present",
			lose:   []lose{{"Add-MailboxPermission", cmdlet("Add-MailboxPermission"), 1}}},
	}
	for _, tc := range cases {
		docs := manifestNamed(t, tc.manifest)
		want := reference(t, docs)
		for _, how := range []answerFault{answer500, answerDropped} {
			t.Run(tc.name+"/"+how.String(), func(t *testing.T) {
				var rules []*loseRule
				wantLost := []string{}
				for _, l := range tc.lose {
					rules = append(rules, &loseRule{what: l.what, match: l.match, n: l.n, how: how})
					for range l.n {
						wantLost = append(wantLost, l.what)
					}
				}
				f, loser := loseAnswers(t, simtenant.Faults{ReplicationLag: 2 * time.Second}, rules)
				for _, fn := range tc.failFirst {
					f.tenant.FailNext(fn.method, fn.prefix, fn.n, http.StatusInternalServerError)
				}
				f.applyAndWait(t, docs)
				if diff := cmp.Diff(wantLost, loser.lostAnswers()); diff != "" {
					t.Fatalf("%s\nanswers lost -want +got (the case does not test what it says):\n%s", tc.reason, diff)
				}
				if diff := cmp.Diff(want, census(t, f.tenant)); diff != "" {
					t.Errorf("%s\nobjects after one apply -fault-free +answers lost:\n%s", tc.reason, diff)
				}
				if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
					t.Errorf("%s\nplan at once after apply -want +got:\n%s", tc.reason, diff)
				}
			})
		}
	}
}

// manifestNamed loads a file of examples/ by name, or parses inline YAML.
func manifestNamed(tb testing.TB, m string) []*manifests.Document {
	tb.Helper()
	if !strings.Contains(m, "\n") {
		return example(tb, m)
	}
	docs, diags := manifests.Load("inline.yaml", []byte(m), func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		tb.Fatal(fmt.Sprint(diags))
	}
	return docs
}

// batchDeleting matches a $batch that carries a DELETE to a URL containing target.
func batchDeleting(target string) func(*http.Request, string) bool {
	return func(r *http.Request, body string) bool {
		return r.Method == http.MethodPost && r.URL.Path == "/v1.0/$batch" &&
			strings.Contains(body, `"method":"DELETE"`) && strings.Contains(body, target)
	}
}

// TestDestroyWithItsAnswersLostConvergesInOneRun: destroy of the main example, where the
// directory and Exchange perform each removal and the answer is lost (a 500, or the connection
// closed) while the replication window makes the repeats meet objects still visible. One
// destroy with its wait leaves the tenant as before the apply, and a destroy plan at once is
// empty: a removal repeated after a lost answer meets "not found", which is success.
func TestDestroyWithItsAnswersLostConvergesInOneRun(t *testing.T) {
	docs := example(t, "openfire.yaml")
	destroy := provision.PlanOptions{Destroy: true}
	for _, how := range []answerFault{answer500, answerDropped} {
		t.Run(how.String(), func(t *testing.T) {
			rules := []*loseRule{
				{what: "Remove-RecipientPermission", match: cmdlet("Remove-RecipientPermission"), n: 1, how: how},
				{what: "Remove-MailboxPermission", match: cmdlet("Remove-MailboxPermission"), n: 1, how: how},
				{what: "Remove-ServicePrincipal", match: cmdlet("Remove-ServicePrincipal"), n: 1, how: how},
				{what: "DELETE servicePrincipals", match: func(r *http.Request, body string) bool {
					return requestTo(http.MethodDelete, "/v1.0/servicePrincipals/", "")(r, body) || batchDeleting("/servicePrincipals/")(r, body)
				}, n: 1, how: how},
				{what: "DELETE applications", match: func(r *http.Request, body string) bool {
					return requestTo(http.MethodDelete, "/v1.0/applications/", "")(r, body) || batchDeleting("/applications/")(r, body)
				}, n: 1, how: how},
			}
			f, loser := loseAnswers(t, simtenant.Faults{ReplicationLag: 2 * time.Second}, rules)
			before := inventory(t, f.tenant)
			f.applyAndWait(t, docs)
			if lost := loser.lostAnswers(); len(lost) != 0 {
				t.Fatalf("the apply lost answers %v: the rules match more than removals", lost)
			}
			ctx := context.Background()
			res, err := f.engine.Apply(ctx, f.planWith(t, docs, destroy), nil)
			if err != nil {
				t.Fatalf("destroy: %v", err)
			}
			if err := f.engine.AwaitVisible(ctx, docs, destroy, res, provision.WaitOptions{}); err != nil {
				t.Fatal(err)
			}
			want := []string{"Remove-RecipientPermission", "Remove-MailboxPermission", "Remove-ServicePrincipal", "DELETE servicePrincipals", "DELETE applications"}
			got := loser.lostAnswers()
			slices.Sort(want)
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("answers lost -want +got (the test does not test what it says):\n%s", diff)
			}
			if diff := cmp.Diff(before, inventory(t, f.tenant)); diff != "" {
				t.Errorf("objects after destroy -before apply +after destroy:\n%s", diff)
			}
			if again := f.planWith(t, docs, destroy); !again.Empty() {
				t.Errorf("destroy plan at once after destroy: %v", lines(again))
			}
		})
	}
}
