package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// cancelOnSignal returns a context that the first signal on sigs cancels, so the run stops
// cleanly (apply after the change in flight). A second signal calls exit(1) at once: a run
// stuck where cancelling cannot reach (a read of a hung mount, a blocked system call) still
// ends when a CI step's timeout or the user insists. stop releases the watcher.
func cancelOnSignal(parent context.Context, sigs <-chan os.Signal, errOut io.Writer, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(errOut, "\nReceived %v: stopping (apply finishes the change in flight). Send it again to stop at once.\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(errOut, "Received %v again: stopping now. Every change is idempotent: run the command again to finish.\n", s)
			exit(exitError)
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		cancel()
	}
}
