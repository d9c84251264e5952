package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/provisionhq/provision/manifests"
)

// expandPaths turns the FILE... arguments into manifest files: a directory stands for the
// .yaml and .yml files directly inside it, in name order.
func expandPaths(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", arg, err)
		}
		if !st.IsDir() {
			files = append(files, arg)
			continue
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			return nil, fmt.Errorf("read manifest directory %s: %w", arg, err)
		}
		var found []string
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				found = append(found, filepath.Join(arg, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("read manifest directory %s: no .yaml or .yml files in it", arg)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// loadManifests reads and validates every file and returns the documents, or all the
// problems found across all files (a manifests.Diagnostics error, exit code 3). Warnings are
// returned too, for the caller to print.
func loadManifests(f *factory, args []string) ([]*manifests.Document, manifests.Diagnostics, error) {
	files, err := expandPaths(args)
	if err != nil {
		return nil, nil, err
	}
	var docs []*manifests.Document
	var all manifests.Diagnostics
	for _, file := range files {
		d, diags := manifests.LoadFile(file, f.lookupEnv)
		docs = append(docs, d...)
		all = append(all, diags...)
	}
	if all.HasErrors() {
		return nil, all, all
	}
	return docs, all, nil
}

// printDiagnostics writes diagnostics one per line (file:line:col: path: message).
func printDiagnostics(w io.Writer, diags manifests.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(w, d.String())
	}
}

// diagnosticsJSON is the -o json form of validation results.
type diagnosticsJSON struct {
	FormatVersion string               `json:"format_version"`
	Valid         bool                 `json:"valid"`
	Documents     int                  `json:"documents"`
	Diagnostics   []diagnosticJSONItem `json:"diagnostics"`
}

type diagnosticJSONItem struct {
	Severity string `json:"severity"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Path     string `json:"path,omitempty"`
	Message  string `json:"message"`
}

func writeDiagnosticsJSON(w io.Writer, docs int, diags manifests.Diagnostics) error {
	out := diagnosticsJSON{FormatVersion: "1.0", Valid: !diags.HasErrors(), Documents: docs, Diagnostics: []diagnosticJSONItem{}}
	for _, d := range diags {
		out.Diagnostics = append(out.Diagnostics, diagnosticJSONItem{
			Severity: d.Severity.String(), File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Path: d.Path, Message: d.Message,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
