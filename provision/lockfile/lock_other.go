//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package lockfile

import (
	"errors"
	"os"
)

// tryLock reports that this platform has no file lock provision knows how to take; the
// caller decides whether to run unlocked.
func tryLock(*os.File) (bool, error) { return false, errors.ErrUnsupported }

func unlock(*os.File) error { return nil }
