package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithappid"
	"github.com/spf13/cobra"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/sink"
	"github.com/provisionhq/provision/provision/verify"
)

// verifyFormatVersion is the version of verify's -o json document.
const verifyFormatVersion = "1.0"

// verifyOptions are the flags of `provision verify`.
type verifyOptions struct {
	smtp, imap, pop bool
}

// protocols is the logins the flags ask for; none given means those the declared roles
// allow (verify.Checker's zero Protocols).
func (o verifyOptions) protocols() verify.Protocols {
	return verify.Protocols{SMTP: o.smtp, IMAP: o.imap, POP: o.pop}
}

func newVerifyCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify FILE|DIR...",
		Short: "Sign in as each application with the secret its sinks hold and prove it can do its mail job",
		Long: `For each document, read the client secret from the first of its sinks that can hand it back
(the credentials file, the Key Vault secret), then sign in as the application with it:

  - client-credentials tokens for Microsoft Graph and for Office 365 Exchange Online, checked
    to carry the application permissions the manifest declares for each;
  - for each mailbox with appAccess: true, an XOAUTH2 login to SMTP (STARTTLS), IMAP and POP
    that stops before anything is sent or read. By default the logins the declared roles allow
    (SMTP.SendAsApp, IMAP.AccessAsApp, POP.AccessAsApp); --smtp, --imap and --pop choose.

Every failure names its cause (SMTP AUTH off, service principal not registered in Exchange or
registered with the wrong object id, no FullAccess, role not consented, propagation still
running), what to run, and the manifest line that fixes it. verify signs in as plan does, to
read Key Vault and the Exchange side of a refused login; no secret or token is ever printed.

Exit codes: 0 every check passed, 1 a check failed (or an error), 3 invalid manifest.`,
		Args:              manifestArgs,
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), f, g, args, *o)
		},
	}
	cmd.Flags().BoolVar(&o.smtp, "smtp", false, "try the SMTP login (STARTTLS, AUTH XOAUTH2) on each mailbox with appAccess")
	cmd.Flags().BoolVar(&o.imap, "imap", false, "try the IMAP login (AUTHENTICATE XOAUTH2) on each mailbox with appAccess")
	cmd.Flags().BoolVar(&o.pop, "pop", false, "try the POP login (AUTH XOAUTH2) on each mailbox with appAccess")
	return cmd
}

// verifyJSON is verify's result: text and -o json both render it.
type verifyJSON struct {
	FormatVersion string          `json:"format_version"`
	Passed        bool            `json:"passed"`
	Runs          []verifyFileRun `json:"runs"`
}

// verifyFileRun is one manifest file's documents verified against its tenant.
type verifyFileRun struct {
	File         string           `json:"file"`
	Tenant       string           `json:"tenant,omitempty"`
	Applications []verifiedSecret `json:"applications"`
}

// verifiedSecret is one secret of one document: where it was read, and the checks run with it.
type verifiedSecret struct {
	Application string `json:"application"`
	Secret      string `json:"secret,omitempty"`
	// Sink is the sink the secret was read from.
	Sink   string `json:"sink,omitempty"`
	Passed bool   `json:"passed"`
	// Error says why no check could run (no readable sink, no secret declared).
	Error  string          `json:"error,omitempty"`
	Report *verifiedReport `json:"report,omitempty"`
}

// verifiedReport is verify.Report with the manifest line that fixes each failed check.
type verifiedReport struct {
	Version  int             `json:"version"`
	TenantID string          `json:"tenantId"`
	ClientID string          `json:"clientId"`
	Checks   []verifiedCheck `json:"checks"`
}

type verifiedCheck struct {
	verify.Check
	Manifest *manifestFix `json:"manifest,omitempty"`
}

// manifestFix is the manifest value that fixes a failed check: where it is (or would go) and
// what to write there.
type manifestFix struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Path   string `json:"path"`
	Set    string `json:"set"`
}

func runVerify(ctx context.Context, f *factory, g *globalOptions, args []string, o verifyOptions) error {
	files, err := readManifests(ctx, f, args)
	if err != nil {
		return err
	}
	type loaded struct {
		file string
		docs []*manifests.Document
	}
	var all manifests.Diagnostics
	var loads []loaded
	for _, file := range files {
		docs, diags := manifests.Load(file.name, file.data, f.manifestEnv(g))
		all = append(all, diags...)
		if len(docs) > 0 {
			loads = append(loads, loaded{file.name, docs})
		}
	}
	printDiagnostics(f.errOut, all)
	if all.HasErrors() {
		return silentError{code: exitInvalidManifest}
	}
	out := verifyJSON{FormatVersion: verifyFormatVersion, Passed: true, Runs: []verifyFileRun{}}
	for _, l := range loads {
		run, err := verifyFile(ctx, f, g, l.file, l.docs, o.protocols())
		if err != nil {
			return fmt.Errorf("%s: %w", l.file, err)
		}
		for _, a := range run.Applications {
			out.Passed = out.Passed && a.Passed
		}
		out.Runs = append(out.Runs, run)
	}
	if g.output == "json" {
		enc := json.NewEncoder(f.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printVerify(f.out, out)
	}
	if !out.Passed {
		return silentError{code: exitError}
	}
	return nil
}

// verifyFile signs in to the tenant of one file and verifies each secret of each document.
func verifyFile(ctx context.Context, f *factory, g *globalOptions, file string, docs []*manifests.Document, p verify.Protocols) (verifyFileRun, error) {
	run := verifyFileRun{File: file, Tenant: docs[0].Tenant, Applications: []verifiedSecret{}}
	s, err := f.connect(ctx, g, run.Tenant)
	if err != nil {
		return run, err
	}
	defer func() { _ = s.Close() }()
	for _, d := range docs {
		if len(d.Application.Secrets) == 0 {
			run.Applications = append(run.Applications, verifiedSecret{Application: d.Application.Name,
				Error: "the document declares no secret (application.secrets) to sign in with"})
			continue
		}
		for i := range d.Application.Secrets {
			run.Applications = append(run.Applications, s.verifySecret(ctx, d, i, p))
		}
	}
	return run, nil
}

// verifySecret reads the i-th secret of d from its first readable sink and runs every check
// with it.
func (s *session) verifySecret(ctx context.Context, d *manifests.Document, i int, p verify.Protocols) verifiedSecret {
	sec := d.Application.Secrets[i]
	v := verifiedSecret{Application: d.Application.Name, Secret: sec.Name}
	sinks, err := s.secrets.Sinks(sec.Store)
	if err != nil {
		v.Error = fmt.Sprintf("prepare the sinks of secret %q: %v", sec.Name, err)
		return v
	}
	cred, from, err := sink.ReadCredential(ctx, sinks)
	switch {
	case errors.Is(err, sink.ErrNothingHeld):
		v.Error = fmt.Sprintf("%v: run provision apply FILE (or rotate) to deliver one", err)
		return v
	case err != nil:
		v.Error = err.Error()
		return v
	case cred.ClientID == "" || cred.TenantID == "" || cred.Secret.IsZero():
		v.Error = fmt.Sprintf("%s holds no complete credential (tenant id, client id and secret): run provision rotate --force FILE to deliver a new one", from)
		return v
	}
	v.Sink = from
	c := s.checker(p)
	if !strings.EqualFold(cred.TenantID, s.secrets.TenantID) {
		// The operator is signed in to another tenant: its Exchange side says nothing of this one.
		c.Exchange = nil
	}
	rep := c.Run(ctx, checkedApplication(d, cred.TenantID, cred.ClientID, cred.Secret))
	v.Passed = rep.Passed()
	v.Report = &verifiedReport{Version: rep.Version, TenantID: rep.TenantID, ClientID: rep.ClientID, Checks: []verifiedCheck{}}
	for _, ch := range rep.Checks {
		v.Report.Checks = append(v.Report.Checks, verifiedCheck{Check: ch, Manifest: fixOf(d, ch)})
	}
	return v
}

// checkedApplication is what verify checks of d's application: the roles it declares on
// Microsoft Graph and Office 365 Exchange Online, whether it asks for consent, and the
// mailboxes where it needs app-only logins.
func checkedApplication(d *manifests.Document, tenantID, clientID string, secret sensitive.String) verify.Application {
	app := verify.Application{TenantID: tenantID, ClientID: clientID, Secret: secret, ConsentGranted: d.Application.AdminConsent}
	for _, p := range d.Application.Permissions {
		switch apiAppID(p.API) {
		case manifests.MicrosoftGraphAppID:
			app.GraphRoles = append(app.GraphRoles, p.Application...)
		case manifests.ExchangeOnlineAppID:
			app.ExchangeRoles = append(app.ExchangeRoles, p.Application...)
		}
	}
	for _, m := range d.Mailboxes {
		if m.AppAccess {
			app.Mailboxes = append(app.Mailboxes, m.Address)
		}
	}
	return app
}

// apiAppID is the appId of a manifest's api value (a display name or an appId).
func apiAppID(api string) string {
	if r, ok := manifests.BuiltinCatalogue().Resource(api); ok {
		return r.AppID
	}
	return strings.ToLower(strings.TrimSpace(api))
}

// fixOf is the manifest value that fixes a failed check, nil when none does (propagation, a
// protocol switch provision does not manage, a connection problem).
func fixOf(d *manifests.Document, c verify.Check) *manifestFix {
	if c.Status != verify.Failed {
		return nil
	}
	at := func(path, set string) *manifestFix {
		p := d.Source.Pos(path)
		return &manifestFix{File: p.File, Line: p.Line, Column: p.Col, Path: path, Set: set}
	}
	mailbox := -1
	for i, m := range d.Mailboxes {
		if c.Kind != "token" && strings.EqualFold(m.Address, c.Target) {
			mailbox = i
		}
	}
	box := fmt.Sprintf("mailboxes[%d]", mailbox)
	switch {
	case c.Cause == verify.CauseRoleMissing:
		return roleFix(d, c, at)
	case mailbox < 0:
		return nil
	case c.Cause == verify.CauseSMTPAuthDisabled:
		return at(box+".smtpAuth", "smtpAuth: enabled")
	case c.Cause == verify.CauseNoServicePrincipal, c.Cause == verify.CauseNoFullAccess:
		return at(box+".appAccess", "appAccess: true")
	case c.Cause == verify.CauseWrongObjectID:
		return at(box+".appAccess", "appAccess: true (provision apply registers the enterprise application's object id instead)")
	case c.Cause == verify.CauseMailboxNotFound:
		return at(box+".address", "address: a mailbox Exchange knows")
	}
	return nil
}

// roleFix is the manifest value behind a missing role: the role itself under its API when the
// manifest does not declare it, else adminConsent: true when consent is not asked for. A role
// declared and consented that a token still lacks is for the tenant to catch up with.
func roleFix(d *manifests.Document, c verify.Check, at func(path, set string) *manifestFix) *manifestFix {
	api, name := manifests.ExchangeOnlineAppID, manifests.ExchangeOnlineName
	if c.ID == "token:graph" {
		api, name = manifests.MicrosoftGraphAppID, manifests.MicrosoftGraphName
	}
	entry := -1
	var declared []string
	for i, p := range d.Application.Permissions {
		if apiAppID(p.API) == api {
			entry, declared = i, append(declared, p.Application...)
		}
	}
	var undeclared []string
	for _, r := range c.MissingRoles {
		if !containsFold(declared, r) {
			undeclared = append(undeclared, r)
		}
	}
	switch {
	case len(undeclared) > 0 && entry >= 0:
		return at(fmt.Sprintf("application.permissions[%d].application", entry), "application: ["+strings.Join(append(declared, undeclared...), ", ")+"]")
	case len(undeclared) > 0:
		return at("application.permissions", fmt.Sprintf("- api: %s\n  application: [%s]", name, strings.Join(undeclared, ", ")))
	case !d.Application.AdminConsent:
		return at("application.adminConsent", "adminConsent: true")
	}
	return nil
}

func containsFold(xs []string, x string) bool {
	for _, s := range xs {
		if strings.EqualFold(s, x) {
			return true
		}
	}
	return false
}

// printVerify writes one line per check: the outcome, the check, and for a failure its cause,
// explanation, what to run and the manifest line that fixes it.
func printVerify(w io.Writer, out verifyJSON) {
	passed, total := 0, 0
	for _, run := range out.Runs {
		for _, a := range run.Applications {
			head := fmt.Sprintf("%s: application %q", run.File, a.Application)
			if a.Secret != "" {
				head += fmt.Sprintf(", secret %q", a.Secret)
			}
			if a.Error != "" {
				total++
				fmt.Fprintf(w, "%s\n  FAILED  %s\n\n", head, a.Error)
				continue
			}
			fmt.Fprintf(w, "%s from %s (client %s)\n", head, a.Sink, a.Report.ClientID)
			tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
			for _, c := range a.Report.Checks {
				total++
				if c.Status == verify.Passed {
					passed++
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", map[verify.Status]string{verify.Passed: "passed", verify.Failed: "FAILED", verify.Skipped: "skipped"}[c.Status], c.ID, checkLine(c))
			}
			_ = tw.Flush()
			fmt.Fprintln(w)
		}
	}
	if passed == total {
		fmt.Fprintf(w, "Verify: all %d checks passed.\n", total)
		return
	}
	fmt.Fprintf(w, "Verify: %d of %d checks passed.\n", passed, total)
}

// checkLine is what a check's line says after its id.
func checkLine(c verifiedCheck) string {
	if c.Status == verify.Passed {
		if c.Detail != "" {
			return c.Detail
		}
		return c.Target
	}
	parts := []string{string(c.Cause) + ": " + c.Explanation}
	if c.Detail != "" && c.Status == verify.Failed {
		parts = append(parts, "server said: "+c.Detail)
	}
	if c.Fix != "" {
		parts = append(parts, "fix: "+c.Fix)
	}
	if m := c.Manifest; m != nil {
		where := m.File
		if m.Line > 0 {
			where = fmt.Sprintf("%s:%d:%d", m.File, m.Line, m.Column)
		}
		parts = append(parts, fmt.Sprintf("manifest %s: %s", where, strings.ReplaceAll(m.Set, "\n", " ")))
	}
	return strings.Join(parts, "; ")
}

// documentOf finds the document of docs that describes the application clientID in this
// session's tenant: by its appId, the only document for the tenant, or the application's
// uniqueName or name as Graph has them.
func (s *session) documentOf(ctx context.Context, docs []*manifests.Document, clientID string) (*manifests.Document, error) {
	var here []*manifests.Document
	for _, d := range docs {
		if d.Tenant == s.tenant {
			here = append(here, d)
		}
	}
	for _, d := range here {
		if strings.EqualFold(d.Application.AppID, clientID) {
			return d, nil
		}
	}
	if len(here) == 1 {
		return here[0], nil
	}
	app, err := s.graph.Graph.ApplicationsWithAppId(&clientID).Get(ctx, &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetRequestConfiguration{
		QueryParameters: &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"displayName", "uniqueName"}}})
	if err != nil {
		return nil, fmt.Errorf("read application %s: %w", clientID, err)
	}
	var found []*manifests.Document
	for _, d := range here {
		a := d.Application
		if (a.UniqueName != "" && app.GetUniqueName() != nil && strings.EqualFold(a.UniqueName, *app.GetUniqueName())) ||
			(a.UniqueName == "" && app.GetDisplayName() != nil && a.Name == *app.GetDisplayName()) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("no single document of the manifests describes application %s (%d match)", clientID, len(found))
	}
	return found[0], nil
}
