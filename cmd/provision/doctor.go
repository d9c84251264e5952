package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/provisionhq/provision/provision/doctor"
	"github.com/provisionhq/provision/provision/rights"
)

func newDoctorCmd(f *factory, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor [FILE|DIR]",
		Short: "Show who is signed in and whether that identity holds the rights each step needs",
		Long: `Sign in as plan and apply would, and show who that is (tenant, application or user), the
Microsoft Graph permissions, Exchange Online permissions and Entra roles its tokens carry, and
for each step of a run whether the identity may perform it. For a step it may not, doctor names
the least-privileged grant that fixes it. With a manifest, only the steps it needs are checked;
without one, every step is.

Exit codes: 0 every step can be performed, 1 some cannot (or an error), 3 invalid manifest.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDoctor(cmd.Context(), f, g, args)
		},
	}
}

// doctorJSON is the -o json form of doctor's answer.
type doctorJSON struct {
	FormatVersion string          `json:"format_version"`
	SignedIn      doctor.SignedIn `json:"signedIn"`
	Report        doctor.Report   `json:"report"`
}

func runDoctor(ctx context.Context, f *factory, g *globalOptions, args []string) error {
	need := rights.Everything()
	tenant := ""
	if len(args) == 1 {
		docs, diags, err := loadManifests(ctx, f, g, args)
		printDiagnostics(f.errOut, diags)
		if err != nil {
			return err
		}
		need = doctor.NeedOf(docs)
		if len(docs) > 0 {
			tenant = docs[0].Tenant
		}
	}
	s, err := f.connect(ctx, g, tenant)
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	signed, err := doctor.Inspect(ctx, s.credential, s.endpoints.GraphScope(), s.endpoints.ExchangeScope())
	if err != nil {
		return err
	}
	rep := doctor.Check(signed.Held, rights.Steps(need))
	if g.output == "json" {
		enc := json.NewEncoder(f.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doctorJSON{FormatVersion: "2.0", SignedIn: signed, Report: rep}); err != nil {
			return err
		}
	} else {
		printDoctor(f.out, signed, rep)
	}
	if !rep.OK() {
		return silentError{code: exitError}
	}
	return nil
}

// printDoctor writes the identity, what it holds and each step's verdict.
func printDoctor(w io.Writer, s doctor.SignedIn, rep doctor.Report) {
	id := s.Identity
	fmt.Fprintf(w, "Tenant:       %s\n", id.TenantID)
	if s.Held.AppOnly {
		fmt.Fprintf(w, "Signed in as: application %s (service principal %s)\n", id.AppID, id.ObjectID)
		fmt.Fprintf(w, "Graph:        %s\n", listOrNone(s.Held.Graph))
	} else {
		fmt.Fprintf(w, "Signed in as: user %s (object id %s) through client %s\n", id.UserPrincipalName, id.ObjectID, id.AppID)
		fmt.Fprintf(w, "Scopes:       %s\n", listOrNone(s.Held.Graph))
	}
	if s.ExchangeError != "" {
		fmt.Fprintf(w, "Exchange:     no token (%s)\n", firstLine(s.ExchangeError))
	} else {
		fmt.Fprintf(w, "Exchange:     %s\n", listOrNone(s.Held.Exchange))
	}
	fmt.Fprintf(w, "Entra roles:  %s\n\n", listOrNone(s.Held.Roles))
	for _, r := range rep.Steps {
		mark := "ok     "
		if !r.OK {
			mark = "MISSING"
		}
		fmt.Fprintf(w, "%s %s\n", mark, r.Step.Action)
		if r.OK {
			continue
		}
		fmt.Fprintf(w, "        %s\n", doctor.Describe(r))
		if r.Step.Note != "" {
			fmt.Fprintf(w, "        (%s)\n", r.Step.Note)
		}
	}
	if rep.OK() {
		fmt.Fprintln(w, "\nThis identity can perform every step.")
		return
	}
	names := make([]string, len(rep.Fixes))
	for i, r := range rep.Fixes {
		names[i] = r.String()
	}
	fmt.Fprintf(w, "\nTo fix every step, grant: %s.\n", strings.Join(names, ", "))
	fmt.Fprintln(w, "Application permissions need admin consent; roles are assigned under Entra ID > Roles and administrators.")
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "(none)"
	}
	return strings.Join(xs, ", ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
