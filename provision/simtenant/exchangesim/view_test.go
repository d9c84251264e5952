package exchangesim

import (
	"sync"
	"testing"
	"time"
)

// savingDirectory is the simulated tenant's shape of a Directory: lookups take the tenant's
// lock, and the tenant snapshots the server while it holds that lock (Tenant.Save). When it
// is first asked for trigger, it lets a save start and take the lock first.
type savingDirectory struct {
	*directory
	trigger string
	srv     *Server
	tenant  sync.Mutex
	once    sync.Once
	saved   chan struct{}
}

func (d *savingDirectory) FindRecipient(identity string) (Recipient, bool) {
	if identity == d.trigger {
		d.once.Do(func() {
			held := make(chan struct{})
			go func() {
				d.tenant.Lock()
				close(held)
				d.srv.Snapshot()
				d.tenant.Unlock()
				close(d.saved)
			}()
			<-held
		})
	}
	d.tenant.Lock()
	defer d.tenant.Unlock()
	return d.directory.FindRecipient(identity)
}

// TestReadsDoNotHoldTheLockAcrossTheDirectory checks that a read rendering its rows (which
// looks trustees up in the directory) and a save of the tenant (which snapshots the server
// under the tenant's lock) cannot deadlock: the server never holds its own lock across a
// directory call.
func TestReadsDoNotHoldTheLockAcrossTheDirectory(t *testing.T) {
	for _, tc := range []struct {
		cmdlet string
		params map[string]any
	}{
		{"Get-MailboxPermission", map[string]any{"Identity": "shared@contoso.com"}},
		{"Get-RecipientPermission", map[string]any{"Identity": "shared@contoso.com"}},
	} {
		t.Run(tc.cmdlet, func(t *testing.T) {
			const bob = "33333333-3333-3333-3333-333333333333" // the key rendering looks up
			dir := &savingDirectory{directory: testDirectory(), trigger: bob, saved: make(chan struct{})}
			s := New(dir, nil, Options{})
			dir.srv = s
			if err := s.SeedMailboxPermission("shared@contoso.com", PermissionSeed{User: "bob"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Seed("shared@contoso.com", Seed{Trustee: "bob"}); err != nil {
				t.Fatal(err)
			}
			ts := harness(t, s)
			done := make(chan answer)
			go func() { done <- invoke(t, ts, "admin", tc.cmdlet, tc.params) }()
			// A watchdog, not a wait: both finish at once unless they deadlock.
			watchdog := time.NewTimer(20 * time.Second)
			defer watchdog.Stop()
			for range 2 {
				select {
				case a := <-done:
					if a.Status != 200 {
						t.Errorf("%s: status %d", tc.cmdlet, a.Status)
					}
				case <-dir.saved:
				case <-watchdog.C:
					// Not t.Fatal: the server's cleanup would wait for the stuck handler forever.
					panic("the read and the save deadlocked")
				}
			}
		})
	}
}
