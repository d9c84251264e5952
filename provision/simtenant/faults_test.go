package simtenant

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// raw sends a request as the operator, without the SDK, for wire-level assertions.
func (f *fixture) raw(method, path string, body any, header map[string]string) (int, http.Header, map[string]any) {
	f.t.Helper()
	tid, cid, secret := f.tenant.OperatorCredentials()
	tok, err := f.credential(tid, cid, secret).GetToken(ctx(f.t), tokenOpts(f.srv.URL))
	if err != nil {
		f.t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, resp.Header, out
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		reason string
		spec   string
		want   Faults
		err    bool
	}{
		{"the documented example", "latency=50ms,throttle=0.1,retry-after=1s,5xx=0.05,drop=0.01,lag=2s",
			Faults{Latency: 50 * time.Millisecond, ThrottleRate: 0.1, RetryAfter: time.Second, ServerErrorRate: 0.05, DropRate: 0.01, ReplicationLag: 2 * time.Second}, false},
		{"empty is no faults", "", Faults{}, false},
		{"every Nth and a seed", "throttle-every=3, seed=7", Faults{ThrottleEvery: 3, Seed: 7}, false},
		{"random replicas within the lag", "lag=2s,stale-reads=0.5", Faults{ReplicationLag: 2 * time.Second, StaleReadRate: 0.5}, false},
		{"the answers issue 14 found missing", "stall=0.01,empty-2xx=0.05,lost-answer=0.1",
			Faults{StallRate: 0.01, EmptySuccessRate: 0.05, LostAnswerRate: 0.1}, false},
		{"a stale-reads rate above one", "stale-reads=1.5", Faults{}, true},
		{"unknown key", "chaos=1", Faults{}, true},
		{"rate above one", "drop=2", Faults{}, true},
	}
	for _, tt := range tests {
		got, err := ParseFaults(tt.spec)
		if (err != nil) != tt.err {
			t.Errorf("%s: error %v, want error %v", tt.reason, err, tt.err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.reason, diff)
		}
	}
}

func TestThrottlingHonouredBySDKRetry(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	f.tenant.FailNext("GET", "/v1.0/users", 2, http.StatusTooManyRequests)
	f.tenant.ResetStats()
	if _, err := f.client.Users().ByUserId("jm@"+DefaultDomain).Get(c, nil); err != nil {
		t.Fatalf("after two 429s the SDK's retry should succeed: %v", err)
	}
	if got := f.tenant.Stats().ByRoute["GET /v1.0/users/{id}"]; got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	// Always throttled: the SDK gives up after its 3 retries and returns the 429.
	f.tenant.SetFaults(Faults{ThrottleRate: 1})
	_, err := f.client.Users().ByUserId("jm@"+DefaultDomain).Get(c, nil)
	if status, _, _ := odataError(err); status != http.StatusTooManyRequests {
		t.Errorf("permanent throttling: status %d (%v), want 429", status, err)
	}
	f.tenant.SetFaults(Faults{})
	status, h, _ := func() (int, http.Header, map[string]any) {
		f.tenant.FailNext("GET", "/v1.0/groups", 1, http.StatusTooManyRequests)
		return f.raw("GET", "/v1.0/groups", nil, nil)
	}()
	if status != 429 || h.Get("Retry-After") != "0" || h.Get("x-ms-throttle-information") == "" {
		t.Errorf("raw 429: status %d Retry-After %q", status, h.Get("Retry-After"))
	}
}

func TestServerErrorsAndDroppedConnections(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	f.tenant.FailNext("GET", "/v1.0/groups", 1, http.StatusServiceUnavailable)
	if _, err := f.client.Groups().Get(c, nil); err != nil {
		t.Errorf("a single 503 is retried by the SDK: %v", err)
	}
	f.tenant.FailNext("GET", "/v1.0/groups", 1, http.StatusInternalServerError)
	_, err := f.client.Groups().Get(c, nil)
	if status, code, msg := odataError(err); status != 500 || code == "" || msg == "" {
		t.Errorf("500: %d %q %q", status, code, msg)
	}
	// A dropped POST is not retried by Go's transport (a GET on a reused connection would be).
	f.tenant.FailNext("POST", "/v1.0/applications", 1, 0)
	a := models.NewApplication()
	a.SetDisplayName(ptr("Dropped"))
	if _, err := f.client.Applications().Post(c, a, nil); err == nil {
		t.Error("a dropped connection returned no error")
	}
	if _, err := f.client.Applications().Post(c, a, nil); err != nil {
		t.Errorf("after the drop: %v", err)
	}
	log := f.tenant.RequestLog()
	var dropped int
	for _, e := range log {
		if e.Status == 0 {
			dropped++
		}
	}
	if dropped != 1 {
		t.Errorf("dropped requests logged = %d, want 1", dropped)
	}
}

func TestReplicationLagOnFakeClock(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	f.tenant.SetFaults(Faults{ReplicationLag: 2 * time.Second})
	a := models.NewApplication()
	a.SetDisplayName(ptr("Lagging"))
	app, err := f.client.Applications().Post(c, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.Applications().ByApplicationId(*app.GetId()).Get(c, nil)
	if status, code, _ := odataError(err); status != 404 || code != codeNotFound {
		t.Errorf("read right after create: %d %s, want 404", status, code)
	}
	s := models.NewServicePrincipal()
	s.SetAppId(app.GetAppId())
	_, err = f.client.ServicePrincipals().Post(c, s, nil)
	if status, _, msg := odataError(err); status != 400 || msg == "" {
		t.Errorf("SP right after app create: %d %q, want the NoBackingApplicationObject 400", status, msg)
	}
	if err := f.clock.Sleep(c, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Applications().ByApplicationId(*app.GetId()).Get(c, nil); err != nil {
		t.Errorf("read after the lag: %v", err)
	}
	sp, err := f.client.ServicePrincipals().Post(c, s, nil)
	if err != nil {
		t.Fatalf("SP after the lag: %v", err)
	}
	// Writes that reference the SP just created fail as on a replica that has not seen it.
	graph, _ := f.tenant.ServicePrincipal(graphAppID)
	g := models.NewOAuth2PermissionGrant()
	g.SetClientId(sp.GetId())
	g.SetResourceId(ptr(str(graph["id"])))
	g.SetConsentType(ptr("AllPrincipals"))
	g.SetScope(ptr("User.Read"))
	_, err = f.client.Oauth2PermissionGrants().Post(c, g, nil)
	if status, _, msg := odataError(err); status != 400 || !strings.Contains(msg, "does not exist or one of its queried reference-property objects are not present") {
		t.Errorf("grant for a new SP: %d %q", status, msg)
	}
	ar := models.NewAppRoleAssignment()
	ar.SetPrincipalId(ptr(mustUUID(*sp.GetId())))
	ar.SetResourceId(ptr(mustUUID(str(graph["id"]))))
	ar.SetAppRoleId(ptr(mustUUID("df021288-bdef-4463-88db-98f22de89214")))
	_, err = f.client.ServicePrincipals().ByServicePrincipalId(str(graph["id"])).AppRoleAssignedTo().Post(c, ar, nil)
	if status, _, msg := odataError(err); status != 400 || msg != msgNotValidReference {
		t.Errorf("assignment for a new SP: %d %q", status, msg)
	}
	_ = f.clock.Sleep(c, 2*time.Second)
	if _, err := f.client.Oauth2PermissionGrants().Post(c, g, nil); err != nil {
		t.Errorf("grant after the lag: %v", err)
	}
}

func TestPermissionEnforcement(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	_, sp := newAppWithSP(t, f, "Before revoke")
	if err := f.tenant.RevokeOperatorRight("Application.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	a := models.NewApplication()
	a.SetDisplayName(ptr("Denied"))
	_, err := f.client.Applications().Post(c, a, nil)
	if status, code, msg := odataError(err); status != 403 || code != codeDenied || msg != msgDenied {
		t.Errorf("create app without Application.ReadWrite.All: %d %s %q", status, code, msg)
	}
	// appRoleAssignedTo also needs a read permission on applications (docs issue #3476).
	exo, _ := f.tenant.ServicePrincipal(exchangeAppID)
	ar := models.NewAppRoleAssignment()
	ar.SetPrincipalId(ptr(mustUUID(*sp.GetId())))
	ar.SetResourceId(ptr(mustUUID(str(exo["id"]))))
	ar.SetAppRoleId(ptr(mustUUID("5e5addcd-3e8d-4e90-baf5-964efab2b20a")))
	_, err = f.client.ServicePrincipals().ByServicePrincipalId(str(exo["id"])).AppRoleAssignedTo().Post(c, ar, nil)
	if status, _, _ := odataError(err); status != 403 {
		t.Errorf("assignment without an application read permission: %d, want 403", status)
	}
	if err := f.tenant.GrantOperatorRight("Application.ReadWrite.All"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Applications().Post(c, a, nil); err != nil {
		t.Errorf("after granting back: %v", err)
	}
	if err := f.tenant.RevokeOperatorRight("Nope.Nothing"); err == nil {
		t.Error("revoking an unknown right succeeded")
	}
	// No token at all: 401 InvalidAuthenticationToken.
	resp, err := f.srv.Client().Get(f.srv.URL + "/v1.0/applications")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 401 || body.Error.Code != codeInvalidToken || body.Error.Message == "" {
		t.Errorf("no token: %d %+v", resp.StatusCode, body)
	}
}

func TestBatchDependsOnAndInnerFaults(t *testing.T) {
	f := newFixture(t, Options{})
	c := ctx(t)
	adapter := f.client.GetAdapter()
	batch := msgraphcore.NewBatchRequest(adapter)
	info := func(ri *abstractions.RequestInformation, err error) abstractions.RequestInformation {
		if err != nil {
			t.Fatal(err)
		}
		return *ri
	}
	okUser, err := batch.AddBatchRequestStep(info(f.client.Users().ByUserId("jm@"+DefaultDomain).ToGetRequestInformation(c, nil)))
	if err != nil {
		t.Fatal(err)
	}
	missing, _ := batch.AddBatchRequestStep(info(f.client.Applications().ByApplicationId("00000000-1111-2222-3333-444444444444").ToGetRequestInformation(c, nil)))
	dependent, _ := batch.AddBatchRequestStep(info(f.client.Groups().ToGetRequestInformation(c, nil)))
	dependent.DependsOnItem(missing)
	throttled, _ := batch.AddBatchRequestStep(info(f.client.ServicePrincipals().ToGetRequestInformation(c, nil)))
	f.tenant.FailNext("GET", "/v1.0/servicePrincipals", 1, http.StatusTooManyRequests)
	f.tenant.ResetStats()
	resp, err := batch.Send(c, adapter)
	if err != nil {
		t.Fatalf("send batch: %v", err)
	}
	got := map[string]int32{}
	for id, s := range resp.GetStatusCodes() {
		got[id] = s
	}
	want := map[string]int32{*okUser.GetId(): 200, *missing.GetId(): 404, *dependent.GetId(): 424, *throttled.GetId(): 429}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inner statuses (-want +got):\n%s", diff)
	}
	if h := resp.GetResponseById(*throttled.GetId()).GetHeaders(); h["Retry-After"] == "" {
		t.Errorf("inner 429 without its own Retry-After: %v", h)
	}
	st := f.tenant.Stats()
	if st.RoundTrips != 1 || st.Operations != 4 {
		t.Errorf("round trips %d operations %d, want 1 and 4", st.RoundTrips, st.Operations)
	}
	user, err := msgraphcore.GetBatchResponseById[models.Userable](resp, *okUser.GetId(), models.CreateUserFromDiscriminatorValue)
	if err != nil || deref(user.GetDisplayName()) != "Jean-Michel MARTIN" {
		t.Errorf("inner body: %v %v", user, err)
	}

	dup := map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "GET", "url": "/users"},
		map[string]any{"id": "1", "method": "GET", "url": "/groups"},
	}}
	if status, _, body := f.raw("POST", "/v1.0/$batch", dup, nil); status != 400 || body["error"] == nil {
		t.Errorf("duplicate ids: %d %v", status, body)
	}
	var many []any
	for i := range 21 {
		many = append(many, map[string]any{"id": string(rune('a' + i)), "method": "GET", "url": "/users"})
	}
	if status, _, _ := f.raw("POST", "/v1.0/$batch", map[string]any{"requests": many}, nil); status != 400 {
		t.Errorf("21 requests: %d, want 400", status)
	}
}
