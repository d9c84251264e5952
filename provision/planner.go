package provision

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/provisionhq/provision/manifests"
)

// PlanOptions tunes planning. The zero value is ready to use.
type PlanOptions struct {
	// Now is the time secret expiry is measured against; zero means unused.
	Now time.Time
	// SecretsOnly plans client secrets and nothing else (provision rotate); the application
	// must exist.
	SecretsOnly bool
	// ForceRotate rotates every managed secret now, whatever its expiry (rotate --force).
	ForceRotate bool
}

// PlanDocument compares what one manifest document wants with what the tenant holds and
// returns the changes that close the gap, sorted in apply order, plus warnings. It does no
// I/O. The error, when not nil, is a manifests.Diagnostics listing every problem found, each
// at its manifest position.
func PlanDocument(want Desired, o *Observed, opts PlanOptions) ([]Change, []Warning, error) {
	if o == nil {
		o = &Observed{}
	}
	var probs manifests.Diagnostics
	app, err := matchApp(want, o.Apps)
	if err != nil {
		var d manifests.Diagnostics
		if errors.As(err, &d) {
			probs = append(probs, d...)
		}
	}
	if opts.SecretsOnly {
		return planSecretsOnly(want, app, probs, opts)
	}
	apis, resolveProbs := resolveAPIs(want, o.Resources)
	probs = append(probs, resolveProbs...)
	assignees, assignWarnings, assignProbs := resolveAssignees(want, o.Directory)
	sendAs, sendAsWarnings, sendAsProbs := planSendAs(want, o)
	probs = append(append(probs, assignProbs...), sendAsProbs...)
	if len(probs) > 0 {
		return nil, nil, probs
	}

	var changes []Change
	var warnings []Warning
	if c := planApplication(want, app, apis, o.Resources); c != nil {
		changes = append(changes, *c)
	}
	var sp *ObservedServicePrincipal
	if app != nil {
		sp = o.ServicePrincipal
	}
	if c := planServicePrincipal(want, app, sp); c != nil {
		changes = append(changes, *c)
	}
	consent, w := planConsent(want, sp, apis, o)
	changes = append(changes, consent...)
	warnings = append(warnings, w...)
	warnings = append(warnings, exchangeProtocolWarnings(want, apis)...)
	secrets, w := planSecrets(want, app, opts)
	changes = append(changes, secrets...)
	warnings = append(warnings, w...)
	changes = append(append(changes, planAssignments(want, sp, assignees, o.AssignedTo)...), sendAs...)
	warnings = append(append(warnings, assignWarnings...), sendAsWarnings...)

	for i := range changes {
		changes[i].Target.App = want.Address
		if app != nil {
			changes[i].Target.AppID = app.AppID
		}
		if sp != nil {
			changes[i].Target.ServicePrincipalID = sp.ID
		}
	}
	SortChanges(changes)
	return changes, warnings, nil
}

// matchApp finds the registration the document means: by appId when given, else by
// uniqueName, else the one application with its display name. A registration without a
// uniqueName that carries the display name also matches a document with a uniqueName, so an
// app made in the portal is adopted rather than duplicated.
func matchApp(want Desired, apps []ObservedApp) (*ObservedApp, error) {
	if want.AppID != "" {
		for i := range apps {
			if strings.EqualFold(apps[i].AppID, want.AppID) {
				return &apps[i], nil
			}
		}
		return nil, manifests.Diagnostics{want.problem("application.appId",
			fmt.Errorf("no application with appId %s in the tenant", want.AppID))}
	}
	if want.UniqueName != "" {
		for i := range apps {
			if apps[i].UniqueName == want.UniqueName {
				return &apps[i], nil
			}
		}
	}
	var found []*ObservedApp
	for i := range apps {
		if apps[i].DisplayName == want.Name && (want.UniqueName == "" || apps[i].UniqueName == "") {
			found = append(found, &apps[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, a := range found {
		ids[i] = a.AppID
	}
	slices.Sort(ids)
	return nil, manifests.Diagnostics{want.problem("application.name",
		fmt.Errorf("%d applications are named %q (appIds %s): set application.appId or application.uniqueName to say which one",
			len(found), want.Name, strings.Join(ids, ", ")))}
}

// set returns xs sorted without duplicates; the form sets are compared and shown in.
func set(xs []string) []string {
	out := append([]string{}, xs...)
	slices.Sort(out)
	return slices.Compact(out)
}

// sameSet reports whether a and b hold the same elements, whatever their order.
func sameSet(a, b []string) bool { return slices.Equal(set(a), set(b)) }

// resourceByID returns the resource service principal with object id id, or nil.
func resourceByID(rs []ResourceServicePrincipal, id string) *ResourceServicePrincipal {
	for i := range rs {
		if strings.EqualFold(rs[i].ID, id) {
			return &rs[i]
		}
	}
	return nil
}

// resourceByAppID returns the resource service principal with appId appID, or nil.
func resourceByAppID(rs []ResourceServicePrincipal, appID string) *ResourceServicePrincipal {
	for i := range rs {
		if strings.EqualFold(rs[i].AppID, appID) {
			return &rs[i]
		}
	}
	return nil
}
