package graph

import (
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	kiotahttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

func TestLocksSerialiseOneKeyOnly(t *testing.T) {
	var locks Locks
	var inside, maxInside, otherKeyWhileHeld atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := locks.Lock("app-1")
			defer unlock()
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			// Another key is free while app-1 is held.
			u := locks.Lock("app-2")
			otherKeyWhileHeld.Add(1)
			u()
			inside.Add(-1)
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 || otherKeyWhileHeld.Load() != 8 {
		t.Errorf("max writers on one key = %d (want 1), other key taken %d times (want 8)", maxInside.Load(), otherKeyWhileHeld.Load())
	}
	unlock := locks.Lock("app-3")
	unlock()
	unlock() // a second call is harmless
	if n := len(locks.entries); n != 0 {
		t.Errorf("%d lock entries left after every holder released", n)
	}
}

func TestMiddlewareIsTheSDKDefaultWithOurRetry(t *testing.T) {
	opts := msgraphsdk.GetDefaultClientOptions()
	want := map[string]bool{}
	for _, m := range msgraphcore.GetDefaultMiddlewaresWithOptions(&opts) {
		if _, isRetry := m.(*kiotahttp.RetryHandler); isRetry {
			continue
		}
		want[reflect.TypeOf(m).String()] = true
	}
	want["*graph.retryHandler"] = true
	got := map[string]bool{}
	for _, m := range middleware(Options{}, RetryPolicy{}) {
		got[reflect.TypeOf(m).String()] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("middleware types (-want +got):\n%s", diff)
	}
}
