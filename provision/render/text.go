package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/provisionhq/provision/provision"
)

// TextOptions tunes the text rendering. The caller decides colour (a terminal, no
// --no-color, no NO_COLOR); the renderer never looks at the environment.
type TextOptions struct {
	Color bool
}

// ANSI colours per action, as terraform uses them.
const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	cyan   = "\x1b[36m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

// Text writes p as a human-readable diff. It renders the JSON document of p, decoded again,
// so it shows exactly what -o json shows.
func Text(w io.Writer, p *provision.Plan, opts TextOptions) error {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, NewDocument(p)); err != nil {
		return err
	}
	var d decoded
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		return fmt.Errorf("decode plan: %w", err)
	}
	t := &textWriter{opts: opts}
	t.document(d)
	if _, err := w.Write(t.b.Bytes()); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// textWriter accumulates the rendering; writes to a bytes.Buffer cannot fail.
type textWriter struct {
	b    bytes.Buffer
	opts TextOptions
}

func (t *textWriter) color(c, s string) string {
	if !t.opts.Color || c == "" {
		return s
	}
	return c + s + reset
}

func (t *textWriter) printf(format string, args ...any) { fmt.Fprintf(&t.b, format, args...) }

// actionStyle returns the glyph, colour and verb phrase of an action word.
func actionStyle(word string) (glyph, color, verb string) {
	a, err := provision.ParseAction(word)
	if err != nil {
		return "?", "", "will be changed (" + word + ")"
	}
	switch a {
	case provision.Create:
		return string(a), green, "will be created"
	case provision.Update:
		return string(a), yellow, "will be updated in place"
	case provision.Delete:
		return string(a), red, "will be destroyed"
	case provision.Rotate:
		return string(a), cyan, "will be rotated"
	case provision.Adopt:
		return string(a), cyan, "will be adopted"
	}
	return string(a), "", "will be changed"
}

func (t *textWriter) document(d decoded) {
	if len(d.Changes) == 0 {
		t.printf("%s\n", t.color(bold, "No changes. The tenant matches the manifest."))
	} else {
		t.printf("provision will perform the following actions:\n")
		for _, c := range d.Changes {
			glyph, color, verb := actionStyle(c.Action)
			t.printf("\n  %s\n", t.color(bold, fmt.Sprintf("# %s %s", c.Address, verb)))
			if c.Reason != "" {
				t.printf("  # (%s)\n", c.Reason)
			}
			if len(c.Attributes) == 0 {
				t.printf("  %s %s\n", t.color(color, glyph), c.Address)
				continue
			}
			t.printf("  %s %s {\n", t.color(color, glyph), c.Address)
			width := 0
			for _, a := range c.Attributes {
				width = max(width, len(a.Name))
			}
			for _, a := range c.Attributes {
				t.attribute(c.Action, a.Name, width, a.Before, a.After, a.Sensitive, a.KnownAfterApply)
			}
			t.printf("    }\n")
		}
	}
	if len(d.Warnings) > 0 {
		t.printf("\n%s\n", t.color(yellow+bold, "Warnings:"))
		for _, w := range d.Warnings {
			where := ""
			if !w.Source.IsZero() {
				where = w.Source.String() + ": "
			}
			if w.Address != "" {
				where += w.Address + ": "
			}
			t.printf("  %s %s%s\n", t.color(yellow, "!"), where, w.Message)
		}
	}
	if len(d.Changes) > 0 {
		t.printf("\n%s.\n", t.color(bold, "Plan: "+SummaryLine(d.Summary)))
	}
}

// attribute prints one attribute line (or block, for a set) of a change.
func (t *textWriter) attribute(action, name string, width int, before, after any, sensitive, known bool) {
	pad := strings.Repeat(" ", width-len(name))
	glyph, color := "~", yellow
	switch {
	case action == provision.Delete.String() || (after == nil && !known && before != nil):
		glyph, color = "-", red
	case sensitive && action != provision.Create.String():
	case before == nil:
		glyph, color = "+", green
	}
	lead := fmt.Sprintf("      %s %s%s = ", t.color(color, glyph), name, pad)
	switch {
	case sensitive:
		t.printf("%s(sensitive)\n", lead)
		return
	case known:
		t.printf("%s(known after apply)\n", lead)
		return
	}
	bl, bIsList := before.([]any)
	al, aIsList := after.([]any)
	if bIsList || aIsList {
		t.set(lead, bl, al, before == nil || after == nil)
		return
	}
	switch {
	case before == nil:
		t.printf("%s%s\n", lead, value(after))
	case after == nil:
		t.printf("%s%s\n", lead, value(before))
	default:
		t.printf("%s%s -> %s\n", lead, value(before), value(after))
	}
}

// set prints a set as the elements it gains and loses; unchanged ones are counted, not
// listed, unless the whole set is new or gone.
func (t *textWriter) set(lead string, before, after []any, whole bool) {
	strs := func(xs []any) []string {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = value(x)
		}
		slices.Sort(out)
		return out
	}
	b, a := strs(before), strs(after)
	if len(b) == 0 && len(a) == 0 {
		t.printf("%s[]\n", lead)
		return
	}
	t.printf("%s[\n", lead)
	unchanged := 0
	for _, x := range a {
		if !slices.Contains(b, x) {
			t.printf("          %s %s,\n", t.color(green, "+"), x)
		} else {
			unchanged++
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			t.printf("          %s %s,\n", t.color(red, "-"), x)
		}
	}
	switch {
	case unchanged == 0 || whole:
	case unchanged == 1:
		t.printf("            # (1 unchanged element hidden)\n")
	default:
		t.printf("            # (%d unchanged elements hidden)\n", unchanged)
	}
	t.printf("        ]\n")
}

// value renders a JSON scalar the way the plan shows it: strings quoted, others as JSON.
func value(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// SummaryLine words a summary as the plan's closing line does, without "Plan: " and the
// full stop: "2 to add, 1 to change (1 to adopt), 0 to destroy, 1 to rotate".
func SummaryLine(s provision.Summary) string {
	line := fmt.Sprintf("%d to add, %d to change", s.Add, s.Change)
	if s.Adopt > 0 {
		line += fmt.Sprintf(" (%d to adopt)", s.Adopt)
	}
	line += fmt.Sprintf(", %d to destroy", s.Destroy)
	if s.Rotate > 0 {
		line += fmt.Sprintf(", %d to rotate", s.Rotate)
	}
	return line
}
