package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/simtenant"
	"github.com/provisionhq/provision/provision/simtenant/exchangesim"
	"github.com/provisionhq/provision/provision/verify"
)

const verifiedMailbox = "admin@office.openfire.pro"

// mailApp is a simulated tenant (a state file) where an application holding the three
// Exchange Online mail roles was applied, its secret delivered to a file; manifest is the same
// document with the mailbox the checks log in to.
type mailApp struct {
	dir, state, manifest, creds string
	appID                       string
	c                           *cli
}

// mailDocument is the application's manifest: consent as asked, mailboxes appended when given.
func mailDocument(creds string, consent bool, mailboxes string) string {
	return fmt.Sprintf(`apiVersion: provision/v1
tenant: office.openfire.pro
application:
  name: Mail Verify
  permissions:
    - api: Office 365 Exchange Online
      application: [IMAP.AccessAsApp, POP.AccessAsApp, SMTP.SendAsApp]
  adminConsent: %t
  secrets:
    - name: Mail
      keepPrevious: 0
      store:
        file: %s
%s`, consent, creds, mailboxes)
}

const appAccessMailbox = `mailboxes:
  - address: admin@office.openfire.pro
    smtpAuth: enabled
    appAccess: true
`

// newMailApp applies the application without its mailboxes, so that the Exchange side is
// exactly what the test sets (whatever the engine does for mailboxes).
func newMailApp(t *testing.T, consent bool) *mailApp {
	t.Helper()
	dir := t.TempDir()
	a := &mailApp{dir: dir, state: filepath.Join(dir, "tenant.json"), creds: filepath.Join(dir, "credentials.json"), c: &cli{}}
	bare := filepath.Join(dir, "bare.yaml")
	a.manifest = filepath.Join(dir, "mail.yaml")
	write(t, bare, mailDocument(a.creds, consent, ""))
	write(t, a.manifest, mailDocument(a.creds, consent, appAccessMailbox))
	if code := a.c.run(t, "apply", "--auto-approve", "--simulate="+a.state, bare); code != exitOK {
		t.Fatalf("apply: exit %d; stderr:\n%s", code, a.c.stderr.String())
	}
	a.appID = a.credentials(t).ClientID
	return a
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// credentials reads the file sink's document.
func (a *mailApp) credentials(t *testing.T) struct{ ClientID, KeyID, Secret string } {
	t.Helper()
	var doc struct{ ClientID, KeyID, Secret string }
	b, err := os.ReadFile(a.creds)
	if err != nil || json.Unmarshal(b, &doc) != nil || doc.ClientID == "" {
		t.Fatalf("read the credentials file: %v\n%s", err, b)
	}
	return doc
}

// edit changes the simulated tenant between two runs, as an administrator would by hand.
func (a *mailApp) edit(t *testing.T, fn func(*simtenant.Tenant)) {
	t.Helper()
	tenant, err := simtenant.New(simtenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(a.state)
	if err != nil {
		t.Fatal(err)
	}
	err = tenant.LoadState(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	fn(tenant)
	saveTenant(t, tenant, a.state)
}

// exchangeSide sets up what app-only mail needs in Exchange, all but what skip names:
// "register" (New-ServicePrincipal), "object-id" (registered with the app registration's
// object id instead of the enterprise application's), "full-access", "smtp-auth", "imap".
func (a *mailApp) exchangeSide(t *testing.T, skip string) {
	t.Helper()
	a.edit(t, func(tenant *simtenant.Tenant) {
		exo := tenant.Exchange()
		app, _ := tenant.Application(a.appID)
		sp, _ := tenant.ServicePrincipal(a.appID)
		objectID, _ := sp["id"].(string)
		if skip == "object-id" {
			objectID, _ = app["id"].(string)
		}
		if skip != "register" {
			exo.RegisterServicePrincipal(a.appID, objectID, "Mail Verify")
			if skip != "full-access" {
				if err := exo.SeedMailboxPermission(verifiedMailbox, exchangesim.PermissionSeed{User: a.appID}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if skip != "smtp-auth" {
			off := false
			if err := exo.SetSMTPAuth(verifiedMailbox, &off); err != nil {
				t.Fatal(err)
			}
		}
		if skip == "imap" {
			if err := exo.SetProtocols(verifiedMailbox, false, true); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// checkOutcome is a check reduced to what the tests compare.
type checkOutcome struct {
	ID     string
	Status verify.Status
	Cause  verify.Cause
	Fix    string // the manifest path that fixes it
}

// verifyJSONRun runs verify -o json and returns its document and exit code.
func (a *mailApp) verifyJSONRun(t *testing.T, args ...string) (verifyJSON, int) {
	t.Helper()
	code := a.c.run(t, append([]string{"verify", "-o", "json", "--simulate=" + a.state, a.manifest}, args...)...)
	var out verifyJSON
	if err := json.Unmarshal(a.c.stdout.Bytes(), &out); err != nil {
		t.Fatalf("verify -o json (exit %d) is not JSON: %v\nstdout:\n%s\nstderr:\n%s", code, err, a.c.stdout.String(), a.c.stderr.String())
	}
	return out, code
}

func outcomesOf(t *testing.T, out verifyJSON) []checkOutcome {
	t.Helper()
	if len(out.Runs) != 1 || len(out.Runs[0].Applications) != 1 || out.Runs[0].Applications[0].Report == nil {
		t.Fatalf("verify -o json = %+v, want one run with one application's report", out)
	}
	var got []checkOutcome
	for _, c := range out.Runs[0].Applications[0].Report.Checks {
		o := checkOutcome{ID: c.ID, Status: c.Status, Cause: c.Cause}
		if c.Manifest != nil {
			o.Fix = c.Manifest.Path
		}
		got = append(got, o)
	}
	return got
}

// allPassed is the five checks of the mail application, passed, with some overridden.
func allPassed(over ...checkOutcome) []checkOutcome {
	out := []checkOutcome{{ID: "token:graph"}, {ID: "token:exchange"}, {ID: "smtp:" + verifiedMailbox}, {ID: "imap:" + verifiedMailbox}, {ID: "pop:" + verifiedMailbox}}
	for i := range out {
		out[i].Status = verify.Passed
		for _, o := range over {
			if o.ID == out[i].ID {
				out[i] = o
			}
		}
	}
	return out
}

func failedCheck(id string, cause verify.Cause, fix string) checkOutcome {
	return checkOutcome{ID: id, Status: verify.Failed, Cause: cause, Fix: fix}
}

// TestVerifyNamesTheMissingPrecondition turns off one precondition of app-only mail at a time,
// set directly in the simulated tenant: verify names exactly that cause, and the manifest line
// that fixes it, and exits 1; with everything in place every check passes and it exits 0.
func TestVerifyNamesTheMissingPrecondition(t *testing.T) {
	smtp, imap, pop := "smtp:"+verifiedMailbox, "imap:"+verifiedMailbox, "pop:"+verifiedMailbox
	cases := []struct {
		reason  string
		consent bool
		skip    string
		want    []checkOutcome
	}{
		{reason: "everything in place: every check passes", consent: true, want: allPassed()},
		{reason: "SMTP AUTH off (the organisation's default) fails the SMTP login alone", consent: true, skip: "smtp-auth",
			want: allPassed(failedCheck(smtp, verify.CauseSMTPAuthDisabled, "mailboxes[0].smtpAuth"))},
		{reason: "an application not registered in Exchange fails every login", consent: true, skip: "register",
			want: allPassed(failedCheck(smtp, verify.CauseNoServicePrincipal, "mailboxes[0].appAccess"),
				failedCheck(imap, verify.CauseNoServicePrincipal, "mailboxes[0].appAccess"), failedCheck(pop, verify.CauseNoServicePrincipal, "mailboxes[0].appAccess"))},
		{reason: "registered with the app registration's object id: the classic mistake", consent: true, skip: "object-id",
			want: allPassed(failedCheck(smtp, verify.CauseWrongObjectID, "mailboxes[0].appAccess"),
				failedCheck(imap, verify.CauseWrongObjectID, "mailboxes[0].appAccess"), failedCheck(pop, verify.CauseWrongObjectID, "mailboxes[0].appAccess"))},
		{reason: "registered without FullAccess on the mailbox", consent: true, skip: "full-access",
			want: allPassed(failedCheck(smtp, verify.CauseNoFullAccess, "mailboxes[0].appAccess"),
				failedCheck(imap, verify.CauseNoFullAccess, "mailboxes[0].appAccess"), failedCheck(pop, verify.CauseNoFullAccess, "mailboxes[0].appAccess"))},
		{reason: "IMAP turned off for the mailbox, a switch no manifest line holds", consent: true, skip: "imap",
			want: allPassed(failedCheck(imap, verify.CauseProtocolDisabled, ""))},
		{reason: "roles declared without consent: the token lacks them, consent pending", consent: false,
			want: allPassed(failedCheck("token:exchange", verify.CauseRoleMissing, "application.adminConsent"),
				failedCheck(smtp, verify.CauseRoleMissing, "application.adminConsent"),
				failedCheck(imap, verify.CauseRoleMissing, "application.adminConsent"), failedCheck(pop, verify.CauseRoleMissing, "application.adminConsent"))},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			a := newMailApp(t, tc.consent)
			a.exchangeSide(t, tc.skip)
			out, code := a.verifyJSONRun(t)
			if diff := cmp.Diff(tc.want, outcomesOf(t, out)); diff != "" {
				t.Errorf("checks (-want +got):\n%s\nstderr:\n%s", diff, a.c.stderr.String())
			}
			wantCode := exitError
			if tc.skip == "" && tc.consent {
				wantCode = exitOK
			}
			if code != wantCode || out.Passed != (wantCode == exitOK) || out.FormatVersion != verifyFormatVersion {
				t.Errorf("exit %d, passed %v, format %q; want exit %d", code, out.Passed, out.FormatVersion, wantCode)
			}
			secret := a.credentials(t).Secret
			if code := a.c.run(t, "verify", "--simulate="+a.state, a.manifest); code != wantCode {
				t.Errorf("verify (text): exit %d, want %d", code, wantCode)
			}
			text := a.c.stdout.String()
			if lines := strings.Count(text, ":"+verifiedMailbox+" "); lines != 3 {
				t.Errorf("text output has %d mailbox check lines, want 3:\n%s", lines, text)
			}
			for _, w := range tc.want {
				if w.Status == verify.Failed && (!strings.Contains(text, "FAILED  "+w.ID) || !strings.Contains(text, string(w.Cause))) {
					t.Errorf("text output lacks the failed %s naming %s:\n%s", w.ID, w.Cause, text)
				}
			}
			if strings.Contains(text+a.c.stderr.String(), secret) {
				t.Error("verify printed the secret")
			}
		})
	}
}

// TestVerifyPointsAtTheManifestLine checks the position verify gives for SMTP AUTH: the
// mailbox's smtpAuth line.
func TestVerifyPointsAtTheManifestLine(t *testing.T) {
	a := newMailApp(t, true)
	a.exchangeSide(t, "smtp-auth")
	out, _ := a.verifyJSONRun(t, "--smtp")
	checks := out.Runs[0].Applications[0].Report.Checks
	if len(checks) != 3 || checks[2].Manifest == nil {
		t.Fatalf("checks %+v, want the tokens and one SMTP login with a manifest fix", checks)
	}
	b, _ := os.ReadFile(a.manifest)
	line := slices.IndexFunc(strings.Split(string(b), "\n"), func(l string) bool { return strings.Contains(l, "smtpAuth: enabled") }) + 1
	want := manifestFix{File: a.manifest, Line: line, Column: 15, Path: "mailboxes[0].smtpAuth", Set: "smtpAuth: enabled"}
	if diff := cmp.Diff(want, *checks[2].Manifest); diff != "" {
		t.Errorf("manifest fix (-want +got):\n%s", diff)
	}
	if code := a.c.run(t, "verify", "--smtp", "--simulate="+a.state, a.manifest); code != exitError ||
		!strings.Contains(a.c.stdout.String(), fmt.Sprintf("manifest %s:%d:15: smtpAuth: enabled", a.manifest, line)) {
		t.Errorf("verify --smtp: exit %d, want 1 with the manifest line:\n%s", code, a.c.stdout.String())
	}
}

// TestVerifyWithoutAReadableSecret fails naming the sink when it holds nothing.
func TestVerifyWithoutAReadableSecret(t *testing.T) {
	a := newMailApp(t, true)
	if err := os.Remove(a.creds); err != nil {
		t.Fatal(err)
	}
	out, code := a.verifyJSONRun(t)
	if code != exitError || out.Passed || len(out.Runs) != 1 || len(out.Runs[0].Applications) != 1 ||
		!strings.Contains(out.Runs[0].Applications[0].Error, "holds no credential") {
		t.Errorf("verify with no credentials file: exit %d, %+v; want 1 and an error naming the empty sink", code, out)
	}
}

// keyIDs are the ids of the application's password credentials in the tenant.
func (a *mailApp) keyIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	a.edit(t, func(tenant *simtenant.Tenant) {
		app, _ := tenant.Application(a.appID)
		b, _ := json.Marshal(app["passwordCredentials"])
		var creds []struct{ KeyID string }
		if err := json.Unmarshal(b, &creds); err != nil {
			t.Fatal(err)
		}
		for _, c := range creds {
			ids = append(ids, c.KeyID)
		}
	})
	slices.Sort(ids)
	return ids
}

// TestRotateVerifyKeepsTheOldSecretWhenTheNewOneCannotLogIn rotates with --verify: with SMTP
// AUTH off for the mailbox the new secret's SMTP login fails, so the old credential is not
// retired and the command fails naming the cause; once SMTP AUTH is on, the rotation retires
// the old credential (keepPrevious: 0).
func TestRotateVerifyKeepsTheOldSecretWhenTheNewOneCannotLogIn(t *testing.T) {
	a := newMailApp(t, true)
	a.exchangeSide(t, "smtp-auth")
	old := a.credentials(t).KeyID
	if code := a.c.run(t, "rotate", "--force", "--verify", "--auto-approve", "--simulate="+a.state, a.manifest); code != exitError {
		t.Fatalf("rotate --verify with SMTP AUTH off: exit %d, want 1; stderr:\n%s", code, a.c.stderr.String())
	}
	if !strings.Contains(a.c.stderr.String(), "smtp:"+verifiedMailbox+" failed, smtp_auth_disabled") || !strings.Contains(a.c.stderr.String(), "nothing was retired") {
		t.Errorf("the error does not name the cause and that nothing was retired:\n%s", a.c.stderr.String())
	}
	delivered := a.credentials(t).KeyID
	if ids := a.keyIDs(t); !slices.Contains(ids, old) || !slices.Contains(ids, delivered) || delivered == old {
		t.Fatalf("credentials after the failed verification: %v; want the old %s kept beside the delivered %s", ids, old, delivered)
	}

	a.edit(t, func(tenant *simtenant.Tenant) {
		off := false
		if err := tenant.Exchange().SetSMTPAuth(verifiedMailbox, &off); err != nil {
			t.Fatal(err)
		}
	})
	if code := a.c.run(t, "rotate", "--force", "--verify", "--auto-approve", "--simulate="+a.state, a.manifest); code != exitOK {
		t.Fatalf("rotate --verify with everything in place: exit %d; stderr:\n%s", code, a.c.stderr.String())
	}
	if !strings.Contains(a.c.stderr.String(), `verified the new secret of application "Mail Verify": token:graph, token:exchange, smtp:`) {
		t.Errorf("rotate --verify does not report the checks it passed:\n%s", a.c.stderr.String())
	}
	if ids, now := a.keyIDs(t), a.credentials(t).KeyID; !cmp.Equal(ids, []string{now}) {
		t.Errorf("credentials after a verified rotation: %v, want only the new %s (keepPrevious: 0)", ids, now)
	}
}

// TestApplyThenVerifyTheMailboxes is the end to end: apply a manifest whose mailbox
// has appAccess and smtpAuth, then verify passes every login. It needs the engine's mailbox
// kinds.
func TestApplyThenVerifyTheMailboxes(t *testing.T) {
	if !slices.Contains(provision.Kinds(), provision.Kind("mailbox_full_access")) {
		t.Skip("the engine does not plan mailboxes yet (no mailbox_full_access kind): apply cannot set up the Exchange side")
	}
	dir := t.TempDir()
	state, manifest, creds := filepath.Join(dir, "tenant.json"), filepath.Join(dir, "mail.yaml"), filepath.Join(dir, "credentials.json")
	write(t, manifest, mailDocument(creds, true, appAccessMailbox))
	c := &cli{}
	if code := c.run(t, "apply", "--auto-approve", "--simulate="+state, manifest); code != exitOK {
		t.Fatalf("apply: exit %d; stderr:\n%s", code, c.stderr.String())
	}
	if code := c.run(t, "verify", "--simulate="+state, manifest); code != exitOK || !strings.Contains(c.stdout.String(), "Verify: all 5 checks passed.") {
		t.Fatalf("verify after apply: exit %d, want 0 with every check passed; stdout:\n%s\nstderr:\n%s", code, c.stdout.String(), c.stderr.String())
	}
	if code := c.run(t, "plan", "--detailed-exitcode", "--simulate="+state, manifest); code != exitOK {
		t.Errorf("plan after apply: exit %d, want 0 (no changes); stdout:\n%s", code, c.stdout.String())
	}
}

// lineWriter hands each Write to lines once release is closed, as a stderr nobody reads
// (release open) or a terminal (closed) does.
type lineWriter struct {
	release chan struct{}
	lines   chan string
}

func (w lineWriter) Write(p []byte) (int, error) {
	<-w.release
	w.lines <- string(p)
	return len(p), nil
}

// TestWaitNoticesNeverBlock: the deadline package's timer goroutines call waiting; a notice
// reaches stderr as "still waiting for <what> (<N>s)", and with stderr stuck every call still
// returns at once (the queue drops what it cannot hold).
func TestWaitNoticesNeverBlock(t *testing.T) {
	open := lineWriter{release: make(chan struct{}), lines: make(chan string, 1)}
	close(open.release)
	n := newWaitNotices(open)
	n.waiting("Graph POST /v1.0/$batch", 5200*time.Millisecond)
	if got, want := <-open.lines, "still waiting for Graph POST /v1.0/$batch (5s)\n"; got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	n.Close()

	stuck := lineWriter{release: make(chan struct{}), lines: make(chan string, 100)}
	n = newWaitNotices(stuck)
	done := make(chan struct{})
	go func() {
		for range 100 {
			n.waiting("Exchange POST /adminapi/beta/x/InvokeCommand", 10*time.Second)
		}
		close(done)
	}()
	<-done // hangs if waiting waits for the stuck writer
	n.Close()
	close(stuck.release)
}

// TestRotateVerifyChecksEachSecretWithItsOwnDocument rotates two applications of one file:
// each new secret is checked against its own document (found by the application's name, read
// from Graph), so the logins of the first document's mailbox are tried with the first
// application's secret only; the second, with no mailbox, checks its tokens.
func TestRotateVerifyChecksEachSecretWithItsOwnDocument(t *testing.T) {
	a := newMailApp(t, true)
	a.exchangeSide(t, "")
	other := filepath.Join(a.dir, "other-credentials.json")
	second := strings.Replace(mailDocument(other, true, ""), "name: Mail Verify", "name: Mail Verify Two", 1)
	both := filepath.Join(a.dir, "both.yaml")
	first, err := os.ReadFile(a.manifest)
	if err != nil {
		t.Fatal(err)
	}
	write(t, both, string(first)+"---\n"+second)
	if code := a.c.run(t, "apply", "--auto-approve", "--simulate="+a.state, both); code != exitOK {
		t.Fatalf("apply both: exit %d; stderr:\n%s", code, a.c.stderr.String())
	}
	if code := a.c.run(t, "rotate", "--force", "--verify", "--auto-approve", "--simulate="+a.state, both); code != exitOK {
		t.Fatalf("rotate --verify of both: exit %d; stderr:\n%s", code, a.c.stderr.String())
	}
	for _, want := range []string{
		`verified the new secret of application "Mail Verify": token:graph, token:exchange, smtp:` + verifiedMailbox,
		`verified the new secret of application "Mail Verify Two": token:graph, token:exchange passed`,
	} {
		if !strings.Contains(a.c.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, a.c.stderr.String())
		}
	}
}
