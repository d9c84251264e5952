package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/rights"
)

// KindMailboxSMTPAuth is a listed mailbox's own SMTP AUTH switch (Set-CASMailbox
// SmtpClientAuthenticationDisabled): SMTP logins with OAuth, delegated or app-only, answer
// 535 5.7.139 while it is off.
const KindMailboxSMTPAuth Kind = "mailbox_smtp_auth"

// mailboxSMTPAuthKind sets the switch where the manifest says smtpAuth, and leaves it where it
// does not. Destroy leaves it too: it is a setting of the mailbox, not an object provision made.
//
// Observe: mailboxKind reads the mailboxes (Get-CASMailbox, round 2).
// Plan: update when the switch differs.
// Apply: Set-CASMailbox, idempotent. Stage 6, with Send-As; several at once within the
// Exchange bound.
type mailboxSMTPAuthKind struct{}

func (mailboxSMTPAuthKind) name() Kind { return KindMailboxSMTPAuth }

func (mailboxSMTPAuthKind) traits() traits {
	return traits{stage: 6, bound: func(e *Engine) int { return e.exchangeConcurrency() },
		operations: []rights.Operation{rights.OpManageMailboxAccess}}
}

func (mailboxSMTPAuthKind) observe(context.Context, int, *round) {}

// smtpAuthSpec is what an SMTP AUTH change writes.
type smtpAuthSpec struct {
	Mailbox string
	Value   exchange.SMTPAuth
}

func (mailboxSMTPAuthKind) plan(d *docPlan) {
	if d.opts.Destroy {
		return
	}
	for _, m := range d.mailboxes {
		if m.want.SMTPAuth == "" || !m.read || m.state.CAS.SMTPAuth == m.want.SMTPAuth {
			continue
		}
		d.change(Change{Address: mailboxAddress(m.want.Address.Name, "smtp_auth"), Kind: KindMailboxSMTPAuth, Action: Update,
			Attrs:  []AttrChange{{Name: "smtpAuth", Before: string(m.state.CAS.SMTPAuth), After: string(m.want.SMTPAuth)}},
			Source: d.want.pos(m.want.Path + ".smtpAuth"),
			Target: Target{Spec: &smtpAuthSpec{Mailbox: m.upn, Value: m.want.SMTPAuth}}})
	}
}

func (mailboxSMTPAuthKind) apply(ctx context.Context, e *Engine, c *Change, _ *appState) (string, error) {
	if e.Exchange == nil {
		return "", ErrNoExchange
	}
	spec, _ := c.Target.Spec.(*smtpAuthSpec)
	if spec == nil {
		return "", errors.New("apply SMTP AUTH: the change carries no mailbox")
	}
	if err := e.Exchange.SetSMTPAuth(ctx, spec.Mailbox, spec.Value); err != nil {
		return "", fmt.Errorf("set SMTP AUTH of %s to %s: %w", spec.Mailbox, spec.Value, err)
	}
	return "", nil
}
