package main

import (
	"github.com/spf13/cobra"
)

func newDoctorCmd(f *factory, g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor [FILE]",
		Short: "Show who is signed in and whether that identity holds the rights each step needs",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return notYet("doctor")
		},
	}
}
