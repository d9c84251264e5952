package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Bounds of the search for the faulty line, which parses the file again at each step: how
// many lines past the parser's report it looks at, and how many bytes it parses in all, so
// a huge broken file stays cheap to report.
const (
	maxSyntaxScan      = 400
	maxSyntaxScanBytes = 16 << 20
)

func syntaxLinePattern() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) }

// syntaxDiagnostic turns a YAML parser error into a diagnostic at the faulty line and column,
// with what to do about it.
//
// yaml.v3 reports the line where the enclosing block or flow collection started (and for
// parser errors, counts it from 0), with no column: a mis-indented key is reported lines
// before it, a tab gets a message with no hint. So the position is found again from the text:
// a tab in the indentation, an unquoted ${ inside [ ] or { }, or else the first line at which
// the file, cut there, fails to parse with the same message.
func syntaxDiagnostic(file string, data []byte, err error) Diagnostic {
	msg := err.Error()
	line := 0
	if m := syntaxLinePattern().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	diag := func(l, c int, text string) Diagnostic {
		return Diagnostic{Pos: Pos{File: file, Line: l, Col: c}, Message: "invalid YAML: " + text}
	}
	if strings.HasPrefix(msg, "the YAML parser failed") {
		return Diagnostic{Pos: Pos{File: file}, Message: "invalid YAML: " + msg}
	}
	if line == 0 {
		line = 1 // yaml.v3 leaves the line out when the block or collection starts on line 1
	}
	lines := strings.Split(string(data), "\n")
	switch {
	case strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token"):
		// A tab where a token would start is reported at its own line; one that breaks the
		// indentation, at the start of the block it is in.
		to := len(lines)
		if strings.Contains(msg, "cannot start any token") {
			to = line
		}
		if l, c, ok := findIndentTab(lines, line, to); ok {
			return diag(l, c, "YAML indentation must use spaces, not tabs: replace the tab with spaces")
		}
	case strings.Contains(msg, "expected ',' or") || strings.Contains(msg, "expected node content"):
		if l, c, value, ok := findFlowReference(lines, line); ok {
			return diag(l, c, fmt.Sprintf("quote the value: ${…} inside [ ] or { } is read as YAML flow syntax; write %q", value))
		}
	}
	l, ok := firstFailingLine(lines, line, msg)
	if !ok {
		return diag(line, 1, msg)
	}
	col := indentOf(lines[l-1]) + 1
	if hint := indentationHint(lines, l); hint != "" {
		return diag(l, col, hint)
	}
	if closer, ok := strings.CutPrefix(msg, "did not find expected ',' or '"); ok {
		closer = strings.TrimSuffix(closer, "'")
		msg += fmt.Sprintf(": close the collection with %s, separate its items with commas, and quote a value that contains [ ] { } , : or #", closer)
	}
	return diag(l, col, msg)
}

// indentOf counts the spaces that start s.
func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// findIndentTab finds, in lines from to to, the first tab among the blanks that start a line.
func findIndentTab(lines []string, from, to int) (line, col int, ok bool) {
	for i := from - 1; i >= 0 && i < min(to, len(lines)); i++ {
		for j, c := range lines[i] {
			if c == '\t' {
				return i + 1, j + 1, true
			}
			if c != ' ' {
				break
			}
		}
	}
	return 0, 0, false
}

// findFlowReference finds, from line from on, the first ${ written unquoted inside a flow
// collection ([ ] or { }), where YAML reads its { as the start of a mapping, and returns where
// it is and the value written in quotes.
func findFlowReference(lines []string, from int) (line, col int, quoted string, ok bool) {
	depth := 0
	var quote rune
	last := min(len(lines), from-1+maxSyntaxScan)
	for i := max(from-1, 0); i < last; i++ {
		s := lines[i]
		tokenStart := true // at a place where a value, a quote or a flow collection may start
		for j := 0; j < len(s); j++ {
			c := rune(s[j])
			switch {
			case quote == '"' && c == '\\':
				j++
			case quote != 0:
				if c == quote {
					if quote == '\'' && j+1 < len(s) && s[j+1] == '\'' {
						j++
						continue
					}
					quote = 0
				}
			case c == '#' && (j == 0 || s[j-1] == ' ' || s[j-1] == '\t'):
				j = len(s)
			case c == ' ' || c == '\t':
			case (c == '"' || c == '\'') && tokenStart:
				quote = c
				tokenStart = false
			case (c == '[' || c == '{') && (depth > 0 || tokenStart):
				depth++
				tokenStart = true
			case (c == ']' || c == '}') && depth > 0:
				depth--
			case c == ',' && depth > 0:
				tokenStart = true
			case c == ':' && (j+1 == len(s) || s[j+1] == ' '):
				tokenStart = true
			case c == '-' && tokenStart && depth == 0 && (j+1 == len(s) || s[j+1] == ' '):
			case c == '$' && depth > 0 && strings.HasPrefix(s[j:], "${"):
				return i + 1, j + 1, flowScalar(s, j), true
			default:
				tokenStart = false
			}
		}
	}
	return 0, 0, "", false
}

// flowScalar returns the plain value around the reference at s[at], as far as the flow
// indicators that end it, skipping over ${...} references.
func flowScalar(s string, at int) string {
	start := at
	for start > 0 && !strings.ContainsRune("[{,", rune(s[start-1])) {
		start--
	}
	end := at
	for end < len(s) {
		if strings.HasPrefix(s[end:], "${") {
			if close := strings.IndexByte(s[end:], '}'); close > 0 {
				end += close + 1
				continue
			}
		}
		if strings.ContainsRune(",]}", rune(s[end])) || s[end] == '#' && s[end-1] == ' ' {
			break
		}
		end++
	}
	return strings.TrimSpace(s[start:end])
}

// parses reports the error, if any, of parsing text as a stream of YAML documents.
func parses(text string) error {
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var n yaml.Node
		if err := decodeNode(dec, &n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// firstFailingLine returns the first line, from line from on, such that the file cut after it
// fails to parse with the message msg: the line the parser could not go past. A different
// message (a flow collection or a quoted string cut in the middle) does not count.
func firstFailingLine(lines []string, from int, msg string) (int, bool) {
	last := min(len(lines), from-1+maxSyntaxScan)
	budget := maxSyntaxScanBytes
	for l := max(from, 1); l <= last; l++ {
		text := strings.Join(lines[:l], "\n") + "\n"
		if budget -= len(text); budget < 0 {
			break
		}
		err := parses(text)
		if err == nil {
			continue
		}
		if m := syntaxLinePattern().FindStringSubmatch(err.Error()); m != nil && m[2] == msg {
			return l, true
		}
	}
	return 0, false
}

// blockLevel is one block collection open at the end of the lines before a faulty one: a
// mapping whose keys start at col, or a list whose "-" are at col.
type blockLevel struct {
	col  int
	seq  bool
	key  string // mapping: its last key, as written
	line int    // where that key (or the list's last item) is
	name string // list: the key it is the value of
}

// openLevels parses the lines before line and returns the block collections still open at
// its end, outermost first, and whether the last key waits for its value (key: with nothing
// after it, so a deeper line would be that value).
func openLevels(lines []string, line int) ([]blockLevel, bool) {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(strings.Join(lines[:line-1], "\n") + "\n")))
	var last *yaml.Node
	for {
		var n yaml.Node
		if err := decodeNode(dec, &n); err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, false
			}
			break
		}
		if body := documentBody(&n); body != nil {
			last = body
		} else {
			last = nil
		}
	}
	var levels []blockLevel
	n, name := last, ""
	for n != nil && n.Style&yaml.FlowStyle == 0 {
		switch {
		case n.Kind == yaml.MappingNode && len(n.Content) >= 2:
			k, v := n.Content[len(n.Content)-2], n.Content[len(n.Content)-1]
			levels = append(levels, blockLevel{col: k.Column, key: k.Value, line: k.Line})
			if isNull(v) && v.Value == "" {
				return levels, true
			}
			n, name = v, k.Value
		case n.Kind == yaml.SequenceNode && len(n.Content) > 0:
			item := n.Content[len(n.Content)-1]
			levels = append(levels, blockLevel{col: n.Column, seq: true, line: item.Line, name: name})
			if isNull(item) && item.Value == "" {
				return levels, true
			}
			n, name = item, ""
		default:
			n = nil
		}
	}
	return levels, false
}

// indentationHint says what is wrong with the indentation of line (1-based), or "" when its
// indentation fits the blocks open above it and the problem is something else.
func indentationHint(lines []string, line int) string {
	text := lines[line-1]
	indent := indentOf(text)
	col := indent + 1
	levels, waiting := openLevels(lines, line)
	if len(levels) == 0 {
		return ""
	}
	what := "this line"
	content := strings.TrimSpace(text)
	if k, _, ok := strings.Cut(content, ":"); ok && !strings.HasPrefix(content, "-") && !strings.ContainsAny(k, " {[\"'") {
		what = strconv.Quote(k)
	}
	deepest := levels[len(levels)-1]
	if waiting && col > deepest.col {
		return "" // the value of the key above: any deeper indentation is fine
	}
	var below, above *blockLevel
	for i := range levels {
		l := &levels[i]
		if l.col == col {
			if !l.seq || strings.HasPrefix(content, "-") {
				return "" // lined up with its siblings: not an indentation problem
			}
			hint := fmt.Sprintf("%s is indented like the \"-\" items of the list %q (%s) but does not start with \"-\"", what, l.name, spaces(indent))
			if i+1 < len(levels) && !levels[i+1].seq {
				next := levels[i+1]
				hint += fmt.Sprintf(": to add it to the item above, indent it by %s like %q on line %d; to start a new item, write \"- \" before it", spaces(next.col-1), next.key, next.line)
			} else {
				hint += ": write \"- \" before it to start a new item"
			}
			return hint
		}
		if l.seq {
			continue
		}
		if l.col < col && (below == nil || l.col > below.col) {
			below = l
		}
		if l.col > col && (above == nil || l.col < above.col) {
			above = l
		}
	}
	hint := fmt.Sprintf("%s is indented by %s, which lines up with no key above it", what, spaces(indent))
	switch {
	case below != nil && above != nil:
		hint += fmt.Sprintf(": indent it by %s like %q on line %d, or by %s like %q on line %d", spaces(below.col-1), below.key, below.line, spaces(above.col-1), above.key, above.line)
	case below != nil:
		hint += fmt.Sprintf(": indent it by %s like %q on line %d", spaces(below.col-1), below.key, below.line)
	case above != nil:
		hint += fmt.Sprintf(": indent it by %s like %q on line %d", spaces(above.col-1), above.key, above.line)
	}
	return hint
}

// spaces words an indentation: "0 spaces", "1 space", "4 spaces".
func spaces(n int) string {
	switch n {
	case 0:
		return "0 spaces"
	case 1:
		return "1 space"
	}
	return strconv.Itoa(n) + " spaces"
}
