package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// issuesURL is where bug reports go.
const issuesURL = "https://github.com/provisionhq/provision/issues"

// reportCrash prints one line about a recovered panic (what crashed and where, the version,
// where to report it), the stack trace too when -v was given, and returns the exit code of a
// crash: 1, an error, never the Go runtime's 2, which the contract reserves for "changes
// pending".
func reportCrash(w io.Writer, recovered any, withStack bool) int {
	v := readBuildVersion()
	hint := "run it again with -v to add the stack trace"
	if withStack {
		hint = "include the stack trace below"
	}
	fmt.Fprintf(w, "provision crashed (a bug, not a problem with your manifest or tenant): panic: %v%s. provision %s, commit %s, %s %s. Please report this at %s with the command you ran; %s.\n",
		recovered, panicSite(), v.Version, v.Commit, v.GoVersion, v.Platform, issuesURL, hint)
	if withStack {
		_, _ = w.Write(debug.Stack())
	}
	return exitError
}

// panicSite names the function that panicked: the first frame below the runtime's panic
// machinery, when called from the deferred function that recovered.
func panicSite() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	panicking := false
	for {
		fr, more := frames.Next()
		switch {
		case fr.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(fr.Function, "runtime."):
			return fmt.Sprintf(" in %s (%s:%d)", fr.Function[strings.LastIndex(fr.Function, "/")+1:], fileBase(fr.File), fr.Line)
		}
		if !more {
			return ""
		}
	}
}

// fileBase keeps the last two elements of a source path: the package directory and file.
func fileBase(path string) string {
	parts := strings.Split(path, "/")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, "/")
}

// wantsStack reports whether the command line asked for verbose output, read from the raw
// arguments because a panic may come before or during flag parsing.
func wantsStack(args []string) bool {
	return slices.Contains(args, "-v") || slices.Contains(args, "--verbose")
}
