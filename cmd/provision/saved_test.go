package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSavedPlanAppliesExactlyWhatWasReviewed: plan --out, then apply FILE applies those
// changes and nothing else; the file holds no secret and no token.
func TestSavedPlanAppliesExactlyWhatWasReviewed(t *testing.T) {
	work := t.TempDir()
	manifest := copyExample(t, "openfire.yaml", work)
	chdir(t, work)
	c := &cli{env: map[string]string{}}
	state := "--simulate=" + filepath.Join(work, "tenant.json")
	saved := filepath.Join(work, "openfire.plan")

	if code := c.run(t, "plan", "--out", saved, state, manifest); code != exitOK {
		t.Fatalf("plan --out: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "provision apply "+saved) {
		t.Errorf("plan --out does not say how to apply it; stderr:\n%s", c.stderr.String())
	}
	if st, err := os.Stat(saved); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved plan: %v, mode %v; want 0600", err, st.Mode())
	}
	if code := c.run(t, "apply", state, saved); code != exitOK {
		t.Fatalf("apply of the saved plan: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), "Apply complete: 15 applied, 0 failed, 0 skipped.") {
		t.Errorf("apply of the saved plan did not apply its 15 changes:\n%s", c.stdout.String())
	}
	if code := c.run(t, "plan", "--detailed-exitcode", state, manifest); code != exitOK {
		t.Errorf("plan after applying the saved plan: exit %d; stdout:\n%s", code, c.stdout.String())
	}

	// What the file must never hold: the delivered secret, the operator's secret, a token.
	data, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := os.ReadFile(filepath.Join(filepath.Dir(work), "openfire-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Secret string }
	if err := json.Unmarshal(creds, &doc); err != nil || doc.Secret == "" {
		t.Fatalf("credentials file: %v", err)
	}
	for what, s := range map[string]string{"the delivered secret": doc.Secret, "a bearer token": "eyJ", "a client secret": "clientSecret"} {
		if strings.Contains(string(data), s) {
			t.Errorf("the saved plan holds %s", what)
		}
	}
	// Applying it again: the tenant now matches, so the saved changes no longer hold.
	if code := c.run(t, "apply", state, saved); code != exitError || !strings.Contains(c.stderr.String(), "the saved plan is stale") {
		t.Errorf("a saved plan applied twice: exit %d, stderr %q; want 1 and stale", code, c.stderr.String())
	}
}

// TestSavedPlanRefusesWhatChangedSinceReview: drift between plan and apply, or an edited
// manifest, makes apply refuse, naming what changed, and apply nothing.
func TestSavedPlanRefusesWhatChangedSinceReview(t *testing.T) {
	t.Run("drift", func(t *testing.T) {
		work := t.TempDir()
		manifest := copyExample(t, "openfire.yaml", work)
		chdir(t, work)
		c := &cli{env: map[string]string{}}
		state := "--simulate=" + filepath.Join(work, "tenant.json")
		saved := filepath.Join(work, "openfire.plan")
		if code := c.run(t, "plan", "--out", saved, state, manifest); code != exitOK {
			t.Fatalf("plan --out: exit %d; stderr:\n%s", code, c.stderr.String())
		}
		// Someone applies part of it meanwhile (the secret, and the app it needs).
		if code := c.run(t, "apply", "--auto-approve", "--target", `application["OpenFire"].secret["OpenFire Mail"]`, state, manifest); code != exitOK {
			t.Fatalf("targeted apply: exit %d; stderr:\n%s", code, c.stderr.String())
		}
		if code := c.run(t, "plan", "-o", "json", state, manifest); code != exitOK {
			t.Fatal(c.stderr.String())
		}
		before := c.stdout.String()
		if code := c.run(t, "apply", state, saved); code != exitError {
			t.Fatalf("apply of a stale plan: exit %d, want 1; stdout:\n%s", code, c.stdout.String())
		}
		for _, want := range []string{"the saved plan is stale", `application["OpenFire"]: saved + create, now nothing to do`, "nothing was applied"} {
			if !strings.Contains(c.stderr.String(), want) {
				t.Errorf("stale error lacks %q:\n%s", want, c.stderr.String())
			}
		}
		if code := c.run(t, "plan", "-o", "json", state, manifest); code != exitOK || c.stdout.String() != before {
			t.Errorf("refusing the stale plan changed the tenant: plan before\n%s\nafter\n%s", before, c.stdout.String())
		}
	})
	t.Run("manifest edited", func(t *testing.T) {
		work := t.TempDir()
		manifest := copyExample(t, "minimal.yaml", work)
		chdir(t, work)
		c := &cli{env: map[string]string{}}
		state := "--simulate=" + filepath.Join(work, "tenant.json")
		saved := filepath.Join(work, "minimal.plan")
		if code := c.run(t, "plan", "--out", saved, state, manifest); code != exitOK {
			t.Fatalf("plan --out: exit %d; stderr:\n%s", code, c.stderr.String())
		}
		b, _ := os.ReadFile(manifest)
		if err := os.WriteFile(manifest, append(b, []byte("\n# edited after review\n")...), 0o600); err != nil {
			t.Fatal(err)
		}
		if code := c.run(t, "apply", state, saved); code != exitError || !strings.Contains(c.stderr.String(), manifest+" changed since the plan was saved") {
			t.Errorf("apply after the manifest changed: exit %d, stderr:\n%s", code, c.stderr.String())
		}
		if code := c.run(t, "plan", "--detailed-exitcode", state, manifest); code != exitChangesPending {
			t.Errorf("the refused plan was applied anyway (plan exit %d)", code)
		}
	})
}

// TestDestroyThenApply: destroy removes what the example made and lists the sinks it leaves;
// a second destroy has nothing to do; apply makes it again.
func TestDestroyThenApply(t *testing.T) {
	work := t.TempDir()
	manifest := copyExample(t, "openfire.yaml", work)
	chdir(t, work)
	c := &cli{env: map[string]string{}}
	state := "--simulate=" + filepath.Join(work, "tenant.json")
	if code := c.run(t, "apply", "--auto-approve", state, manifest); code != exitOK {
		t.Fatalf("apply: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if code := c.run(t, "plan", "--destroy", state, manifest); code != exitOK || !strings.Contains(c.stdout.String(), `- application["OpenFire"]`) ||
		!strings.Contains(c.stdout.String(), "soft-deleted") {
		t.Fatalf("plan --destroy: exit %d; stdout:\n%s", code, c.stdout.String())
	}
	if code := c.run(t, "destroy", state, manifest); code != exitError || !strings.Contains(c.stderr.String(), "destroy needs confirmation") {
		t.Errorf("destroy without a terminal: exit %d, stderr %q", code, c.stderr.String())
	}
	if code := c.run(t, "destroy", "--auto-approve", state, manifest); code != exitOK {
		t.Fatalf("destroy: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), "Destroy complete") || !strings.Contains(c.stdout.String(), "clear them yourself") ||
		!strings.Contains(c.stdout.String(), "openfire-credentials.json") {
		t.Errorf("destroy does not report, or does not list the sinks it leaves:\n%s", c.stdout.String())
	}
	if code := c.run(t, "destroy", "--auto-approve", state, manifest); code != exitOK || strings.Contains(c.stdout.String(), "Destroy complete") {
		t.Errorf("a second destroy: exit %d, stdout:\n%s", code, c.stdout.String())
	}
	if code := c.run(t, "apply", "--auto-approve", state, manifest); code != exitOK {
		t.Fatalf("apply after destroy: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if code := c.run(t, "plan", "--detailed-exitcode", state, manifest); code != exitOK {
		t.Errorf("plan after destroy and apply: exit %d; stdout:\n%s", code, c.stdout.String())
	}
}
