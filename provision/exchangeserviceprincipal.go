package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/rights"
)

// KindExchangeServicePrincipal is the application's service principal registered in Exchange
// Online (New-ServicePrincipal), which mailbox permissions name: without it, the application
// roles IMAP.AccessAsApp, POP.AccessAsApp and SMTP.SendAsApp grant nothing.
const KindExchangeServicePrincipal Kind = "exchange_service_principal"

// exchangeServicePrincipalKind manages the registration: it exists exactly while some listed
// mailbox has appAccess (for documents with a mailboxes key), registered with the object id
// of the enterprise application (its service principal), not of the app registration, the
// classic mistake, which it replaces.
//
// Observe: mailboxKind reads it (Get-ServicePrincipal by appId, round 2).
// Plan: create, replace (registered with another object id), or delete.
// Apply: New-ServicePrincipal with the enterprise application's object id (which a create
// earlier in the run may have produced), Remove-ServicePrincipal. Stage 7, after the service
// principal; one at a time.
type exchangeServicePrincipalKind struct{}

func (exchangeServicePrincipalKind) name() Kind { return KindExchangeServicePrincipal }

func (exchangeServicePrincipalKind) traits() traits {
	return traits{stage: 7, needs: []Kind{KindApplication, KindServicePrincipal},
		operations: []rights.Operation{rights.OpRegisterExchangeServicePrincipal}}
}

func (exchangeServicePrincipalKind) observe(context.Context, int, *round) {}

// exchangeServicePrincipalSpec is what a registration change writes.
type exchangeServicePrincipalSpec struct {
	DisplayName string
	// Replace says the registration exists with another object id: removed, then registered.
	Replace bool
}

func (exchangeServicePrincipalKind) plan(d *docPlan) {
	if !d.want.MailboxesManaged {
		return
	}
	address := d.want.Address + ".exchange_service_principal"
	var have *exchange.ServicePrincipal
	if d.obs.Mail != nil {
		have = d.obs.Mail.ServicePrincipal
	}
	wanted := d.appAccessWanted() && !d.opts.Destroy
	spec := &exchangeServicePrincipalSpec{DisplayName: d.want.Name}
	switch {
	case wanted && have == nil:
		objectID := AttrChange{Name: "objectId", KnownAfterApply: true}
		appID := AttrChange{Name: "appId", KnownAfterApply: true}
		if d.sp != nil {
			objectID = AttrChange{Name: "objectId", After: d.sp.ID}
		}
		if d.app != nil {
			appID = AttrChange{Name: "appId", After: d.app.AppID}
		}
		d.change(Change{Address: address, Kind: KindExchangeServicePrincipal, Action: Create,
			Reason: "a mailbox has appAccess: Exchange must know the application to grant it FullAccess",
			Attrs:  []AttrChange{appID, objectID}, Source: d.want.pos("mailboxes"), Target: Target{Spec: spec}})
	case wanted && d.sp != nil && !sameID(have.ObjectID, d.sp.ID):
		spec.Replace = true
		d.change(Change{Address: address, Kind: KindExchangeServicePrincipal, Action: Update,
			Reason: "registered with " + have.ObjectID + ", which is not the enterprise application's object id (the app registration's, a classic mistake): no app-only login can work; it is removed and registered again",
			Attrs:  []AttrChange{{Name: "objectId", Before: have.ObjectID, After: d.sp.ID}},
			Source: d.want.pos("mailboxes"), Target: Target{Spec: spec}})
	case !wanted && have != nil:
		reason := "no listed mailbox has appAccess"
		if d.opts.Destroy {
			reason = "destroy"
		}
		d.change(Change{Address: address, Kind: KindExchangeServicePrincipal, Action: Delete, Reason: reason,
			Attrs:  []AttrChange{{Name: "objectId", Before: have.ObjectID}},
			Source: d.want.pos("mailboxes"), Target: Target{Spec: spec}})
	}
}

func (exchangeServicePrincipalKind) apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error) {
	if e.Exchange == nil {
		return "", ErrNoExchange
	}
	spec, _ := c.Target.Spec.(*exchangeServicePrincipalSpec)
	if spec == nil {
		return "", errors.New("apply Exchange registration: the change carries no registration")
	}
	if st.appID == "" {
		return "", errors.New("register in Exchange Online: the application's appId is unknown")
	}
	if c.Action == Delete || spec.Replace {
		if err := e.Exchange.RemoveServicePrincipal(ctx, st.appID); err != nil {
			return "", fmt.Errorf("remove the Exchange registration of %s: %w", st.appID, err)
		}
		if c.Action == Delete {
			return st.appID, nil
		}
	}
	if st.spID == "" {
		return "", errors.New("register in Exchange Online: the service principal's id is unknown")
	}
	sp, err := e.Exchange.NewServicePrincipal(ctx, st.appID, st.spID, spec.DisplayName)
	if errors.Is(err, exchange.ErrObjectIDMismatch) {
		// Registered meanwhile with another object id: replace it, as the plan would have.
		if err = e.Exchange.RemoveServicePrincipal(ctx, st.appID); err == nil {
			sp, err = e.Exchange.NewServicePrincipal(ctx, st.appID, st.spID, spec.DisplayName)
		}
	}
	if err != nil {
		return "", fmt.Errorf("register %s in Exchange Online: %w", st.appID, err)
	}
	return sp.ObjectID, nil
}
