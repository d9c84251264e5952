// Package savedplan is the file `provision plan --out FILE` writes and `provision apply FILE`
// applies: the plan a reviewer approved, with what apply needs to tell whether it still holds
// (the manifest files' digests, the options it was made with, a fingerprint of the tenant it
// was read from, provision's version). Apply re-observes the tenant, plans again and applies
// only if the new plan is the saved one; otherwise the plan is stale and nothing is applied.
//
// A saved plan never holds a secret value or a token: plans hold none (a new secret's value
// is created at apply time), and the file holds nothing else of the tenant.
package savedplan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/render"
)

// Format is the version of the file format, the value of its "provision_saved_plan" key.
const Format = "1"

// File is a saved plan.
type File struct {
	Format string `json:"provision_saved_plan"`
	// ProvisionVersion is the version of provision that made the plan; another version may
	// plan differently, so apply refuses a plan made by another.
	ProvisionVersion string    `json:"provision_version"`
	Created          time.Time `json:"created"`
	Options          Options   `json:"options"`
	Runs             []Run     `json:"runs"`
}

// Options are the planning options the plan was made with; apply plans again with them.
type Options struct {
	Destroy        bool     `json:"destroy,omitempty"`
	IncludeAdopted bool     `json:"include_adopted,omitempty"`
	Targets        []string `json:"targets,omitempty"`
}

// PlanOptions are the engine's options for o.
func (o Options) PlanOptions() provision.PlanOptions {
	return provision.PlanOptions{Destroy: o.Destroy, IncludeAdopted: o.IncludeAdopted, Targets: slices.Clone(o.Targets)}
}

// Run is one manifest file's plan.
type Run struct {
	// File is the manifest's path as given to plan; apply reads it there again.
	File string `json:"file"`
	// SHA256 is the digest of the manifest's bytes when planned.
	SHA256 string `json:"sha256"`
	Tenant string `json:"tenant,omitempty"`
	// Fingerprint identifies the tenant's state the plan was made from.
	Fingerprint string          `json:"fingerprint"`
	Plan        render.Document `json:"plan"`
}

// Digest is the SHA-256 of a manifest's bytes, in hex.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// IsSavedPlan reports whether data is a saved plan (and not a manifest).
func IsSavedPlan(data []byte) bool {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return false
	}
	var probe struct {
		Format *string `json:"provision_saved_plan"`
	}
	return json.Unmarshal(data, &probe) == nil && probe.Format != nil
}

// Parse reads a saved plan made by version.
func Parse(data []byte, version string) (*File, error) {
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("read saved plan: %w", err)
	}
	switch {
	case f.Format != Format:
		return nil, fmt.Errorf("read saved plan: format %q, this provision reads %q: plan again", f.Format, Format)
	case f.ProvisionVersion != version:
		return nil, fmt.Errorf("read saved plan: it was made by provision %s, this is %s: plan again with this version", f.ProvisionVersion, version)
	case len(f.Runs) == 0:
		return nil, errors.New("read saved plan: it holds no manifest")
	}
	return &f, nil
}

// Marshal writes f as indented JSON.
func (f *File) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("write saved plan: %w", err)
	}
	return buf.Bytes(), nil
}

// Diff lists how the changes planned now differ from the saved ones, one line per address
// ("application[…]: saved + create, now ~ update"), empty when they are the same. Reasons are
// not compared: they speak of the time ("expires in 12d").
func Diff(saved, now []provision.Change) []string {
	index := func(cs []provision.Change) map[string]string {
		m := map[string]string{}
		for _, c := range cs {
			c.Reason = ""
			b, _ := json.Marshal(c)
			m[c.Address] = string(b)
		}
		return m
	}
	s, n := index(saved), index(now)
	actions := func(cs []provision.Change) map[string]provision.Action {
		m := map[string]provision.Action{}
		for _, c := range cs {
			m[c.Address] = c.Action
		}
		return m
	}
	sa, na := actions(saved), actions(now)
	var out []string
	for addr, sv := range s {
		switch nv, ok := n[addr]; {
		case !ok:
			out = append(out, fmt.Sprintf("%s: saved %c %s, now nothing to do", addr, sa[addr], sa[addr]))
		case nv != sv && sa[addr] != na[addr]:
			out = append(out, fmt.Sprintf("%s: saved %c %s, now %c %s", addr, sa[addr], sa[addr], na[addr], na[addr]))
		case nv != sv:
			out = append(out, fmt.Sprintf("%s: saved %c %s, now with other attributes", addr, sa[addr], sa[addr]))
		}
	}
	for addr := range n {
		if _, ok := s[addr]; !ok {
			out = append(out, fmt.Sprintf("%s: not in the saved plan, now %c %s", addr, na[addr], na[addr]))
		}
	}
	slices.Sort(out)
	return out
}

// StaleError says why a saved plan no longer holds.
type StaleError struct {
	Reasons []string
}

// Error lists the reasons.
func (e *StaleError) Error() string {
	return "the saved plan is stale: " + strings.Join(e.Reasons, "; ") + "; nothing was applied: plan again, review, and apply the new plan"
}
