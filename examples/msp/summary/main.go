// Command summary gathers the -o json reports of provision's per-customer CI jobs into one
// Markdown summary: per customer what changed, what failed and which secret expires soonest,
// then the failures with their errors and every managed secret by expiry.
//
//	summary [-customers DIR] [-soon DAYS] [-title TEXT] REPORTS
//
// REPORTS holds one directory per customer, named for the customer, with that customer's
// reports (any *.json: the job's apply -o json, and plan -o json made after it) at any depth
// below REPORTS. With -customers, every NAME.env of DIR is a customer, so one whose job wrote
// no report is listed as such instead of missing from the table.
//
// It is the last job of the MSP workflows in examples/ci. It needs only the standard library,
// so `go run` builds it in seconds, without provision's dependencies.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the program: the summary on stdout, errors on stderr, and the exit code (0 written,
// 1 the reports could not be read, 2 a usage error). A customer that failed is a row of the
// summary, not an error: the customer's own job already failed.
func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("summary", flag.ContinueOnError)
	flags.SetOutput(stderr)
	customersDir := flags.String("customers", "", "folder of the customers' env files (`DIR`/NAME.env): customers without a report are listed too")
	soon := flags.Int("soon", 30, "show in bold the secrets that expire within this many `DAYS`")
	title := flags.String("title", "provision", "the summary's heading")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: summary [-customers DIR] [-soon DAYS] [-title TEXT] REPORTS")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return 2
	}
	customers, err := collect(flags.Arg(0), *customersDir)
	if err != nil {
		fmt.Fprintf(stderr, "summary: %v\n", err)
		return 1
	}
	if err := writeMarkdown(stdout, customers, markdownOptions{Title: *title, Soon: *soon}); err != nil {
		fmt.Fprintf(stderr, "summary: %v\n", err)
		return 1
	}
	return 0
}

// collect reads the reports under dir, one customer per directory holding *.json files, and
// adds the customers named by the env files of customersDir that have none. A missing dir is
// no reports at all when customersDir says who was expected.
func collect(dir, customersDir string) ([]customer, error) {
	files := map[string][]string{} // customer: report files
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		parent := filepath.Dir(path)
		if parent == filepath.Clean(dir) {
			return fmt.Errorf("read %s: a report directly in %s: put each customer's reports in a directory named for the customer (%s/NAME/apply.json)", path, dir, dir)
		}
		name := filepath.Base(parent)
		files[name] = append(files[name], path)
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist) && customersDir != "":
		// No job uploaded anything: every expected customer is listed without a report.
	case err != nil:
		return nil, fmt.Errorf("read reports: %w", err)
	}
	if customersDir != "" {
		envs, err := filepath.Glob(filepath.Join(customersDir, "*.env"))
		if err != nil {
			return nil, fmt.Errorf("list customers in %s: %w", customersDir, err)
		}
		if len(envs) == 0 {
			return nil, fmt.Errorf("list customers in %s: no NAME.env file there", customersDir)
		}
		for _, env := range envs {
			name := strings.TrimSuffix(filepath.Base(env), ".env")
			if _, ok := files[name]; !ok {
				files[name] = nil
			}
		}
	}
	var out []customer
	for name, paths := range files {
		slices.Sort(paths)
		var (
			docs     []*report
			problems []string
		)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("read report: %w", err)
			}
			r, err := parseReport(filepath.Base(p), data)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			docs = append(docs, r)
		}
		out = append(out, summarize(name, docs, problems))
	}
	slices.SortFunc(out, func(a, b customer) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
