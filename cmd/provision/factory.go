package main

import (
	"io"
	"os"

	"github.com/provisionhq/provision/provision/clock"
)

// factory hands commands what they need from the outside world. Expensive things (Graph
// clients, the simulated tenant) are built on demand, so `validate` never touches the network.
type factory struct {
	in         io.Reader
	out        io.Writer
	errOut     io.Writer
	isTerminal func() bool // stdin and stdout are both terminals: prompts and colour allowed
	lookupEnv  func(string) (string, bool)
	clock      clock.Clock
	workDir    func() (string, error)
	cacheDir   func() (string, error)
}

// newSystemFactory wires the factory to the process: standard streams, environment, wall clock.
func newSystemFactory() *factory {
	return &factory{
		in:         os.Stdin,
		out:        os.Stdout,
		errOut:     os.Stderr,
		isTerminal: func() bool { return isCharDevice(os.Stdin) && isCharDevice(os.Stdout) },
		lookupEnv:  os.LookupEnv,
		clock:      clock.Real{},
		workDir:    os.Getwd,
		cacheDir:   os.UserCacheDir,
	}
}

// getenv returns the variable's value, or "" when unset.
func (f *factory) getenv(name string) string {
	v, _ := f.lookupEnv(name)
	return v
}

func isCharDevice(file *os.File) bool {
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
