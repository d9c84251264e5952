package simtenant

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// entry is one directory object. Props is its JSON form as Graph returns it; Created drives
// replication lag; Seq keeps listings in creation order.
type entry struct {
	Props   map[string]any `json:"props"`
	Created time.Time      `json:"created"`
	Seq     int64          `json:"seq"`
}

func (e *entry) id() string { return str(e.Props["id"]) }

// secretHash is all the tenant keeps of a password credential: a salted SHA-256.
type secretHash struct {
	Salt string `json:"salt"`
	Hash string `json:"hash"`
}

// directory is the whole tenant state, the unit Save and LoadState move.
type directory struct {
	TenantID          string            `json:"tenantId"`
	Domain            string            `json:"domain"`
	Seq               int64             `json:"seq"`
	Applications      map[string]*entry `json:"applications"`
	ServicePrincipals map[string]*entry `json:"servicePrincipals"`
	Grants            map[string]*entry `json:"oauth2PermissionGrants"`
	Assignments       map[string]*entry `json:"appRoleAssignments"`
	Users             map[string]*entry `json:"users"`
	Groups            map[string]*entry `json:"groups"`
	// DeletedApplications and DeletedServicePrincipals are the directory's deleted items:
	// deleted objects kept 30 days, restorable, with deletedDateTime set.
	DeletedApplications      map[string]*entry     `json:"deletedApplications"`
	DeletedServicePrincipals map[string]*entry     `json:"deletedServicePrincipals"`
	Secrets                  map[string]secretHash `json:"secretHashes"`   // by keyId
	Owners                   map[string][]string   `json:"owners"`         // application or service principal object id → owner object ids
	DirectoryRoles           map[string][]string   `json:"directoryRoles"` // principal object id → role template ids
	Exchange                 json.RawMessage       `json:"exchange,omitempty"`
}

func newDirectory(tenantID, domain string) *directory {
	return &directory{
		TenantID:                 tenantID,
		Domain:                   domain,
		Applications:             map[string]*entry{},
		ServicePrincipals:        map[string]*entry{},
		Grants:                   map[string]*entry{},
		Assignments:              map[string]*entry{},
		Users:                    map[string]*entry{},
		Groups:                   map[string]*entry{},
		DeletedApplications:      map[string]*entry{},
		DeletedServicePrincipals: map[string]*entry{},
		Secrets:                  map[string]secretHash{},
		Owners:                   map[string][]string{},
		DirectoryRoles:           map[string][]string{},
	}
}

// add stores a new object, stamping its creation time for replication lag.
func (d *directory) add(m map[string]*entry, props map[string]any, now time.Time) *entry {
	d.Seq++
	e := &entry{Props: props, Created: now, Seq: d.Seq}
	m[e.id()] = e
	return e
}

// sorted returns the objects of a collection in creation order.
func sorted(m map[string]*entry) []*entry {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b *entry) int { return int(a.Seq - b.Seq) })
	return out
}

// findBy returns the oldest object whose property equals v (case-insensitively, like the directory).
func findBy(m map[string]*entry, prop, v string) *entry {
	var found *entry
	for _, e := range m {
		if s, ok := e.Props[prop].(string); ok && strings.EqualFold(s, v) && (found == nil || e.Seq < found.Seq) {
			found = e
		}
	}
	return found
}

// Save writes the tenant state as JSON. Password credentials are kept as salted hashes only, so
// a state file never holds a usable secret.
func (t *Tenant) Save(w io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.syncExchangeState(); err != nil {
		return fmt.Errorf("save tenant state: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t.dir); err != nil {
		return fmt.Errorf("save tenant state: %w", err)
	}
	return nil
}

// LoadState replaces the tenant state with one written by Save.
func (t *Tenant) LoadState(r io.Reader) error {
	d := newDirectory("", "")
	if err := json.NewDecoder(r).Decode(d); err != nil {
		return fmt.Errorf("load tenant state: %w", err)
	}
	if d.TenantID == "" {
		return fmt.Errorf("load tenant state: no tenantId")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dir = d
	t.opts.TenantID, t.opts.Domain = d.TenantID, d.Domain
	if err := t.loadExchangeState(); err != nil {
		return fmt.Errorf("load tenant state: %w", err)
	}
	if err := t.mountAuthority(); err != nil {
		return fmt.Errorf("load tenant state: %w", err)
	}
	return nil
}

// Deep copies keep stored state and answers independent: a handler must never hand out (or
// keep) a map that a client body also references.

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = cloneValue(el)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = el
		}
		return out
	}
	return v
}

// mergePatch applies a PATCH body: complex values merge recursively, collections and scalars
// are replaced, as Graph does for partial updates.
func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergePatch(dm, pm)
				continue
			}
		}
		dst[k] = cloneValue(v)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strList(v any) []string {
	var out []string
	for _, x := range asList(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func toAnyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// timestamp formats like Graph's create responses: 7 fractional digits, UTC.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }
