package manifests

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load: it must never panic, and what it returns must keep
// its promises (sorted diagnostics naming the file, positions inside the file).
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{
		filepath.Join("..", "examples", "*.yaml"),
		filepath.Join("testdata", "invalid", "*.yaml"),
	} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	env := envOf(map[string]string{"SET": "value", "EMPTY": "", "OPENFIRE_BASE_URL": "https://x.example.com"})
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, diags := Load("f.yaml", data, env)
		if !slices.IsSortedFunc(diags, func(a, b Diagnostic) int {
			switch {
			case a.Pos.Line != b.Pos.Line:
				return a.Pos.Line - b.Pos.Line
			default:
				return a.Pos.Col - b.Pos.Col
			}
		}) {
			t.Errorf("diagnostics not sorted by position:\n%v", diags)
		}
		for _, d := range diags {
			if d.Pos.File != "f.yaml" {
				t.Errorf("diagnostic without the file name: %v", d)
			}
			_ = d.String()
		}
		for _, doc := range docs {
			if doc.Source.File != "f.yaml" || doc.Source.Positions == nil {
				t.Fatalf("document without source: %+v", doc.Source)
			}
			for path, p := range doc.Source.Positions {
				if p.Line < 1 || p.Col < 1 {
					t.Errorf("position of %q is %v, outside the file", path, p)
				}
			}
		}
		if !diags.HasErrors() && len(docs) > 0 {
			// A document Load accepts must also be accepted when validated again.
			if again := Validate(docs, BuiltinCatalogue()); again.HasErrors() {
				t.Errorf("Load accepted documents that Validate rejects:\n%v", again)
			}
		}
	})
}
