package deadline

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
)

// These tests run on the wall clock, as the deadlines do, with timeouts of tens of milliseconds.

// server serves handler and reports, when the test ends, whether every handler returned:
// a stalled request must be abandoned, not leaked. (httptest.Server.Close waits for the
// requests still being served.)
func server(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		closed := make(chan struct{})
		go func() { srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Error("a handler still runs: the client did not abandon the stalled request")
		}
	})
	return srv
}

// stall reads the request, then blocks until the client gives up on it (the server notices a
// closed connection only once the request body has been read).
func stall(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func TestStalledAnswers(t *testing.T) {
	opts := Options{HeaderTimeout: 50 * time.Millisecond, IdleTimeout: 50 * time.Millisecond}
	cases := []struct {
		reason  string
		handler http.HandlerFunc
		want    *Error // nil: the whole body arrives
		wantLen int
	}{
		{reason: "a server that accepts the request and never answers fails after the header timeout",
			handler: stall, want: &Error{Method: "GET", Path: "/stall", After: 50 * time.Millisecond}},
		{reason: "headers, then a body that stops coming, fails after the idle timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, `{"value":[`)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			want: &Error{Method: "GET", Path: "/stall", Body: true, After: 50 * time.Millisecond}},
		{reason: "a slow body that keeps coming is not cut: the idle timeout resets on progress",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				for range 6 {
					_, _ = io.WriteString(w, "0123456789")
					w.(http.Flusher).Flush()
					time.Sleep(20 * time.Millisecond)
				}
			},
			wantLen: 60},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			srv := server(t, tc.handler)
			client := &http.Client{Transport: opts.Wrap(nil, nil)}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/stall?$filter=x", nil)
			resp, err := client.Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
			}
			if tc.want == nil {
				if err != nil || len(body) != tc.wantLen {
					t.Fatalf("got %d bytes, error %v; want %d bytes", len(body), err, tc.wantLen)
				}
				return
			}
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("error = %v, want a *deadline.Error", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stall error (-want +got):\n%s", diff)
			}
			if strings.Contains(got.Error(), "$filter") {
				t.Errorf("the error names the query: %s", got)
			}
		})
	}
}

func TestCallerCancellationIsNotAStall(t *testing.T) {
	srv := server(t, stall)
	client := &http.Client{Transport: Options{HeaderTimeout: time.Minute}.Wrap(nil, nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/x", nil)
	_, err := client.Do(req)
	var stallErr *Error
	if errors.As(err, &stallErr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the caller's context.DeadlineExceeded", err)
	}
}

func TestWaitingIsToldOfSlowAnswersOnly(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(130 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "ok")
	})
	var mu sync.Mutex
	var told []string
	var waits []time.Duration
	opts := Options{NoticeAfter: 40 * time.Millisecond, Waiting: func(what string, waited time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, what)
		waits = append(waits, waited)
	}}
	client := &http.Client{Transport: opts.Wrap(nil, func(r *http.Request) string { return "Test " + r.Method + " " + r.URL.Path })}
	for _, p := range []string{"/fast", "/slow"} {
		resp, err := client.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) < 2 {
		t.Fatalf("Waiting was told %v, want at least two notices of the slow request", told)
	}
	for i, what := range told {
		if what != "Test GET /slow" {
			t.Errorf("notice %d is about %q, want only the slow request", i, what)
		}
		if i > 0 && waits[i] <= waits[i-1] {
			t.Errorf("notice %d says %s waited, not more than the notice before (%s)", i, waits[i], waits[i-1])
		}
	}
}

func TestWrapDoer(t *testing.T) {
	srv := server(t, stall)
	d := Options{HeaderTimeout: 30 * time.Millisecond}.WrapDoer(srv.Client(), nil)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", strings.NewReader("grant_type=client_credentials"))
	_, err := d.Do(req)
	var got *Error
	if !errors.As(err, &got) || got.Method != http.MethodPost || got.Path != "/token" {
		t.Errorf("Do error = %v, want a stall naming POST /token", err)
	}
}
