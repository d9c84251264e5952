package provision_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision"
)

// planned is one secret change as the tests compare it: what the plan shows and what apply
// will retire.
type planned struct {
	Line   string
	Retire []string
}

func TestPlanSecretsWithoutATenant(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cred := func(name, keyID string, endIn time.Duration) provision.PasswordCredential {
		return provision.PasswordCredential{KeyID: keyID, DisplayName: name,
			StartDate: now.Add(-time.Hour).Format(time.RFC3339), EndDate: now.Add(endIn).Format(time.RFC3339)}
	}
	const secret = `application["Mailer"].secret["Mailer Mail"]`
	cases := map[string]struct {
		reason       string
		keepPrevious int
		creds        []provision.PasswordCredential
		opts         provision.PlanOptions
		want         []planned
		wantWarnings []string
	}{
		"none yet": {
			reason: "an application without the secret gets one",
			want:   []planned{{Line: "+ " + secret + ` (the application has no secret named "Mailer Mail")`}},
		},
		"fresh": {
			reason: "a secret far from expiry is left alone",
			creds:  []provision.PasswordCredential{cred("Mailer Mail", "k1", 100*day)},
		},
		"due": {
			reason:       "inside rotateBefore: rotate, and keepPrevious 1 keeps the current one",
			keepPrevious: 1,
			creds:        []provision.PasswordCredential{cred("Mailer Mail", "k1", 12*day)},
			want:         []planned{{Line: "± " + secret + " (expires in 12d, rotateBefore is 30d)"}},
			wantWarnings: []string{`expiry: client secret "Mailer Mail" (keyId k1) expires in 12d (2026-12-04T09:00:00Z): the plan rotates it`},
		},
		"due without overlap": {
			reason: "keepPrevious 0 retires every older credential of the name once the new one works",
			creds: []provision.PasswordCredential{cred("Mailer Mail", "k2", 12*day), cred("Mailer Mail", "k1", 5*day),
				cred("Other", "o1", 300*day)},
			want:         []planned{{Line: "± " + secret + " (expires in 12d, rotateBefore is 30d)", Retire: []string{"k2", "k1"}}},
			wantWarnings: []string{`expiry: client secret "Mailer Mail" (keyId k2) expires in 12d (2026-12-04T09:00:00Z): the plan rotates it`},
		},
		"expired": {
			reason:       "an expired secret is rotated, and the expired credential gives no overlap",
			keepPrevious: 1,
			creds:        []provision.PasswordCredential{cred("Mailer Mail", "k1", -3*day)},
			want:         []planned{{Line: "± " + secret + " (expired 3d ago)", Retire: []string{"k1"}}},
			wantWarnings: []string{`expiry: client secret "Mailer Mail" (keyId k1) expired 3d ago (2026-11-19T09:00:00Z): the plan rotates it`},
		},
		"forced": {
			reason:       "--force rotates whatever the expiry",
			keepPrevious: 1,
			creds:        []provision.PasswordCredential{cred("Mailer Mail", "k2", 170*day), cred("Mailer Mail", "k1", 20*day)},
			opts:         provision.PlanOptions{ForceRotate: true},
			want:         []planned{{Line: "± " + secret + " (rotation forced (--force); expires in 170d)", Retire: []string{"k1"}}},
		},
		"expired older outside a rotation": {
			reason:       "an expired credential of the name is deleted on its own",
			keepPrevious: 1,
			creds:        []provision.PasswordCredential{cred("Mailer Mail", "k2", 170*day), cred("Mailer Mail", "k1", -1*day)},
			want:         []planned{{Line: "- " + secret + `.credential["k1"] (expired 1d ago)`, Retire: []string{"k1"}}},
		},
		"valid extras outside a rotation": {
			reason:       "valid credentials beyond keepPrevious are kept (a sink may hold one) and reported",
			keepPrevious: 0,
			creds:        []provision.PasswordCredential{cred("Mailer Mail", "k2", 170*day), cred("Mailer Mail", "k1", 100*day)},
			wantWarnings: []string{": 1 older credential(s) beyond keepPrevious 0 (keyId k1) are kept until the next rotation; provision rotate --force rotates and retires them now"},
		},
		"unmanaged": {
			reason:       "a credential of another name is never planned, only reported near expiry",
			creds:        []provision.PasswordCredential{cred("Mailer Mail", "k1", 100*day), cred("Portal", "p1", 29*day), cred("Old", "p0", 31*day)},
			wantWarnings: []string{`expiry: client secret "Portal" (keyId p1) expires in 29d (2026-12-21T09:00:00Z): not managed by this manifest (no secret of that name), rotate or remove it yourself`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			docs := secretManifest(t, tc.keepPrevious, fileStore)
			want := provision.DesiredFromDocument(docs[0])
			o := &provision.Observed{Apps: []provision.ObservedApp{{ID: "obj", AppID: "app", DisplayName: "Mailer", UniqueName: "mailer",
				Web: []string{"https://mailer.example/callback"}, Tags: []string{"provision:managed"}, PasswordCredentials: tc.creds}},
				ServicePrincipal: &provision.ObservedServicePrincipal{ID: "sp", AppID: "app", Tags: []string{"provision:managed"}}}
			opts := tc.opts
			opts.Now = now
			opts.SecretsOnly = true
			changes, warnings, err := provision.PlanDocument(want, o, opts)
			if err != nil {
				t.Fatalf("%s: %v", tc.reason, err)
			}
			var got []planned
			for _, c := range changes {
				got = append(got, planned{Line: string(c.Action) + " " + c.Address + " (" + c.Reason + ")", Retire: c.Target.Spec.(*provision.SecretSpec).Retire})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s: changes (-want +got):\n%s", tc.reason, diff)
			}
			var gotWarnings []string
			for _, w := range warnings {
				gotWarnings = append(gotWarnings, w.Kind+": "+w.Message)
			}
			if diff := cmp.Diff(tc.wantWarnings, gotWarnings); diff != "" {
				t.Errorf("%s: warnings (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}
