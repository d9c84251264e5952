package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/retry"
)

func TestTransportRetries(t *testing.T) {
	type answer struct {
		status     int
		retryAfter string // "date+Ns" means an HTTP date N seconds after the fake clock's start
		drop       bool   // close the connection without answering
	}
	ok := answer{status: http.StatusOK}
	tests := []struct {
		name, reason string
		method       string
		answers      []answer // then ok forever
		always       *answer  // answer every request with this instead
		policy       retry.Policy
		wantErr      []string
		wantRequests int
		// wantWait is the exact fake time spent; zero with waitRange checks a range instead.
		wantWait  time.Duration
		waitRange [2]time.Duration
		wantTries []string // Retry-Attempt header per request
	}{
		{name: "429 retry-after seconds", reason: "throttling waits exactly what the server asked, then succeeds",
			method:  http.MethodGet,
			answers: []answer{{status: 429, retryAfter: "7"}, {status: 429, retryAfter: "3"}, ok}, wantRequests: 3,
			wantWait: 10 * time.Second, wantTries: []string{"", "1", "2"}},
		{name: "429 retry-after date", reason: "an HTTP-date Retry-After is measured on the injected clock",
			method:  http.MethodGet,
			answers: []answer{{status: 429, retryAfter: "date+5s"}, ok}, wantRequests: 2, wantWait: 5 * time.Second},
		{name: "503 then success", reason: "503 without Retry-After backs off with jitter around the base delay",
			method:  http.MethodGet,
			answers: []answer{{status: 503}, ok}, wantRequests: 2, waitRange: [2]time.Duration{500 * time.Millisecond, time.Second}},
		{name: "504 on GET", reason: "a gateway timeout on a read is retried", method: http.MethodGet,
			answers: []answer{{status: 504, retryAfter: "1"}, ok}, wantRequests: 2, wantWait: time.Second},
		{name: "504 on POST", reason: "a POST may have been applied behind a gateway timeout: not repeated",
			method: http.MethodPost, answers: []answer{{status: 504, retryAfter: "1"}}, wantRequests: 1,
			wantErr: []string{"504"}},
		{name: "429 on POST", reason: "a throttled POST was not processed: repeated", method: http.MethodPost,
			answers: []answer{{status: 429, retryAfter: "2"}, ok}, wantRequests: 2, wantWait: 2 * time.Second},
		{name: "503 with Retry-After on POST", reason: "a 503 that says when to come back is throttling: repeated",
			method: http.MethodPost, answers: []answer{{status: 503, retryAfter: "1"}, ok}, wantRequests: 2, wantWait: time.Second},
		{name: "bare 503 on POST", reason: "a 503 without Retry-After may follow the write: not repeated",
			method: http.MethodPost, answers: []answer{{status: 503}}, wantRequests: 1, wantErr: []string{"503"}},
		{name: "500 on POST", reason: "a POST that met a server error may have been applied: the engine looks it up",
			method: http.MethodPost, answers: []answer{{status: 500}}, wantRequests: 1, wantErr: []string{"500"}},
		{name: "500 then 502 on GET", reason: "a read is repeated on any server error",
			method: http.MethodGet, answers: []answer{{status: 500, retryAfter: "1"}, {status: 502, retryAfter: "1"}, ok},
			wantRequests: 3, wantWait: 2 * time.Second},
		{name: "502 on PATCH", reason: "a PATCH sets properties: repeating it is safe", method: http.MethodPatch,
			answers: []answer{{status: 502, retryAfter: "1"}, ok}, wantRequests: 2, wantWait: time.Second},
		{name: "500 on DELETE", reason: "deleting again what is gone is no harm", method: http.MethodDelete,
			answers: []answer{{status: 500, retryAfter: "1"}, ok}, wantRequests: 2, wantWait: time.Second},
		{name: "give up", reason: "throttling is bounded by the time budget (its attempts do not count: the service asked for the wait), and the error says how many attempts and the last status",
			method: http.MethodGet, always: &answer{status: 429, retryAfter: "1"}, policy: retry.Policy{MaxElapsed: 5 * time.Second}, wantRequests: 6,
			wantWait: 5 * time.Second,
			wantErr:  []string{"429", "TooManyRequests", "gave up after 6 attempts", "request-id"}},
		{name: "give up on failures", reason: "failures without a wait of the server's stop at MaxAttempts",
			method: http.MethodGet, always: &answer{status: 503}, wantRequests: TransportPolicy().MaxAttempts,
			waitRange: [2]time.Duration{time.Second, time.Minute}, wantErr: []string{"503", "gave up after 6 attempts"}},
		{name: "give up at max elapsed", reason: "a Retry-After beyond the budget is not waited for",
			method: http.MethodGet, always: &answer{status: 429, retryAfter: "120"}, policy: retry.Policy{MaxElapsed: time.Minute},
			wantRequests: 1, wantErr: []string{"429"}},
		{name: "dropped connection on GET", reason: "a read whose connection dropped is repeated",
			method:  http.MethodGet,
			answers: []answer{{drop: true}, {drop: true}, ok}, wantRequests: 3, waitRange: [2]time.Duration{1500 * time.Millisecond, 3 * time.Second}},
		{name: "dropped connection on POST", reason: "a POST that reached the server is never repeated on a drop; the error names it",
			method: http.MethodPost, answers: []answer{{drop: true}}, wantRequests: 1, wantErr: []string{"send POST /v1.0/applications: ", "EOF"}},
		{name: "dropped connection on PATCH", reason: "a PATCH whose connection dropped is repeated",
			method: http.MethodPatch, answers: []answer{{drop: true}, ok}, wantRequests: 2, waitRange: [2]time.Duration{500 * time.Millisecond, time.Second}},
		{name: "dropped connection gives up", reason: "dropped connections also stop at MaxAttempts",
			method: http.MethodGet, always: &answer{drop: true}, policy: retry.Policy{MaxAttempts: 3}, wantRequests: 3,
			waitRange: [2]time.Duration{1500 * time.Millisecond, 3 * time.Second}, wantErr: []string{"gave up after 3 attempts"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			var c *Client
			handler := func(w http.ResponseWriter, r *http.Request) {
				n := rec.add(r, readBody(t, r))
				a := ok
				if tc.always != nil {
					a = *tc.always
				} else if n <= len(tc.answers) {
					a = tc.answers[n-1]
				}
				if a.drop {
					conn, _, err := w.(http.Hijacker).Hijack()
					if err != nil {
						t.Errorf("hijack: %v", err)
						return
					}
					_ = conn.Close()
					return
				}
				if after, isDate := strings.CutPrefix(a.retryAfter, "date+"); isDate {
					d, err := time.ParseDuration(after)
					if err != nil {
						t.Fatal(err)
					}
					w.Header().Set("Retry-After", epoch().Add(d).Format(http.TimeFormat))
				} else if a.retryAfter != "" {
					w.Header().Set("Retry-After", a.retryAfter)
				}
				switch {
				case a.status == http.StatusOK && (r.Method == http.MethodPatch || r.Method == http.MethodDelete):
					w.WriteHeader(http.StatusNoContent)
				case a.status == http.StatusOK && r.Method == http.MethodPost:
					writeJSON(w, http.StatusCreated, application("obj-1", "app-1", "OpenFire"))
				case a.status == http.StatusOK:
					writeJSON(w, http.StatusOK, map[string]any{"value": []any{application("obj-1", "app-1", "OpenFire")}})
				default:
					writeJSON(w, a.status, odataError("TooManyRequests", "Too many requests"))
				}
			}
			c, clk := newTestClient(t, handler, Options{Retry: tc.policy})
			var err error
			body := models.NewApplication()
			name := "OpenFire"
			body.SetDisplayName(&name)
			switch tc.method {
			case http.MethodPost:
				_, err = c.Graph.Applications().Post(context.Background(), body, nil)
			case http.MethodPatch:
				_, err = c.Graph.Applications().ByApplicationId("obj-1").Patch(context.Background(), body, nil)
			case http.MethodDelete:
				err = c.Graph.Applications().ByApplicationId("obj-1").Delete(context.Background(), nil)
			default:
				_, err = c.Graph.Applications().Get(context.Background(), nil)
			}
			if len(tc.wantErr) == 0 && err != nil {
				t.Fatalf("call failed: %v (%s)", Wrap(err), tc.reason)
			}
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("call succeeded; %s", tc.reason)
				}
				msg := Wrap(err).Error()
				t.Logf("error: %s", msg)
				for _, s := range tc.wantErr {
					if !strings.Contains(msg, s) {
						t.Errorf("error %q lacks %q (%s)", msg, s, tc.reason)
					}
				}
			}
			got := rec.all()
			if len(got) != tc.wantRequests {
				t.Errorf("server saw %d requests, want %d (%s)", len(got), tc.wantRequests, tc.reason)
			}
			waited := clk.Now().Sub(epoch())
			if tc.waitRange != ([2]time.Duration{}) {
				if waited < tc.waitRange[0] || waited > tc.waitRange[1] {
					t.Errorf("waited %s, want within %v (%s)", waited, tc.waitRange, tc.reason)
				}
			} else if waited != tc.wantWait {
				t.Errorf("waited %s on the fake clock, want %s (%s)", waited, tc.wantWait, tc.reason)
			}
			if tc.wantTries != nil {
				var tries []string
				for _, r := range got {
					tries = append(tries, r.RetryAttempt)
				}
				if diff := cmp.Diff(tc.wantTries, tries); diff != "" {
					t.Errorf("Retry-Attempt headers (-want +got):\n%s", diff)
				}
			}
			for i, r := range got {
				if r.Auth != "Bearer "+testToken {
					t.Errorf("request %d Authorization = %q", i, r.Auth)
				}
				if (r.Method == http.MethodPost || r.Method == http.MethodPatch) && !strings.Contains(string(r.Body), `"displayName":"OpenFire"`) {
					t.Errorf("request %d body = %q: retried writes must resend the full body", i, r.Body)
				}
			}
		})
	}
}

func TestRetryConvergesAfterReplicationLag(t *testing.T) {
	tests := []struct {
		name, reason string
		lag          time.Duration // on the fake clock, the object answers 404 for this long
		policy       retry.Policy
		wantErr      bool
		waitRange    [2]time.Duration
	}{
		{name: "two seconds", reason: "a typical lag: small waits growing by half find the object soon after it appears",
			lag: 2 * time.Second, waitRange: [2]time.Duration{2 * time.Second, 3600 * time.Millisecond}},
		{name: "thirty seconds", reason: "a long lag converges within the default budget, waits capped at four seconds",
			lag: 30 * time.Second, waitRange: [2]time.Duration{30 * time.Second, 34 * time.Second}},
		{name: "gives up", reason: "lag longer than MaxElapsed ends with the last 404, still classified",
			lag: time.Hour, policy: retry.Policy{MaxElapsed: 20 * time.Second}, wantErr: true,
			waitRange: [2]time.Duration{15 * time.Second, 20 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var clk *clock.Fake
			c, clk := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if clk.Now().Before(epoch().Add(tc.lag)) {
					writeJSON(w, http.StatusNotFound, odataError("Request_ResourceNotFound",
						"Resource 'obj-1' does not exist or one of its queried reference-property objects are not present."))
					return
				}
				writeJSON(w, http.StatusOK, application("obj-1", "app-1", "OpenFire"))
			}, Options{Replication: tc.policy})
			var app models.Applicationable
			err := c.Retry(context.Background(), func(ctx context.Context) error {
				var err error
				app, err = c.Graph.Applications().ByApplicationId("obj-1").Get(ctx, nil)
				return err
			}, IsReplicationLag)
			waited := clk.Now().Sub(epoch())
			if waited < tc.waitRange[0] || waited > tc.waitRange[1] {
				t.Errorf("waited %s, want within %v (%s)", waited, tc.waitRange, tc.reason)
			}
			if tc.wantErr {
				if err == nil || !IsNotFound(err) || !strings.Contains(err.Error(), "gave up after") {
					t.Fatalf("err = %v, want a classified give-up (%s)", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Retry: %v (%s)", err, tc.reason)
			}
			if app == nil || *app.GetDisplayName() != "OpenFire" {
				t.Errorf("app = %v", app)
			}
		})
	}
}

func TestRetryStopsOnOtherErrorsAndCancellation(t *testing.T) {
	c, _ := newTestClient(t, func(http.ResponseWriter, *http.Request) { t.Error("no request expected") }, Options{})
	calls := 0
	permanent := errors.New("bad request")
	err := c.Retry(context.Background(), func(context.Context) error {
		calls++
		return permanent
	}, IsReplicationLag)
	if !errors.Is(err, permanent) || calls != 1 {
		t.Errorf("err = %v after %d calls, want the permanent error after 1", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls = 0
	lag := &Error{Status: 404, Code: "Request_ResourceNotFound"}
	err = c.Retry(ctx, func(context.Context) error { calls++; return lag }, IsReplicationLag)
	if err == nil || calls != 1 {
		t.Errorf("err = %v after %d calls, want an error after 1 call on a cancelled context", err, calls)
	}
}

func TestRetryHonoursRetryAfterOfAThrottledWrite(t *testing.T) {
	c, clk := newTestClient(t, func(http.ResponseWriter, *http.Request) {}, Options{})
	calls := 0
	throttled := &Error{Status: 404, Code: "Request_ResourceNotFound", RetryAfter: "7"}
	err := c.Retry(context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return throttled
		}
		return nil
	}, IsReplicationLag)
	if err != nil || clk.Now().Sub(epoch()) != 7*time.Second {
		t.Errorf("Retry: err %v after waiting %s, want success after the 7 s the server asked", err, clk.Now().Sub(epoch()))
	}
}
