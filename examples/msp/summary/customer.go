package main

import (
	"slices"
)

// outcome is what a customer's job came to, the table's "result" column.
type outcome string

// The outcomes, in the order the summary counts them.
const (
	outcomeFailed       outcome = "failed"
	outcomeNoReport     outcome = "no report"
	outcomeUnreadable   outcome = "unreadable report"
	outcomeNotConverged outcome = "not converged"
	outcomePending      outcome = "changes pending"
	outcomeApplied      outcome = "applied"
	outcomeUnchanged    outcome = "no changes"
)

var outcomes = []outcome{outcomeFailed, outcomeNoReport, outcomeUnreadable, outcomeNotConverged, outcomePending, outcomeApplied, outcomeUnchanged}

// customer is one row of the summary: what the job of one customer reported.
type customer struct {
	Name    string
	Tenants []string
	Outcome outcome
	// Done counts the changes apply carried out, by action; Pending those a plan shows as
	// still to do (after apply, when the job planned again).
	Done, Pending map[string]int
	// Failed are the changes apply failed or skipped.
	Failed []result
	// Secrets and Warnings are the latest observation's: the plan made after apply when there
	// is one, else the plan the document was made from.
	Secrets  []secret
	Warnings []warning
	// Problems are the customer's report files that could not be read.
	Problems []string
}

// summarize builds a customer's row from its readable reports, in file name order, and the
// problems of the others. Of several apply documents (or several plan documents) the last
// one counts: a job writes apply.json, then plan.json from a fresh read of the tenant.
func summarize(name string, docs []*report, problems []string) customer {
	c := customer{Name: name, Done: map[string]int{}, Pending: map[string]int{}, Problems: problems}
	var applied, planned *report
	for _, d := range docs {
		if d.isApply() {
			applied = d
		} else {
			planned = d
		}
		for _, r := range d.Runs {
			if r.Tenant != "" && !slices.Contains(c.Tenants, r.Tenant) {
				c.Tenants = append(c.Tenants, r.Tenant)
			}
		}
	}
	latest := planned
	if latest == nil {
		latest = applied
	}
	if latest == nil {
		c.Outcome = outcomeNoReport
		if len(problems) > 0 {
			c.Outcome = outcomeUnreadable
		}
		return c
	}
	if applied != nil {
		for _, r := range applied.Runs {
			for _, res := range r.Results {
				switch res.Status {
				case statusDone:
					c.Done[res.Action]++
				case statusFailed, statusSkipped:
					c.Failed = append(c.Failed, res)
				}
			}
		}
	}
	for _, r := range latest.Runs {
		c.Secrets = append(c.Secrets, r.Plan.Secrets...)
		for _, w := range r.Plan.Warnings {
			if w.Kind == warningExpiry {
				c.Warnings = append(c.Warnings, w)
			}
		}
		if planned != nil {
			for _, ch := range r.Plan.Changes {
				c.Pending[ch.Action]++
			}
		}
	}
	c.Outcome = c.outcome(applied)
	return c
}

func (c *customer) outcome(applied *report) outcome {
	pending := total(c.Pending) > 0
	switch {
	case slices.ContainsFunc(c.Failed, func(r result) bool { return r.Status == statusFailed }):
		return outcomeFailed
	case applied == nil && pending:
		return outcomePending
	case applied == nil:
		return outcomeUnchanged
	case pending:
		return outcomeNotConverged
	case *applied.Applied:
		return outcomeApplied
	}
	return outcomeUnchanged
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// soonest is the customer's secret with the fewest days left, if any secret has a credential.
func (c *customer) soonest() (secret, bool) {
	var best secret
	found := false
	for _, s := range c.Secrets {
		if s.DaysLeft != nil && (!found || *s.DaysLeft < *best.DaysLeft) {
			best, found = s, true
		}
	}
	return best, found
}
