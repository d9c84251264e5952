package simtenant

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// filterExpr is one node of a parsed $filter. env binds lambda variables of any(...).
type filterExpr interface {
	eval(obj map[string]any, env map[string]any) bool
	// visit calls f for every comparison, with the property path relative to the entity
	// ("tags/any" for the inner comparison of a lambda over tags).
	visit(f func(path, op string, val any) string) string
}

type boolExpr struct {
	op   string // and, or
	l, r filterExpr
}

func (b boolExpr) eval(o, env map[string]any) bool {
	if b.op == "and" {
		return b.l.eval(o, env) && b.r.eval(o, env)
	}
	return b.l.eval(o, env) || b.r.eval(o, env)
}

func (b boolExpr) visit(f func(string, string, any) string) string {
	if m := b.l.visit(f); m != "" {
		return m
	}
	return b.r.visit(f)
}

type notExpr struct{ x filterExpr }

func (n notExpr) eval(o, env map[string]any) bool { return !n.x.eval(o, env) }
func (n notExpr) visit(f func(string, string, any) string) string {
	if m := f("", "not", nil); m != "" {
		return m
	}
	return n.x.visit(f)
}

type cmpExpr struct {
	path string
	op   string // eq ne ge le gt lt in startswith endswith
	val  any    // []any for in
}

func (c cmpExpr) eval(o, env map[string]any) bool {
	v := lookupPath(o, env, c.path)
	switch c.op {
	case "eq":
		return valueEqual(v, c.val)
	case "ne":
		return !valueEqual(v, c.val)
	case "in":
		for _, x := range c.val.([]any) {
			if valueEqual(v, x) {
				return true
			}
		}
		return false
	case "startswith", "endswith":
		s, ok1 := v.(string)
		p, ok2 := c.val.(string)
		if !ok1 || !ok2 {
			return false
		}
		if c.op == "startswith" {
			return strings.HasPrefix(strings.ToLower(s), strings.ToLower(p))
		}
		return strings.HasSuffix(strings.ToLower(s), strings.ToLower(p))
	default:
		a, b := strings.ToLower(fmt.Sprint(v)), strings.ToLower(fmt.Sprint(c.val))
		switch c.op {
		case "ge":
			return a >= b
		case "le":
			return a <= b
		case "gt":
			return a > b
		case "lt":
			return a < b
		}
	}
	return false
}

func (c cmpExpr) visit(f func(string, string, any) string) string { return f(c.path, c.op, c.val) }

type anyExpr struct {
	path string // the collection
	v    string // lambda variable
	x    filterExpr
}

func (a anyExpr) eval(o, env map[string]any) bool {
	coll, _ := lookupPath(o, env, a.path).([]any)
	for _, el := range coll {
		inner := map[string]any{a.v: el}
		for k, v := range env {
			inner[k] = v
		}
		if a.x.eval(o, inner) {
			return true
		}
	}
	return false
}

func (a anyExpr) visit(f func(string, string, any) string) string {
	prefix := a.path + "/any"
	return a.x.visit(func(path, op string, val any) string {
		rest := strings.TrimPrefix(strings.TrimPrefix(path, a.v), "/")
		p := prefix
		if rest != "" {
			p += "/" + rest
		}
		return f(p, op, val)
	})
}

// lookupPath resolves "a/b" on the entity, or on a lambda variable when the first segment names one.
func lookupPath(o, env map[string]any, path string) any {
	segs := strings.Split(path, "/")
	var cur any = o
	if v, ok := env[segs[0]]; ok {
		cur = v
		segs = segs[1:]
	}
	for _, s := range segs {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[s]
	}
	return cur
}

// valueEqual compares as the directory does: strings case-insensitively.
func valueEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.EqualFold(as, bs)
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

type filterParser struct {
	toks []string
	pos  int
}

// parseFilter parses the OData $filter subset Graph's directory supports: eq ne ge le gt lt,
// in (...), and/or/not, parentheses, startswith/endswith(prop,'x'), coll/any(v:v eq 'x').
func parseFilter(s string) (filterExpr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	return e, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case strings.IndexByte("(),:", c) >= 0:
			toks = append(toks, string(c))
			i++
		case c == '\'':
			var b strings.Builder
			b.WriteByte('\'')
			i++
			for {
				if i >= len(s) {
					return nil, errors.New("unterminated string literal")
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			toks = append(toks, b.String())
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t(),:'", s[j]) < 0 {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *filterParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *filterParser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("expected %q, got %q", t, got)
	}
	return nil
}

func (p *filterParser) or() (filterExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = boolExpr{op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) and() (filterExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = boolExpr{op: "and", l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) unary() (filterExpr, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notExpr{x: x}, nil
	}
	return p.primary()
}

func (p *filterParser) primary() (filterExpr, error) {
	t := p.next()
	switch {
	case t == "":
		return nil, errors.New("unexpected end of filter")
	case t == "(":
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		return e, p.expect(")")
	case strings.EqualFold(t, "startswith") || strings.EqualFold(t, "endswith"):
		if err := p.expect("("); err != nil {
			return nil, err
		}
		path := p.next()
		if err := p.expect(","); err != nil {
			return nil, err
		}
		val, err := literal(p.next())
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return cmpExpr{path: path, op: strings.ToLower(t), val: val}, nil
	case strings.HasSuffix(strings.ToLower(t), "/any"):
		if err := p.expect("("); err != nil {
			return nil, err
		}
		v := p.next()
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return anyExpr{path: t[:len(t)-len("/any")], v: v, x: x}, nil
	}
	op := strings.ToLower(p.next())
	switch op {
	case "eq", "ne", "ge", "le", "gt", "lt":
		val, err := literal(p.next())
		if err != nil {
			return nil, err
		}
		return cmpExpr{path: t, op: op, val: val}, nil
	case "in":
		if err := p.expect("("); err != nil {
			return nil, err
		}
		var vals []any
		for {
			v, err := literal(p.next())
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			if sep := p.next(); sep == ")" {
				break
			} else if sep != "," {
				return nil, fmt.Errorf("expected ',' or ')', got %q", sep)
			}
		}
		return cmpExpr{path: t, op: "in", val: vals}, nil
	}
	return nil, fmt.Errorf("unknown operator %q after %q", op, t)
}

// literal turns a token into a value: 'string', true/false, null, a number, or a bare GUID.
func literal(t string) (any, error) {
	switch {
	case t == "" || strings.IndexByte("(),:", t[0]) >= 0:
		return nil, fmt.Errorf("expected a value, got %q", t)
	case t[0] == '\'':
		return t[1:], nil
	case t == "true" || t == "false":
		return t == "true", nil
	case t == "null":
		return nil, nil
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return f, nil
	}
	return t, nil
}

// checkFilter returns the service's message for a filter the directory refuses, or "".
func (k *kind) checkFilter(e filterExpr, advanced bool) string {
	return e.visit(func(path, op string, val any) string {
		if op == "not" || op == "ne" || op == "endswith" || (op == "eq" && val == nil) || strings.Contains(path, "$count") {
			if advanced {
				return ""
			}
			name := op
			if op == "endswith" {
				name = "endsWith"
			}
			return fmt.Sprintf("Operator '%s' %s", name, advancedHint)
		}
		ops, ok := k.filters[path]
		if !ok || !strings.Contains(" "+ops+" ", " "+op+" ") {
			if advanced && k.advancedFilters[path] {
				return ""
			}
			prop, _, _ := strings.Cut(path, "/")
			return fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, k.resourceName)
		}
		return ""
	})
}
