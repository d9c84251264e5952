package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInvalidCorpus loads every manifest of testdata/invalid and compares the diagnostics
// with its .golden file, one diagnostic per line. Run with -update to rewrite the goldens,
// then read the diff.
func TestInvalidCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("want at least 25 invalid manifests, found %d", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, diags := LoadFile(filepath.ToSlash(file), noEnv)
			if !diags.HasErrors() {
				t.Errorf("LoadFile(%s): no error; every manifest in testdata/invalid must be invalid", file)
			}
			got := diags.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if updating() {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run go test -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("LoadFile(%s) diagnostics (-want +got):\n%s", file, diff)
			}
		})
	}
}
