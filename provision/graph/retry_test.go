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
		policy       RetryPolicy
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
		{name: "give up", reason: "after MaxAttempts the error says how many attempts and the last status",
			method: http.MethodGet, always: &answer{status: 429, retryAfter: "1"}, wantRequests: DefaultMaxAttempts,
			wantWait: time.Duration(DefaultMaxAttempts-1) * time.Second,
			wantErr:  []string{"429", "TooManyRequests", "gave up after 6 attempts", "request-id"}},
		{name: "give up at max elapsed", reason: "a Retry-After beyond the budget is not waited for",
			method: http.MethodGet, always: &answer{status: 429, retryAfter: "120"}, policy: RetryPolicy{MaxElapsed: time.Minute},
			wantRequests: 1, wantErr: []string{"429"}},
		{name: "dropped connection on GET", reason: "a read whose connection dropped is repeated",
			method:  http.MethodGet,
			answers: []answer{{drop: true}, {drop: true}, ok}, wantRequests: 3, waitRange: [2]time.Duration{1500 * time.Millisecond, 3 * time.Second}},
		{name: "dropped connection on POST", reason: "a POST that reached the server is never repeated on a drop",
			method: http.MethodPost, answers: []answer{{drop: true}}, wantRequests: 1, wantErr: []string{"EOF"}},
		{name: "dropped connection gives up", reason: "dropped connections also stop at MaxAttempts",
			method: http.MethodGet, always: &answer{drop: true}, policy: RetryPolicy{MaxAttempts: 3}, wantRequests: 3,
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
			if tc.method == http.MethodPost {
				body := models.NewApplication()
				name := "OpenFire"
				body.SetDisplayName(&name)
				_, err = c.Graph.Applications().Post(context.Background(), body, nil)
			} else {
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
				if r.Method == http.MethodPost && !strings.Contains(string(r.Body), `"displayName":"OpenFire"`) {
					t.Errorf("request %d body = %q: retried POSTs must resend the full body", i, r.Body)
				}
			}
		})
	}
}

func TestRetryConvergesAfterReplicationLag(t *testing.T) {
	tests := []struct {
		name, reason string
		lag          int // requests answered 404 before the object is visible
		policy       RetryPolicy
		wantErr      bool
		wantCalls    int
		waitRange    [2]time.Duration
	}{
		{name: "converges", reason: "four 404s then the object: five calls, backoff 1+2+4+8 s halved to full",
			lag: 4, wantCalls: 5, waitRange: [2]time.Duration{7500 * time.Millisecond, 15 * time.Second}},
		{name: "thirty seconds of lag", reason: "a lag of 30 s converges within the default budget",
			lag: 8, wantCalls: 9, waitRange: [2]time.Duration{30 * time.Second, 3 * time.Minute}},
		{name: "gives up", reason: "lag longer than MaxElapsed ends with the last 404, still classified",
			lag: 1000, policy: RetryPolicy{MaxElapsed: 20 * time.Second}, wantErr: true,
			waitRange: [2]time.Duration{7 * time.Second, 20 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			c, clk := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if n := rec.add(r, nil); n <= tc.lag {
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
			if got := len(rec.all()); got != tc.wantCalls {
				t.Errorf("calls = %d, want %d", got, tc.wantCalls)
			}
			if app == nil || *app.GetDisplayName() != "OpenFire" {
				t.Errorf("app = %v", app)
			}
		})
	}
}

func TestRetryStopsOnOtherErrorsAndCancellation(t *testing.T) {
	calls := 0
	permanent := errors.New("bad request")
	err := Retry(context.Background(), nil, RetryPolicy{}, func(context.Context) error {
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
	err = Retry(ctx, nil, RetryPolicy{}, func(context.Context) error { calls++; return lag }, IsReplicationLag)
	if err == nil || calls != 1 {
		t.Errorf("err = %v after %d calls, want an error after 1 call on a cancelled context", err, calls)
	}
}

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{}.withDefaults(0)
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 30 * time.Second, 20: 30 * time.Second} {
		for range 50 {
			got := p.backoff(attempt)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, got, want/2, want)
			}
		}
	}
}
