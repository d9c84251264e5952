package manifests

import (
	"flag"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Bool("update", false, "rewrite the golden files of testdata/invalid from the current output")
	m.Run()
}

// updating reports whether the test run was asked to rewrite golden files (go test -update).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// noEnv is an environment where no variable is set.
func noEnv(string) (string, bool) { return "", false }

// envOf returns a lookup function over a fixed set of variables.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}
