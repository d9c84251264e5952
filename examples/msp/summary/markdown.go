package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// markdownOptions shape the summary.
type markdownOptions struct {
	Title string
	// Soon is the number of days within which a secret's expiry is shown in bold.
	Soon int
}

// actions are the plan's action words, in the order the summary lists them, with the words
// for a change carried out and one still to do.
var actions = []struct{ word, done, pending string }{
	{"create", "created", "to create"},
	{"adopt", "adopted", "to adopt"},
	{"update", "updated", "to update"},
	{"rotate", "rotated", "to rotate"},
	{"delete", "deleted", "to delete"},
}

// maxErrorLen bounds an error in the summary: the job's log has the whole text.
const maxErrorLen = 400

// writeMarkdown writes the summary of the customers: one table row each, then the problems,
// the secrets by expiry and the expiry warnings.
func writeMarkdown(w io.Writer, customers []customer, o markdownOptions) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "## %s: %d %s\n\n", inline(o.Title), len(customers), plural(len(customers), "customer", "customers"))
	if line := outcomeLine(customers); line != "" {
		fmt.Fprintf(b, "%s.\n\n", line)
	}
	if len(customers) > 0 {
		fmt.Fprintln(b, "| customer | tenant | result | changes | failed | soonest expiry |")
		fmt.Fprintln(b, "|---|---|---|---|---|---|")
		for _, c := range customers {
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", inline(c.Name), tenantsCell(c), c.Outcome,
				changesCell(c), failedCell(c), expiryCell(c, o.Soon))
		}
	}
	writeProblems(b, customers)
	writeSecrets(b, customers, o.Soon)
	writeWarnings(b, customers)
	return b.Flush()
}

// outcomeLine counts the customers by outcome: "failed: 1, applied: 2".
func outcomeLine(customers []customer) string {
	var parts []string
	for _, o := range outcomes {
		n := 0
		for _, c := range customers {
			if c.Outcome == o {
				n++
			}
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", o, n))
		}
	}
	return strings.Join(parts, ", ")
}

func tenantsCell(c customer) string {
	if len(c.Tenants) == 0 {
		return "—"
	}
	return inline(strings.Join(c.Tenants, ", "))
}

// changesCell says what apply did ("9 created, 1 adopted") and what a plan still shows
// ("1 to rotate").
func changesCell(c customer) string {
	var parts []string
	for _, a := range actions {
		if n := c.Done[a.word]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a.done))
		}
	}
	for _, a := range actions {
		if n := c.Pending[a.word]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a.pending))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

func failedCell(c customer) string {
	failed, skipped := 0, 0
	for _, r := range c.Failed {
		if r.Status == statusFailed {
			failed++
		} else {
			skipped++
		}
	}
	var parts []string
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	if skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", skipped))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

func expiryCell(c customer, soon int) string {
	s, ok := c.soonest()
	switch {
	case ok:
		return emphasize(fmt.Sprintf("%s: %s", inline(s.Name), daysText(*s.DaysLeft, s.EndDateTime)), *s.DaysLeft <= soon)
	case len(c.Secrets) > 0:
		return "not created yet"
	}
	return "—"
}

// daysText is "20 days (2026-12-12)", or "expired 3 days ago (…)".
func daysText(days int, end string) string {
	date := dateOf(end)
	switch {
	case days < 0:
		return fmt.Sprintf("expired %d %s ago (%s)", -days, plural(-days, "day", "days"), date)
	case days == 0:
		return fmt.Sprintf("expires today (%s)", date)
	}
	return fmt.Sprintf("%d %s (%s)", days, plural(days, "day", "days"), date)
}

// dateOf is the calendar date of an RFC 3339 time, in UTC.
func dateOf(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return inline(s)
	}
	return t.UTC().Format(time.DateOnly)
}

// writeProblems lists every failed or skipped change with its error, and every customer
// whose report is missing or unreadable.
func writeProblems(b *bufio.Writer, customers []customer) {
	var lines []string
	for _, c := range customers {
		if c.Outcome == outcomeNoReport {
			lines = append(lines, fmt.Sprintf("- **%s**: no report: the job wrote no JSON (see its log)", inline(c.Name)))
		}
		for _, p := range c.Problems {
			lines = append(lines, fmt.Sprintf("- **%s**: %s", inline(c.Name), inline(p)))
		}
		for _, r := range c.Failed {
			what := "an earlier change it depends on failed"
			if r.Error != "" {
				// apply's errors start with the address the line already shows.
				msg := strings.TrimPrefix(r.Error, r.Address+": ")
				what = inline(shorten(strings.Join(strings.Fields(msg), " "), maxErrorLen))
			}
			lines = append(lines, fmt.Sprintf("- **%s**: %s `%s` %s: %s", inline(c.Name), r.Status, inline(r.Action), code(r.Address), what))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### Problems\n\n%s\n", strings.Join(lines, "\n"))
}

// writeSecrets lists every managed secret with a credential, the one expiring first first.
func writeSecrets(b *bufio.Writer, customers []customer, soon int) {
	type row struct {
		customer string
		s        secret
	}
	var rows []row
	for _, c := range customers {
		for _, s := range c.Secrets {
			if s.DaysLeft != nil {
				rows = append(rows, row{c.Name, s})
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(*a.s.DaysLeft, *b.s.DaysLeft), cmp.Compare(a.customer, b.customer), cmp.Compare(a.s.Name, b.s.Name))
	})
	fmt.Fprintf(b, "\n### Secrets by expiry\n\n| days left | expires | customer | secret |\n|---|---|---|---|\n")
	for _, r := range rows {
		days := *r.s.DaysLeft
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", emphasize(fmt.Sprint(days), days <= soon), dateOf(r.s.EndDateTime), inline(r.customer), inline(r.s.Name))
	}
}

// writeWarnings lists the plans' expiry warnings: they cover credentials provision does not
// manage too (added in the portal), which plan.secrets leaves out.
func writeWarnings(b *bufio.Writer, customers []customer) {
	var lines []string
	for _, c := range customers {
		for _, w := range c.Warnings {
			lines = append(lines, fmt.Sprintf("- **%s**: %s %s", inline(c.Name), code(w.Address), inline(w.Message)))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### Expiry warnings\n\n%s\n", strings.Join(lines, "\n"))
}

// inline makes text safe in one line of Markdown, a table cell included: whitespace runs
// (newlines of a multi-line error) become one space, and the characters that would end a
// cell, open a code span or an HTML tag are escaped.
func inline(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("|", `\|`, "`", "'", "<", "&lt;", ">", "&gt;").Replace(s)
}

// code is an address in a code span; addresses hold quotes and brackets, never a backtick,
// but a report is input, so one is replaced all the same.
func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "`", "'") + "`"
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func emphasize(s string, on bool) string {
	if on {
		return "**" + s + "**"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
