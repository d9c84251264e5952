package graph

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/sensitive"
)

func TestRequestLogRedactsSecrets(t *testing.T) {
	const secretText = "Qx8~b0gusS3cretValue.Nobody-Should-See"
	var log bytes.Buffer
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		body := readBody(t, r)
		if !strings.Contains(string(body), "OpenFire Mail") {
			t.Errorf("addPassword body = %q", body)
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.context":      "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",
			"customKeyIdentifier": nil, "displayName": "OpenFire Mail", "endDateTime": "2028-03-01T12:00:00Z",
			"hint": "Qx8", "keyId": "6d2a5b1e-0000-4000-8000-00000000abcd", "secretText": secretText,
			"startDateTime": "2026-03-01T12:00:00Z",
		})
	}, Options{RequestLog: &log})

	body := applications.NewItemAddPasswordPostRequestBody()
	cred := models.NewPasswordCredential()
	name := "OpenFire Mail"
	cred.SetDisplayName(&name)
	body.SetPasswordCredential(cred)
	got, err := c.Graph.Applications().ByApplicationId("obj-1").AddPassword().Post(context.Background(), body, nil)
	if err != nil {
		t.Fatalf("addPassword: %v", Wrap(err))
	}
	if got.GetSecretText() == nil || *got.GetSecretText() != secretText {
		t.Fatalf("the caller must still get the secret; got %v", got.GetSecretText())
	}

	out := log.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one request line and one response line, got %d:\n%s", len(lines), out)
	}
	for _, leak := range []string{secretText, testToken} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q:\n%s", leak, out)
		}
	}
	for i, want := range [][]string{
		{"> POST ", "/v1.0/applications/obj-1/addPassword", `"Authorization":"Bearer (sensitive)"`, `"displayName":"OpenFire Mail"`},
		{"< 200 POST ", "/v1.0/applications/obj-1/addPassword", `"secretText":"(sensitive)"`, `"hint":"Qx8"`, `"keyId":"6d2a5b1e`},
	} {
		for _, s := range want {
			if !strings.Contains(lines[i], s) {
				t.Errorf("line %d lacks %q:\n%s", i+1, s, lines[i])
			}
		}
	}
}

func TestRedactBody(t *testing.T) {
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	jsonH := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name, reason, body string
		header             http.Header
		want               string
	}{
		{name: "nested secrets", reason: "secret-named string fields are masked at any depth, others kept",
			header: jsonH,
			body:   `{"passwordCredentials":[{"keyId":"k","secretText":"s1"}],"passwordProfile":{"password":"p1"},"access_token":"t","n":1}`,
			want:   `{"access_token":"(sensitive)","n":1,"passwordCredentials":[{"keyId":"k","secretText":"(sensitive)"}],"passwordProfile":{"password":"(sensitive)"}}`},
		{name: "token form", reason: "client_secret and client_assertion in a form body",
			header: form, body: "client_assertion=jwt&client_id=c&client_secret=s&grant_type=client_credentials",
			want: "client_assertion=%28sensitive%29&client_id=c&client_secret=%28sensitive%29&grant_type=client_credentials"},
		{name: "paging cursor", reason: "a nextLink with $skiptoken is not a secret",
			header: jsonH, body: `{"@odata.nextLink":"https://g/v1.0/applications?$skiptoken=abc","refresh_token":"r"}`,
			want: `{"@odata.nextLink":"https://g/v1.0/applications?$skiptoken=abc","refresh_token":"(sensitive)"}`},
		{name: "unknown format", reason: "bytes the log cannot read are summarised, not printed",
			header: http.Header{"Content-Type": {"application/octet-stream"}}, body: "secret-bytes",
			want: "(12 bytes application/octet-stream)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, redactBody([]byte(tc.body), tc.header)); diff != "" {
				t.Errorf("redactBody (-want +got) (%s):\n%s", tc.reason, diff)
			}
		})
	}
	if got := redactHeaders(http.Header{"Authorization": {"Bearer abc"}, "Cookie": {"x=1"}}); got !=
		`{"Authorization":"Bearer `+sensitive.Mask+`","Cookie":"`+sensitive.Mask+`"}` {
		t.Errorf("redactHeaders = %s", got)
	}
}
