package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd(f *factory, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check manifests offline: syntax, keys, values and permission names, with no tenant access",
		Long: `Check manifests offline. Every problem is reported at once, as file:line:col: path: message,
with a suggestion where one exists. Exit code 3 when a manifest is invalid.`,
		Args:              manifestArgs,
		ValidArgsFunction: manifestCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			docs, diags, err := loadManifests(cmd.Context(), f, g, args)
			if err != nil && !diags.HasErrors() {
				return err // a file that cannot be read: not a verdict on its content
			}
			if g.output == "json" {
				if jerr := writeDiagnosticsJSON(f.out, len(docs), diags); jerr != nil {
					return jerr
				}
				if err != nil {
					return silentError{code: exitCode(err)}
				}
				return nil
			}
			printDiagnostics(f.errOut, diags)
			if err != nil {
				return silentError{code: exitInvalidManifest}
			}
			fmt.Fprintf(f.out, "%d document(s) valid.\n", len(docs))
			return nil
		},
	}
}
