package main

import (
	"errors"
	"fmt"

	"github.com/provisionhq/provision/manifests"
)

// Exit codes of the contract (DESIGN.md §3). They are decided here and nowhere else.
const (
	exitOK              = 0
	exitError           = 1
	exitChangesPending  = 2
	exitInvalidManifest = 3
)

// errChangesPending is returned by plan --detailed-exitcode when the plan is not empty.
var errChangesPending = errors.New("changes pending")

// silentError carries an exit code for a failure whose message was already printed.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	var diags manifests.Diagnostics
	var silent silentError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errChangesPending):
		return exitChangesPending
	case errors.As(err, &silent):
		return silent.code
	case errors.As(err, &diags):
		return exitInvalidManifest
	}
	return exitError
}
