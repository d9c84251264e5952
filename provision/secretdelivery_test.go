package provision_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/sink"
)

// noSecretManifest is secretManifest without its secrets: the application a first apply made
// before it died in the secret's addPassword.
func noSecretManifest(t *testing.T) []*manifests.Document {
	t.Helper()
	docs, diags := manifests.Load("mailer.yaml", []byte("apiVersion: provision/v1\napplication:\n  name: Mailer\n  uniqueName: mailer\n  redirectUris:\n    web: [https://mailer.example/callback]\n"),
		func(string) (string, bool) { return "", false })
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return docs
}

// TestLostDeliveryIsSeenAndRepaired: a run that died after Graph created the credential but
// before its answer arrived leaves a credential no sink holds. Plan says so (it is a change,
// so --detailed-exitcode exits 2), and apply delivers a secret that signs in and removes the
// orphan: on a first apply (no credentials file at all) and on a rotation.
func TestLostDeliveryIsSeenAndRepaired(t *testing.T) {
	t.Run("first apply", func(t *testing.T) {
		f := newSecretsFixture(t)
		f.converge(t, noSecretManifest(t), provision.PlanOptions{})
		orphan := f.addManual(t, "Mailer Mail", 180*24*time.Hour) // the value died with the run
		docs := secretManifest(t, 1, fileStore)
		p := f.plan(t, docs, provision.PlanOptions{})
		want := []string{`± application["Mailer"].secret["Mailer Mail"] (file ./creds.json holds no secret)`}
		if diff := cmp.Diff(want, secretLines(p)); diff != "" {
			t.Fatalf("plan after a first apply that died in addPassword -want +got:\n%s", diff)
		}
		f.converge(t, docs, provision.PlanOptions{})
		doc := f.readFile(t)
		if ids := f.keyIDs(t, "Mailer Mail"); slices.Contains(ids, orphan) || len(ids) != 1 || ids[0] != doc.KeyID {
			t.Errorf("credentials after the repair: %v, want only the delivered %s (the orphan was %s)", ids, doc.KeyID, orphan)
		}
		if !f.signsIn(t, f.appID(t), doc.Secret) {
			t.Error("the delivered secret does not sign in")
		}
		if p := f.plan(t, docs, provision.PlanOptions{}); !p.Empty() {
			t.Errorf("plan after the repair: %q", secretLines(p))
		}
	})
	t.Run("rotation", func(t *testing.T) {
		f := newSecretsFixture(t)
		docs := secretManifest(t, 1, fileStore)
		f.converge(t, docs, provision.PlanOptions{})
		delivered := f.readFile(t)
		f.clock.Advance(20 * 24 * time.Hour)
		orphan := f.addManual(t, "Mailer Mail", 180*24*time.Hour) // a rotation that died
		p := f.plan(t, docs, provision.PlanOptions{})
		if len(p.Changes) != 1 || p.Changes[0].Action != provision.Rotate || !strings.Contains(p.Changes[0].Reason, "newest credential "+orphan+" is in no sink") {
			t.Fatalf("plan after a rotation that died in addPassword: %q", secretLines(p))
		}
		// Rotation is scheduled from the credential the sinks hold, not the orphan's: the
		// rotate-only plan sees the same.
		if p := f.plan(t, docs, provision.PlanOptions{SecretsOnly: true}); len(p.Changes) != 1 {
			t.Errorf("rotate --dry-run after the lost delivery: %q, want the rotation", secretLines(p))
		}
		f.converge(t, docs, provision.PlanOptions{})
		now := f.readFile(t)
		ids := f.keyIDs(t, "Mailer Mail")
		// keepPrevious 1: the consumers' credential stays for the overlap, the orphan goes.
		if slices.Contains(ids, orphan) || !slices.Contains(ids, delivered.KeyID) || !slices.Contains(ids, now.KeyID) || len(ids) != 2 {
			t.Errorf("credentials after the repair: %v; want the delivered %s, the previous %s, not the orphan %s", ids, now.KeyID, delivered.KeyID, orphan)
		}
		if !f.signsIn(t, f.appID(t), now.Secret) {
			t.Error("the delivered secret does not sign in")
		}
	})
}

// TestMissingCredentialsFileIsAChange: a credentials file deleted by hand is not silence: the
// plan rotates, delivering a new value, and keeps the old credential as keepPrevious says (a
// consumer may have copied it before the file went).
func TestMissingCredentialsFileIsAChange(t *testing.T) {
	f := newSecretsFixture(t)
	docs := secretManifest(t, 1, fileStore)
	f.converge(t, docs, provision.PlanOptions{})
	old := f.readFile(t)
	f.clock.Advance(time.Hour)
	if err := os.Remove(filepath.Join(f.dir, "creds.json")); err != nil {
		t.Fatal(err)
	}
	p := f.plan(t, docs, provision.PlanOptions{})
	if diff := cmp.Diff([]string{`± application["Mailer"].secret["Mailer Mail"] (file ./creds.json holds no secret)`}, secretLines(p)); diff != "" {
		t.Fatalf("plan with the file gone -want +got:\n%s", diff)
	}
	f.converge(t, docs, provision.PlanOptions{})
	if ids := f.keyIDs(t, "Mailer Mail"); len(ids) != 2 || !slices.Contains(ids, old.KeyID) {
		t.Errorf("credentials after the new delivery: %v, want the new one and the previous %s", ids, old.KeyID)
	}
}

// TestSinksThatCannotBeReadBackAreSaid: an exec sink only receives; plan says it cannot tell
// what it holds, and a file in a git work tree that git does not ignore is warned about.
func TestSinksThatCannotBeReadBackAreSaid(t *testing.T) {
	f := newSecretsFixture(t)
	script := filepath.Join(f.dir, "push.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat > /dev/null\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	docs := secretManifest(t, 1, `        exec: ["./push.sh"]`)
	f.converge(t, docs, provision.PlanOptions{})
	p := f.plan(t, docs, provision.PlanOptions{})
	if !p.Empty() || !slices.ContainsFunc(p.Warnings, func(w provision.Warning) bool { return strings.Contains(w.Message, "cannot be read back") }) {
		t.Errorf("plan of an exec-only secret: %q, warnings %+v; want no change and a warning that it cannot be read back", secretLines(p), p.Warnings)
	}

	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed; gitignore's own tests cover the rules")
	}
	if out, err := exec.Command("git", "init", "-q", f.dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	docs = secretManifest(t, 1, fileStore)
	f.converge(t, docs, provision.PlanOptions{})
	p = f.plan(t, docs, provision.PlanOptions{})
	if !slices.ContainsFunc(p.Warnings, func(w provision.Warning) bool {
		return strings.Contains(w.Message, "a `git add` would commit the secret")
	}) {
		t.Errorf("a credentials file in a work tree, not ignored: no warning in %+v", p.Warnings)
	}
	if err := os.WriteFile(filepath.Join(f.dir, ".gitignore"), []byte("creds.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p = f.plan(t, docs, provision.PlanOptions{})
	if slices.ContainsFunc(p.Warnings, func(w provision.Warning) bool { return strings.Contains(w.Message, "git add") }) {
		t.Errorf("an ignored credentials file is still warned about: %+v", p.Warnings)
	}
}

// TestConcurrentRotationsTakeTurns: two or three `rotate --force` at once on one machine (a
// cron job overlapping a manual run) — separate engines, as separate processes are, sharing
// only the lock directory — end with one rotation: the file holding a secret that signs in,
// the credential consumers used before kept as keepPrevious says, and no other credential.
func TestConcurrentRotationsTakeTurns(t *testing.T) {
	for _, n := range []int{2, 3} {
		for round := range 3 {
			t.Run(fmt.Sprintf("%d at once, round %d", n, round), func(t *testing.T) {
				f := newSecretsFixture(t)
				docs := secretManifest(t, 1, fileStore)
				f.converge(t, docs, provision.PlanOptions{})
				before := f.readFile(t)
				opts := provision.PlanOptions{SecretsOnly: true, ForceRotate: true}
				var plans []*provision.Plan
				for range n {
					plans = append(plans, f.plan(t, docs, opts)) // every run plans before any applies
				}
				var wg sync.WaitGroup
				errs := make([]error, n)
				for i, p := range plans {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Its own engine (and in-process locks), as another process has.
						engine := &provision.Engine{Graph: f.engine.Graph, Exchange: f.engine.Exchange, Secrets: f.engine.Secrets}
						_, errs[i] = engine.Apply(context.Background(), p, nil)
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("rotation %d: %v", i, err)
					}
				}
				now := f.readFile(t)
				if !f.signsIn(t, f.appID(t), now.Secret) {
					t.Fatal("the file's secret does not sign in")
				}
				// One rotation happened; the others found it delivered and stopped. keepPrevious
				// 1: the consumers' previous credential and the new one, nothing else.
				ids := f.keyIDs(t, "Mailer Mail")
				slices.Sort(ids)
				want := []string{before.KeyID, now.KeyID}
				slices.Sort(want)
				if now.KeyID == before.KeyID || !slices.Equal(ids, want) {
					t.Errorf("credentials after %d concurrent rotations: %v; want the previous %s and the file's %s", n, ids, before.KeyID, now.KeyID)
				}
				p := f.plan(t, docs, provision.PlanOptions{})
				for _, c := range p.Changes {
					if strings.Contains(c.Reason, "in no sink") {
						t.Errorf("after the concurrent rotations a credential is in no sink: %s", c.Reason)
					}
				}
			})
		}
	}
}

// TestConcurrentRotationsFromTwoMachines: without a shared lock (two pipelines on two
// runners), what the tenant and the sinks say is all the runs can go by. Whatever the
// interleaving, the file ends holding a secret that signs in and the consumers' previous
// credential stays.
func TestConcurrentRotationsFromTwoMachines(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
			f := newSecretsFixture(t)
			docs := secretManifest(t, 1, fileStore)
			f.converge(t, docs, provision.PlanOptions{})
			before := f.readFile(t)
			opts := provision.PlanOptions{SecretsOnly: true, ForceRotate: true}
			plans := []*provision.Plan{f.plan(t, docs, opts), f.plan(t, docs, opts)}
			var wg sync.WaitGroup
			errs := make([]error, len(plans))
			for i, p := range plans {
				wg.Add(1)
				go func() {
					defer wg.Done()
					secrets := f.engine.Secrets
					secrets.LockDir = t.TempDir() // another machine's lock
					engine := &provision.Engine{Graph: f.engine.Graph, Exchange: f.engine.Exchange, Secrets: secrets}
					_, errs[i] = engine.Apply(context.Background(), p, nil)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("rotation %d: %v", i, err)
				}
			}
			now := f.readFile(t)
			if !f.signsIn(t, f.appID(t), now.Secret) {
				t.Fatal("the file's secret does not sign in")
			}
			if ids := f.keyIDs(t, "Mailer Mail"); !slices.Contains(ids, before.KeyID) || !slices.Contains(ids, now.KeyID) {
				t.Errorf("credentials %v: want the previous %s and the file's %s", ids, before.KeyID, now.KeyID)
			}
		})
	}
}

// TestAPanicInAChangeIsAFailedChange: a bug that panics inside a change (here, in the sink
// factory apply calls) fails that change with a message saying so; the run goes on and
// returns, rather than the process dying with exit code 2 ("changes pending").
func TestAPanicInAChangeIsAFailedChange(t *testing.T) {
	f := newSecretsFixture(t)
	docs := secretManifest(t, 1, fileStore)
	sinks, calls := f.engine.Secrets.Sinks, 0
	f.engine.Secrets.Sinks = func(store manifests.SecretStore) ([]sink.Sink, error) {
		if calls++; calls > 1 { // observe's call is fine, apply's panics
			panic("a bug")
		}
		return sinks(store)
	}
	res, err := f.engine.Apply(context.Background(), f.plan(t, docs, provision.PlanOptions{}), nil)
	if err == nil || !strings.Contains(err.Error(), "internal error (a bug in provision, please report it): a bug") {
		t.Fatalf("apply with a panicking change: %v", err)
	}
	if _, failed, _ := res.Counts(); failed != 1 {
		t.Errorf("%d failed changes, want the one that panicked", failed)
	}
}
