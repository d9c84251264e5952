package exchangesim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
)

// directory is a hand-written Directory keyed by every identity a recipient answers to.
type directory struct {
	mu   sync.Mutex
	recs []Recipient
}

func (d *directory) FindRecipient(identity string) (Recipient, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.recs {
		for _, k := range []string{r.Identity, r.Name, r.PrimarySmtpAddress, r.UserPrincipalName, r.ExternalDirectoryObjectId, r.Guid} {
			if k != "" && strings.EqualFold(k, identity) {
				return r, true
			}
		}
	}
	return Recipient{}, false
}

func (d *directory) remove(identity string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, r := range d.recs {
		if strings.EqualFold(r.PrimarySmtpAddress, identity) {
			d.recs = append(d.recs[:i], d.recs[i+1:]...)
			return
		}
	}
}

func testDirectory() *directory {
	return &directory{recs: []Recipient{
		{Identity: "0f1e2d3c-shared", Name: "0f1e2d3c-shared", DisplayName: "Shared", PrimarySmtpAddress: "shared@contoso.com",
			ExternalDirectoryObjectId: "11111111-1111-1111-1111-111111111111", RecipientType: "UserMailbox", RecipientTypeDetails: "SharedMailbox", Guid: "aaaaaaaa-0000-0000-0000-000000000001"},
		{Name: "alice", DisplayName: "Alice", PrimarySmtpAddress: "alice@contoso.com", UserPrincipalName: "alice@contoso.onmicrosoft.com",
			ExternalDirectoryObjectId: "22222222-2222-2222-2222-222222222222", RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox"},
		{Name: "bob", DisplayName: "Bob", PrimarySmtpAddress: "bob@contoso.com",
			ExternalDirectoryObjectId: "33333333-3333-3333-3333-333333333333", RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox"},
		{Name: "Sales Team", DisplayName: "Sales Team", PrimarySmtpAddress: "sales@contoso.com",
			ExternalDirectoryObjectId: "44444444-4444-4444-4444-444444444444", RecipientType: "MailUniversalSecurityGroup", RecipientTypeDetails: "MailUniversalSecurityGroup"},
	}}
}

// harness serves s over TLS and builds the Caller from a bearer token: "admin" has every
// right (Exchange Administrator), "recipient" those of an Exchange Recipient Administrator,
// "approle" only Exchange.ManageAsApp, anything else is unauthenticated.
func harness(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c Caller
		switch r.Header.Get("Authorization") {
		case "Bearer admin":
			c = Caller{Authenticated: true, ManageAsApp: true, RecipientAdmin: true, ExchangeAdmin: true, Name: "admin"}
		case "Bearer recipient":
			c = Caller{Authenticated: true, ManageAsApp: true, RecipientAdmin: true, Name: "recipient"}
		case "Bearer approle":
			c = Caller{Authenticated: true, ManageAsApp: true, Name: "approle"}
		}
		s.ServeInvokeCommand(w, r, c)
	}))
	t.Cleanup(ts.Close)
	return ts
}

type answer struct {
	Status   int
	Body     string
	Warnings []string
	Values   []map[string]any
	Detail   string
	Inner    string
}

func invoke(t *testing.T, ts *httptest.Server, token, cmdlet string, params map[string]any) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"CmdletInput": map[string]any{"CmdletName": cmdlet, "Parameters": params}})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+"/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Body: string(raw)}
	var env struct {
		Warnings []string         `json:"@adminapi.warnings"`
		Value    []map[string]any `json:"value"`
		Error    struct {
			Details []struct {
				Message string `json:"message"`
			} `json:"details"`
			InnerError struct {
				Internal struct {
					Message string `json:"message"`
				} `json:"internalexception"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil {
		a.Warnings, a.Values = env.Warnings, env.Value
		if len(env.Error.Details) > 0 {
			a.Detail = env.Error.Details[0].Message
		}
		a.Inner = env.Error.InnerError.Internal.Message
	}
	return a
}

func trustees(rows []map[string]any) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r["Trustee"].(string)+"/"+r["AccessControlType"].(string))
	}
	return out
}

func TestSendAsLifecycle(t *testing.T) {
	dir := testDirectory()
	state := &State{}
	s := New(dir, state, Options{Clock: clock.NewFake(time.Unix(0, 0))})
	ts := harness(t, s)
	get := map[string]any{"Identity": "shared@contoso.com", "AccessRights": "SendAs", "ResultSize": "Unlimited"}
	grant := map[string]any{"Identity": "shared@contoso.com", "Trustee": "alice@contoso.com", "AccessRights": []string{"SendAs"}, "Confirm": false}

	steps := []struct {
		reason       string
		cmdlet       string
		params       map[string]any
		wantStatus   int
		wantTrustees []string
		wantWarning  string
	}{
		{"a fresh mailbox only carries its SELF ACE", "Get-RecipientPermission", get, 200, []string{`NT AUTHORITY\SELF/Allow`}, ""},
		{"adding a grant echoes the new row with the trustee's UPN", "Add-RecipientPermission", grant, 200, []string{"alice@contoso.onmicrosoft.com/Allow"}, ""},
		{"adding it again is a warning, not an error", "add-recipientpermission", grant, 200, nil, "already present"},
		{"the grant shows after SELF", "Get-RecipientPermission", get, 200, []string{`NT AUTHORITY\SELF/Allow`, "alice@contoso.onmicrosoft.com/Allow"}, ""},
		{"a group trustee is printed by name", "Add-RecipientPermission", map[string]any{"identity": "shared@contoso.com", "trustee": "sales@contoso.com", "accessRights": "sendas"}, 200, []string{"Sales Team/Allow"}, ""},
		{"removing works with the trustee's object id", "Remove-RecipientPermission", map[string]any{"Identity": "shared@contoso.com", "Trustee": "22222222-2222-2222-2222-222222222222", "AccessRights": "SendAs", "Confirm": false}, 200, nil, ""},
		{"removing again warns that the ACE isn't present", "Remove-RecipientPermission", map[string]any{"Identity": "shared@contoso.com", "Trustee": "alice@contoso.com", "AccessRights": "SendAs"}, 200, nil, "ACE isn't present"},
		{"the Trustee filter keeps only that trustee", "Get-RecipientPermission", map[string]any{"Identity": "shared@contoso.com", "Trustee": "Sales Team"}, 200, []string{"Sales Team/Allow"}, ""},
	}
	for _, st := range steps {
		a := invoke(t, ts, "admin", st.cmdlet, st.params)
		if a.Status != st.wantStatus {
			t.Fatalf("%s: status %d, want %d (body %s)", st.reason, a.Status, st.wantStatus, a.Body)
		}
		if diff := cmp.Diff(st.wantTrustees, trustees(a.Values)); diff != "" {
			t.Errorf("%s: trustees (-want +got):\n%s", st.reason, diff)
		}
		gotWarn := strings.Join(a.Warnings, "\n")
		if (st.wantWarning == "") != (gotWarn == "") || !strings.Contains(gotWarn, st.wantWarning) {
			t.Errorf("%s: warnings %q, want one containing %q", st.reason, a.Warnings, st.wantWarning)
		}
		if a.Warnings == nil {
			t.Errorf("%s: @adminapi.warnings missing, want an array even when empty", st.reason)
		}
	}
	if diff := cmp.Diff(State{Grants: []Grant{{Mailbox: "11111111-1111-1111-1111-111111111111", Trustee: "44444444-4444-4444-4444-444444444444"}}}, s.Snapshot()); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	if got := s.Stats().ByCmdlet["Add-RecipientPermission"]; got != 3 {
		t.Errorf("Add-RecipientPermission count = %d, want 3", got)
	}
}

func TestSeededRowsAndOrphans(t *testing.T) {
	dir := testDirectory()
	s := New(dir, nil, Options{})
	for _, seed := range []Seed{
		{Trustee: "bob@contoso.com", Inherited: true},
		{Trustee: "bob@contoso.com", Deny: true},
		{Trustee: "S-1-5-21-1-2-3-1105", Principal: true},
		{Trustee: "alice@contoso.com"},
	} {
		if err := s.Seed("shared@contoso.com", seed); err != nil {
			t.Fatal(err)
		}
	}
	dir.remove("alice@contoso.com") // alice is deleted: her ACE now prints as a SID
	rows, err := s.Rows("shared@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Identity: "0f1e2d3c-shared", Trustee: SelfTrustee, AccessControlType: "Allow", AccessRights: []string{"SendAs"}, InheritanceType: "None"},
		{Identity: "0f1e2d3c-shared", Trustee: "bob@contoso.com", AccessControlType: "Allow", AccessRights: []string{"SendAs"}, IsInherited: true, InheritanceType: "All"},
		{Identity: "0f1e2d3c-shared", Trustee: "bob@contoso.com", AccessControlType: "Deny", AccessRights: []string{"SendAs"}, InheritanceType: "None"},
		{Identity: "0f1e2d3c-shared", Trustee: "S-1-5-21-1-2-3-1105", AccessControlType: "Allow", AccessRights: []string{"SendAs"}, InheritanceType: "None"},
		{Identity: "0f1e2d3c-shared", Trustee: orphanSID("22222222-2222-2222-2222-222222222222"), AccessControlType: "Allow", AccessRights: []string{"SendAs"}, InheritanceType: "None"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	ts := harness(t, s)
	a := invoke(t, ts, "admin", "Remove-RecipientPermission", map[string]any{"Identity": "shared@contoso.com", "Trustee": rows[4].Trustee, "AccessRights": "SendAs"})
	if a.Status != 200 || len(a.Warnings) != 0 {
		t.Errorf("removing the orphan by its SID: status %d warnings %q, want 200 and none", a.Status, a.Warnings)
	}
}

func TestErrorsAndFaults(t *testing.T) {
	unknownMailbox := map[string]any{"Identity": "ghost@contoso.com", "AccessRights": "SendAs"}
	tests := []struct {
		reason     string
		faults     Faults
		token      string
		cmdlet     string
		params     map[string]any
		wantStatus int
		wantBody   func(answer) string // "" when the answer is right, else what is wrong
	}{
		{"an unknown mailbox gives ExID|Type|text plus internalexception", Faults{}, "admin", "Get-RecipientPermission", unknownMailbox, 400,
			func(a answer) string {
				if !strings.HasPrefix(a.Detail, "Ex") || !strings.Contains(a.Detail, "|"+notFoundType+"|The operation couldn't be performed because object 'ghost@contoso.com' couldn't be found") || !strings.Contains(a.Inner, "couldn't be found") {
					return "detail " + a.Detail + " inner " + a.Inner
				}
				return ""
			}},
		{"the |Type|text shape has no innererror", Faults{ErrorShape: ShapeTypePipe}, "admin", "Get-RecipientPermission", unknownMailbox, 400,
			func(a answer) string {
				if !strings.HasPrefix(a.Detail, "|"+notFoundType+"|") || a.Inner != "" {
					return "detail " + a.Detail + " inner " + a.Inner
				}
				return ""
			}},
		{"the JSON detail shape", Faults{ErrorShape: ShapeJSONDetail}, "admin", "Add-RecipientPermission", map[string]any{"Identity": "shared@contoso.com", "Trustee": "nobody", "AccessRights": "SendAs"}, 400,
			func(a answer) string {
				var d struct{ Message, TypeName string }
				if err := json.Unmarshal([]byte(a.Detail), &d); err != nil || d.TypeName != notFoundType || !strings.Contains(d.Message, "wasn't found") {
					return "detail " + a.Detail
				}
				return ""
			}},
		{"not-found as 404 NotFound", Faults{NotFoundAs404: true}, "admin", "Get-Recipient", map[string]any{"Identity": "ghost"}, 404,
			func(a answer) string {
				if !strings.Contains(a.Body, `"code":"NotFound"`) {
					return a.Body
				}
				return ""
			}},
		{"an unknown parameter is a 400", Faults{}, "admin", "Get-Recipient", map[string]any{"Identty": "x"}, 400,
			func(a answer) string {
				if !strings.Contains(a.Detail, "AmbiguousParameterSetException|A parameter cannot be found that matches parameter name 'Identty'") {
					return a.Detail
				}
				return ""
			}},
		{"a missing mandatory parameter is a 400", Faults{}, "admin", "Add-RecipientPermission", map[string]any{"Identity": "shared@contoso.com", "AccessRights": "SendAs"}, 400,
			func(a answer) string {
				if !strings.Contains(a.Detail, "missing mandatory parameters: Trustee") {
					return a.Detail
				}
				return ""
			}},
		{"no role: 403 with a run of NUL bytes", Faults{}, "approle", "Get-Recipient", map[string]any{"Identity": "bob"}, 403,
			func(a answer) string {
				if len(a.Body) == 0 || strings.Trim(a.Body, "\x00") != "" {
					return "body is not all NUL"
				}
				return ""
			}},
		{"no role: 403 with an empty body", Faults{ForbiddenEmptyBody: true}, "approle", "Get-Recipient", map[string]any{"Identity": "bob"}, 403,
			func(a answer) string {
				if a.Body != "" {
					return "body " + a.Body
				}
				return ""
			}},
		{"an unknown cmdlet is refused like a missing role", Faults{}, "admin", "Set-Mailbox", map[string]any{}, 403, nil},
		{"no token: 401", Faults{}, "", "Get-Recipient", map[string]any{"Identity": "bob"}, 401, nil},
		{"429 with Retry-After", Faults{Throttle: 1, RetryAfter: 1500 * time.Millisecond}, "admin", "Get-Recipient", map[string]any{"Identity": "bob"}, 429, nil},
		{"plain-text concurrency throttle", Faults{ConcurrencyThrottle: 1}, "admin", "Get-Recipient", map[string]any{"Identity": "bob"}, 429,
			func(a answer) string {
				if !strings.HasPrefix(a.Body, "You have reached the maximum number of concurrent requests per tenant") {
					return a.Body
				}
				return ""
			}},
		{"5xx", Faults{ServerErrors: 1, ServerErrorStatus: 504}, "admin", "Get-Recipient", map[string]any{"Identity": "bob"}, 504, nil},
		{"an unknown Identity may list every mailbox", Faults{UnknownIdentityListsAll: true}, "admin", "Get-RecipientPermission", unknownMailbox, 200,
			func(a answer) string {
				if len(a.Values) != 2 {
					return "want the SELF row and bob's grant of the seeded mailbox"
				}
				return ""
			}},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			s := New(testDirectory(), nil, Options{Faults: tc.faults})
			if err := s.Seed("shared@contoso.com", Seed{Trustee: "bob"}); err != nil {
				t.Fatal(err)
			}
			a := invoke(t, harness(t, s), tc.token, tc.cmdlet, tc.params)
			if a.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %q", a.Status, tc.wantStatus, a.Body)
			}
			if tc.wantBody != nil {
				if wrong := tc.wantBody(a); wrong != "" {
					t.Errorf("answer: %s", wrong)
				}
			}
		})
	}
}

func TestRedirectToBackend(t *testing.T) {
	s := New(testDirectory(), nil, Options{})
	backend := harness(t, s)
	front := harness(t, s)
	s.SetFaults(Faults{RedirectTo: backend.URL + "/"})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, front.URL+"/adminapi/beta/t/InvokeCommand?x=1", strings.NewReader(`{}`))
	client := front.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Location"), backend.URL+"/adminapi/beta/t/InvokeCommand?x=1"; resp.StatusCode != http.StatusFound || got != want {
		t.Errorf("front door answered %d Location %q, want 302 %q", resp.StatusCode, got, want)
	}
	if a := invoke(t, backend, "admin", "Get-Recipient", map[string]any{"Identity": "bob"}); a.Status != 200 {
		t.Errorf("backend answered %d, want 200 without a redirect loop", a.Status)
	}
}

func TestPagingTruncatesWithWarningAndNextLink(t *testing.T) {
	s := New(testDirectory(), nil, Options{})
	for range 3 {
		if err := s.Seed("shared@contoso.com", Seed{Trustee: "S-1-5-21-9", Principal: true}); err != nil {
			t.Fatal(err)
		}
	}
	a := invoke(t, harness(t, s), "admin", "Get-RecipientPermission", map[string]any{"Identity": "shared@contoso.com", "ResultSize": 2})
	if len(a.Values) != 2 || len(a.Warnings) != 1 || !strings.Contains(a.Body, "@odata.nextLink") {
		t.Errorf("ResultSize 2 over 4 rows: %d values, warnings %q, body %s; want 2, one warning and a nextLink", len(a.Values), a.Warnings, a.Body)
	}
}
