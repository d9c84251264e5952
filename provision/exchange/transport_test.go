package exchange

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/deadline"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/simtenant/simtest/fixedtoken"
)

// broken answers the first len(answers) requests itself, then lets the simulator answer.
type broken struct {
	mu      sync.Mutex
	answers []func(http.ResponseWriter, *http.Request)
	seen    []string // X-CmdletName of every request
}

func (b *broken) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.Header.Get("X-CmdletName"))
		var answer func(http.ResponseWriter, *http.Request)
		if len(b.answers) > 0 {
			answer, b.answers = b.answers[0], b.answers[1:]
		}
		b.mu.Unlock()
		if answer != nil {
			_, _ = io.Copy(io.Discard, r.Body)
			answer(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func gatewayPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
}

func dropConnection(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// stallUntilAbandoned never answers; it returns when the client gives up.
func stallUntilAbandoned(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func TestTransportFailures(t *testing.T) {
	newSP := func(c *Client) error {
		_, err := c.Invoke(context.Background(), "New-ServicePrincipal", map[string]any{"AppId": "a", "ObjectId": "b", "DisplayName": "x"}, "")
		return err
	}
	getRecipient := func(c *Client) error { _, err := c.GetRecipient(context.Background(), "bob"); return err }
	cases := []struct {
		reason  string
		answers []func(http.ResponseWriter, *http.Request)
		run     func(*Client) error
		// wantErr are substrings of the error; none means success
		wantErr   []string
		wantCalls []string
	}{
		{reason: "a gateway's HTML page to a create names the request, the status and the page",
			answers: []func(http.ResponseWriter, *http.Request){gatewayPage}, run: newSP,
			wantErr:   []string{"New-ServicePrincipal: POST /adminapi/beta/" + tenantID + "/InvokeCommand answered 502 with text/html: <html><body><h1>502 Bad Gateway</h1>", "HTTP 502"},
			wantCalls: []string{"New-ServicePrincipal"}},
		{reason: "the same page to a read is read again",
			answers: []func(http.ResponseWriter, *http.Request){gatewayPage}, run: getRecipient,
			wantCalls: []string{"Get-Recipient", "Get-Recipient"}},
		{reason: "a dropped connection after a create was sent is not repeated, and names the request",
			answers: []func(http.ResponseWriter, *http.Request){dropConnection}, run: newSP,
			wantErr:   []string{"New-ServicePrincipal: POST /adminapi/beta/" + tenantID + "/InvokeCommand: "},
			wantCalls: []string{"New-ServicePrincipal"}},
		{reason: "a dropped connection under an idempotent permission change is repeated",
			answers: []func(http.ResponseWriter, *http.Request){dropConnection},
			run: func(c *Client) error {
				return c.AddSendAs(context.Background(), "shared@contoso.com", "bob@contoso.com")
			},
			wantCalls: []string{"Add-RecipientPermission", "Add-RecipientPermission"}},
		{reason: "a create that stalls fails after the deadline, naming the request, and is not repeated",
			answers: []func(http.ResponseWriter, *http.Request){stallUntilAbandoned}, run: newSP,
			wantErr:   []string{"New-ServicePrincipal: POST /adminapi/beta/" + tenantID + "/InvokeCommand: no answer within 40ms"},
			wantCalls: []string{"New-ServicePrincipal"}},
		{reason: "a read that stalls is sent again, like a dropped connection",
			answers: []func(http.ResponseWriter, *http.Request){stallUntilAbandoned}, run: getRecipient,
			wantCalls: []string{"Get-Recipient", "Get-Recipient"}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			fake := clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
			sim := exchangesim.New(testDirectory(), &exchangesim.State{}, exchangesim.Options{Clock: fake, TenantIDs: []string{tenantID}})
			b := &broken{answers: tc.answers}
			inner := mount(t, sim)
			ts := httptest.NewTLSServer(b.wrap(inner.Config.Handler))
			t.Cleanup(ts.Close)
			c, err := New(Options{Endpoint: ts.URL, TenantID: tenantID, Credential: &fixedtoken.Credential{Token: adminToken},
				HTTPClient: ts.Client(), Clock: fake, Deadline: deadline.Options{HeaderTimeout: 40 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			err = tc.run(c)
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatalf("error %v, want success", err)
			}
			for _, s := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %v, want it to contain %q", err, s)
				}
			}
			if tc.wantErr != nil {
				var xerr *Error
				if !errors.As(err, &xerr) {
					t.Errorf("error %v is not an *exchange.Error", err)
				}
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if diff := cmp.Diff(tc.wantCalls, b.seen); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWaitingNamesTheCmdlet(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	sim := exchangesim.New(testDirectory(), &exchangesim.State{}, exchangesim.Options{Clock: fake, TenantIDs: []string{tenantID}})
	b := &broken{answers: []func(http.ResponseWriter, *http.Request){func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(60 * time.Millisecond)
		gatewayPage(w, r)
	}}}
	inner := mount(t, sim)
	ts := httptest.NewTLSServer(b.wrap(inner.Config.Handler))
	t.Cleanup(ts.Close)
	var mu sync.Mutex
	var told []string
	c, err := New(Options{Endpoint: ts.URL, TenantID: tenantID, Credential: &fixedtoken.Credential{Token: adminToken},
		HTTPClient: ts.Client(), Clock: fake, Deadline: deadline.Options{NoticeAfter: 20 * time.Millisecond,
			Waiting: func(what string, _ time.Duration) { mu.Lock(); told = append(told, what); mu.Unlock() }}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRecipient(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) == 0 || told[0] != "Exchange Get-Recipient" {
		t.Errorf("Waiting was told %q, want notices about \"Exchange Get-Recipient\"", told)
	}
}
