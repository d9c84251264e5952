package main

import "fmt"

// notYet is the error of a command whose engine part is not built yet; it names the work
// item so a user knows it is missing, not broken.
func notYet(what string) error {
	return fmt.Errorf("%s is not available in this build yet", what)
}
