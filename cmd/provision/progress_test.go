package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/provisionhq/provision/provision"
)

func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		reason            string
		terminal          bool
		total             int
		wantOut, wantErr  []string
		outLines, errMost int
	}{
		{"a short run prints a result line per change on stdout, nothing on stderr", false, 3,
			[]string{"  done     + a\n"}, nil, 3, 0},
		{"a long run without a terminal: every result on stdout, a progress line per tenth on stderr", false, 200,
			[]string{"  done     + a\n"}, []string{"  applying: 20/200\n", "  applying: 200/200\n"}, 200, 11},
		{"on a terminal the result lines are the progress: no counter", true, 200,
			[]string{"  done     + a\n"}, nil, 200, 0},
	} {
		var out, errOut strings.Builder
		p := newProgress(&out, &errOut, tc.terminal)
		for i := 1; i <= tc.total; i++ {
			p.change(provision.ChangeResult{Address: "a", Action: provision.Create}, i, tc.total)
		}
		for _, want := range tc.wantOut {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: stdout %q lacks %q", tc.reason, out.String(), want)
			}
		}
		for _, want := range tc.wantErr {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("%s: stderr %q lacks %q", tc.reason, errOut.String(), want)
			}
		}
		if lines := strings.Count(out.String(), "\n"); lines != tc.outLines {
			t.Errorf("%s: %d result lines on stdout, want %d", tc.reason, lines, tc.outLines)
		}
		if lines := strings.Count(errOut.String(), "\n"); lines > tc.errMost {
			t.Errorf("%s: %d progress lines on stderr, want at most %d", tc.reason, lines, tc.errMost)
		}
	}

	var out, errOut strings.Builder
	p := newProgress(&out, &errOut, true)
	p.count("reading", 10, 100)
	p.change(provision.ChangeResult{Address: "bad", Action: provision.Create, Err: errors.New("denied")}, 2, 100)
	if out.String() != "  failed   + bad: denied\n" {
		t.Errorf("a failure is not printed as its own result line on stdout: %q", out.String())
	}
	if errOut.String() != "\r  reading: 10/100\n" {
		t.Errorf("the reading counter on stderr is not ended before a result is printed: %q", errOut.String())
	}
}
