package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits that keep a hostile or broken file from costing more than a real manifest could.
const (
	// maxDecodeSteps bounds the values visited in one document, aliases included, so a YAML
	// "billion laughs" expands to an error instead of a hang.
	maxDecodeSteps = 200_000
	// maxDiagnosticsPerDocument stops a document made of thousands of bad values from burying the
	// first, useful diagnostics.
	maxDiagnosticsPerDocument = 200
)

// Parse decodes every document of a manifest file, without checking what the values mean
// (Validate does that). file is only used in positions and diagnostics. env looks up the
// variables that ${NAME} references name; a nil env means every variable is unset.
//
// Documents that decode with problems are still returned, as far as they could be read, so a
// caller can report everything at once; Diagnostics.HasErrors says whether to trust them.
func Parse(file string, data []byte, env func(string) (string, bool)) ([]*Document, Diagnostics) {
	docs, diags, _ := parse(file, data, env)
	return docs, diags
}

// brokenPaths records, per document, the paths whose values could not be decoded, so that
// Load does not pile a second, confusing diagnostic ("must not be empty") onto the first.
type brokenPaths map[*Document]map[string]bool

func parse(file string, data []byte, env func(string) (string, bool)) ([]*Document, Diagnostics, brokenPaths) {
	var (
		docs   []*Document
		diags  Diagnostics
		broken = brokenPaths{}
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for index := 0; ; index++ {
		var root yaml.Node
		err := decodeNode(dec, &root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			diags = append(diags, syntaxDiagnostic(file, data, err))
			break
		}
		body := documentBody(&root)
		if body == nil {
			continue
		}
		doc := &Document{Source: Source{File: file, Index: index, Positions: map[string]Pos{}}}
		d := &decoder{file: file, env: env, doc: doc, broken: map[string]bool{}}
		doc.Source.Positions[""] = d.pos(body)
		if body.Kind != yaml.MappingNode {
			d.errorf(body, "", "a manifest document must be a mapping with apiVersion and application, got %s", describe(body))
		} else {
			d.value(body, "", reflect.ValueOf(doc).Elem())
		}
		docs = append(docs, doc)
		diags = append(diags, d.diags...)
		broken[doc] = d.broken
	}
	diags.sort()
	return docs, diags, broken
}

// decodeNode reads the next document. The YAML parser is third-party code fed untrusted
// input; a panic in it becomes an ordinary error rather than taking the command down.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the YAML parser failed on this input (%v)", r)
		}
	}()
	return dec.Decode(n)
}

// documentBody returns the content of a document, or nil for an empty one (only comments, or
// a bare "---"), which is skipped.
func documentBody(root *yaml.Node) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") {
		return nil
	}
	return n
}

// decoder fills one Document from its YAML node tree, driven by the Go types' json tags so the
// manifest keys, the JSON Schema and the types cannot drift apart.
type decoder struct {
	file   string
	env    func(string) (string, bool)
	doc    *Document
	diags  Diagnostics
	broken map[string]bool
	steps  int
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) report(p Pos, path, msg string) {
	d.broken[path] = true
	switch {
	case len(d.diags) < maxDiagnosticsPerDocument:
		d.diags = append(d.diags, Diagnostic{Pos: p, Path: path, Message: msg})
	case len(d.diags) == maxDiagnosticsPerDocument:
		d.diags = append(d.diags, Diagnostic{Pos: p, Path: path, Message: "too many problems in this document; fix these first"})
	}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.report(d.pos(n), path, fmt.Sprintf(format, args...))
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func durationType() reflect.Type { return reflect.TypeFor[Duration]() }

// value decodes n into v. The caller has already recorded n's position under path.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	d.steps++
	if d.steps == maxDecodeSteps {
		d.errorf(n, path, "the document is too large (too many values or aliases): split it, or write the values out")
	}
	if d.steps >= maxDecodeSteps {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.errorf(n, path, "unknown alias")
			return
		}
		n = n.Alias
	}
	t := v.Type()
	if t == durationType() {
		d.duration(n, path, v)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(t.Elem())
		d.value(n, path, p.Elem())
		v.Set(p)
	case reflect.Struct:
		d.mapping(n, path, v)
	case reflect.Slice:
		d.sequence(n, path, v)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		d.boolean(n, path, v)
	case reflect.Int:
		d.integer(n, path, v)
	default:
		// Only reachable if types.go grows a field of a kind this decoder does not know yet.
		d.errorf(n, path, "internal error: no decoder for Go type %s", t)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str", "!!binary", "!!timestamp":
			return fmt.Sprintf("%q", n.Value)
		}
		return n.Value
	}
	return "an unknown node"
}

// field is one manifest key of a Go struct.
type field struct {
	name  string
	index int
}

func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out = append(out, field{name, i})
	}
	return out
}

func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping (key: value lines), got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "a key must be a plain name, got %s", describe(k))
			continue
		}
		key := k.Value
		keyPath := joinKey(path, key)
		if key == "<<" {
			d.errorf(k, keyPath, "merge keys (<<) are not supported: write the values out")
			continue
		}
		if first, dup := seen[key]; dup {
			d.errorf(k, keyPath, "duplicate key %q (first set at line %d): remove one", key, first.Line)
			continue
		}
		seen[key] = k
		idx := -1
		for _, f := range fields {
			if f.name == key {
				idx = f.index
			}
		}
		if idx < 0 {
			d.errorf(k, keyPath, "%s", unknownKeyMessage(key, names))
			continue
		}
		d.doc.Source.Positions[keyPath] = d.pos(val)
		d.value(val, keyPath, v.Field(idx))
	}
}

func unknownKeyMessage(key string, names []string) string {
	if s := ClosestNames(key, names, 1); len(s) > 0 {
		return fmt.Sprintf("unknown key %q: did you mean %q?", key, s[0])
	}
	return fmt.Sprintf("unknown key %q: valid keys here are %s", key, strings.Join(names, ", "))
}

func (d *decoder) sequence(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode {
			d.errorf(n, path, "want a list, got %s: write [%s] or one \"- item\" per line", describe(n), n.Value)
			return
		}
		d.errorf(n, path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		d.doc.Source.Positions[itemPath] = d.pos(item)
		d.value(item, itemPath, s.Index(i))
	}
	v.Set(s)
}

// scalar returns the text of a scalar with ${...} references expanded. want names the
// expected kind of value for the error message.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want %s, got %s", want, describe(n))
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	s, errs := substitute(n.Value, d.env)
	for _, e := range errs {
		d.report(d.referencePos(n, e.offset), path, e.message)
	}
	return s, len(errs) == 0
}

// referencePos is where the reference at byte offset sits in the file: exact for a scalar on
// one line written plain or quoted, the scalar's start otherwise (block scalars, folded lines
// and escapes make the mapping from value to file text ambiguous).
func (d *decoder) referencePos(n *yaml.Node, offset int) Pos {
	p := d.pos(n)
	if strings.Contains(n.Value, "\n") || offset > len(n.Value) {
		return p
	}
	cols := utf8.RuneCountInString(n.Value[:offset])
	switch n.Style &^ yaml.TaggedStyle {
	case 0, yaml.FlowStyle:
		p.Col += cols
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if !strings.ContainsAny(n.Value[:offset], `\'"`) {
			p.Col += cols + 1
		}
	}
	return p
}

// resolved returns the scalar after substitution, re-typed as YAML would type it had it been
// written out: adminConsent: ${CONSENT:-true} is a boolean.
func (d *decoder) resolved(n *yaml.Node, path, want string) (*yaml.Node, bool) {
	s, ok := d.scalar(n, path, want)
	if !ok {
		return nil, false
	}
	if s == n.Value {
		return n, true
	}
	c := *n
	c.Value, c.Tag, c.Style = s, "", 0
	return &c, true
}

func (d *decoder) boolean(n *yaml.Node, path string, v reflect.Value) {
	r, ok := d.resolved(n, path, "true or false")
	if !ok || isNull(r) {
		return
	}
	var b bool
	if r.ShortTag() != "!!bool" || r.Decode(&b) != nil {
		hint := ""
		if v := strings.ToLower(r.Value); v == "true" || v == "false" {
			hint = ": remove the quotes"
		}
		d.errorf(n, path, "want true or false, got %s%s", describe(r), hint)
		return
	}
	v.SetBool(b)
}

func (d *decoder) integer(n *yaml.Node, path string, v reflect.Value) {
	r, ok := d.resolved(n, path, "a whole number")
	if !ok || isNull(r) {
		return
	}
	var i int
	if r.ShortTag() != "!!int" || r.Decode(&i) != nil {
		d.errorf(n, path, "want a whole number, got %s", describe(r))
		return
	}
	v.SetInt(int64(i))
}

func (d *decoder) duration(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "a duration such as 730d or 12h")
	if !ok || isNull(n) {
		return
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	v.SetInt(int64(dur))
}
