package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/provisionhq/provision/provision"
)

// longRun is the number of changes (or reads) from which progress is a counter rather than
// a line per item.
const longRun = 50

// progress reports on stderr how far a long apply or observe is: on a terminal a counter
// rewritten in place, otherwise a line each time another tenth is done. Failures are always
// printed in full.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	lastStep int
	counting bool
}

func newProgress(w io.Writer, terminal bool) *progress {
	return &progress{w: w, terminal: terminal, lastStep: -1}
}

// count reports done of total items of what; it prints nothing for short runs.
func (p *progress) count(what string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total < longRun {
		return
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r  %s: %d/%d", what, done, total)
		p.counting = done < total
		if done == total {
			fmt.Fprintln(p.w)
		}
		return
	}
	if step := done * 10 / total; step != p.lastStep || done == total {
		p.lastStep = step
		fmt.Fprintf(p.w, "  %s: %d/%d\n", what, done, total)
	}
}

// change prints one completed change: in full when the run is short or the change failed,
// otherwise as a step of the counter.
func (p *progress) change(r provision.ChangeResult, done, total int) {
	if total >= longRun && r.Err == nil {
		p.count("applying", done, total)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counting {
		fmt.Fprintln(p.w)
		p.counting = false
	}
	fmt.Fprintln(p.w, progressLine(r))
}
