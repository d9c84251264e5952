package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/rights"
)

// KindMailboxFullAccess is the application's FullAccess on one listed mailbox
// (Add-MailboxPermission): with the registration and an app-only role, it lets the application
// sign in to the mailbox over IMAP, POP and SMTP.
const KindMailboxFullAccess Kind = "mailbox_full_access"

// mailboxFullAccessKind makes FullAccess of the application's registration authoritative on
// the listed mailboxes: added where appAccess is true, removed where it is false. Other
// users' permissions on a mailbox are never touched; inherited and Deny rows are left alone
// and reported.
//
// Observe: mailboxKind reads the mailboxes' permissions (Get-MailboxPermission, round 2).
// Plan: create or delete one grant per mailbox.
// Apply: Add-/Remove-MailboxPermission naming the enterprise application's object id; a
// registration made moments ago is waited for until Exchange resolves it. Stage 8, after the
// registration; several at once within the Exchange bound.
type mailboxFullAccessKind struct{}

func (mailboxFullAccessKind) name() Kind { return KindMailboxFullAccess }

func (mailboxFullAccessKind) traits() traits {
	return traits{stage: 8, bound: func(e *Engine) int { return e.exchangeConcurrency() },
		needs:      []Kind{KindApplication, KindServicePrincipal, KindExchangeServicePrincipal},
		operations: []rights.Operation{rights.OpManageMailboxAccess}}
}

func (mailboxFullAccessKind) observe(context.Context, int, *round) {}

// fullAccessSpec names the mailbox a FullAccess change writes.
type fullAccessSpec struct {
	Mailbox string // the user's UPN, as Exchange is given it
}

func (mailboxFullAccessKind) plan(d *docPlan) {
	for _, m := range d.mailboxes {
		address := mailboxAddress(m.want.Address.Name, "full_access")
		var fa exchange.FullAccess
		if d.sp != nil && m.read {
			// Rows name the registration by the object id it was registered with; only one
			// registered with the enterprise application's id counts (a wrong one is replaced).
			fa = m.state.Permissions.FullAccessOf(exchange.ServicePrincipal{ObjectID: d.sp.ID})
		}
		source := d.want.pos(m.want.Path + ".appAccess")
		if !d.want.Source.Has(m.want.Path + ".appAccess") {
			source = d.want.pos(m.want.Path)
		}
		want := m.want.AppAccess && !d.opts.Destroy
		switch {
		case want && fa.Denied:
			d.warn(Warning{Address: address, Source: source, Message: fmt.Sprintf(
				"a Deny row on %s refuses the application FullAccess, and a Deny wins over any grant: app-only logins will fail until someone removes it (provision leaves Deny rows alone)", m.want.Address.Name)})
		case want && fa.Inherited && !fa.Granted:
			d.warn(Warning{Address: address, Source: source, Message: fmt.Sprintf(
				"the application holds FullAccess on %s by inheritance only; provision leaves inherited rows alone and grants none of its own", m.want.Address.Name)})
			continue
		}
		switch {
		case want && !fa.Granted:
			d.change(Change{Address: address, Kind: KindMailboxFullAccess, Action: Create,
				Attrs:  []AttrChange{{Name: "accessRights", After: "FullAccess"}, {Name: "user", After: principalOf(d)}},
				Source: source, Target: Target{Spec: &fullAccessSpec{Mailbox: m.upn}}})
		case !want && fa.Granted:
			reason := "appAccess is false"
			if d.opts.Destroy {
				reason = "destroy"
			}
			d.change(Change{Address: address, Kind: KindMailboxFullAccess, Action: Delete, Reason: reason,
				Attrs:  []AttrChange{{Name: "accessRights", Before: "FullAccess"}, {Name: "user", Before: principalOf(d)}},
				Source: source, Target: Target{Spec: &fullAccessSpec{Mailbox: m.upn}}})
		}
	}
}

// principalOf is the object id FullAccess names, as the plan shows it.
func principalOf(d *docPlan) any {
	if d.sp != nil {
		return d.sp.ID
	}
	return "(the enterprise application, known after apply)"
}

func (mailboxFullAccessKind) apply(ctx context.Context, e *Engine, c *Change, st *appState) (string, error) {
	if e.Exchange == nil {
		return "", ErrNoExchange
	}
	spec, _ := c.Target.Spec.(*fullAccessSpec)
	if spec == nil {
		return "", errors.New("apply FullAccess: the change carries no mailbox")
	}
	if st.spID == "" {
		return "", errors.New("grant FullAccess: the service principal's id is unknown")
	}
	if c.Action == Delete {
		if err := e.Exchange.RemoveFullAccess(ctx, spec.Mailbox, st.spID); err != nil {
			return "", fmt.Errorf("remove FullAccess of %s on %s: %w", st.spID, spec.Mailbox, err)
		}
		return "", nil
	}
	if err := e.Exchange.AddFullAccess(ctx, spec.Mailbox, st.spID); err != nil {
		return "", fmt.Errorf("grant FullAccess on %s to %s: %w", spec.Mailbox, st.spID, err)
	}
	return "", nil
}
