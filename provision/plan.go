package provision

import (
	"fmt"
	"sort"

	"github.com/provisionhq/provision/manifests"
)

// FormatVersion is the version of the plan's JSON form. It changes its major number only
// when a field is removed or changes meaning; new fields are added under the same version.
const FormatVersion = "1.0"

// Action is what apply does to one object; its value is the glyph the plan prints.
type Action rune

// The actions a plan holds. Adopt takes over an object provision did not create: apply
// stamps the ownership tag (and fixes any drift) instead of creating a duplicate.
const (
	Create Action = '+'
	Update Action = '~'
	Delete Action = '-'
	Rotate Action = '±'
	Adopt  Action = '>'
)

// String returns the action's word, the form JSON output uses.
func (a Action) String() string {
	switch a {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Rotate:
		return "rotate"
	case Adopt:
		return "adopt"
	}
	return fmt.Sprintf("action(%q)", rune(a))
}

// ParseAction maps a word written by String back to its Action.
func ParseAction(s string) (Action, error) {
	for _, a := range []Action{Create, Update, Delete, Rotate, Adopt} {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("parse action %q: unknown action", s)
}

// MarshalText writes the action's word.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads the action's word.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Kind is the sort of object a change touches. Kinds are applied in the order of Kinds();
// each kind's constant lives in the kind's own file.
type Kind string

// Change is one line of a plan: one object created, updated, adopted, rotated or deleted.
// Text and JSON output both render []Change and nothing else.
type Change struct {
	// Address names the object, e.g. application["OpenFire"].consent["Microsoft Graph"].delegated.
	Address string `json:"address"`
	Kind    Kind   `json:"kind"`
	Action  Action `json:"action"`
	// Reason says why, when the attributes alone do not ("adopt existing registration",
	// "expires in 12d, rotateBefore is 30d", "not in the manifest").
	Reason string       `json:"reason,omitempty"`
	Attrs  []AttrChange `json:"attributes,omitempty"`
	// Source is where the manifest asks for this object (zero for removals of unlisted ones).
	Source manifests.Pos `json:"source,omitzero"`

	// Target is what apply needs to carry the change out: object ids and request bodies.
	// It is not part of the rendered plan.
	Target Target `json:"-"`
}

// AttrChange is one attribute of a change. Before and After hold a string, a bool or a
// []string; a []string is a set (order carries no meaning) and renders as the elements added
// and removed.
type AttrChange struct {
	Name   string `json:"name"`
	Before any    `json:"before,omitempty"`
	After  any    `json:"after,omitempty"`
	// Sensitive values are never held: Before and After are nil and the renderers print
	// (sensitive).
	Sensitive bool `json:"sensitive,omitempty"`
	// KnownAfterApply marks an After that only the tenant can give (a new object's id).
	KnownAfterApply bool `json:"known_after_apply,omitempty"`
}

// Warning is something the user should know that is not a change: consent still pending, a
// permission that will not do what its name suggests.
type Warning struct {
	// Kind classifies the warning for tools; WarningExpiry marks an expiring credential.
	Kind    string        `json:"kind,omitempty"`
	Address string        `json:"address,omitempty"`
	Message string        `json:"message"`
	Source  manifests.Pos `json:"source,omitzero"`
}

// Summary counts a plan's changes by action, the numbers of the closing "Plan:" line.
type Summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
	Rotate  int `json:"rotate"`
	Adopt   int `json:"adopt"`
}

// Plan is the ordered list of changes that brings the tenant to the manifests.
type Plan struct {
	FormatVersion string    `json:"format_version"`
	Changes       []Change  `json:"changes"`
	Warnings      []Warning `json:"warnings"`
	// Secrets is the state of every client secret the manifests manage, as observed before
	// the changes: what a scheduled job reports on (which expire soonest).
	Secrets []SecretStatus `json:"secrets"`
	// Fingerprint identifies the state of the tenant the plan was made from (a digest of the
	// observation): two plans with the same fingerprint were made from the same reads.
	Fingerprint string `json:"-"`
}

// Empty reports whether applying the plan would change nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Summary counts the plan's changes by action. An adoption is counted as a change too (it
// writes the ownership tag), so "N to change" includes it.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Add++
		case Update:
			s.Change++
		case Adopt:
			s.Adopt++
			s.Change++
		case Delete:
			s.Destroy++
		case Rotate:
			s.Rotate++
		}
	}
	return s
}

// SortChanges puts changes in apply order: by kind (dependency order), deletions of a kind
// before its creations (so a replaced grant or assignment frees its slot first), then by
// address. The order is total, so plans print the same way every time.
func SortChanges(cs []Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Kind.rank() != b.Kind.rank() {
			return a.Kind.rank() < b.Kind.rank()
		}
		if (a.Action == Delete) != (b.Action == Delete) {
			return a.Action == Delete
		}
		return a.Address < b.Address
	})
}

// Target is what apply needs to carry a change out. The planner fills it from the manifest
// and the observed tenant; ids that only a create will produce are left empty and looked up
// by App when the change runs.
type Target struct {
	// App is the address of the application the change belongs to; ids produced by earlier
	// changes of the same application are found under it.
	App string
	// ID is the existing object's id: application object id, service principal id, grant id
	// or app role assignment id.
	ID string
	// AppID is the application's client id when it exists already.
	AppID string
	// ServicePrincipalID is the application's service principal when it exists already: the
	// client of its grants and the principal of its app role assignments.
	ServicePrincipalID string
	// Spec is the kind's own part: the request body to write, the objects it names. Each
	// kind plans and applies its own spec type (an *applicationSpec, a *SecretSpec, ...).
	Spec any
}
