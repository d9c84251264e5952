package provision

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestLocksSerialiseOneKeyOnly(t *testing.T) {
	var locks keyedLocks
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
