//go:build unix

package manifests

import (
	"os"
	"syscall"
)

// openNonBlocking opens path for reading with O_NONBLOCK: opening a named pipe then returns
// at once instead of waiting for a writer, and ReadFile refuses it after looking at it.
// Reads of a regular file are unaffected by the flag.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
