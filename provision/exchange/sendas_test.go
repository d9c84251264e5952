package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

func TestSendAsRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, exchangesim.Faults{}, nil)
	for _, seed := range []exchangesim.Seed{
		{Trustee: "bob@contoso.com", Inherited: true},
		{Trustee: "bob@contoso.com", Deny: true},
		{Trustee: "S-1-5-21-3623811015-3361044348-30300820-1013", Principal: true},
	} {
		if err := f.sim.Seed("shared@contoso.com", seed); err != nil {
			t.Fatal(err)
		}
	}
	for _, tr := range []string{"alice@contoso.com", "sales@contoso.com", "alice@contoso.com"} {
		if err := f.client.AddSendAs(ctx, "shared@contoso.com", tr); err != nil {
			t.Fatalf("AddSendAs(%s): %v", tr, err)
		}
	}
	got, err := f.client.SendAsPermissions(ctx, "shared@contoso.com")
	if err != nil {
		t.Fatalf("SendAsPermissions: %v", err)
	}
	want := SendAsPermissions{
		Mailbox: "shared@contoso.com",
		Trustees: []Trustee{
			// A user is printed by UPN, which here differs from the address the grant used.
			{Raw: "alice@contoso.onmicrosoft.com", Address: "alice@contoso.onmicrosoft.com"},
			// A group is printed by name and resolved with Get-Recipient.
			{Raw: "Sales Team", Address: "sales@contoso.com", ObjectID: "44444444-4444-4444-4444-444444444444"},
		},
		Ignored: []IgnoredRow{
			{Trustee: `NT AUTHORITY\SELF`, AccessControlType: "Allow", Reason: IgnoredSelf},
			{Trustee: "bob@contoso.com", AccessControlType: "Allow", IsInherited: true, Reason: IgnoredInherited},
			{Trustee: "bob@contoso.com", AccessControlType: "Deny", Reason: IgnoredDeny},
			{Trustee: "S-1-5-21-3623811015-3361044348-30300820-1013", AccessControlType: "Allow", Reason: IgnoredOrphan},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SendAsPermissions (-want +got):\n%s", diff)
	}
	for _, tr := range []string{"sales@contoso.com", "sales@contoso.com", "bob@contoso.com"} {
		if err := f.client.RemoveSendAs(ctx, "shared@contoso.com", tr); err != nil {
			t.Fatalf("RemoveSendAs(%s): %v", tr, err)
		}
	}
	trustees, err := f.client.SendAsTrustees(ctx, "shared@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Trustee{{Raw: "alice@contoso.onmicrosoft.com", Address: "alice@contoso.onmicrosoft.com"}}, trustees); diff != "" {
		t.Errorf("after removals (-want +got):\n%s", diff)
	}
	if len(f.warned) != 0 {
		t.Errorf("idempotency warnings leaked to OnWarning: %q", f.warned)
	}
	wantCalls := map[string]int{"Add-RecipientPermission": 3, "Remove-RecipientPermission": 3, "Get-RecipientPermission": 2, "Get-Recipient": 2}
	if diff := cmp.Diff(wantCalls, f.sim.Stats().ByCmdlet); diff != "" {
		t.Errorf("round trips by cmdlet (-want +got); Get-Recipient runs once per mailbox and once per group name:\n%s", diff)
	}
	calls := f.sim.Calls()
	connID := calls[0].Headers.Get("connection-id")
	for _, c := range calls {
		h := c.Headers
		checks := map[string]string{"X-ResponseFormat": "json", "X-CmdletName": c.Cmdlet, "Accept": "application/json",
			"Authorization": "Bearer (redacted)", "connection-id": connID, "Prefer": "odata.maxpagesize=1000"}
		for k, v := range checks {
			if h.Get(k) != v {
				t.Errorf("%s: header %s = %q, want %q", c.Cmdlet, k, h.Get(k), v)
			}
		}
		if h.Get("client-request-id") == "" {
			t.Errorf("%s: no client-request-id", c.Cmdlet)
		}
		wantAnchor := "UPN:shared@contoso.com"
		if c.Cmdlet == "Get-Recipient" {
			wantAnchor = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + tenantID
		}
		if c.Anchor != wantAnchor {
			t.Errorf("%s: X-AnchorMailbox %q, want %q", c.Cmdlet, c.Anchor, wantAnchor)
		}
	}
	if diff := cmp.Diff([]string{f.ts.URL + "/.default"}, dedupe(f.cred.Scopes())); diff != "" {
		t.Errorf("token scopes (-want +got):\n%s", diff)
	}
	noSecret(t, "request log", f.log.String())
	if !strings.Contains(f.log.String(), "Add-RecipientPermission anchor=UPN:shared@contoso.com -> 200") {
		t.Errorf("request log lacks the Add call: %s", f.log.String())
	}
}

func dedupe(v []string) []string {
	var out []string
	for _, s := range v {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func TestTrusteeMatches(t *testing.T) {
	tr := Trustee{Raw: "Sales Team", Address: "sales@contoso.com", ObjectID: "44444444-4444-4444-4444-444444444444"}
	for _, id := range []string{"sales team", "SALES@contoso.com", "44444444-4444-4444-4444-444444444444"} {
		if !tr.Matches(id) {
			t.Errorf("Matches(%q) = false, want true", id)
		}
	}
	if tr.Matches("alice@contoso.com") || tr.Matches("") {
		t.Error("Matches accepted a foreign or empty identity")
	}
}

// TestErrorShapes checks that every error encoding of exchange.md §1.6 ends as the same *Error.
func TestErrorShapes(t *testing.T) {
	const server = "AM0PR01A002DC03.EURPRD01.PROD.OUTLOOK.COM"
	mailboxText := "The operation couldn't be performed because object 'ghost@contoso.com' couldn't be found on '" + server + "'."
	trusteeText := "'nobody@contoso.com' wasn't found. Please make sure you've typed it correctly."
	const notFound = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
	tests := []struct {
		reason string
		faults exchangesim.Faults
		run    func(*Client) error
		want   Error
	}{
		{"ExID|Type|text detail with internalexception: the internal message wins",
			exchangesim.Faults{ErrorShape: exchangesim.ShapeExceptionID},
			func(c *Client) error {
				_, err := c.SendAsTrustees(context.Background(), "ghost@contoso.com")
				return err
			},
			Error{Status: 400, Cmdlet: "Get-RecipientPermission", Code: "BadRequest", Type: notFound, Message: mailboxText, ExceptionID: "set"}},
		{"|Type|text detail without innererror",
			exchangesim.Faults{ErrorShape: exchangesim.ShapeTypePipe},
			func(c *Client) error {
				return c.AddSendAs(context.Background(), "shared@contoso.com", "nobody@contoso.com")
			},
			Error{Status: 400, Cmdlet: "Add-RecipientPermission", Code: "BadRequest", Type: notFound, Message: trusteeText}},
		{"JSON string detail",
			exchangesim.Faults{ErrorShape: exchangesim.ShapeJSONDetail},
			func(c *Client) error {
				return c.RemoveSendAs(context.Background(), "shared@contoso.com", "nobody@contoso.com")
			},
			Error{Status: 400, Cmdlet: "Remove-RecipientPermission", Code: "BadRequest", Type: notFound, Message: trusteeText}},
		{"innererror.internalexception only",
			exchangesim.Faults{ErrorShape: exchangesim.ShapeInnerOnly},
			func(c *Client) error { _, err := c.GetRecipient(context.Background(), "ghost@contoso.com"); return err },
			Error{Status: 400, Cmdlet: "Get-Recipient", Code: "BadRequest", Type: notFound, Message: mailboxText}},
		{"404 NotFound envelope",
			exchangesim.Faults{NotFoundAs404: true, ErrorShape: exchangesim.ShapeTypePipe},
			func(c *Client) error { _, err := c.GetRecipient(context.Background(), "ghost@contoso.com"); return err },
			Error{Status: 404, Cmdlet: "Get-Recipient", Code: "NotFound", Type: notFound, Message: mailboxText}},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			f := newFixture(t, tc.faults, nil)
			err := tc.run(f.client)
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if !IsNotFound(err) {
				t.Errorf("IsNotFound(%v) = false", err)
			}
			norm := *got
			norm.RequestID, norm.Attempts = "", 0
			if norm.ExceptionID != "" && strings.HasPrefix(norm.ExceptionID, "Ex") {
				norm.ExceptionID = "set"
			}
			if diff := cmp.Diff(tc.want, norm, cmp.AllowUnexported(Error{}), cmp.FilterPath(func(p cmp.Path) bool {
				return p.Last().String() == ".retryAfter" || p.Last().String() == ".throttled" || p.Last().String() == ".transient"
			}, cmp.Ignore())); diff != "" {
				t.Errorf("*Error (-want +got):\n%s", diff)
			}
			if got.RequestID == "" {
				t.Error("RequestID is empty")
			}
			if n := f.sim.Stats().Requests; n != 1 {
				t.Errorf("%d requests, want 1: a cmdlet error is not retried", n)
			}
		})
	}
}

func TestForbiddenAndUnauthorized(t *testing.T) {
	tests := []struct {
		reason      string
		token       string
		faults      exchangesim.Faults
		wantStatus  int
		wantMessage string
	}{
		{"403 with NUL bytes: the body says nothing, the message explains", appRoleToken, exchangesim.Faults{}, 403, forbiddenMessage},
		{"403 with an empty body", appRoleToken, exchangesim.Faults{ForbiddenEmptyBody: true}, 403, forbiddenMessage},
		{"403 with x-ms-diagnostics keeps the service's reason", appRoleToken,
			exchangesim.Faults{ForbiddenDiagnostics: `2000008;reason="role missing"`}, 403,
			forbiddenMessage + ` (x-ms-diagnostics: 2000008;reason="role missing")`},
		{"401 without the app role", "tok-nothing-5ecr3t", exchangesim.Faults{}, 401, unauthorizedMessage},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			f := newFixture(t, tc.faults, nil)
			f.cred.Token = tc.token
			err := f.client.AddSendAs(context.Background(), "shared@contoso.com", "alice@contoso.com")
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if got.Status != tc.wantStatus || got.Message != tc.wantMessage || !IsForbidden(err) {
				t.Errorf("got status %d message %q (IsForbidden %v), want %d %q", got.Status, got.Message, IsForbidden(err), tc.wantStatus, tc.wantMessage)
			}
			if n := f.sim.Stats().Requests; n != 1 {
				t.Errorf("%d requests, want 1: missing rights are not retried", n)
			}
			noSecret(t, "error", err.Error())
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		reason       string
		faults       exchangesim.Faults
		run          func(*Client) error
		wantErr      func(error) bool // nil: success expected
		wantRequests int
		minWait      time.Duration
		maxWait      time.Duration
	}{
		{"429 with Retry-After waits exactly that long", exchangesim.Faults{Throttle: 2, RetryAfter: 7 * time.Second},
			func(c *Client) error { return c.AddSendAs(context.Background(), "shared@contoso.com", "bob") },
			nil, 3, 14 * time.Second, 14 * time.Second},
		{"429 without Retry-After backs off exponentially (1s then 2s, half-jittered)", exchangesim.Faults{Throttle: 2},
			func(c *Client) error { return c.AddSendAs(context.Background(), "shared@contoso.com", "bob") },
			nil, 3, 1500 * time.Millisecond, 3 * time.Second},
		{"plain-text concurrency throttle on 429", exchangesim.Faults{ConcurrencyThrottle: 1},
			func(c *Client) error { return c.RemoveSendAs(context.Background(), "shared@contoso.com", "bob") },
			nil, 2, 500 * time.Millisecond, time.Second},
		{"plain-text concurrency throttle on a 400 is recognised by its text", exchangesim.Faults{ConcurrencyThrottle: 1, ConcurrencyStatus: 400},
			func(c *Client) error {
				_, err := c.SendAsTrustees(context.Background(), "shared@contoso.com")
				return err
			},
			nil, 3, 500 * time.Millisecond, time.Second}, // the third is Get-Recipient checking the rows' Identity
		{"503 then success, even for a write", exchangesim.Faults{ServerErrors: 2},
			func(c *Client) error { return c.AddSendAs(context.Background(), "shared@contoso.com", "bob") },
			nil, 3, 1500 * time.Millisecond, 3 * time.Second},
		{"504 on a read is retried", exchangesim.Faults{ServerErrors: 1, ServerErrorStatus: 504},
			func(c *Client) error { _, err := c.GetRecipient(context.Background(), "bob"); return err },
			nil, 2, 500 * time.Millisecond, time.Second},
		{"500 on an idempotent Send-As change is retried", exchangesim.Faults{ServerErrors: 1, ServerErrorStatus: 500},
			func(c *Client) error { return c.AddSendAs(context.Background(), "shared@contoso.com", "bob") },
			nil, 2, 500 * time.Millisecond, time.Second},
		{"500 on a create is not repeated: the cmdlet may have run", exchangesim.Faults{ServerErrors: 1, ServerErrorStatus: 500},
			func(c *Client) error {
				_, err := c.Invoke(context.Background(), "New-ServicePrincipal", map[string]any{"AppId": "a", "ObjectId": "b", "DisplayName": "x"}, "")
				return err
			},
			func(err error) bool { var e *Error; return errors.As(err, &e) && e.Status == 500 }, 1, 0, 0},
		{"Invoke knows Add-RecipientPermission is idempotent: a 500 is repeated", exchangesim.Faults{ServerErrors: 1, ServerErrorStatus: 500},
			func(c *Client) error {
				_, err := c.Invoke(context.Background(), "Add-RecipientPermission", map[string]any{"Identity": "shared@contoso.com", "Trustee": "bob", "AccessRights": "SendAs"}, "")
				return err
			},
			nil, 2, 500 * time.Millisecond, time.Second},
		{"a bare 503 on a create is not repeated either", exchangesim.Faults{ServerErrors: 1},
			func(c *Client) error {
				_, err := c.Invoke(context.Background(), "New-ServicePrincipal", map[string]any{"AppId": "a", "ObjectId": "b", "DisplayName": "x"}, "")
				return err
			},
			func(err error) bool { var e *Error; return errors.As(err, &e) && e.Status == 503 }, 1, 0, 0},
		{"throttling that outlasts the time budget (throttled attempts do not count against MaxAttempts)", exchangesim.Faults{Throttle: 1000, RetryAfter: time.Second},
			func(c *Client) error { return c.AddSendAs(context.Background(), "shared@contoso.com", "bob") },
			IsThrottled, int(RetryPolicy().MaxElapsed/time.Second) + 1, RetryPolicy().MaxElapsed, RetryPolicy().MaxElapsed},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			f := newFixture(t, tc.faults, nil)
			start := f.clock.Now()
			err := tc.run(f.client)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("error %v, want success", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Fatalf("error %v is not the expected kind", err)
			}
			if n := f.sim.Stats().Requests; n != tc.wantRequests {
				t.Errorf("%d requests, want %d", n, tc.wantRequests)
			}
			if waited := f.clock.Now().Sub(start); waited < tc.minWait || waited > tc.maxWait {
				t.Errorf("waited %v on the fake clock, want between %v and %v", waited, tc.minWait, tc.maxWait)
			}
		})
	}
}

func TestRedirectKeepsBearerToken(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(time.Unix(0, 0))
	sim := exchangesim.New(testDirectory(), nil, exchangesim.Options{Clock: fake})
	backend := mount(t, sim)
	front := mount(t, sim)
	sim.SetFaults(exchangesim.Faults{RedirectTo: backend.URL})
	c, err := New(Options{Endpoint: front.URL, TenantID: tenantID, Credential: &fixedtoken.Credential{Token: adminToken},
		HTTPClient: trustingClient(front, backend), Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	// The fake answers 401 when the token is missing, so success proves it survived the hop.
	if err := c.AddSendAs(ctx, "shared@contoso.com", "bob@contoso.com"); err != nil {
		t.Fatalf("AddSendAs through a redirect: %v", err)
	}
	if _, err := c.SendAsTrustees(ctx, "shared@contoso.com"); err != nil {
		t.Fatalf("SendAsTrustees after the redirect: %v", err)
	}
	st := sim.Stats()
	if st.Redirects != 1 || st.ByCmdlet["Add-RecipientPermission"] != 1 || st.ByCmdlet["Get-RecipientPermission"] != 1 {
		t.Errorf("stats %+v: want one redirect, then the backend pinned for the next call", st)
	}
	for _, call := range sim.Calls() {
		if call.Headers.Get("Authorization") == "" || call.Status != 200 {
			t.Errorf("%s reached the backend with status %d and Authorization %q", call.Cmdlet, call.Status, call.Headers.Get("Authorization"))
		}
	}
}

func TestRedirectToAForeignHostIsRefused(t *testing.T) {
	var sawToken sync.Map
	evil := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawToken.Store("evil", r.Header.Get("Authorization"))
	}))
	defer evil.Close()
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)+r.URL.Path, http.StatusFound)
	}))
	defer front.Close()
	c, err := New(Options{Endpoint: front.URL, TenantID: tenantID, Credential: &fixedtoken.Credential{Token: adminToken},
		HTTPClient: trustingClient(front, evil), Clock: clock.NewFake(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	err = c.AddSendAs(context.Background(), "shared@contoso.com", "bob")
	if err == nil || !strings.Contains(err.Error(), "refusing to send the token") {
		t.Errorf("error %v, want a refusal to follow the redirect", err)
	}
	if _, ok := sawToken.Load("evil"); ok {
		t.Error("the foreign host received a request")
	}
}

func TestRedirectTarget(t *testing.T) {
	c, err := New(Options{TenantID: tenantID, Credential: &fixedtoken.Credential{}})
	if err != nil {
		t.Fatal(err)
	}
	from := c.invokeURL()
	tests := []struct {
		reason   string
		location string
		want     string // "" means refused
	}{
		{"port 446 becomes the default https port", "https://outlook.office365.com:446/adminapi/beta/t/InvokeCommand",
			"https://outlook.office365.com/adminapi/beta/t/InvokeCommand"},
		{"a regional sibling under office365.com is followed", "https://eur03.outlook.office365.com:446/adminapi/beta/t/InvokeCommand?x=1",
			"https://eur03.outlook.office365.com/adminapi/beta/t/InvokeCommand?x=1"},
		{"a relative Location stays on the host", "/adminapi/beta/other/InvokeCommand",
			"https://outlook.office365.com/adminapi/beta/other/InvokeCommand"},
		{"another domain is refused", "https://outlook.office365.com.evil.example/x", ""},
		{"a downgrade to http is refused", "http://outlook.office365.com/adminapi/beta/t/InvokeCommand", ""},
	}
	for _, tc := range tests {
		got, err := c.redirectTarget(from, tc.location)
		gotS := ""
		if err == nil {
			gotS = got.String()
		}
		if gotS != tc.want {
			t.Errorf("%s: redirectTarget(%q) = %q (%v), want %q", tc.reason, tc.location, gotS, err, tc.want)
		}
	}
}

func TestConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 2, 3} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			// The fake sleeps for real so requests overlap; it throttles anything above the
			// limit, which would show as extra requests.
			f := newFixture(t, exchangesim.Faults{}, func(o *Options) { o.MaxConcurrency = limit })
			sim := exchangesim.New(testDirectory(), nil, exchangesim.Options{Clock: clock.Real{},
				Faults: exchangesim.Faults{Latency: 15 * time.Millisecond, MaxConcurrent: limit}})
			ts := mount(t, sim)
			c, err := New(Options{Endpoint: ts.URL, TenantID: tenantID, Credential: f.cred, HTTPClient: ts.Client(),
				Clock: f.clock, MaxConcurrency: limit})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 12)
			for i := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					trustee := []string{"alice@contoso.com", "bob@contoso.com", "sales@contoso.com"}[i%3]
					if i%2 == 0 {
						errs <- c.AddSendAs(context.Background(), "shared@contoso.com", trustee)
					} else {
						_, err := c.GetRecipient(context.Background(), trustee)
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("call failed: %v", err)
				}
			}
			st := sim.Stats()
			if st.MaxInFlight != limit || st.Throttled != 0 {
				t.Errorf("max in flight %d, throttled %d; want exactly %d and none", st.MaxInFlight, st.Throttled, limit)
			}
		})
	}
}

func TestForeignRowsAndLenientRows(t *testing.T) {
	tests := []struct {
		reason  string
		rows    string
		want    []Trustee
		wantErr error
	}{
		{"rows naming the mailbox by a canonical name, string rights, string booleans",
			`[{"Identity":"EURPR01A001.PROD.OUTLOOK.COM/Microsoft Exchange Hosted Organizations/contoso.onmicrosoft.com/7d3a4c1e-shared","Trustee":"NT AUTHORITY\\SELF","AccessControlType":"Allow","AccessRights":"SendAs","IsInherited":"False"},
			  {"Identity":"7d3a4c1e-shared","Trustee":"Alice@Contoso.com","AccessControlType":"Allow","AccessRights":[1],"IsInherited":"False"},
			  {"Identity":"7d3a4c1e-shared","Trustee":"carol@contoso.com","AccessControlType":"Allow","AccessRights":["SendAs"],"IsInherited":"True"}]`,
			[]Trustee{{Raw: "Alice@Contoso.com", Address: "alice@contoso.com"}}, nil},
		{"rows of another mailbox are refused",
			`[{"Identity":"7d3a4c1e-shared","Trustee":"NT AUTHORITY\\SELF","AccessControlType":"Allow","AccessRights":["SendAs"],"IsInherited":false},
			  {"Identity":"ceo","Trustee":"NT AUTHORITY\\SELF","AccessControlType":"Allow","AccessRights":["SendAs"],"IsInherited":false}]`,
			nil, ErrForeignRows},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				if strings.Contains(string(body), `"Get-Recipient"`) {
					fmt.Fprint(w, `{"@adminapi.warnings":[],"value":[{"Identity":"7d3a4c1e-shared","Name":"7d3a4c1e-shared","PrimarySmtpAddress":"shared@contoso.com"}]}`)
					return
				}
				fmt.Fprintf(w, `{"@adminapi.warnings":[],"value":%s}`, tc.rows)
			}))
			defer ts.Close()
			c, err := New(Options{Endpoint: ts.URL, TenantID: tenantID, Credential: &fixedtoken.Credential{Token: adminToken}, HTTPClient: ts.Client()})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.SendAsTrustees(context.Background(), "shared@contoso.com")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("trustees (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTruncatedAnswerIsAnError(t *testing.T) {
	f := newFixture(t, exchangesim.Faults{}, nil)
	for i := range 1000 {
		if err := f.sim.Seed("shared@contoso.com", exchangesim.Seed{Trustee: fmt.Sprintf("S-1-5-21-1-2-3-%d", 2000+i), Principal: true}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.client.SendAsTrustees(context.Background(), "shared@contoso.com")
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("error %v, want ErrTruncated (1001 rows over a 1000-row page)", err)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		reason string
		opts   Options
		want   string
	}{
		{"tenant is required", Options{Credential: &fixedtoken.Credential{}}, "tenant id is required"},
		{"credential is required", Options{TenantID: "t"}, "credential is required"},
		{"concurrency above 3 is refused", Options{TenantID: "t", Credential: &fixedtoken.Credential{}, MaxConcurrency: 4}, "outside 1–3"},
		{"endpoint must be absolute", Options{TenantID: "t", Credential: &fixedtoken.Credential{}, Endpoint: "outlook.office365.com"}, "not an absolute"},
	}
	for _, tc := range tests {
		_, err := New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error %v, want one containing %q", tc.reason, err, tc.want)
		}
	}
	if _, err := New(Options{TenantID: "t", Credential: &fixedtoken.Credential{}, MaxConcurrency: 3}); err != nil {
		t.Errorf("a valid configuration: %v", err)
	}
}

func TestEndpointWithPathPrefix(t *testing.T) {
	sim := exchangesim.New(testDirectory(), nil, exchangesim.Options{})
	inner := mount(t, sim)
	ts := httptest.NewTLSServer(http.StripPrefix("/exchange", inner.Config.Handler))
	defer ts.Close()
	cred := &fixedtoken.Credential{Token: adminToken}
	c, err := New(Options{Endpoint: ts.URL + "/exchange/", TenantID: tenantID, Credential: cred, HTTPClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRecipient(context.Background(), "bob"); err != nil {
		t.Fatalf("GetRecipient under /exchange: %v", err)
	}
	if diff := cmp.Diff([]string{ts.URL + "/exchange/.default"}, cred.Scopes()); diff != "" {
		t.Errorf("token scope (-want +got): the audience is the endpoint, path included:\n%s", diff)
	}
}
