package simtenant

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"testing"
)

// schemaValidator checks JSON values against the reference schema (the subset of draft 2020-12
// it uses: $ref, type, properties, required, items, anyOf, enum, pattern, maxItems,
// minimum/maximum, additionalProperties, patternProperties).
type schemaValidator struct {
	defs map[string]map[string]any
}

func newSchemaValidator(t *testing.T) *schemaValidator {
	t.Helper()
	var doc struct {
		Defs map[string]map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal([]byte(graphSchemasJSON), &doc); err != nil {
		t.Fatal(err)
	}
	// Real v1.0 answers carry servicePrincipal.createdDateTime (the recordings in
	// testdata/recorded show it on every service principal), though the CSDL the schema
	// derives from lacks it: the strict schema accepts it too.
	for _, def := range []string{"strict.microsoft.graph.servicePrincipal", "microsoft.graph.servicePrincipal"} {
		asMap(doc.Defs[def]["properties"])["createdDateTime"] = map[string]any{"type": []any{"string", "null"}}
	}
	return &schemaValidator{defs: doc.Defs}
}

// validate returns the first violation of def by v, or "".
func (s *schemaValidator) validate(def string, v any) string {
	d, ok := s.defs[def]
	if !ok {
		return "no schema " + def
	}
	return s.check(d, v, "$")
}

func (s *schemaValidator) check(sch map[string]any, v any, at string) string {
	if ref, ok := sch["$ref"].(string); ok {
		name := ref[len("#/$defs/"):]
		return s.check(s.defs[name], v, at)
	}
	if alts, ok := sch["anyOf"].([]any); ok {
		for _, alt := range alts {
			if s.check(alt.(map[string]any), v, at) == "" {
				return ""
			}
		}
		return fmt.Sprintf("%s: %v matches no alternative", at, v)
	}
	if typ, ok := sch["type"]; ok && !typeMatches(typ, v) {
		return fmt.Sprintf("%s: %T does not match type %v", at, v, typ)
	}
	if enum, ok := sch["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Sprintf("%s: %v not in enum", at, v)
	}
	switch x := v.(type) {
	case string:
		if p, ok := sch["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			return fmt.Sprintf("%s: %q does not match %s", at, x, p)
		}
	case float64:
		if m, ok := sch["minimum"].(float64); ok && x < m {
			return fmt.Sprintf("%s: %v below minimum", at, x)
		}
		if m, ok := sch["maximum"].(float64); ok && x > m {
			return fmt.Sprintf("%s: %v above maximum", at, x)
		}
	case []any:
		if m, ok := sch["maxItems"].(float64); ok && float64(len(x)) > m {
			return fmt.Sprintf("%s: more than %v items", at, m)
		}
		if items, ok := sch["items"].(map[string]any); ok {
			for i, el := range x {
				if msg := s.check(items, el, fmt.Sprintf("%s[%d]", at, i)); msg != "" {
					return msg
				}
			}
		}
	case map[string]any:
		props, _ := sch["properties"].(map[string]any)
		for _, r := range asList(sch["required"]) {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Sprintf("%s: required %s missing", at, r)
			}
		}
		for k, val := range x {
			if p, ok := props[k].(map[string]any); ok {
				if msg := s.check(p, val, at+"."+k); msg != "" {
					return msg
				}
				continue
			}
			matched := false
			for pat := range asMap(sch["patternProperties"]) {
				if regexp.MustCompile(pat).MatchString(k) {
					matched = true
				}
			}
			if !matched && sch["additionalProperties"] == false {
				return fmt.Sprintf("%s: property %s not allowed", at, k)
			}
		}
	}
	return ""
}

func typeMatches(typ any, v any) bool {
	types := []any{typ}
	if l, ok := typ.([]any); ok {
		types = l
	}
	for _, t := range types {
		switch t {
		case "null":
			if v == nil {
				return true
			}
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return true
			}
		case "number":
			if _, ok := v.(float64); ok {
				return true
			}
		case "integer":
			if f, ok := v.(float64); ok && f == float64(int64(f)) {
				return true
			}
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := v.([]any); ok {
				return true
			}
		}
	}
	return false
}
