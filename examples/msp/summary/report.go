package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// report is the -o json document of provision plan, apply and rotate (format_version 2.x),
// as far as the summary reads it. Fields are only ever added under one major version, so
// unknown ones are ignored.
type report struct {
	FormatVersion string `json:"format_version"`
	// Applied is set by apply and rotate, absent from plan's document.
	Applied *bool         `json:"applied"`
	Runs    []manifestRun `json:"runs"`
}

// manifestRun is one manifest file planned (and applied) against its tenant.
type manifestRun struct {
	Tenant  string   `json:"tenant"`
	Plan    plan     `json:"plan"`
	Results []result `json:"results"`
}

type plan struct {
	Changes  []change  `json:"changes"`
	Warnings []warning `json:"warnings"`
	Secrets  []secret  `json:"secrets"`
}

type change struct {
	Action string `json:"action"`
}

type warning struct {
	Kind    string `json:"kind"`
	Address string `json:"address"`
	Message string `json:"message"`
}

// secret is a managed secret's newest credential as the plan observed it; DaysLeft is nil
// when the secret has no credential yet.
type secret struct {
	Name        string `json:"name"`
	EndDateTime string `json:"endDateTime"`
	DaysLeft    *int   `json:"daysLeft"`
}

// result is what apply did to one change: done, failed or skipped.
type result struct {
	Address string `json:"address"`
	Action  string `json:"action"`
	Status  string `json:"status"`
	Error   string `json:"error"`
}

// The statuses of a result.
const (
	statusDone    = "done"
	statusFailed  = "failed"
	statusSkipped = "skipped"
)

// warningExpiry is the kind of a warning about a credential near or past its expiry.
const warningExpiry = "expiry"

// supportedMajor is the format_version major number this program reads.
const supportedMajor = "2"

// parseReport decodes one document. Its errors are sentences for the summary's reader,
// naming the file and what to look at.
func parseReport(name string, data []byte) (*report, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty: the job stopped before provision printed its report (see the job's log)", name)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is not a provision -o json report: %v", name, err)
	}
	major, _, _ := strings.Cut(r.FormatVersion, ".")
	if major != supportedMajor {
		return nil, fmt.Errorf("%s has format_version %q: this summary reads %s.x (plan, apply and rotate with -o json)", name, r.FormatVersion, supportedMajor)
	}
	return &r, nil
}

// isApply reports whether the document is apply's (or rotate's) rather than plan's.
func (r *report) isApply() bool { return r.Applied != nil }
