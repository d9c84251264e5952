// Package render prints a plan for people (a terraform-like diff) and for programs (versioned
// JSON). The text is rendered from the JSON document, not from the plan directly, so the two
// cannot say different things.
package render

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
)

// Document is the JSON form of a plan, format_version 1.0. Fields are only ever added under
// the same version.
type Document struct {
	FormatVersion string              `json:"format_version"`
	Changes       []provision.Change  `json:"changes"`
	Summary       provision.Summary   `json:"summary"`
	Warnings      []provision.Warning `json:"warnings"`
}

// NewDocument builds the JSON form of p.
func NewDocument(p *provision.Plan) Document {
	d := Document{
		FormatVersion: provision.FormatVersion,
		Changes:       p.Changes,
		Summary:       p.Summary(),
		Warnings:      p.Warnings,
	}
	if d.Changes == nil {
		d.Changes = []provision.Change{}
	}
	if d.Warnings == nil {
		d.Warnings = []provision.Warning{}
	}
	return d
}

// JSON writes p as an indented JSON document ending in a newline.
func JSON(w io.Writer, p *provision.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // URLs keep their & and < readable
	if err := enc.Encode(NewDocument(p)); err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

// decoded is Document as a reader of the JSON sees it: attribute values are JSON values
// (string, bool, float64, []any), the only thing the text renderer is allowed to know.
type decoded struct {
	FormatVersion string `json:"format_version"`
	Changes       []struct {
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
