package main

import (
	"fmt"

	"github.com/provisionhq/provision/manifests"
	"github.com/spf13/cobra"
)

func newSchemaCmd(f *factory, _ *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the manifest format, for editors and CI",
		Long: `Print the JSON Schema (draft 2020-12) of provision/v1 manifests, generated from the Go types.
Point your editor's YAML language server at it, e.g. with a first line
  # yaml-language-server: $schema=./provision.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := manifests.Schema()
			if err != nil {
				return fmt.Errorf("generate schema: %w", err)
			}
			_, err = f.out.Write(append(b, '\n'))
			return err
		},
	}
}
