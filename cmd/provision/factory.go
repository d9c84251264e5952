package main

import (
	"context"
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

	// sim is the simulated tenant of this command, started by the first --simulate connection
	// and stopped (saving its state) by closeSimulator.
	sim *simulator
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

// simulator returns the simulated tenant of this command, starting it on first use.
func (f *factory) simulator(ctx context.Context, g *globalOptions) (*simulator, error) {
	if f.sim != nil {
		return f.sim, nil
	}
	sim, err := f.startSimulator(ctx, g.simulate.stateFile, "")
	if err != nil {
		return nil, err
	}
	f.sim = sim
	return sim, nil
}

// closeSimulator stops the simulated tenant, if one was started, saving its state.
func (f *factory) closeSimulator() error {
	if f.sim == nil {
		return nil
	}
	err := f.sim.Close()
	f.sim = nil
	return err
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
