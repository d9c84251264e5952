package provision

import "sync"

// keyedLocks is a keyed mutex: one writer per key (an application's object id) at a time, as
// credential changes on one application must not race each other (an addPassword that has not
// replicated makes a concurrent removePassword fail). The zero value is ready to use; entries
// are dropped when no one holds or waits for them.
type keyedLocks struct {
	mu      sync.Mutex
	entries map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}

// Lock blocks until key is free, takes it and returns the function that releases it.
func (l *keyedLocks) Lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.entries == nil {
		l.entries = make(map[string]*lockEntry)
	}
	e, ok := l.entries[key]
	if !ok {
		e = &lockEntry{}
		l.entries[key] = e
	}
	e.refs++
	l.mu.Unlock()

	e.mu.Lock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Unlock()
			l.mu.Lock()
			e.refs--
			if e.refs == 0 {
				delete(l.entries, key)
			}
			l.mu.Unlock()
		})
	}
}
