// Package render prints a plan for people (a terraform-like diff) and for programs (versioned
// JSON). The text is rendered from the JSON document, not from the plan directly, so the two
// cannot say different things.
package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
)

// FormatVersion is the version of the JSON documents this package writes. Under one version
// fields are only ever added; the major number changes when a field is removed or changes
// meaning. 2.0: one file gives the same document as several (runs[], where 1.0 printed a bare
// plan for a single file), and apply's results[].action is a word like the plan's.
const FormatVersion = "2.0"

// Document is the JSON form of one plan: its changes, their summary and the warnings.
type Document struct {
	Changes  []provision.Change  `json:"changes"`
	Summary  provision.Summary   `json:"summary"`
	Warnings []provision.Warning `json:"warnings"`
	// Secrets are the managed secrets as observed: their newest credential's expiry.
	Secrets []provision.SecretStatus `json:"secrets"`
}

// NewDocument builds the JSON form of p.
func NewDocument(p *provision.Plan) Document {
	d := Document{
		Changes:  p.Changes,
		Summary:  p.Summary(),
		Warnings: p.Warnings,
		Secrets:  p.Secrets,
	}
	if d.Secrets == nil {
		d.Secrets = []provision.SecretStatus{}
	}
	if d.Changes == nil {
		d.Changes = []provision.Change{}
	}
	if d.Warnings == nil {
		d.Warnings = []provision.Warning{}
	}
	return d
}

// Report is the -o json document of plan, apply and rotate, the same for one manifest file
// and for several: one run per file, and the total.
type Report struct {
	FormatVersion string `json:"format_version"`
	// Applied is set by apply and rotate: whether they applied the plans (false when there was
	// nothing to do). Plan leaves it out.
	Applied *bool             `json:"applied,omitempty"`
	Runs    []Run             `json:"runs"`
	Summary provision.Summary `json:"summary"`
}

// Run is one manifest file planned (and applied) against its tenant.
type Run struct {
	File   string   `json:"file"`
	Tenant string   `json:"tenant,omitempty"`
	Plan   Document `json:"plan"`
	// Results is what apply did to each change, in the order it finished them; absent when
	// nothing was applied.
	Results []Result `json:"results,omitempty"`
}

// Result is what apply did to one change.
type Result struct {
	Address string           `json:"address"`
	Action  provision.Action `json:"action"` // the plan's word: create, update, delete, rotate or adopt
	ID      string           `json:"id,omitempty"`
	Status  string           `json:"status"` // done, failed or skipped
	Error   string           `json:"error,omitempty"`
}

// The statuses of a Result.
const (
	StatusDone    = "done"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// NewRun builds the JSON form of one file's plan and of what apply did (nil: not applied).
func NewRun(file, tenant string, p *provision.Plan, results []provision.ChangeResult) Run {
	r := Run{File: file, Tenant: tenant, Plan: NewDocument(p)}
	for _, c := range results {
		r.Results = append(r.Results, NewResult(c))
	}
	return r
}

// NewResult builds the JSON form of one change's outcome.
func NewResult(c provision.ChangeResult) Result {
	e := Result{Address: c.Address, Action: c.Action, ID: c.ID, Status: StatusDone}
	switch {
	case errors.Is(c.Err, provision.ErrSkipped):
		e.Status = StatusSkipped
	case c.Err != nil:
		e.Status, e.Error = StatusFailed, c.Err.Error()
	}
	return e
}

// NewReport gathers runs into one document, with their total.
func NewReport(runs []Run) Report {
	rep := Report{FormatVersion: FormatVersion, Runs: runs}
	if rep.Runs == nil {
		rep.Runs = []Run{}
	}
	for _, r := range runs {
		s := r.Plan.Summary
		rep.Summary.Add += s.Add
		rep.Summary.Change += s.Change
		rep.Summary.Destroy += s.Destroy
		rep.Summary.Rotate += s.Rotate
		rep.Summary.Adopt += s.Adopt
	}
	return rep
}

// WriteJSON writes v as indented JSON ending in a newline, with URLs' & and < kept readable.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// JSON writes p as the Report of one plan (with no file name), the document plan -o json
// prints.
func JSON(w io.Writer, p *provision.Plan) error {
	return WriteJSON(w, NewReport([]Run{NewRun("", "", p, nil)}))
}

// decoded is Document as a reader of the JSON sees it: attribute values are JSON values
// (string, bool, float64, []any), the only thing the text renderer is allowed to know.
type decoded struct {
	Changes []struct {
		Address    string `json:"address"`
		Kind       string `json:"kind"`
		Action     string `json:"action"`
		Reason     string `json:"reason"`
		Attributes []struct {
			Name            string `json:"name"`
			Before          any    `json:"before"`
			After           any    `json:"after"`
			Sensitive       bool   `json:"sensitive"`
			KnownAfterApply bool   `json:"known_after_apply"`
		} `json:"attributes"`
		Source manifests.Pos `json:"source"`
	} `json:"changes"`
	Summary  provision.Summary `json:"summary"`
	Warnings []struct {
		Address string        `json:"address"`
		Message string        `json:"message"`
		Source  manifests.Pos `json:"source"`
	} `json:"warnings"`
}
