package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := Schema()
	if err != nil {
		t.Fatalf("Schema(): %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("Schema() is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("Schema() does not compile as draft 2020-12: %v", err)
	}
	return s
}

// yamlDocuments returns each non-empty document of a YAML file as a JSON value, the way an
// editor's YAML language server hands it to the schema (before ${} substitution).
func yamlDocuments(t *testing.T, data []byte) []any {
	t.Helper()
	var out []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode YAML: %v", err)
		}
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("YAML value is not JSON-compatible: %v", err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, inst)
	}
}

func TestExamplesValidateAgainstSchema(t *testing.T) {
	s := compiledSchema(t)
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	var manifests int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte("apiVersion: "+APIVersion)) {
			continue // other example files (not manifests) may live there too
		}
		manifests++
		for i, doc := range yamlDocuments(t, data) {
			if err := s.Validate(doc); err != nil {
				t.Errorf("%s document %d does not validate against the schema: %v", f, i+1, err)
			}
		}
	}
	if manifests < 2 {
		t.Errorf("found %d example manifests in ../examples, want at least openfire.yaml and minimal.yaml", manifests)
	}
}

func TestSchemaRejects(t *testing.T) {
	s := compiledSchema(t)
	cases := map[string]struct {
		reason   string
		manifest string
	}{
		"UnknownKey": {
			reason:   "unknown keys are errors for Load, so the schema refuses them too",
			manifest: "apiVersion: provision/v1\napplication: {name: a, redirectUri: {}}\n",
		},
		"WrongAPIVersion": {
			reason:   "only provision/v1 is read",
			manifest: "apiVersion: provision/v2\napplication: {name: a}\n",
		},
		"MissingName": {
			reason:   "name has no omitempty, so it is required",
			manifest: "apiVersion: provision/v1\napplication: {audience: single-org}\n",
		},
		"Audience": {
			reason:   "audience is an enum",
			manifest: "apiVersion: provision/v1\napplication: {name: a, audience: everyone}\n",
		},
		"Duration": {
			reason:   "durations are whole days or hours",
			manifest: "apiVersion: provision/v1\napplication: {name: a, secrets: [{name: s, lifetime: 2y, store: {file: f}}]}\n",
		},
		"EmptyStore": {
			reason:   "a secret needs at least one sink",
			manifest: "apiVersion: provision/v1\napplication: {name: a, secrets: [{name: s, store: {}}]}\n",
		},
		"NoTrustees": {
			reason:   "a Send-As entry needs trustees",
			manifest: "apiVersion: provision/v1\napplication: {name: a}\nsendAs: [{mailbox: m@contoso.com, trustees: []}]\n",
		},
		"AppIDNotGUID": {
			reason:   "appId is a GUID",
			manifest: "apiVersion: provision/v1\napplication: {name: a, appId: nope}\n",
		},
		"MailboxSMTPAuth": {
			reason:   "smtpAuth is an enum",
			manifest: "apiVersion: provision/v1\napplication: {name: a}\nmailboxes: [{address: m@contoso.com, smtpAuth: on}]\n",
		},
		"MailboxWithoutAddress": {
			reason:   "address has no omitempty, so it is required",
			manifest: "apiVersion: provision/v1\napplication: {name: a}\nmailboxes: [{appAccess: true}]\n",
		},
		"MailboxAppAccessString": {
			reason:   "appAccess is a boolean",
			manifest: "apiVersion: provision/v1\napplication: {name: a}\nmailboxes: [{address: m@contoso.com, appAccess: \"yes\"}]\n",
		},
		"StringForList": {
			reason:   "lists are arrays",
			manifest: "apiVersion: provision/v1\napplication: {name: a, redirectUris: {web: https://a.example.com}}\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			docs := yamlDocuments(t, []byte(tc.manifest))
			if len(docs) != 1 {
				t.Fatalf("want one document, got %d", len(docs))
			}
			if err := s.Validate(docs[0]); err == nil {
				t.Errorf("%s\nschema accepted:\n%s", tc.reason, tc.manifest)
			}
		})
	}
}

// TestSchemaMatchesTypes checks that every json field of every manifest struct is a property
// of its schema object and the reverse, and that required lists the fields without omitempty.
func TestSchemaMatchesTypes(t *testing.T) {
	raw, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"$schema", "$id", "title"} {
		if root[k] == nil {
			t.Errorf("schema has no %s", k)
		}
	}
	defs, _ := root["$defs"].(map[string]any)
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	structCount := 0
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		structCount++
		obj := root
		if typ != reflect.TypeFor[Document]() {
			obj, _ = defs[typ.Name()].(map[string]any)
			if obj == nil {
				t.Errorf("schema has no $defs entry for %s", typ.Name())
				return
			}
		}
		var wantProps, wantRequired []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			wantProps = append(wantProps, name)
			if !slices.Contains(strings.Split(opts, ","), "omitempty") {
				wantRequired = append(wantRequired, name)
			}
			walk(f.Type)
		}
		props, _ := obj["properties"].(map[string]any)
		var gotProps []string
		for k := range props {
			gotProps = append(gotProps, k)
		}
		var gotRequired []string
		if req, ok := obj["required"].([]any); ok {
			for _, r := range req {
				gotRequired = append(gotRequired, r.(string))
			}
		}
		slices.Sort(wantProps)
		slices.Sort(gotProps)
		slices.Sort(wantRequired)
		slices.Sort(gotRequired)
		if diff := cmp.Diff(wantProps, gotProps); diff != "" {
			t.Errorf("%s: schema properties differ from json fields (-types +schema):\n%s", typ.Name(), diff)
		}
		if diff := cmp.Diff(wantRequired, gotRequired); diff != "" {
			t.Errorf("%s: schema required differs from fields without omitempty (-types +schema):\n%s", typ.Name(), diff)
		}
		if obj["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is %v, want false", typ.Name(), obj["additionalProperties"])
		}
	}
	walk(reflect.TypeFor[Document]())
	if structCount != len(defs)+1 {
		t.Errorf("schema has %d $defs, the types %d structs besides Document", len(defs), structCount-1)
	}
}
