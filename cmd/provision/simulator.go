package main

import (
	"context"
	"net/http"
)

// simulator is the simulated tenant a --simulate run talks to.
type simulator struct {
	transport *http.Transport
	getenv    func(string) string
	close     func() error
}

// Close stops the simulated tenant and saves its state.
func (s *simulator) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// startSimulator starts the simulated tenant with its state in stateFile (or the default).
func (f *factory) startSimulator(ctx context.Context, stateFile string) (*simulator, error) {
	return nil, notYet("--simulate")
}
