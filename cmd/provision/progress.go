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

// progress reports how far a long apply or observe is, on stderr: on a terminal a counter
// rewritten in place, otherwise a line each time another tenth is done. The result of each
// change (done, failed, skipped, with its id) is printed on stdout, as terraform does, so
// `apply > log` keeps it; on a terminal those lines are the progress, and no counter is shown
// for an apply.
type progress struct {
	mu       sync.Mutex
	out      io.Writer
	errOut   io.Writer
	terminal bool
	lastStep int
	counting bool
}

func newProgress(out, errOut io.Writer, terminal bool) *progress {
	return &progress{out: out, errOut: errOut, terminal: terminal, lastStep: -1}
}

// count reports done of total items of what on stderr; it prints nothing for short runs.
func (p *progress) count(what string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.countLocked(what, done, total)
}

func (p *progress) countLocked(what string, done, total int) {
	if total < longRun {
		return
	}
	if p.terminal {
		fmt.Fprintf(p.errOut, "\r  %s: %d/%d", what, done, total)
		p.counting = done < total
		if done == total {
			fmt.Fprintln(p.errOut)
		}
		return
	}
	if step := done * 10 / total; step != p.lastStep || done == total {
		p.lastStep = step
		fmt.Fprintf(p.errOut, "  %s: %d/%d\n", what, done, total)
	}
}

// change prints one completed change on stdout and, for a long run away from a terminal,
// advances the counter on stderr.
func (p *progress) change(r provision.ChangeResult, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counting {
		fmt.Fprintln(p.errOut)
		p.counting = false
	}
	fmt.Fprintln(p.out, progressLine(r))
	if !p.terminal {
		p.countLocked("applying", done, total)
	}
}
