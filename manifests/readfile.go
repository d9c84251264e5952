package manifests

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// MaxFileSize is the largest manifest file ReadFile reads; real manifests are a few kilobytes.
const MaxFileSize = 16 << 20

// ErrNotRegular is the error ReadFile returns for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ReadFile reads the manifest file at path. It refuses anything but a regular file (a
// directory, a named pipe, a device, a socket) with an error saying what the path is, and
// opens without blocking, so a named pipe nobody writes to is refused instead of waiting
// forever. Errors are *fs.PathError values naming path.
func ReadFile(path string) ([]byte, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s): give the path of a manifest file", ErrNotRegular, describeMode(st.Mode()))}
	}
	if st.Size() > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("the file is %d bytes, more than a manifest can be (%d)", st.Size(), MaxFileSize)}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if len(data) > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("the file is more than %d bytes, more than a manifest can be", MaxFileSize)}
	}
	return data, nil
}

// describeMode names the kind of a file that is not a regular one.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}
