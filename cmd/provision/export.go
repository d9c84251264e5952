package main

import (
	"github.com/spf13/cobra"
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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return notYet("export")
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
