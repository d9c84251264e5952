package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/manifests/dotenv"
)

// stdinName is the argument that reads a manifest from standard input, and the file name its
// diagnostics carry.
const (
	stdinArg  = "-"
	stdinName = "stdin"
)

// manifestFile is one manifest's name (as diagnostics print it) and content.
type manifestFile struct {
	name string
	data []byte
}

// manifestArgs is the positional-argument rule of a command taking FILE|DIR...: at least one,
// with an error that says what the command expects.
func manifestArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s needs at least one manifest file: %s FILE... (a directory stands for its .yaml and .yml files, - for standard input)",
			cmd.Name(), cmd.CommandPath())
	}
	return nil
}

// manifestCompletion completes manifest files: .yaml and .yml files, and directories.
func manifestCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// fixedCompletion completes a flag from a fixed list of values.
func fixedCompletion(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// anyFileCompletion lets the shell complete any file name.
func anyFileCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveDefault
}

// expandPaths turns the FILE... arguments into manifest files: a directory stands for the
// .yaml and .yml files directly inside it, in name order. An entry of such a name that is a
// directory is an error rather than skipped: a manifest silently left out would plan as if
// its objects were not wanted.
func expandPaths(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		if arg == stdinArg {
			files = append(files, arg)
			continue
		}
		st, err := os.Stat(arg)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", arg, unwrapPath(err))
		}
		if !st.IsDir() {
			files = append(files, arg)
			continue
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			return nil, fmt.Errorf("read manifest directory %s: %w", arg, unwrapPath(err))
		}
		var found []string
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if ext != ".yaml" && ext != ".yml" {
				continue
			}
			path := filepath.Join(arg, e.Name())
			if e.IsDir() {
				return nil, fmt.Errorf("read manifest directory %s: %s is a directory, not a manifest file; directories are not searched below their first level: pass %s itself, or rename it", arg, path, path)
			}
			found = append(found, path)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("read manifest directory %s: no .yaml or .yml files in it", arg)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// readManifests reads the files the arguments name. It runs aside and gives up when ctx ends,
// so an open that the kernel holds (a hung network mount) cannot outlast Ctrl-C or --timeout.
// Every error is an I/O error (exit code 1), never a verdict on a manifest's content.
func readManifests(ctx context.Context, f *factory, args []string) ([]manifestFile, error) {
	type result struct {
		files []manifestFile
		err   error
	}
	done := make(chan result, 1)
	go func() {
		files, err := readManifestFiles(f, args)
		done <- result{files, err}
	}()
	select {
	case r := <-done:
		return r.files, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("read manifests: %w", context.Cause(ctx))
	}
}

func readManifestFiles(f *factory, args []string) ([]manifestFile, error) {
	paths, err := expandPaths(args)
	if err != nil {
		return nil, err
	}
	var out []manifestFile
	stdinRead := false
	for _, p := range paths {
		if p == stdinArg {
			if stdinRead {
				return nil, fmt.Errorf("read manifest: - (standard input) is given twice")
			}
			stdinRead = true
			data, err := io.ReadAll(io.LimitReader(f.in, manifests.MaxFileSize+1))
			if err != nil {
				return nil, fmt.Errorf("read manifest from standard input: %w", err)
			}
			if len(data) > manifests.MaxFileSize {
				return nil, fmt.Errorf("read manifest from standard input: more than %d bytes, more than a manifest can be", manifests.MaxFileSize)
			}
			out = append(out, manifestFile{name: stdinName, data: data})
			continue
		}
		data, err := manifests.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", p, unwrapPath(err))
		}
		out = append(out, manifestFile{name: p, data: data})
	}
	return out, nil
}

// unwrapPath drops the *fs.PathError wrapper, whose path the caller's message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// manifestEnv is where ${…} references find their values: the --env-file files first, then
// the process environment.
func (f *factory) manifestEnv(g *globalOptions) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := g.vars[name]; ok {
			return v, true
		}
		return f.lookupEnv(name)
	}
}

// readEnvFiles reads the --env-file files in order; a later definition of a name wins, so a
// later file overrides an earlier one.
func readEnvFiles(ctx context.Context, paths []string) (map[string]string, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	vars := map[string]string{}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := manifests.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read --env-file %s: %w", p, unwrapPath(err))
		}
		defs, err := dotenv.Parse(p, data)
		if err != nil {
			return nil, fmt.Errorf("read --env-file:\n%w", err)
		}
		for _, d := range defs {
			vars[d.Name] = d.Value
		}
	}
	return vars, nil
}

// loadManifests reads and validates every file and returns the documents, or all the
// problems found across all files (a manifests.Diagnostics error, exit code 3). Warnings are
// returned too, for the caller to print. A file that cannot be read is an I/O error (exit 1).
func loadManifests(ctx context.Context, f *factory, g *globalOptions, args []string) ([]*manifests.Document, manifests.Diagnostics, error) {
	files, err := readManifests(ctx, f, args)
	if err != nil {
		return nil, nil, err
	}
	var docs []*manifests.Document
	var all manifests.Diagnostics
	for _, file := range files {
		d, diags := manifests.Load(file.name, file.data, f.manifestEnv(g))
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
