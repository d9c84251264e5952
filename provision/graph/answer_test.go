package graph

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/retry"
)

// TestAnswersThatAreNotGraphsJSON checks that an answer the SDK cannot read (a gateway's HTML
// page, JSON cut short, nothing) gives an error naming the method, the URL path, the status and
// what the body was, instead of a parser's "content type text/html does not have a factory
// registered" or "invalid json type"; and that such a broken answer to a read is read again.
func TestAnswersThatAreNotGraphsJSON(t *testing.T) {
	const gatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body></html>"
	type answer struct {
		status      int
		contentType string
		body        string
	}
	good := answer{status: 0}
	cases := []struct {
		reason       string
		method       string
		answers      []answer // then a good answer
		wantErr      string   // exact text of Wrap(err); empty means success
		wantStatus   int      // StatusCode(err)
		wantRequests int
	}{
		{reason: "a gateway's HTML error page names the request, the status and the page",
			method: http.MethodGet, answers: []answer{{502, "text/html", gatewayPage}, {502, "text/html", gatewayPage}},
			wantErr:    "502 Bad Gateway: GET /v1.0/applications answered with text/html: <html> <head><title>502 Bad Gateway</title></head> <body><center><h1>502 Bad Gateway</h1></center></body></html> (gave up after 2 attempts)",
			wantStatus: 502, wantRequests: 2},
		{reason: "a server error with no body at all names the request",
			method: http.MethodPost, answers: []answer{{500, "", ""}},
			wantErr: "500 Internal Server Error: POST /v1.0/applications answered with an empty body", wantStatus: 500, wantRequests: 1},
		{reason: "a read whose JSON was cut short is read again, like a dropped connection",
			method: http.MethodGet, answers: []answer{{200, "application/json", `{"value":[{"id":"obj-1","appId":`}}, wantRequests: 2},
		{reason: "a create whose JSON was cut short may have been applied: not repeated, and its text is never shown",
			method: http.MethodPost, answers: []answer{{201, "application/json", `{"id":"obj-1","passwordCredentials":[{"secretText":"Qx8~`}},
			wantErr: "send POST /v1.0/applications: answered 201 Created with invalid JSON (56 bytes, cut short or garbled)", wantRequests: 1},
		{reason: "an HTML page where JSON was due (a captive portal, a proxy's login) names the request",
			method: http.MethodGet, answers: []answer{{200, "text/html", "<html>Sign in to the Wi-Fi</html>"}, {200, "text/html", "<html>Sign in to the Wi-Fi</html>"}},
			wantErr: "send GET /v1.0/applications: gave up after 2 attempts: answered 200 OK with text/html: <html>Sign in to the Wi-Fi</html>", wantRequests: 2},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			rec := &recorder{}
			c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				n := rec.add(r, readBody(t, r))
				a := good
				if n <= len(tc.answers) {
					a = tc.answers[n-1]
				}
				switch {
				case a == good && r.Method == http.MethodPost:
					writeJSON(w, http.StatusCreated, application("obj-1", "app-1", "OpenFire"))
				case a == good:
					writeJSON(w, http.StatusOK, map[string]any{"value": []any{application("obj-1", "app-1", "OpenFire")}})
				default:
					if a.contentType != "" {
						w.Header().Set("Content-Type", a.contentType)
					}
					w.WriteHeader(a.status)
					_, _ = io.WriteString(w, a.body)
				}
			}, Options{Retry: retry.Policy{MaxAttempts: 2}})
			var err error
			if tc.method == http.MethodPost {
				_, err = c.Graph.Applications().Post(context.Background(), models.NewApplication(), nil)
			} else {
				_, err = c.Graph.Applications().Get(context.Background(), nil)
			}
			got := ""
			if err != nil {
				got = Wrap(err).Error()
			}
			if diff := cmp.Diff(tc.wantErr, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if strings.Contains(got, "Qx8~") {
				t.Errorf("the error shows the text of a body that may hold a secret: %s", got)
			}
			if s := StatusCode(err); s != tc.wantStatus {
				t.Errorf("StatusCode = %d, want %d: classifiers must still see the status", s, tc.wantStatus)
			}
			if n := len(rec.all()); n != tc.wantRequests {
				t.Errorf("server saw %d requests, want %d", n, tc.wantRequests)
			}
		})
	}
}

func TestBatchItemThatIsNotGraphsJSON(t *testing.T) {
	r := BatchResponse{ID: "1", Status: 502, Headers: map[string]string{"Content-Type": "text/html"},
		Body: []byte(`"<html>Bad Gateway</html>"`), method: "GET", path: "/applications(appId='a')"}
	want := `502 Bad Gateway: GET /applications(appId='a') answered with text/html: "<html>Bad Gateway</html>"`
	if got := r.Err().Error(); got != want {
		t.Errorf("Err() = %q, want %q", got, want)
	}
}
