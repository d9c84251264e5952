package provision_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// interrupter stands between the server and the tenant and interrupts a run at its nth
// request: Ctrl-C (the run's context is cancelled as the request arrives, the request is
// served), or a kill (the request is performed but its answer never read, and nothing the
// process would have sent after it reaches the tenant: every later request is refused).
type interrupter struct {
	tenant http.Handler
	mu     sync.Mutex
	seen   int // requests received since arm
	at     int // the request that interrupts; 0: none
	kill   bool
	cancel context.CancelFunc
}

// arm counts requests from now on and interrupts at the nth, cancelling with cancel.
func (in *interrupter) arm(n int, kill bool, cancel context.CancelFunc) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seen, in.at, in.kill, in.cancel = 0, n, kill, cancel
}

// disarm stops interrupting and returns the requests received since arm.
func (in *interrupter) disarm() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := in.seen
	in.at, in.cancel = 0, nil
	return n
}

func (in *interrupter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	in.seen++
	n, at, kill := in.seen, in.at, in.kill
	if at > 0 && n == at {
		in.cancel()
	}
	in.mu.Unlock()
	switch {
	case at == 0 || n < at || (n == at && !kill):
		in.tenant.ServeHTTP(w, r)
	case n == at:
		in.tenant.ServeHTTP(httptest.NewRecorder(), r) // performed; the process died before reading the answer
		panic(http.ErrAbortHandler)
	default:
		// A dead process sends nothing more; refusing at once ends the run's goroutines quickly.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"code":"InvalidAuthenticationToken","message":"the process was killed: this request was never sent"}}`)
	}
}

// TestInterruptedApplyIsFinishedByTheNext: OpenFire's apply (and its wait) is interrupted at
// each of its requests in turn, by Ctrl-C and by a kill, on a directory replicating for 2 s;
// then the user runs apply again at once. That one run converges, and the tenant holds exactly
// what a fault-free run makes: nothing the interrupted run made is duplicated, and no
// credential is left that no sink holds.
//
// Under a fixed replication window the plan right after that apply is empty. Under stale reads
// it is empty once the window has passed, but not always at once: a run killed while waiting
// for the directory has made everything, the next run's plan may find it all on up-to-date
// replicas and so apply (and wait for) nothing, and a plan right after may land on a replica
// that lags. No apply can tell that case without reading on, which would cost every apply that
// changes nothing.
func TestInterruptedApplyIsFinishedByTheNext(t *testing.T) {
	docs := example(t, "openfire.yaml")
	want := reference(t, docs)
	newRun := func(t *testing.T, faults simtenant.Faults) (*fixture, *interrupter) {
		in := &interrupter{}
		f := newFixtureWith(t, simtenant.Options{Faults: faults},
			simtest.Wrap(func(tenant http.Handler) http.Handler { in.tenant = tenant; return in }))
		return f, in
	}
	// run applies and waits as provision apply does, interrupted at request n (0: never); it
	// returns the requests it made.
	run := func(f *fixture, in *interrupter, n int, kill bool) int {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p, err := f.engine.Plan(ctx, docs)
		if err != nil {
			return 0
		}
		in.arm(n, kill, cancel)
		defer in.disarm()
		res, err := f.engine.Apply(ctx, p, nil)
		if err == nil {
			_ = f.engine.AwaitVisible(ctx, docs, provision.PlanOptions{}, res, provision.WaitOptions{})
		}
		return in.disarm()
	}
	const lag = 2 * time.Second
	fixed := simtenant.Faults{ReplicationLag: lag}
	f, in := newRun(t, fixed)
	requests := run(f, in, 0, false)
	if requests < 10 {
		t.Fatalf("an apply of openfire.yaml made %d requests", requests)
	}
	for _, mode := range []struct {
		name   string
		kill   bool
		faults simtenant.Faults
	}{
		{"Ctrl-C", false, fixed},
		{"kill", true, fixed},
		{"kill under stale reads", true, simtenant.Faults{ReplicationLag: lag, StaleReadRate: 0.5}},
	} {
		for n := 1; n <= requests; n++ {
			t.Run(fmt.Sprintf("%s at request %d of %d", mode.name, n, requests), func(t *testing.T) {
				f, in := newRun(t, mode.faults)
				if made := run(f, in, n, mode.kill); made < n {
					// Backoffs are jittered, so a run may take fewer requests than the first.
					t.Skipf("this run ended after %d requests, before the interruption", made)
				}
				f.applyAndWait(t, docs)
				if diff := cmp.Diff(want, census(t, f.tenant)); diff != "" {
					t.Errorf("objects after the next apply -fault-free +interrupted:\n%s", diff)
				}
				if mode.faults.StaleReadRate > 0 {
					f.clock.Advance(lag)
				}
				if diff := cmp.Diff([]string(nil), lines(f.plan(t, docs))); diff != "" {
					t.Errorf("plan after the next apply -want +got:\n%s", diff)
				}
			})
		}
	}
}
