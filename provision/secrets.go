package provision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisionhq/provision/manifests"
)

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

// planSecretsOnly is the plan of `provision rotate`: the secrets of an application that must
// exist already, and the expiry warnings.
func planSecretsOnly(want Desired, app *ObservedApp, probs manifests.Diagnostics, opts PlanOptions) ([]Change, []Warning, error) {
	if len(probs) == 0 && app == nil {
		probs = append(probs, want.problem("application.name",
			fmt.Errorf("no application %q in the tenant: run provision apply first, rotate only manages the secrets of an existing application", want.Name)))
	}
	if len(probs) > 0 {
		return nil, nil, probs
	}
	changes, warnings := planSecrets(want, app, opts)
	for i := range changes {
		changes[i].Target.App = want.Address
		changes[i].Target.AppID = app.AppID
	}
	SortChanges(changes)
	return changes, warnings, nil
}

// planSecrets plans every secret of want against the registration app (nil when apply is to
// create it), and warns about every credential of app that expires soon.
func planSecrets(want Desired, app *ObservedApp, opts PlanOptions) ([]Change, []Warning) {
	var changes []Change
	var warnings []Warning
	for _, s := range want.Secrets {
		c, w := planSecret(want, app, s, opts)
		changes = append(changes, c...)
		warnings = append(warnings, w...)
	}
	if app == nil {
		return changes, warnings
	}
	return changes, append(expiryWarnings(want, app, changes, opts), warnings...)
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
func planSecret(want Desired, app *ObservedApp, s DesiredSecret, opts PlanOptions) ([]Change, []Warning) {
	address := secretAddress(want, s.Name)
	creds := credentialsNamed(app, s.Name)
	spec := &SecretSpec{Name: s.Name, Lifetime: s.Lifetime, Store: s.Store}
	if app != nil {
		spec.ApplicationID = app.ID
	}
	for _, c := range creds {
		spec.Known = append(spec.Known, c.KeyID)
	}
	sinks := AttrChange{Name: "sinks", After: describeStore(s.Store)}
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
			Target: Target{Secret: spec},
		}}, nil
	}

	newest, older := creds[0], creds[1:]
	due, reason := rotationDue(newest, s, opts)
	if due {
		// After the rotation every credential seen now is older than the new one.
		_, retire, _ := retirement(creds, s.KeepPrevious, opts.Now)
		var ids []string
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
			Source: want.pos(s.Path), Attrs: attrs, Target: Target{Secret: spec}}}, nil
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
			Target: Target{Secret: &one},
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
		if c.Target.Secret == nil {
			continue
		}
		for _, id := range c.Target.Secret.Retire {
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

// describeStore names a store's sinks for the plan, without building them (no I/O): the same
// words the sinks use in errors.
func describeStore(s manifests.SecretStore) []string {
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
