package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/microsoftgraph/msgraph-sdk-go/applications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/gitignore"
	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/lockfile"
	"github.com/provisionhq/provision/provision/retry"
	"github.com/provisionhq/provision/provision/rights"
	"github.com/provisionhq/provision/provision/sensitive"
	"github.com/provisionhq/provision/provision/sink"
)

// KindSecret is a client secret of the application, recognised by its displayName.
const KindSecret Kind = "secret"

// secretKind manages the client secrets the manifest names.
//
// Observe: nothing of its own: the credentials' metadata come with the application (round 1).
// Plan: create, rotate when the newest expires within rotateBefore (or on --force), retire
// expired credentials of the name; warn of every credential near expiry.
// Apply: addPassword, deliver to every sink, verify the new secret signs in, then retire the
// older ones (removePassword), holding the application's credential lock. An addPassword
// whose answer was lost leaves an orphan credential that is found and removed. Stage 4, one
// at a time.
type secretKind struct{}

func (secretKind) name() Kind { return KindSecret }

func (secretKind) traits() traits {
	return traits{stage: 4, needs: []Kind{KindApplication, KindServicePrincipal}, rotation: true, operations: []rights.Operation{rights.OpUpdateApplication}}
}

// HeldSink is what one sink of a managed secret holds, as observe read it: which credential
// (never its value), nothing, or that it cannot be read back.
type HeldSink struct {
	// Sink names the sink as plans and errors do ("file ./creds.json").
	Sink string
	// State is what it holds; zero when reading it failed (Detail says why).
	State  sink.HeldState
	KeyID  string
	Detail string
	// Exposed is set for a file sink in a git work tree that git does not ignore: a
	// `git add -A` would commit the secret.
	Exposed *gitignore.Status
}

// readable reports whether the sink could be read (it holds a credential, or nothing).
func (h HeldSink) readable() bool {
	return h.State == sink.HoldsCredential || h.State == sink.HoldsNothing
}

// observe reads, in round 1, what each managed secret's sinks hold: their keyIds, never
// their values (a file's keyId, a Key Vault secret's keyId tag). Sinks that only receive (a
// command's stdin, a CI step output) cannot be read back, and say so. It needs the engine's
// sink factory; without one, plans know nothing of the sinks.
func (secretKind) observe(_ context.Context, n int, r *round) {
	if n != 1 || r.e.Secrets.Sinks == nil || r.opts.Complete {
		return
	}
	for i, w := range r.wants {
		for _, s := range w.Secrets {
			sinks, err := r.e.Secrets.Sinks(s.Store)
			if r.obs[i].Sinks == nil {
				r.obs[i].Sinks = map[string][]HeldSink{}
			}
			if err != nil {
				r.obs[i].Sinks[s.Name] = []HeldSink{{Sink: strings.Join(DescribeStore(s.Store), ", "), Detail: err.Error()}}
				continue
			}
			held := make([]HeldSink, len(sinks))
			r.obs[i].Sinks[s.Name] = held
			for k, sk := range sinks {
				r.localRead(func(ctx context.Context) error {
					h := HeldSink{Sink: sk.Describe()}
					got, err := sink.Observe(ctx, sk)
					if err != nil {
						h.Detail = err.Error()
					} else {
						h.State, h.KeyID, h.Detail = got.State, got.KeyID, got.Detail
					}
					if f, ok := sk.(*sink.File); ok {
						if st, err := gitignore.Check(f.Path()); err == nil && st.Exposed() {
							h.Exposed = &st
						}
					}
					held[k] = h
					return nil
				})
			}
		}
	}
}

// PasswordCredential is a client secret's metadata; the value is never readable after
// creation, so it is not here.
type PasswordCredential struct {
	KeyID       string
	DisplayName string
	Hint        string
	StartDate   string // RFC 3339
	EndDate     string // RFC 3339
}

// passwordCredentialFromModel converts a credential's metadata as read with the application.
func passwordCredentialFromModel(p models.PasswordCredentialable) PasswordCredential {
	pc := PasswordCredential{KeyID: uuidStr(p.GetKeyId()), DisplayName: str(p.GetDisplayName()), Hint: str(p.GetHint())}
	if t := p.GetStartDateTime(); t != nil {
		pc.StartDate = t.UTC().Format("2006-01-02T15:04:05Z")
	}
	if t := p.GetEndDateTime(); t != nil {
		pc.EndDate = t.UTC().Format("2006-01-02T15:04:05Z")
	}
	return pc
}

// plan plans every secret of the document; for provision rotate, the application must exist.
func (secretKind) plan(d *docPlan) {
	if d.opts.SecretsOnly && d.app == nil && len(d.probs) == 0 {
		d.problem("application.name", fmt.Errorf("no application %q in the tenant: run provision apply first, rotate only manages the secrets of an existing application", d.want.Name))
		return
	}
	if d.opts.Destroy {
		for _, s := range d.want.Secrets {
			if creds := credentialsNamed(d.app, s.Name); len(creds) > 0 {
				spec := &SecretSpec{Name: s.Name, ApplicationID: d.app.ID}
				var attrs []AttrChange
				for _, c := range creds {
					spec.Retire = append(spec.Retire, c.KeyID)
				}
				attrs = append(attrs, AttrChange{Name: "retire", Before: spec.Retire})
				d.change(Change{Address: secretAddress(d.want, s.Name), Kind: KindSecret, Action: Delete, Reason: "destroy; the sinks keep the last value delivered: clear them yourself",
					Attrs: attrs, Source: d.want.pos(s.Path), Target: Target{Spec: spec}})
			}
		}
		return
	}
	changes, warnings := planSecrets(d.want, d.app, d.obs.Sinks, d.opts)
	d.change(changes...)
	d.warn(warnings...)
	for _, s := range d.want.Secrets {
		st := SecretStatus{Address: secretAddress(d.want, s.Name), Name: s.Name}
		if creds := credentialsNamed(d.app, s.Name); len(creds) > 0 {
			st.KeyID, st.EndDateTime = creds[0].KeyID, creds[0].EndDate
			if end, ok := endOf(creds[0]); ok && !d.opts.Now.IsZero() {
				days := int(end.Sub(d.opts.Now).Hours() / 24)
				st.DaysLeft = &days
			}
		}
		d.secrets = append(d.secrets, st)
	}
}

// SecretStatus is the observed state of one managed secret: its newest credential (none yet
// when KeyID is empty) and when it expires.
type SecretStatus struct {
	Address     string `json:"address"`
	Name        string `json:"name"`
	KeyID       string `json:"keyId,omitempty"`
	EndDateTime string `json:"endDateTime,omitempty"` // RFC 3339
	// DaysLeft is the whole days until EndDateTime (negative once expired).
	DaysLeft *int `json:"daysLeft,omitempty"`
}

// Client secrets are recognised by their displayName, the manifest's secret name: the
// credentials carrying it are provision's, every other one on the application belongs to
// someone else and is only reported when it nears expiry.
//
// A secret is created when the application has no credential of its name, and rotated when
// the newest one expires within rotateBefore (or on --force). A rotation adds a new
// credential, writes it to every sink, checks that it signs in, and only then retires the
// older credentials of its name beyond keepPrevious: the newest keepPrevious of those still
// valid are kept, expired ones always go (they give no overlap).
//
// Outside a rotation, expired credentials of the name are deleted (one change each), but
// valid ones beyond keepPrevious are only reported: after a rotation that failed half-way a
// sink may still hold one, and nothing in the tenant says which. The next rotation retires
// them, and `rotate --force` brings it forward.

// WarningExpiry is the Kind of a warning about a credential that expires within rotateBefore
// or has expired. A CI job that alerts on expiring credentials looks for it.
const WarningExpiry = "expiry"

// DesiredSecret is one secret a manifest document asks for, with defaults applied.
type DesiredSecret struct {
	Name         string
	Path         string // manifest path, e.g. application.secrets[0]
	Lifetime     time.Duration
	RotateBefore time.Duration
	KeepPrevious int
	Store        manifests.SecretStore
}

// SecretSpec is what apply needs to create, rotate or retire credentials of one secret.
type SecretSpec struct {
	// Name is the credentials' displayName.
	Name string
	// ApplicationID is the application's object id when it exists already; a create earlier in
	// the same apply provides it otherwise.
	ApplicationID string
	// Lifetime is the new credential's validity (endDateTime = now + Lifetime).
	Lifetime time.Duration
	// Store lists the sinks a new value goes to.
	Store manifests.SecretStore
	// Known are the keyIds of this name the plan saw; a credential of the name outside this list
	// after a failed addPassword is the orphan of a request whose answer was lost.
	Known []string
	// Retire are the keyIds removed once the new credential is delivered and verified (for a
	// Delete, at once).
	Retire []string
}

// desiredSecrets reads the secrets of a manifest document.
func desiredSecrets(secrets []manifests.Secret) []DesiredSecret {
	var out []DesiredSecret
	for i, s := range secrets {
		out = append(out, DesiredSecret{
			Name:         s.Name,
			Path:         fmt.Sprintf("application.secrets[%d]", i),
			Lifetime:     time.Duration(s.EffectiveLifetime()),
			RotateBefore: time.Duration(s.EffectiveRotateBefore()),
			KeepPrevious: s.EffectiveKeepPrevious(),
			Store:        s.Store,
		})
	}
	return out
}

// planSecrets plans every secret of want against the registration app (nil when apply is to
// create it), and warns about every credential of app that expires soon.
func planSecrets(want Desired, app *ObservedApp, sinks map[string][]HeldSink, opts PlanOptions) ([]Change, []Warning) {
	var changes []Change
	var warnings []Warning
	for _, s := range want.Secrets {
		c, w := planSecret(want, app, s, sinks[s.Name], opts)
		changes = append(changes, c...)
		warnings = append(warnings, w...)
		warnings = append(warnings, sinkWarnings(want, s, sinks[s.Name])...)
	}
	if app == nil {
		return changes, warnings
	}
	return changes, append(expiryWarnings(want, app, changes, opts), warnings...)
}

// sinkWarnings are what the plan should say of a secret's sinks: one that could not be read,
// a file a `git add` would commit, and sinks that cannot be read back (then the plan cannot
// tell whether they hold the newest credential).
func sinkWarnings(want Desired, s DesiredSecret, held []HeldSink) []Warning {
	var out []Warning
	var blind []string
	for _, h := range held {
		switch {
		case h.State == 0:
			out = append(out, Warning{Address: secretAddress(want, s.Name), Source: want.pos(s.Path + ".store"),
				Message: fmt.Sprintf("%s could not be read (%s): the plan cannot tell which credential it holds", h.Sink, h.Detail)})
		case h.State == sink.CannotReadBack:
			blind = append(blind, h.Sink)
		}
		if h.Exposed != nil {
			out = append(out, Warning{Address: secretAddress(want, s.Name), Source: want.pos(s.Path + ".store.file"),
				Message: fmt.Sprintf("%s lies in the git work tree %s and git does not ignore it: a `git add` would commit the secret; add it to .gitignore or keep the file outside the work tree",
					h.Sink, h.Exposed.WorkTree)})
		}
	}
	if len(blind) > 0 && len(blind) == len(held) {
		out = append(out, Warning{Address: secretAddress(want, s.Name), Source: want.pos(s.Path + ".store"),
			Message: fmt.Sprintf("%s cannot be read back: the plan cannot tell whether it holds the newest credential (a delivery that failed shows only in the run that made it)",
				strings.Join(blind, " and "))})
	}
	return out
}

// secretGrace is how young a credential may be and still be on its way to the sinks: the
// time between an addPassword and the sinks' writes, which follow at once, with room for
// retries. An unheld credential younger than this may belong to another run delivering it
// now; an older one is an orphan, whose delivery failed.
const secretGrace = 2 * time.Minute

// deliveryState is what a secret's readable sinks say about its credentials.
type deliveryState struct {
	now time.Time
	// allReadable says every sink could be read, so a credential none holds is held nowhere.
	allReadable bool
	// held are the keyIds the readable sinks hold.
	held map[string]bool
	// problem says why a rotation is needed whatever the expiry: a sink that holds nothing,
	// one that holds a credential the application no longer has, the newest credential in no
	// sink. Empty when none.
	problem string
}

// deliveryOf judges the sinks of a secret whose credentials are creds (newest first).
func deliveryOf(creds []PasswordCredential, held []HeldSink, now time.Time) deliveryState {
	st := deliveryState{now: now, held: map[string]bool{}, allReadable: len(held) > 0}
	readable := 0
	for _, h := range held {
		if !h.readable() {
			st.allReadable = false
			continue
		}
		readable++
		if h.State == sink.HoldsCredential && h.KeyID != "" {
			st.held[strings.ToLower(h.KeyID)] = true
		}
	}
	if readable == 0 || len(creds) == 0 {
		return st
	}
	exists := map[string]bool{}
	for _, c := range creds {
		exists[strings.ToLower(c.KeyID)] = true
	}
	for _, h := range held {
		switch {
		case h.State == sink.HoldsNothing:
			st.problem = h.Sink + " holds no secret"
			return st
		case h.State == sink.HoldsCredential && h.KeyID != "" && !exists[strings.ToLower(h.KeyID)]:
			st.problem = fmt.Sprintf("%s holds credential %s, which the application no longer has", h.Sink, h.KeyID)
			return st
		}
	}
	if orphans := st.orphans(creds); len(orphans) > 0 {
		newest := orphans[0]
		st.problem = fmt.Sprintf("newest credential %s is in no sink", newest.KeyID)
		if young(newest, now) {
			st.problem += " (made " + ago(now.Sub(startOf(newest))) + " ago: a run that died before delivering it, or another run delivering it now)"
		}
	}
	return st
}

// orphans are the credentials (newest first) made after the newest one a sink holds and held
// by none: their delivery failed. Older credentials no sink holds are not orphans: they were
// delivered once and a consumer may still use one (keepPrevious decides). Nothing is an
// orphan when some sink cannot be read back.
func (st deliveryState) orphans(creds []PasswordCredential) []PasswordCredential {
	if !st.allReadable {
		return nil
	}
	var last *PasswordCredential // the newest held
	for i := range creds {
		if st.held[strings.ToLower(creds[i].KeyID)] {
			last = &creds[i]
			break
		}
	}
	if last == nil {
		// The sinks hold no credential of the name: those made moments ago are a first
		// delivery that died; older ones may have been copied from a sink since emptied, and
		// keepPrevious decides for them.
		var out []PasswordCredential
		for _, c := range creds {
			if young(c, st.now) {
				out = append(out, c)
			}
		}
		return out
	}
	var out []PasswordCredential
	for _, c := range creds { // newest first; dates to the second can tie, which is no proof
		if newer := c.EndDate > last.EndDate || (c.EndDate == last.EndDate && c.StartDate > last.StartDate); !newer {
			break
		}
		if !st.held[strings.ToLower(c.KeyID)] {
			out = append(out, c)
		}
	}
	return out
}

// young reports whether c was made less than secretGrace before now.
func young(c PasswordCredential, now time.Time) bool {
	return !now.IsZero() && !startOf(c).IsZero() && now.Sub(startOf(c)) < secretGrace
}

// startOf parses a credential's startDateTime; zero when unknown.
func startOf(c PasswordCredential) time.Time {
	t, _ := time.Parse(time.RFC3339, c.StartDate)
	return t
}

// secretAddress is the plan address of a manifest secret.
func secretAddress(want Desired, name string) string {
	return fmt.Sprintf("%s.secret[%q]", want.Address, name)
}

// credentialsNamed returns app's credentials with displayName name, newest (latest
// endDateTime) first.
func credentialsNamed(app *ObservedApp, name string) []PasswordCredential {
	if app == nil {
		return nil
	}
	var out []PasswordCredential
	for _, c := range app.PasswordCredentials {
		if c.DisplayName == name {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b PasswordCredential) int {
		if c := strings.Compare(b.EndDate, a.EndDate); c != 0 { // RFC 3339 UTC sorts as time
			return c
		}
		if c := strings.Compare(b.StartDate, a.StartDate); c != 0 {
			return c
		}
		return strings.Compare(a.KeyID, b.KeyID)
	})
	return out
}

// endOf parses a credential's endDateTime; a credential without one never expires.
func endOf(c PasswordCredential) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, c.EndDate)
	return t, err == nil
}

// expired reports whether c has expired at now (a zero now knows no expiry).
func expired(c PasswordCredential, now time.Time) bool {
	end, ok := endOf(c)
	return ok && !now.IsZero() && !now.Before(end)
}

// retirement splits older credentials (newest first) into the keepPrevious newest valid ones
// and the rest, each with the reason it goes.
func retirement(older []PasswordCredential, keep int, now time.Time) (kept []PasswordCredential, retire []PasswordCredential, reasons []string) {
	for _, c := range older {
		switch {
		case expired(c, now):
			end, _ := endOf(c)
			retire, reasons = append(retire, c), append(reasons, "expired "+ago(now.Sub(end))+" ago")
		case len(kept) < keep:
			kept = append(kept, c)
		default:
			retire, reasons = append(retire, c), append(reasons, "beyond keepPrevious "+strconv.Itoa(keep))
		}
	}
	return kept, retire, reasons
}

// planSecret plans one manifest secret: create, rotate, retire expired credentials of its
// name, or nothing.
func planSecret(want Desired, app *ObservedApp, s DesiredSecret, held []HeldSink, opts PlanOptions) ([]Change, []Warning) {
	address := secretAddress(want, s.Name)
	creds := credentialsNamed(app, s.Name)
	spec := &SecretSpec{Name: s.Name, Lifetime: s.Lifetime, Store: s.Store}
	if app != nil {
		spec.ApplicationID = app.ID
	}
	for _, c := range creds {
		spec.Known = append(spec.Known, c.KeyID)
	}
	sinks := AttrChange{Name: "sinks", After: DescribeStore(s.Store)}
	lifetime := AttrChange{Name: "lifetime", After: manifests.Duration(s.Lifetime).String()}
	if len(creds) == 0 {
		reason := ""
		if app != nil {
			reason = fmt.Sprintf("the application has no secret named %q", s.Name)
		}
		return []Change{{
			Address: address, Kind: KindSecret, Action: Create, Reason: reason, Source: want.pos(s.Path),
			Attrs: []AttrChange{
				{Name: "name", After: s.Name},
				lifetime,
				{Name: "keyId", KnownAfterApply: true},
				{Name: "endDateTime", KnownAfterApply: true},
				{Name: "value", Sensitive: true},
				sinks,
			},
			Target: Target{Spec: spec},
		}}, nil
	}

	newest, older := creds[0], creds[1:]
	delivery := deliveryOf(creds, held, opts.Now)
	measured := newest
	if delivery.allReadable {
		// The schedule follows the credential the consumers hold: the first of those to expire.
		for i := len(creds) - 1; i >= 0; i-- {
			if delivery.held[strings.ToLower(creds[i].KeyID)] {
				measured = creds[i]
				break
			}
		}
	}
	due, reason := rotationDue(measured, s, opts)
	if delivery.problem != "" {
		due, reason = true, delivery.problem
	}
	if due {
		// After the rotation every credential seen now is older than the new one. Orphans (made
		// after the last delivery, held by no sink) go whatever keepPrevious says; it counts
		// the others.
		orphans := delivery.orphans(creds)
		var ids []string
		var rest []PasswordCredential
		for _, c := range creds {
			if slices.ContainsFunc(orphans, func(o PasswordCredential) bool { return o.KeyID == c.KeyID }) {
				ids = append(ids, c.KeyID)
			} else {
				rest = append(rest, c)
			}
		}
		_, retire, _ := retirement(rest, s.KeepPrevious, opts.Now)
		for _, c := range retire {
			ids = append(ids, c.KeyID)
		}
		spec.Retire = ids
		attrs := []AttrChange{
			lifetime,
			{Name: "keyId", Before: newest.KeyID, KnownAfterApply: true},
			{Name: "endDateTime", Before: newest.EndDate, KnownAfterApply: true},
			{Name: "value", Sensitive: true},
			sinks,
		}
		if len(ids) > 0 {
			// Listed as what exists before and not after: the text plan shows each with "-".
			attrs = append(attrs, AttrChange{Name: "retire", Before: ids})
		}
		return []Change{{Address: address, Kind: KindSecret, Action: Rotate, Reason: reason,
			Source: want.pos(s.Path), Attrs: attrs, Target: Target{Spec: spec}}}, nil
	}

	// Not due: expired credentials of the name go, one change each. Valid ones beyond
	// keepPrevious stay until the next rotation: outside a rotation nothing says a sink does
	// not still hold one of them (a rotation that failed half-way, a keepPrevious just
	// lowered), and removing the value a consumer uses is the outage this tool exists to avoid.
	_, retire, reasons := retirement(older, s.KeepPrevious, opts.Now)
	var out []Change
	var extra []string
	for i, c := range retire {
		if !expired(c, opts.Now) {
			extra = append(extra, c.KeyID)
			continue
		}
		one := *spec
		one.Retire = []string{c.KeyID}
		out = append(out, Change{
			Address: fmt.Sprintf("%s.credential[%q]", address, c.KeyID),
			Kind:    KindSecret, Action: Delete, Reason: reasons[i], Source: want.pos(s.Path),
			Attrs:  []AttrChange{{Name: "keyId", Before: c.KeyID}, {Name: "endDateTime", Before: c.EndDate}},
			Target: Target{Spec: &one},
		})
	}
	var warnings []Warning
	if len(extra) > 0 {
		warnings = append(warnings, Warning{Address: address, Source: want.pos(s.Path), Message: fmt.Sprintf(
			"%d older credential(s) beyond keepPrevious %d (keyId %s) are kept until the next rotation; provision rotate --force rotates and retires them now",
			len(extra), s.KeepPrevious, strings.Join(extra, ", "))})
	}
	return out, warnings
}

// rotationDue says whether the newest credential of a secret must be replaced now, and why.
func rotationDue(newest PasswordCredential, s DesiredSecret, opts PlanOptions) (bool, string) {
	end, ok := endOf(newest)
	left := ""
	if ok && !opts.Now.IsZero() {
		if d := end.Sub(opts.Now); d > 0 {
			left = "expires in " + ago(d)
		} else {
			left = "expired " + ago(-d) + " ago"
		}
	}
	if opts.ForceRotate {
		if left == "" {
			return true, "rotation forced (--force)"
		}
		return true, "rotation forced (--force); " + left
	}
	if !ok || opts.Now.IsZero() {
		return false, ""
	}
	if d := end.Sub(opts.Now); d > s.RotateBefore {
		return false, ""
	} else if d <= 0 {
		return true, left
	}
	return true, left + ", rotateBefore is " + manifests.Duration(s.RotateBefore).String()
}

// expiryWarnings reports every credential of app that expires within the rotateBefore of its
// secret (the longest rotateBefore of the manifest, or the default, for credentials the manifest
// does not name) or has expired, except those the plan replaces or retires and the older ones a
// secret keeps on purpose for the overlap, whose expiry is expected.
func expiryWarnings(want Desired, app *ObservedApp, changes []Change, opts PlanOptions) []Warning {
	if opts.Now.IsZero() {
		return nil
	}
	window := time.Duration(manifests.DefaultRotateBefore)
	managed := map[string]DesiredSecret{}
	for _, s := range want.Secrets {
		managed[s.Name] = s
		window = max(window, s.RotateBefore)
	}
	handled := map[string]string{} // keyId -> what the plan does about it
	for _, c := range changes {
		spec, ok := c.Target.Spec.(*SecretSpec)
		if !ok {
			continue
		}
		for _, id := range spec.Retire {
			handled[id] = "the plan retires it"
		}
		if c.Action == Rotate {
			for _, a := range c.Attrs {
				if a.Name == "keyId" {
					if id, ok := a.Before.(string); ok {
						handled[id] = "the plan rotates it"
					}
				}
			}
		}
	}
	var out []Warning
	for _, c := range app.PasswordCredentials {
		end, ok := endOf(c)
		if !ok {
			continue
		}
		s, isManaged := managed[c.DisplayName]
		limit := window
		if isManaged {
			limit = s.RotateBefore
			if newest := credentialsNamed(app, c.DisplayName)[0]; newest.KeyID != c.KeyID {
				continue // kept for the overlap (or retired): its expiry is planned
			}
		}
		left := end.Sub(opts.Now)
		if left > limit {
			continue
		}
		when := "expires in " + ago(left) + " (" + c.EndDate + ")"
		if left <= 0 {
			when = "expired " + ago(-left) + " ago (" + c.EndDate + ")"
		}
		msg := fmt.Sprintf("client secret %q (keyId %s) %s", c.DisplayName, c.KeyID, when)
		switch {
		case handled[c.KeyID] != "":
			msg += ": " + handled[c.KeyID]
		case isManaged:
			msg += ": run provision rotate"
		default:
			msg += ": not managed by this manifest (no secret of that name), rotate or remove it yourself"
		}
		out = append(out, Warning{Kind: WarningExpiry, Address: want.Address, Message: msg, Source: want.pos("application.secrets")})
	}
	return out
}

// ago renders a positive duration the way a plan reason reads it: whole days, else hours,
// else minutes.
func ago(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	default:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
}

// DescribeStore names a store's sinks for the plan, without building them (no I/O): the same
// words the sinks use in errors.
func DescribeStore(s manifests.SecretStore) []string {
	var out []string
	if s.KeyVault != nil {
		out = append(out, "key vault "+s.KeyVault.URL+" secret "+s.KeyVault.Name)
	}
	if s.File != "" {
		out = append(out, "file "+s.File)
	}
	if len(s.Exec) > 0 {
		out = append(out, "exec "+s.Exec[0])
	}
	if s.GitHubOutput {
		out = append(out, "GitHub Actions step output")
	}
	return out
}

// ExpiryWarnings returns the plan's warnings about credentials that expire within rotateBefore
// or have expired (Kind WarningExpiry): what a scheduled CI job alerts on, since the rotation
// of a managed secret already shows as a change, but a credential made in the portal never
// does.
func (p *Plan) ExpiryWarnings() []Warning {
	var out []Warning
	for _, w := range p.Warnings {
		if w.Kind == WarningExpiry {
			out = append(out, w)
		}
	}
	return out
}

// SecretDeps is what apply needs to deliver and check new client secrets. Planning uses none
// of it, so a plan needs no sink or identity-platform access. The CLI fills it; a library user
// applying a plan without secret changes may leave it zero.
type SecretDeps struct {
	// Sinks builds the sinks of one secret's store (sink.FromStore with the process's
	// dependencies). Apply calls it once per created or rotated secret, before addPassword, so
	// a sink that cannot work here (githubOutput outside Actions) fails before anything exists.
	Sinks func(store manifests.SecretStore) ([]sink.Sink, error)
	// Verify signs in with a new secret (client credentials against the tenant's authority) and
	// returns nil once it works. A new secret takes a while to reach every replica of the
	// identity platform, so Verify retries its "invalid secret" and "unknown application"
	// answers itself, bounded, on the engine's clock; see package verify. Its error must not
	// contain the secret.
	Verify func(ctx context.Context, tenantID, clientID string, secret sensitive.String) error
	// TenantID is the directory (tenant) id written to the sinks and signed in to.
	TenantID string
	// AuthorityHost is the identity platform, e.g. https://login.microsoftonline.com/ (the
	// default when empty); the sinks' document names <AuthorityHost>/<TenantID>.
	AuthorityHost string
	// MailScope is the client-credentials scope for IMAP/POP/SMTP written to the sinks; empty
	// means Exchange Online's public-cloud scope. The Graph scope derives from the Graph client.
	MailScope string
	// SMTP, IMAP and POP are the mail endpoints (host:port) written to the sinks for the
	// consumers; empty means Exchange Online's.
	SMTP, IMAP, POP string
	// LockDir holds the per-user lock files that make rotations of one secret on this machine
	// take turns; empty means the user's cache directory (lockfile.Path).
	LockDir string
	// LockWaiting, when set, is told whom a rotation waits for when another process holds
	// the lock.
	LockWaiting func(holder string)
}

// apply creates, rotates or retires credentials of one secret, holding the application's
// credential lock so no other change of this process races its addPassword/removePassword.
func (secretKind) apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error) {
	spec, _ := c.Target.Spec.(*SecretSpec)
	if spec == nil {
		return "", errors.New("apply secret: the change carries no secret")
	}
	objectID := st.objectID
	if objectID == "" {
		objectID = spec.ApplicationID
	}
	if objectID == "" {
		return "", errors.New("apply secret: the application's object id is unknown")
	}
	unlock := e.locks.Lock(objectID)
	defer unlock()
	if c.Action == Delete {
		for _, id := range spec.Retire {
			if err := e.removePassword(ctx, objectID, id, st.freshApp); err != nil {
				return "", fmt.Errorf("retire credential %s: %w", id, err)
			}
		}
		return strings.Join(spec.Retire, ","), nil
	}
	return e.rotateSecret(ctx, objectID, st, spec)
}

// rotateSecret adds a credential, writes it to every sink, verifies it and retires the older
// ones the plan lists. At every step a consumer reading any sink holds a credential that
// works: the old ones stay until the new one is everywhere and signs in.
func (e *Engine) rotateSecret(ctx context.Context, objectID string, st *appState, spec *SecretSpec) (string, error) {
	deps := e.Secrets
	switch {
	case deps.Sinks == nil || deps.Verify == nil:
		return "", errors.New("create secret: secret delivery is not configured (Engine.Secrets needs Sinks and Verify)")
	case deps.TenantID == "":
		return "", errors.New("create secret: the tenant id for the sinks is unknown (Engine.Secrets.TenantID)")
	case st.appID == "":
		return "", errors.New("create secret: the application's appId is unknown")
	}
	sinks, err := deps.Sinks(spec.Store)
	if err != nil {
		return "", fmt.Errorf("prepare sinks: %w", err)
	}
	release, err := e.machineLock(ctx, objectID, spec.Name)
	if err != nil {
		return "", err
	}
	defer release()
	// What the plan saw may be stale by now: another run (another machine, or this one before
	// the lock was free) may have rotated, or be delivering, a credential of this name.
	orphans, done, err := e.othersRotations(ctx, objectID, spec, sinks)
	if err != nil || done != "" {
		return done, err
	}

	started := e.now().UTC().Truncate(time.Second)
	name, end := spec.Name, started.Add(spec.Lifetime)
	pc := models.NewPasswordCredential()
	pc.SetDisplayName(&name)
	pc.SetEndDateTime(&end)
	body := applications.NewItemAddPasswordPostRequestBody()
	body.SetPasswordCredential(pc)
	var created models.PasswordCredentialable
	for attempt := 1; ; attempt++ {
		err = e.write(ctx, st.freshApp, func(ctx context.Context) error {
			var err error
			created, err = e.Graph.Graph.Applications().ByApplicationId(objectID).AddPassword().Post(ctx, body, nil)
			return err
		})
		if err == nil && (created == nil || created.GetKeyId() == nil) {
			err = errAnswerLost // a success without the credential: its value is lost
		}
		if err == nil {
			break
		}
		again, ferr := e.addPasswordFailed(ctx, objectID, spec, started, err)
		if !again || attempt == createAttempts {
			return "", ferr
		}
	}
	keyID := uuidStr(created.GetKeyId())
	secret := sensitive.New(str(created.GetSecretText()))
	created.SetSecretText(nil)
	if secret.IsZero() {
		err := errors.New("create secret: Graph answered without a secretText")
		if rerr := e.removePassword(ctx, objectID, keyID, true); rerr != nil {
			return "", fmt.Errorf("%w; removing the credential failed too, remove keyId %s yourself: %w", err, keyID, rerr)
		}
		return "", err
	}

	cred := sink.Credential{
		TenantID:    deps.TenantID,
		ClientID:    st.appID,
		KeyID:       keyID,
		DisplayName: name,
		Secret:      secret,
		Hint:        str(created.GetHint()),
		CreatedAt:   started,
		ExpiresAt:   end,
		Authority:   strings.TrimSuffix(cmp.Or(deps.AuthorityHost, credential.DefaultAuthority), "/") + "/" + deps.TenantID,
		GraphScope:  strings.TrimSuffix(e.Graph.BaseURL, "/") + "/.default",
		MailScope:   deps.MailScope,
		SMTP:        deps.SMTP,
		IMAP:        deps.IMAP,
		POP:         deps.POP,
	}
	if t := created.GetStartDateTime(); t != nil {
		cred.CreatedAt = t.UTC()
	}
	if t := created.GetEndDateTime(); t != nil {
		cred.ExpiresAt = t.UTC()
	}
	if other := e.deliveredMeanwhile(ctx, objectID, sinks, spec, keyID); other != "" {
		// Another run delivered its credential while ours was being made: the sinks are up to
		// date, and ours would only be one more.
		if err := e.removePassword(ctx, objectID, keyID, true); err != nil {
			return "", fmt.Errorf("another run delivered credential %s meanwhile; removing this run's %s failed, remove it yourself: %w", other, keyID, err)
		}
		return other, nil
	}
	if err := sink.WriteAll(ctx, sinks, cred.WithDefaults()); err != nil {
		return "", sensitive.Scrub(e.deliveryFailed(ctx, objectID, keyID, err), secret)
	}
	if err := deps.Verify(ctx, deps.TenantID, st.appID, secret); err != nil {
		return "", sensitive.Scrub(fmt.Errorf("verify new credential %s: %w; it is in every sink and nothing was retired, run provision rotate again to retire the older credentials once it signs in", keyID, err), secret)
	}
	retire, ours, err := e.retirable(ctx, objectID, spec, sinks, keyID, append(slices.Clone(spec.Retire), orphans...))
	if err != nil {
		return keyID, fmt.Errorf("the new credential %s is delivered and verified, but what to retire could not be read (run provision rotate again to retire the older ones): %w", keyID, err)
	}
	if !ours {
		// Another run's credential replaced ours in the sinks meanwhile: ours is in no sink,
		// so it goes, and that run retires the rest.
		if err := e.removePassword(ctx, objectID, keyID, true); err != nil {
			return "", fmt.Errorf("another run delivered its own credential over %s, which is now in no sink; removing it failed, remove keyId %s yourself: %w", keyID, keyID, err)
		}
		return "", nil
	}
	for _, id := range retire {
		if err := e.removePassword(ctx, objectID, id, false); err != nil {
			return "", fmt.Errorf("retire credential %s (the new credential %s is delivered and verified; run provision rotate again to finish): %w", id, keyID, err)
		}
	}
	return keyID, nil
}

// machineLock takes the per-user lock file of one secret of one application, so rotations of
// it from this machine (a cron job overlapping a manual run, two pipelines on one runner) take
// turns across processes; rotations from other machines are caught by othersRotations.
func (e *Engine) machineLock(ctx context.Context, objectID, name string) (func(), error) {
	key := e.Secrets.TenantID + "/" + objectID + "/" + name
	path := ""
	if dir := e.Secrets.LockDir; dir != "" {
		path = filepath.Join(dir, lockfile.FileName(key))
	} else {
		var err error
		if path, err = lockfile.Path(key); err != nil {
			return nil, fmt.Errorf("rotate secret %q: %w", name, err)
		}
	}
	l, err := lockfile.Acquire(ctx, path, lockfile.Options{Waiting: e.Secrets.LockWaiting})
	if errors.Is(err, errors.ErrUnsupported) {
		return func() {}, nil // no file locks on this platform: othersRotations still guards
	}
	if err != nil {
		return nil, fmt.Errorf("rotate secret %q: %w", name, err)
	}
	return func() { _ = l.Release() }, nil
}

// othersRotations looks, before a rotation adds its credential, at the credentials of the
// secret made since the plan: one a sink now holds was delivered by another run, and then
// there is nothing left to do (done names it); one no sink
// holds that is younger than secretGrace may be on its way there, and is waited for; an older
// one is an orphan, returned for retirement. A rotation another run delivered meanwhile is the
// rotation asked for, forced or not.
func (e *Engine) othersRotations(ctx context.Context, objectID string, spec *SecretSpec, sinks []sink.Sink) (orphans []string, done string, err error) {
	deadline := e.now().Add(secretGrace)
	for {
		creds, err := e.readCredentials(ctx, objectID, spec.Name)
		if err != nil {
			return nil, "", fmt.Errorf("rotate secret %q: %w", spec.Name, err)
		}
		held, _ := heldBy(ctx, sinks)
		waiting := false
		orphans = nil
		for _, c := range creds {
			if slices.ContainsFunc(spec.Known, func(k string) bool { return strings.EqualFold(k, c.KeyID) }) {
				continue
			}
			switch {
			case held[strings.ToLower(c.KeyID)]:
				// Another run rotated meanwhile, and delivered: that is the rotation asked for
				// (forced or not), and a second one would only leave one more credential.
				return nil, c.KeyID, nil
			case young(c, e.now()):
				waiting = true
			default:
				orphans = append(orphans, c.KeyID)
			}
		}
		if !waiting || !e.now().Before(deadline) {
			return orphans, "", nil
		}
		if err := e.clock().Sleep(ctx, 5*time.Second); err != nil {
			return nil, "", fmt.Errorf("rotate secret %q: wait for another run's delivery: %w", spec.Name, err)
		}
	}
}

// retirable is what a rotation that delivered keyID retires now, of wanted: never a
// credential a sink holds now, nor one another run made within secretGrace (it may be
// delivering it), nor keyID itself. ours is false when every sink could be read and none
// holds keyID: another run's delivery replaced it.
func (e *Engine) retirable(ctx context.Context, objectID string, spec *SecretSpec, sinks []sink.Sink, keyID string, wanted []string) ([]string, bool, error) {
	held, allReadable := heldBy(ctx, sinks)
	if allReadable && !held[strings.ToLower(keyID)] {
		return nil, false, nil
	}
	if len(wanted) == 0 {
		return nil, true, nil // nothing to retire (a first delivery): no read needed
	}
	creds, err := e.readCredentials(ctx, objectID, spec.Name)
	if err != nil {
		return nil, true, err
	}
	youngOthers := map[string]bool{}
	for _, c := range creds {
		if young(c, e.now()) && !strings.EqualFold(c.KeyID, keyID) && !slices.Contains(wanted, c.KeyID) {
			youngOthers[strings.ToLower(c.KeyID)] = true
		}
	}
	var out []string
	for _, id := range wanted {
		k := strings.ToLower(id)
		if held[k] || youngOthers[k] || strings.EqualFold(id, keyID) || slices.Contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	return out, true, nil
}

// deliveredMeanwhile returns a credential of the secret that a sink holds and the plan did not
// know of (nor is ours): another run's, delivered since the plan; "" when there is none. (A
// sink may also hold a credential of no current application, left by a destroyed one: that
// is no other run's.)
func (e *Engine) deliveredMeanwhile(ctx context.Context, objectID string, sinks []sink.Sink, spec *SecretSpec, ours string) string {
	held, _ := heldBy(ctx, sinks)
	var unknown []string
	for id := range held {
		if !strings.EqualFold(id, ours) && !slices.ContainsFunc(spec.Known, func(k string) bool { return strings.EqualFold(k, id) }) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		return ""
	}
	creds, err := e.readCredentials(ctx, objectID, spec.Name)
	if err != nil {
		return ""
	}
	for _, c := range creds {
		if slices.ContainsFunc(unknown, func(id string) bool { return strings.EqualFold(id, c.KeyID) }) {
			return c.KeyID
		}
	}
	return ""
}

// heldBy reads which keyIds the sinks hold now, and whether every one of them could say.
func heldBy(ctx context.Context, sinks []sink.Sink) (map[string]bool, bool) {
	held, all := map[string]bool{}, len(sinks) > 0
	for _, s := range sinks {
		h, err := sink.Observe(ctx, s)
		switch {
		case err != nil || h.State == sink.CannotReadBack:
			all = false
		case h.State == sink.HoldsCredential && h.KeyID != "":
			held[strings.ToLower(h.KeyID)] = true
		}
	}
	return held, all
}

// readCredentials reads the application's credentials named name, newest first.
func (e *Engine) readCredentials(ctx context.Context, objectID, name string) ([]PasswordCredential, error) {
	var app models.Applicationable
	err := e.retry(ctx, true, func(ctx context.Context) error {
		var err error
		app, err = e.Graph.Graph.Applications().ByApplicationId(objectID).Get(ctx, &applications.ApplicationItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &applications.ApplicationItemRequestBuilderGetQueryParameters{Select: []string{"id", "passwordCredentials"}}})
		if err == nil && app == nil {
			return errNotVisible
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the application's credentials: %w", err)
	}
	obs := ObservedApp{}
	for _, p := range app.GetPasswordCredentials() {
		obs.PasswordCredentials = append(obs.PasswordCredentials, passwordCredentialFromModel(p))
	}
	return credentialsNamed(&obs, name), nil
}

// addPasswordFailed explains a refused addPassword, and cleans up after one whose outcome is
// unknown (no answer, a 5xx, a success without the credential): the credential may exist,
// with a value nobody received. It says whether addPassword may be sent again: when the
// outcome was unknown and no orphan is left.
func (e *Engine) addPasswordFailed(ctx context.Context, objectID string, spec *SecretSpec, started time.Time, err error) (bool, error) {
	ge, ok := graph.AsError(err)
	switch {
	case ok && ge.Status == http.StatusBadRequest && isLifetimePolicy(ge):
		return false, fmt.Errorf("create secret: the tenant's app management policy does not allow a client secret valid for %s; set a lifetime the policy allows in the manifest (Graph said: %s): %w",
			manifests.Duration(spec.Lifetime), ge.Message, err)
	case ok && strings.Contains(ge.Message, "size of the object has exceeded its limit"):
		return false, fmt.Errorf("create secret: the application holds as many credentials as Entra allows; remove unused ones: %w", err)
	case !outcomeUnknown(err):
		return false, fmt.Errorf("create secret: %w", err)
	}
	orphans, ferr := e.orphans(ctx, objectID, spec, started)
	if ferr != nil {
		return false, fmt.Errorf("create secret: %w; whether Graph created it is unknown and reading the application failed (%v): if a credential named %q appeared, remove it, then run provision rotate --force", err, ferr, spec.Name)
	}
	var left []string
	for _, id := range orphans {
		if rerr := e.removePassword(ctx, objectID, id, true); rerr != nil {
			left = append(left, id)
		}
	}
	if len(left) > 0 {
		return false, fmt.Errorf("create secret: %w; a credential was created whose value was lost and removing it failed: remove keyId %s yourself", err, strings.Join(left, ", "))
	}
	return true, fmt.Errorf("create secret: %w", err)
}

// isLifetimePolicy reports an addPassword refused by an app management policy
// (CredentialInvalidLifetimeAsPerAppPolicy: "Credential lifetime exceeds the max value allowed
// as per assigned policy").
func isLifetimePolicy(e *graph.Error) bool {
	text := strings.ToLower(e.Code + " " + e.Message + " " + strings.Join(e.Details, " "))
	return strings.Contains(text, "asperapppolicy") || (strings.Contains(text, "lifetime") && strings.Contains(text, "policy"))
}

// orphans lists credentials of spec's name that the plan did not see and that started with or
// after this attempt: made by an addPassword whose answer was lost. (A minute of slack covers
// clock skew with the service.) A credential made moments ago may not show yet: the
// application is read again until one shows or visibleWithin has passed.
func (e *Engine) orphans(ctx context.Context, objectID string, spec *SecretSpec, started time.Time) ([]string, error) {
	var out []string
	policy := retry.Policy{BaseDelay: firstPoll, MaxDelay: maxPoll, MaxElapsed: visibleWithin}
	err := retry.Do(ctx, e.clock(), policy, func(ctx context.Context) error {
		app, err := e.Graph.Graph.Applications().ByApplicationId(objectID).Get(ctx, &applications.ApplicationItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &applications.ApplicationItemRequestBuilderGetQueryParameters{Select: []string{"id", "passwordCredentials"}}})
		if err != nil {
			return graph.Wrap(err)
		}
		out = nil
		if app != nil {
			for _, p := range app.GetPasswordCredentials() {
				id := uuidStr(p.GetKeyId())
				if str(p.GetDisplayName()) != spec.Name || slices.ContainsFunc(spec.Known, func(k string) bool { return strings.EqualFold(k, id) }) {
					continue
				}
				if s := p.GetStartDateTime(); s != nil && s.Before(started.Add(-time.Minute)) {
					continue
				}
				out = append(out, id)
			}
		}
		if len(out) == 0 {
			return errNotVisible
		}
		return nil
	}, graph.IsReplicationLag)
	if err != nil && !errors.Is(err, errNotVisible) {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	return out, nil
}

// deliveryFailed handles a sink that refused the new credential. If no sink holds it any more
// (nothing written, or every written one reverted), the credential is removed again and the
// tenant is as before. If one that cannot be undone holds it (a Key Vault version, a command
// that ran, a step output), removing it would leave that sink with a dead value, so it is kept:
// every sink then holds a working credential, the new one or an old one.
func (e *Engine) deliveryFailed(ctx context.Context, objectID, keyID string, err error) error {
	var we *sink.WriteError
	var held []string
	if errors.As(err, &we) {
		for _, w := range we.Written {
			if !slices.Contains(we.Reverted, w) {
				held = append(held, w)
			}
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("deliver new credential %s: %w; %s already hold(s) it and cannot be reverted, so it was kept and nothing was retired: fix %s, then run provision rotate --force to deliver one secret everywhere",
			keyID, err, strings.Join(held, ", "), we.Sink)
	}
	if rerr := e.removePassword(ctx, objectID, keyID, true); rerr != nil {
		return fmt.Errorf("deliver new credential: %w; removing it again failed too, remove credential keyId %s yourself: %w", err, keyID, rerr)
	}
	return fmt.Errorf("deliver new credential: %w; the new credential was removed again and the existing ones are unchanged", err)
}

// removePassword removes one credential; one already gone is success. Right after its
// addPassword (fresh), "not found" is replication lag and is retried, bounded, first.
func (e *Engine) removePassword(ctx context.Context, objectID, keyID string, fresh bool) error {
	id, err := uuid.Parse(keyID)
	if err != nil {
		return fmt.Errorf("remove credential: keyId %q: %w", keyID, err)
	}
	body := applications.NewItemRemovePasswordPostRequestBody()
	body.SetKeyId(&id)
	unknown := 0
	err = e.Graph.Retry(ctx, func(ctx context.Context) error {
		return e.Graph.Graph.Applications().ByApplicationId(objectID).RemovePassword().Post(ctx, body, nil)
	}, func(err error) bool {
		if outcomeUnknown(err) && unknown < createAttempts-1 {
			// removePassword is a POST, which the transport does not repeat; removing twice is
			// harmless (the second finds it gone), so a 5xx or a lost answer is sent again.
			unknown++
			return true
		}
		return fresh && (graph.IsReplicationLag(err) || graph.IsPasswordNotFound(err))
	})
	if err == nil || graph.IsPasswordNotFound(err) {
		return nil
	}
	return fmt.Errorf("remove credential: %w", graph.Wrap(err))
}
