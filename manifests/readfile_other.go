//go:build !unix

package manifests

import "os"

// openNonBlocking opens path for reading. Outside Unix, opening a named pipe does not wait
// for a writer, so a plain open is enough.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }
