package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/provisionhq/provision/provision/simtenant"
)

// simulateServeOptions are the flags of `provision simulate serve`.
type simulateServeOptions struct {
	addr   string
	state  string
	tenant string
}

func newSimulateCmd(f *factory, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Run the built-in simulated tenant",
	}
	o := &simulateServeOptions{}
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the simulated tenant on a loopback TLS address and print the environment that points other shells and tools at it",
		Args:  cobra.NoArgs,
		Long: `Serve the simulated tenant (Graph v1.0, the identity platform, the Exchange admin API, Key
Vault and the Azure Resource Manager metadata document) on a loopback TLS address with a CA of
its own, and its mail listeners (SMTP with STARTTLS, IMAP and POP over TLS, which accept an
XOAUTH2 login exactly when Exchange Online would) on free ports of the same host, until
interrupted. Before serving it prints, on stdout, one "export NAME=value" line per
variable that points provision in another shell (or any other tool using the Azure SDKs, or
terraform's azuread provider through ARM_METADATA_HOSTNAME) at it, including the simulated
operator's client secret; on stderr it lists the tenant's users, groups and mailboxes:

  provision simulate serve --state ./tenant.json > simulate.env &
  . ./simulate.env
  provision plan examples/openfire.yaml

A state file holds one tenant. --tenant chooses the primary domain of a new one (its tenant id
and seeded users follow from it); several tenants run side by side from several state files:

  provision simulate serve --tenant contoso.onmicrosoft.com --state ./contoso.json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("tenant") {
				o.tenant = f.getenv(envSimulateTenant)
			}
			return runSimulateServe(cmd.Context(), f, *o)
		},
	}
	serve.Flags().StringVar(&o.addr, "addr", "127.0.0.1:0", "loopback address to listen on (port 0 picks a free one)")
	serve.Flags().StringVar(&o.state, "state", "", "state file of the simulated tenant (default: a file in the user cache directory)")
	serve.Flags().StringVar(&o.tenant, "tenant", "", "primary domain of the simulated tenant, when its state file is created (default: $"+envSimulateTenant+", else "+simtenant.DefaultDomain+")")
	cmd.AddCommand(serve)
	return cmd
}

// runSimulateServe serves the simulated tenant until ctx is cancelled (Ctrl-C), then saves it.
func runSimulateServe(ctx context.Context, f *factory, o simulateServeOptions) error {
	sim, err := f.startSimulatorFor(ctx, o.state, o.addr, o.tenant)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(sim.env))
	for name := range sim.env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(f.out, "export %s=%s\n", name, shellQuote(sim.env[name]))
	}
	writeRoster(f.errOut, sim.server)
	fmt.Fprintf(f.errOut, "Simulated tenant serving Graph at %s; press Ctrl-C to stop.\n", sim.server.GraphEndpoint)
	<-ctx.Done()
	if err := sim.Close(); err != nil {
		return fmt.Errorf("stop simulated tenant: %w", err)
	}
	return nil
}

// writeRoster lists who is in the simulated tenant: its identity, users (with their
// mailboxes), groups, and where its vaults are.
func writeRoster(w io.Writer, s *simtenant.Server) {
	t := s.Tenant
	fmt.Fprintf(w, "Simulated tenant %s (tenant id %s).\n", t.Domain(), t.TenantID())
	fmt.Fprintln(w, "Users:")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, u := range t.Users() {
		mailbox := "no mailbox"
		if u.Mail != "" {
			mailbox = "mailbox " + u.Mail
		}
		if !u.Enabled {
			mailbox += " (sign-in disabled)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", u.UserPrincipalName, u.DisplayName, mailbox)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "Groups:")
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, g := range t.Groups() {
		mail := "security group, no mailbox"
		if g.Mail != "" {
			mail = "mail-enabled, mailbox " + g.Mail
		}
		fmt.Fprintf(tw, "  %s\t%s\n", g.DisplayName, mail)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "Key Vault: every https://<name>.vault.azure.net, through %s.\n", envKeyVaultEndpoint)
	fmt.Fprintf(w, "Mail: SMTP (STARTTLS) %s, IMAP (TLS) %s, POP (TLS) %s, for provision verify.\n", s.Mail.SMTPAddr, s.Mail.IMAPAddr, s.Mail.POPAddr)
}

// shellQuote quotes v for a POSIX shell.
func shellQuote(v string) string {
	out := "'"
	for _, r := range v {
		if r == '\'' {
			out += `'\''`
			continue
		}
		out += string(r)
	}
	return out + "'"
}
