package exchangesim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// postBatch sends a $batch of the given requests and decodes the answer.
func postBatch(t *testing.T, s *Server, token string, requests []map[string]any) (int, []batchResponse) {
	t.Helper()
	ts := harness(t, s)
	body, _ := json.Marshal(map[string]any{"requests": requests})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+"/adminapi/beta/contoso.onmicrosoft.com/$batch", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Responses []batchResponse `json:"responses"`
	}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out.Responses
}

func item(id, cmdlet string, params map[string]any) map[string]any {
	return map[string]any{"id": id, "method": "POST", "url": "https://outlook.office365.com/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand",
		"headers": map[string]string{"X-AnchorMailbox": "UPN:bob@contoso.com"},
		"body":    map[string]any{"CmdletInput": map[string]any{"CmdletName": cmdlet, "Parameters": params}}}
}

func TestBatch(t *testing.T) {
	s := New(testDirectory(), nil, Options{})
	status, got := postBatch(t, s, "recipient", []map[string]any{
		item("a", "Get-CASMailbox", map[string]any{"Identity": "bob@contoso.com"}),
		item("b", "Get-MailboxPermission", map[string]any{"Identity": "ghost@contoso.com"}),
		item("c", "Get-ServicePrincipal", map[string]any{"Identity": "x"}),
		{"id": "d", "method": "GET", "url": "/adminapi/beta/contoso.onmicrosoft.com/Mailbox", "body": map[string]any{}},
	})
	if status != 200 {
		t.Fatalf("batch status %d", status)
	}
	var statuses []string
	for _, r := range got {
		statuses = append(statuses, r.ID+":"+http.StatusText(r.Status))
	}
	want := []string{"a:OK", "b:Bad Request", "c:Forbidden", "d:Bad Request"}
	if diff := cmp.Diff(want, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(got[0].Body), `"PrimarySmtpAddress":"bob@contoso.com"`) || !strings.Contains(string(got[1].Body), "ManagementObjectNotFoundException") {
		t.Errorf("bodies: %s / %s", got[0].Body, got[1].Body)
	}
	if got[2].Body != nil {
		t.Errorf("the NUL-filled 403 must travel as a status alone, got body %s", got[2].Body)
	}
	st := s.Stats()
	if st.Requests != 1 || st.Batches != 1 || st.ByCmdlet["Get-CASMailbox"] != 1 || st.ByCmdlet["Get-MailboxPermission"] != 1 {
		t.Errorf("stats %+v: want one request, one batch, each cmdlet counted", st)
	}
	var eleven []map[string]any
	for range 11 {
		eleven = append(eleven, item("x", "Get-CASMailbox", map[string]any{"Identity": "bob"}))
	}
	if status, _ := postBatch(t, s, "admin", eleven); status != http.StatusBadRequest {
		t.Errorf("a batch of 11: status %d, want 400", status)
	}
	s.SetFaults(Faults{NoBatch: true})
	if status, _ := postBatch(t, s, "admin", eleven[:2]); status != http.StatusNotFound {
		t.Errorf("NoBatch: status %d, want 404", status)
	}
	if status, _ := postBatch(t, s, "", eleven[:2]); status != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401 for the batch as a whole", status)
	}
}
