package simtenant

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
)

// invoke runs one cmdlet on the mounted Exchange admin endpoint with an operator token for
// the Exchange base URL, as provision/exchange does.
func (f *fixture) invoke(cmdlet string, params map[string]any) int {
	f.t.Helper()
	tid, cid, secret := f.tenant.OperatorCredentials()
	tok, err := f.credential(tid, cid, secret).GetToken(ctx(f.t), tokenOpts(f.srv.URL+exchangePrefix))
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"CmdletInput": map[string]any{"CmdletName": cmdlet, "Parameters": params}})
	req, _ := http.NewRequest("POST", f.srv.URL+exchangePrefix+"/adminapi/beta/"+tid+"/InvokeCommand", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestExchangeMountRightsAndState(t *testing.T) {
	f := newFixture(t, Options{})
	jm, jojo := "jm@"+DefaultDomain, "jojo@"+DefaultDomain
	tests := []struct {
		reason string
		revoke string
		want   int
	}{
		{"the operator holds Exchange.ManageAsApp and Exchange Recipient Administrator", "", http.StatusOK},
		{"with Exchange Administrator alone, still allowed", "Exchange Recipient Administrator", http.StatusOK},
		{"without either directory role Exchange answers 403", "Exchange Administrator", http.StatusForbidden},
		{"without the app role as well, 401", exchangeManageAsApp, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		if tt.revoke != "" {
			if err := f.tenant.RevokeOperatorRight(tt.revoke); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.invoke("Add-RecipientPermission", map[string]any{"Identity": jm, "Trustee": jojo, "AccessRights": "SendAs", "Confirm": false}); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.reason, got, tt.want)
		}
	}
	if got := f.tenant.Stats().ByRoute["POST /exchange/adminapi/beta/{tenant}/InvokeCommand"]; got != 4 {
		t.Errorf("Exchange calls counted = %d, want 4", got)
	}

	// Send-As grants live in the tenant state and survive Save/LoadState.
	var buf bytes.Buffer
	if err := f.tenant.Save(&buf); err != nil {
		t.Fatal(err)
	}
	again, err := New(Options{Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.LoadState(&buf); err != nil {
		t.Fatal(err)
	}
	snap := again.Exchange().Snapshot()
	jmID, _ := again.UserID(jm)
	jojoID, _ := again.UserID(jojo)
	want := exchangesim.Grant{Mailbox: jmID, Trustee: jojoID}
	if len(snap.Grants) != 1 || snap.Grants[0] != want {
		t.Errorf("Send-As state after reload = %+v, want [%+v]", snap.Grants, want)
	}
}

func TestGzipRequestBody(t *testing.T) {
	f := newFixture(t, Options{})
	tid, cid, secret := f.tenant.OperatorCredentials()
	tok, err := f.credential(tid, cid, secret).GetToken(ctx(t), tokenOpts(f.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write([]byte(`{"displayName":"Zipped"}`))
	_ = zw.Close()
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1.0/applications", &zb)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var app map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&app)
	if resp.StatusCode != http.StatusCreated || app["displayName"] != "Zipped" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("Location") == "" {
		t.Errorf("gzip create: %d %v %v", resp.StatusCode, app["displayName"], resp.Header)
	}
}

func BenchmarkListApplicationsPaged(b *testing.B) {
	f := newFixture(b, Options{PageSize: 100})
	c := ctx(b)
	for i := range 50 {
		a := models.NewApplication()
		a.SetDisplayName(ptr("bench " + string(rune('a'+i%26))))
		if _, err := f.client.Applications().Post(c, a, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := f.client.Applications().Get(c, nil); err != nil {
			b.Fatal(err)
		}
	}
}
