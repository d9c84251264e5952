package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/rights"
)

// KindSendAs is a Send-As right on an Exchange Online mailbox (a recipient permission).
const KindSendAs Kind = "send_as"

// sendAsKind manages the Send-As rights the manifests list, through the Exchange Online
// admin API (Graph cannot).
//
// Observe: round 2, Get-RecipientPermission of every mailbox named (the directory kind
// resolved them in round 1), several at once within the Exchange bound.
// Plan: additive: trustees that lack Send-As get it; trustees not listed are removed only
// when the entry is exclusive, else reported. Deny and orphaned rows are never touched.
// Apply: Add-/Remove-RecipientPermission, idempotent on Exchange's side. Stage 6, several at
// once (Engine.ExchangeConcurrency).
type sendAsKind struct{}

func (sendAsKind) name() Kind { return KindSendAs }

func (sendAsKind) traits() traits {
	return traits{stage: 6, bound: func(e *Engine) int { return e.exchangeConcurrency() },
		operations: []rights.Operation{rights.OpManageExchangeMailboxes}}
}

// sendAsSpec names the Send-As grant a change writes, as Exchange is given it.
type sendAsSpec struct {
	Mailbox, Trustee string // UPN or address
}

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

func (sendAsKind) directoryNames(want Desired) directoryNames {
	var n directoryNames
	for _, s := range want.SendAs {
		n.users = append(n.users, s.Mailbox.Name)
		for _, t := range s.Trustees {
			n.users = append(n.users, t.Name)
			n.groupMails = append(n.groupMails, t.Name)
		}
	}
	return n
}

// observe reads, in round 2 (once the directory has resolved the mailboxes), the Send-As
// grants of every mailbox the manifests name that Graph resolved to a user with a mailbox:
// one Get-RecipientPermission per mailbox, several at once. Unresolved mailboxes are left to
// the planner, which reports them at their line.
func (sendAsKind) observe(_ context.Context, n int, r *round) {
	if n != 2 {
		return
	}
	var mailboxes []string
	seen := map[string]bool{}
	for i, w := range r.wants {
		for _, s := range w.SendAs {
			u := r.obs[i].Directory.User(s.Mailbox.Name)
			if u == nil || u.Mail == "" || seen[strings.ToLower(u.UserPrincipalName)] {
				continue
			}
			seen[strings.ToLower(u.UserPrincipalName)] = true
			mailboxes = append(mailboxes, u.UserPrincipalName)
		}
	}
	if len(mailboxes) == 0 {
		return
	}
	states := make([]ObservedSendAs, len(mailboxes))
	for _, o := range r.obs {
		o.SendAs = states
	}
	var mu sync.Mutex
	done := 0
	for i, mb := range mailboxes {
		r.exchangeRead(func(ctx context.Context) error {
			if r.e.Exchange == nil {
				return ErrNoExchange
			}
			perms, err := r.e.Exchange.SendAsPermissions(ctx, mb)
			switch {
			case exchange.IsNotFound(err):
				states[i] = ObservedSendAs{Mailbox: mb, Missing: true}
			case err != nil:
				return fmt.Errorf("read Send-As of %s: %w", mb, err)
			default:
				states[i] = ObservedSendAs{Mailbox: mb, Trustees: perms.Trustees, Ignored: perms.Ignored}
			}
			if r.e.ObserveProgress != nil {
				mu.Lock()
				done++
				r.e.ObserveProgress("send-as", done, len(mailboxes))
				mu.Unlock()
			}
			return nil
		})
	}
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
func planSendAs(want Desired, o *Observed, destroy bool) ([]Change, []Warning, manifests.Diagnostics) {
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
		if destroy {
			// What the manifest granted goes: the listed trustees' Send-As, nobody else's.
			for _, t := range box.trustees {
				for _, h := range held {
					if slices.ContainsFunc(t.names, h.Matches) {
						changes = append(changes, Change{
							Address: sendAsAddress(box.name.Name, t.name.Name), Kind: KindSendAs, Action: Delete, Reason: "destroy",
							Attrs:  []AttrChange{{Name: "accessRights", Before: "SendAs"}, {Name: "trustee", Before: h.Raw}},
							Source: want.pos(t.name.Path),
							Target: Target{Spec: &sendAsSpec{Mailbox: box.upn, Trustee: h.Raw}},
						})
						break
					}
				}
			}
			continue
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
				Target: Target{Spec: &sendAsSpec{Mailbox: box.upn, Trustee: t.identity}},
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
					Target: Target{Spec: &sendAsSpec{Mailbox: box.upn, Trustee: h.Raw}},
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
	u := dir.User(mb.Name)
	switch {
	case u == nil:
		*probs = append(*probs, want.problem(mb.Path, fmt.Errorf("no user with userPrincipalName or mail %q in the tenant%s", mb.Name, dir.suggestUser(mb.Name))))
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
	if u := dir.User(t.Name); u != nil {
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
			"no user or mail-enabled security group with userPrincipalName or mail %q in the tenant%s", t.Name, dir.suggestUser(t.Name))))
		return sendAsTrustee{}, false
	case !g.SecurityEnabled || !g.MailEnabled:
		*probs = append(*probs, want.problem(t.Path, fmt.Errorf(
			"group %s is not a mail-enabled security group: Exchange honours Send-As only for those", t.Name)))
		return sendAsTrustee{}, false
	}
	return sendAsTrustee{name: t, identity: g.Mail, names: []string{g.Mail, g.ID}}, true
}

// plan resolves the document's sendAs entries and diffs them against Exchange.
func (sendAsKind) plan(d *docPlan) {
	changes, warnings, probs := planSendAs(d.want, d.obs, d.opts.Destroy)
	d.change(changes...)
	d.warn(warnings...)
	d.probs = append(d.probs, probs...)
}

// apply grants or removes one Send-As right. Both are idempotent on Exchange's side: a
// grant already present, or a removal of one already gone, is success.
func (sendAsKind) apply(ctx context.Context, e *Engine, c *Change, _ *appState) (string, error) {
	if e.Exchange == nil {
		return "", ErrNoExchange
	}
	spec, ok := c.Target.Spec.(*sendAsSpec)
	if !ok {
		return "", errors.New("apply Send-As: the change carries no mailbox")
	}
	mb, tr := spec.Mailbox, spec.Trustee
	if c.Action == Delete {
		if err := e.Exchange.RemoveSendAs(ctx, mb, tr); err != nil {
			return "", fmt.Errorf("remove Send-As of %s on %s: %w", tr, mb, err)
		}
		return "", nil
	}
	// A mailbox or trustee the directory has but Exchange does not know yet (created or
	// licensed moments ago: Exchange learns of it by its own replication) is waited for, with
	// the replication backoff, rather than failed.
	err := e.Graph.Retry(ctx, func(ctx context.Context) error { return e.Exchange.AddSendAs(ctx, mb, tr) }, exchange.IsNotFound)
	if err != nil {
		return "", fmt.Errorf("grant Send-As on %s to %s: %w", mb, tr, err)
	}
	return "", nil
}
