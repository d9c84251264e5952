package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/exchange"
)

// DesiredSendAs is one sendAs entry of a manifest: trustees who may send as a mailbox.
type DesiredSendAs struct {
	Path      string // sendAs[i]
	Mailbox   DesiredName
	Trustees  []DesiredName
	Exclusive bool
}

// desiredSendAs reads the document's sendAs entries.
func desiredSendAs(d *manifests.Document) []DesiredSendAs {
	var out []DesiredSendAs
	for i, s := range d.SendAs {
		path := fmt.Sprintf("sendAs[%d]", i)
		want := DesiredSendAs{Path: path, Exclusive: s.Exclusive,
			Mailbox: DesiredName{Name: strings.TrimSpace(s.Mailbox), Path: path + ".mailbox"}}
		for j, t := range s.Trustees {
			want.Trustees = append(want.Trustees, DesiredName{Name: strings.TrimSpace(t), Path: fmt.Sprintf("%s.trustees[%d]", path, j)})
		}
		out = append(out, want)
	}
	return out
}

// ObservedSendAs is the Send-As state of one mailbox as Exchange reports it.
type ObservedSendAs struct {
	// Mailbox is the identity Exchange was asked about: the mailbox user's UPN.
	Mailbox string
	// Missing is true when Exchange has no recipient by that name (yet).
	Missing  bool
	Trustees []exchange.Trustee
	Ignored  []exchange.IgnoredRow
}

// DefaultExchangeConcurrency bounds the Send-As reads and writes in flight. The Exchange
// admin endpoint's per-tenant budget is unpublished and small; the Exchange client's own
// MaxConcurrency caps this further.
const DefaultExchangeConcurrency = 3

func (e *Engine) exchangeConcurrency() int {
	if e.ExchangeConcurrency > 0 {
		return e.ExchangeConcurrency
	}
	return DefaultExchangeConcurrency
}

// ErrNoExchange reports manifests that grant Send-As to an engine without an Exchange client.
var ErrNoExchange = errors.New("sendAs needs the Exchange Online admin API, and no Exchange client is configured " +
	"(provision builds one for PROVISION_EXCHANGE_ENDPOINT, default https://outlook.office365.com; " +
	"library users set Engine.Exchange)")

// requireExchange fails before any I/O when wants grant Send-As and the engine cannot.
func (e *Engine) requireExchange(wants []Desired) error {
	for _, w := range wants {
		if len(w.SendAs) > 0 && e.Exchange == nil {
			return fmt.Errorf("plan %s: %w", w.Address, ErrNoExchange)
		}
	}
	return nil
}

// observeSendAs reads, from Exchange, the Send-As grants of every mailbox the manifests name
// and Graph resolved to a user with a mailbox: one Get-RecipientPermission per mailbox,
// several at once. Unresolved mailboxes are left to the planner, which reports them at their
// line. It only reads.
func (e *Engine) observeSendAs(ctx context.Context, wants []Desired, observed []*Observed) error {
	var mailboxes []string
	seen := map[string]bool{}
	for i, w := range wants {
		for _, s := range w.SendAs {
			u := observed[i].Directory.user(s.Mailbox.Name)
			if u == nil || u.Mail == "" || seen[strings.ToLower(u.UserPrincipalName)] {
				continue
			}
			seen[strings.ToLower(u.UserPrincipalName)] = true
			mailboxes = append(mailboxes, u.UserPrincipalName)
		}
	}
	if len(mailboxes) == 0 {
		return nil
	}
	if e.Exchange == nil {
		return ErrNoExchange
	}
	states := make([]ObservedSendAs, len(mailboxes))
	var mu sync.Mutex
	done := 0
	err := forEachBounded(ctx, len(mailboxes), e.exchangeConcurrency(), func(ctx context.Context, i int) error {
		mb := mailboxes[i]
		perms, err := e.Exchange.SendAsPermissions(ctx, mb)
		switch {
		case exchange.IsNotFound(err):
			states[i] = ObservedSendAs{Mailbox: mb, Missing: true}
		case err != nil:
			return fmt.Errorf("read Send-As of %s: %w", mb, err)
		default:
			states[i] = ObservedSendAs{Mailbox: mb, Trustees: perms.Trustees, Ignored: perms.Ignored}
		}
		if e.ObserveProgress != nil {
			mu.Lock()
			done++
			e.ObserveProgress("send-as", done, len(mailboxes))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range observed {
		o.SendAs = states
	}
	return nil
}

// sendAsTrustee is a manifest trustee matched to its directory object.
type sendAsTrustee struct {
	name DesiredName
	// identity is what Exchange is given: a user's UPN, a group's primary address.
	identity string
	// names are the ways Exchange may print the trustee in Get-RecipientPermission.
	names []string
}

// sendAsMailbox gathers the entries of one document that name the same mailbox.
type sendAsMailbox struct {
	name      DesiredName
	upn       string
	exclusive bool
	trustees  []sendAsTrustee
}

// sendAsAddress is the plan address of one Send-As grant.
func sendAsAddress(mailbox, trustee string) string {
	return fmt.Sprintf("send_as[%q].trustee[%q]", mailbox, trustee)
}

// planSendAs resolves the document's sendAs entries against the directory and diffs them
// against what Exchange reports. Grants are added for trustees that lack them. Trustees that
// hold Send-As without being listed are removed when the entry says exclusive, and otherwise
// kept and reported as a warning (not a change, so a plan with nothing to do stays empty).
// Deny and orphaned (bare SID) rows are never touched; they are reported too.
func planSendAs(want Desired, o *Observed) ([]Change, []Warning, manifests.Diagnostics) {
	if len(want.SendAs) == 0 {
		return nil, nil, nil
	}
	var probs manifests.Diagnostics
	var warnings []Warning
	var order []string
	boxes := map[string]*sendAsMailbox{}
	for _, s := range want.SendAs {
		mb, ok := resolveMailbox(want, o.Directory, s.Mailbox, &probs)
		var trustees []sendAsTrustee
		for _, t := range s.Trustees {
			if tr, ok := resolveTrustee(want, o.Directory, s.Mailbox.Name, t, &probs, &warnings); ok {
				trustees = append(trustees, tr)
			}
		}
		if !ok {
			continue
		}
		key := strings.ToLower(mb.UserPrincipalName)
		box := boxes[key]
		if box == nil {
			box = &sendAsMailbox{name: s.Mailbox, upn: mb.UserPrincipalName}
			boxes[key] = box
			order = append(order, key)
		}
		box.exclusive = box.exclusive || s.Exclusive
		box.trustees = append(box.trustees, trustees...)
	}

	var changes []Change
	for _, key := range order {
		box := boxes[key]
		var obs *ObservedSendAs
		for i := range o.SendAs {
			if strings.EqualFold(o.SendAs[i].Mailbox, box.upn) {
				obs = &o.SendAs[i]
			}
		}
		if obs != nil && obs.Missing {
			probs = append(probs, want.problem(box.name.Path, fmt.Errorf(
				"Exchange Online has no mailbox %s yet (a mailbox appears some minutes after an Exchange licence is assigned): plan again later",
				box.upn)))
			continue
		}
		var held []exchange.Trustee
		if obs != nil {
			held = obs.Trustees
		}
		kept := make([]bool, len(held))
		added := map[string]bool{}
		for _, t := range box.trustees {
			found := false
			for i, h := range held {
				for _, n := range t.names {
					if h.Matches(n) {
						kept[i], found = true, true
					}
				}
			}
			if found || added[strings.ToLower(t.identity)] {
				continue
			}
			added[strings.ToLower(t.identity)] = true
			changes = append(changes, Change{
				Address: sendAsAddress(box.name.Name, t.name.Name), Kind: KindSendAs, Action: Create,
				Attrs:  []AttrChange{{Name: "accessRights", After: "SendAs"}, {Name: "trustee", After: t.identity}},
				Source: want.pos(t.name.Path),
				Target: Target{Mailbox: box.upn, Trustee: t.identity},
			})
		}
		for i, h := range held {
			if kept[i] {
				continue
			}
			shown := h.Raw
			if h.Address != "" {
				shown = h.Address
			}
			if box.exclusive {
				changes = append(changes, Change{
					Address: sendAsAddress(box.name.Name, shown), Kind: KindSendAs, Action: Delete,
					Reason: "not in the manifest, and the mailbox's sendAs is exclusive",
					Attrs:  []AttrChange{{Name: "accessRights", Before: "SendAs"}, {Name: "trustee", Before: h.Raw}},
					Source: want.pos(box.name.Path),
					Target: Target{Mailbox: box.upn, Trustee: h.Raw},
				})
				continue
			}
			warnings = append(warnings, Warning{Address: sendAsAddress(box.name.Name, shown), Source: want.pos(box.name.Path),
				Message: fmt.Sprintf("%s also holds Send-As on %s without being listed; kept, since exclusive is false", shown, box.name.Name)})
		}
		if obs != nil {
			for _, r := range obs.Ignored {
				if r.Reason == exchange.IgnoredDeny || r.Reason == exchange.IgnoredOrphan {
					warnings = append(warnings, Warning{Address: sendAsAddress(box.name.Name, r.Trustee), Source: want.pos(box.name.Path),
						Message: fmt.Sprintf("%s Send-As entry for %s on %s is left alone", r.Reason, r.Trustee, box.name.Name)})
				}
			}
		}
	}
	if len(probs) > 0 {
		return nil, nil, probs
	}
	return changes, warnings, nil
}

// resolveMailbox finds the user behind a sendAs mailbox; it must have a mailbox (a mail
// address in Entra ID).
func resolveMailbox(want Desired, dir *Directory, mb DesiredName, probs *manifests.Diagnostics) (*DirectoryObject, bool) {
	u := dir.user(mb.Name)
	switch {
	case u == nil:
		*probs = append(*probs, want.problem(mb.Path, fmt.Errorf("no user with userPrincipalName or mail %q in the tenant", mb.Name)))
		return nil, false
	case u.Mail == "":
		*probs = append(*probs, want.problem(mb.Path, fmt.Errorf(
			"user %s has no mailbox (no mail address in Entra ID): Send-As needs an Exchange Online mailbox; assign an Exchange licence or remove this entry",
			mb.Name)))
		return nil, false
	}
	return u, true
}

// resolveTrustee finds a trustee: a user with a mailbox, or a mail-enabled security group
// (the only groups Send-As works for).
func resolveTrustee(want Desired, dir *Directory, mailbox string, t DesiredName, probs *manifests.Diagnostics, warnings *[]Warning) (sendAsTrustee, bool) {
	if u := dir.user(t.Name); u != nil {
		if u.Mail == "" {
			*probs = append(*probs, want.problem(t.Path, fmt.Errorf(
				"user %s has no mailbox (no mail address in Entra ID): a Send-As trustee must be a mailbox user or a mail-enabled security group",
				t.Name)))
			return sendAsTrustee{}, false
		}
		if !u.AccountEnabled {
			*warnings = append(*warnings, Warning{Address: sendAsAddress(mailbox, t.Name), Source: want.pos(t.Path),
				Message: fmt.Sprintf("user %s is disabled: Send-As is granted, but the user cannot sign in to use it", t.Name)})
		}
		return sendAsTrustee{name: t, identity: u.UserPrincipalName, names: []string{u.UserPrincipalName, u.Mail, u.ID}}, true
	}
	g := dir.groupByMail(t.Name)
	switch {
	case g == nil:
		*probs = append(*probs, want.problem(t.Path, fmt.Errorf(
			"no user or mail-enabled security group with userPrincipalName or mail %q in the tenant", t.Name)))
		return sendAsTrustee{}, false
	case !g.SecurityEnabled || !g.MailEnabled:
		*probs = append(*probs, want.problem(t.Path, fmt.Errorf(
			"group %s is not a mail-enabled security group: Exchange honours Send-As only for those", t.Name)))
		return sendAsTrustee{}, false
	}
	return sendAsTrustee{name: t, identity: g.Mail, names: []string{g.Mail, g.ID}}, true
}

// applySendAs grants or removes one Send-As right. Both are idempotent on Exchange's side: a
// grant already present, or a removal of one already gone, is success.
func (e *Engine) applySendAs(ctx context.Context, c *Change) (string, error) {
	if e.Exchange == nil {
		return "", ErrNoExchange
	}
	mb, tr := c.Target.Mailbox, c.Target.Trustee
	if c.Action == Delete {
		if err := e.Exchange.RemoveSendAs(ctx, mb, tr); err != nil {
			return "", fmt.Errorf("remove Send-As of %s on %s: %w", tr, mb, err)
		}
		return "", nil
	}
	if err := e.Exchange.AddSendAs(ctx, mb, tr); err != nil {
		return "", fmt.Errorf("grant Send-As on %s to %s: %w", mb, tr, err)
	}
	return "", nil
}
