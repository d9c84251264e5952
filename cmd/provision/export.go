package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/export"
)

// exportOptions are the flags of `provision export`.
type exportOptions struct {
	appID     string
	name      string
	mailboxes []string
	file      string
}

func newExportCmd(f *factory, g *globalOptions) *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export (--app-id ID | --name NAME)",
		Short: "Write a manifest for an existing application, so a portal-made setup can be adopted",
		Long: `Read an existing application from the tenant (its registration, enterprise application,
permissions by name, admin consent, user and group assignments, and the Send-As trustees of
each --mailbox) and write a manifest for it. The manifest validates, and planning it against
the same tenant shows no change: from then on, the manifest is how the application changes.

Client secrets cannot be exported (a secret's value is shown only when it is created): they
are written as comments with their names, to uncomment with a store for new values.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExport(cmd.Context(), f, g, o)
		},
	}
	cmd.Flags().StringVar(&o.appID, "app-id", "", "client id of the application to export")
	cmd.Flags().StringVar(&o.name, "name", "", "display name of the application to export")
	cmd.Flags().StringArrayVar(&o.mailboxes, "mailbox", nil, "also export the Send-As trustees of this mailbox (repeatable)")
	cmd.Flags().StringVarP(&o.file, "file", "f", "", "write the manifest to this file instead of stdout")
	cmd.MarkFlagsMutuallyExclusive("app-id", "name")
	cmd.MarkFlagsOneRequired("app-id", "name")
	return cmd
}

// exportJSON is the -o json form of an export: the manifest as data, and the comments the
// YAML form carries.
type exportJSON struct {
	FormatVersion string              `json:"format_version"`
	Manifest      *manifests.Document `json:"manifest"`
	Notes         export.Notes        `json:"notes"`
	File          string              `json:"file,omitempty"`
}

func runExport(ctx context.Context, f *factory, g *globalOptions, o *exportOptions) error {
	s, err := f.connect(ctx, g, "")
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	var exc *exchange.Client
	if len(o.mailboxes) > 0 {
		exc = s.exchange
	}
	snap, err := export.Read(ctx, s.graph, exc, export.Query{AppID: o.appID, Name: o.name, Mailboxes: o.mailboxes})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if snap.TenantID, err = s.tokenTenant(ctx); err != nil {
		return err
	}
	res := export.Build(snap, f.clock.Now())
	manifest, err := export.Render(res)
	if err != nil {
		return err
	}
	if o.file != "" {
		// The manifest holds no secret value; 0644 like any file in a repository.
		if err := os.WriteFile(o.file, manifest, 0o644); err != nil {
			return fmt.Errorf("write manifest: %w", err)
		}
	}
	if g.output == "json" {
		enc := json.NewEncoder(f.out)
		enc.SetIndent("", "  ")
		return enc.Encode(exportJSON{FormatVersion: "1.0", Manifest: res.Document, Notes: res.Notes, File: o.file})
	}
	if o.file == "" {
		_, err := f.out.Write(manifest)
		return err
	}
	fmt.Fprintf(f.errOut, "Wrote %s for %q (appId %s). Check it with: provision plan %s\n",
		o.file, res.Document.Application.Name, res.Document.Application.AppID, o.file)
	return nil
}
