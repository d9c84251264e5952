package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/provisionhq/provision/provision"
)

func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		reason   string
		terminal bool
		total    int
		wantSub  []string
		maxLines int
	}{
		{"a short run prints a line per change", false, 3, []string{"done     + a"}, 3},
		{"a long run without a terminal prints a line per tenth", false, 200, []string{"applying: 200/200"}, 12},
		{"a long run on a terminal rewrites one counter", true, 200, []string{"\r  applying: 200/200"}, 1},
	} {
		var out strings.Builder
		p := newProgress(&out, tc.terminal)
		for i := 1; i <= tc.total; i++ {
			p.change(provision.ChangeResult{Address: "a", Action: provision.Create}, i, tc.total)
		}
		for _, want := range tc.wantSub {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s: output %q lacks %q", tc.reason, out.String(), want)
			}
		}
		if lines := strings.Count(out.String(), "\n"); lines > tc.maxLines {
			t.Errorf("%s: %d lines, want at most %d", tc.reason, lines, tc.maxLines)
		}
	}

	var out strings.Builder
	p := newProgress(&out, true)
	p.change(provision.ChangeResult{Address: "ok", Action: provision.Create}, 1, 100)
	p.change(provision.ChangeResult{Address: "bad", Action: provision.Create, Err: errors.New("denied")}, 2, 100)
	if !strings.Contains(out.String(), "\n  failed   + bad: denied") {
		t.Errorf("a failure in a long run is not printed on its own line: %q", out.String())
	}
}
