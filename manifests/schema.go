package manifests

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// SchemaID is the $id of the manifest's JSON Schema.
const SchemaID = "https://provisionhq.github.io/provision/schema/v1.json"

// Patterns shared by the schema and the documentation; validation applies stricter checks
// with better messages, the schema is for editors.
const (
	durationPattern = `^[0-9]+[dh]$`
	guidPattern     = `^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
)

// Schema returns the JSON Schema (draft 2020-12) of a provision/v1 manifest document, generated
// from the Go types so the two cannot drift: json tags give the keys, doc tags the
// descriptions, fields without omitempty are required, and unknown keys are refused as Load
// refuses them.
func Schema() ([]byte, error) {
	g := schemaGenerator{defs: map[string]any{}}
	root := g.object(reflect.TypeFor[Document]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "provision manifest (" + APIVersion + ")"
	root["description"] = "One application registration, its permissions, consent, secrets, assignments, Send-As rights and mailbox settings. A file may hold several documents separated by ---; ${NAME} and ${NAME:-default} are replaced from the environment."
	root["$defs"] = g.defs
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return append(out, '\n'), nil
}

type schemaGenerator struct {
	defs map[string]any
}

// fieldConstraints adds to the generated schema of one field (keyed Type.jsonName) the
// constraints validation enforces that the Go type cannot express.
func fieldConstraints() map[string]map[string]any {
	return map[string]map[string]any{
		"Document.apiVersion":    {"const": APIVersion},
		"Application.name":       {"minLength": 1},
		"Application.appId":      {"pattern": `^$|` + guidPattern},
		"Application.uniqueName": {"pattern": `^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$`},
		"Permission.api":         {"minLength": 1},
		"Secret.name":            {"minLength": 1},
		"Secret.keepPrevious":    {"minimum": 0},
		"SecretStore.exec":       {"minItems": 1},
		"KeyVaultSecret.url":     {"pattern": `^https://[^/?#@]+/?$`},
		"KeyVaultSecret.name":    {"pattern": `^[0-9A-Za-z-]{1,127}$`},
		"SendAs.mailbox":         {"minLength": 1},
		"SendAs.trustees":        {"minItems": 1},
		"Mailbox.address":        {"minLength": 1},
	}
}

// typeConstraints does the same for whole struct types.
func typeConstraints() map[string]map[string]any {
	return map[string]map[string]any{
		"SecretStore": {"minProperties": 1},
	}
}

func (g *schemaGenerator) typeSchema(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[Duration]():
		return map[string]any{"type": "string", "pattern": durationPattern, "examples": []string{"730d", "30d", "12h"}}
	case reflect.TypeFor[Audience]():
		return map[string]any{"type": "string", "enum": audienceNames()}
	case reflect.TypeFor[SMTPAuth]():
		return map[string]any{"type": "string", "enum": smtpAuthNames()}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typeSchema(t.Elem())}
	case reflect.Struct:
		if _, ok := g.defs[t.Name()]; !ok {
			g.defs[t.Name()] = nil // reserve: a type that refers to itself stops here
			g.defs[t.Name()] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	}
	// Only reachable if types.go grows a field of a kind this generator does not know yet;
	// the schema test fails on it.
	return map[string]any{"description": "unsupported Go type " + t.String()}
}

func (g *schemaGenerator) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	extra := fieldConstraints()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		s := g.typeSchema(f.Type)
		if doc := f.Tag.Get("doc"); doc != "" {
			if _, isRef := s["$ref"]; isRef {
				// Keywords beside $ref are allowed in 2020-12, and editors show this one.
				s = map[string]any{"$ref": s["$ref"], "description": doc}
			} else {
				s["description"] = doc
			}
		}
		for k, v := range extra[t.Name()+"."+name] {
			s[k] = v
		}
		props[name] = s
		if !hasOption(opts, "omitempty") {
			required = append(required, name)
		}
	}
	o := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		o["required"] = required
	}
	for k, v := range typeConstraints()[t.Name()] {
		o[k] = v
	}
	return o
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
