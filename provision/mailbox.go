package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/internal/sets"
	"github.com/provisionhq/provision/provision/rights"
)

// The mailbox side of mail access is three kinds, each in its file: the application's service
// principal registered in Exchange Online (exchangeserviceprincipal.go), its FullAccess on
// each listed mailbox (mailboxfullaccess.go), and each mailbox's SMTP AUTH switch
// (mailboxsmtpauth.go). This file holds what they share: the manifest's mailboxes and
// mailboxKind, which reads their state from Exchange for all three in one go.

// DesiredMailbox is one entry of the manifest's mailboxes.
type DesiredMailbox struct {
	Path    string // mailboxes[i]
	Address DesiredName
	// SMTPAuth is the mailbox's SMTP AUTH switch to set; "" leaves it.
	SMTPAuth exchange.SMTPAuth
	// AppAccess says whether the application holds FullAccess on the mailbox (app-only IMAP,
	// POP and SMTP).
	AppAccess bool
}

// desiredMailboxes reads the document's mailboxes entries; managed is whether the document
// has a mailboxes key at all (then the Exchange registration of the application exists
// exactly while some entry has appAccess).
func desiredMailboxes(d *manifests.Document) (out []DesiredMailbox, managed bool) {
	for i, m := range d.Mailboxes {
		path := fmt.Sprintf("mailboxes[%d]", i)
		out = append(out, DesiredMailbox{Path: path, Address: DesiredName{Name: strings.TrimSpace(m.Address), Path: path + ".address"},
			SMTPAuth: exchange.SMTPAuth(m.SMTPAuth), AppAccess: m.AppAccess})
	}
	return out, d.Source.Has("mailboxes") || len(out) > 0
}

// ObservedMail is what Exchange Online holds about the mailbox side of one document's
// application, read once for every document.
type ObservedMail struct {
	// Read says whether Exchange was asked (the document lists mailboxes).
	Read bool
	// Transport is the organisation's transport config; nil when it could not be read
	// (TransportErr: reading it needs Exchange Administrator).
	Transport    *exchange.TransportConfig
	TransportErr error
	// ServicePrincipal is the application's registration in Exchange, nil when there is none
	// (or the application does not exist yet).
	ServicePrincipal *exchange.ServicePrincipal
	// Mailboxes are the listed mailboxes' states, by lower-cased userPrincipalName.
	Mailboxes map[string]exchange.MailboxState
}

// mailboxKind reads, for the three mailbox kinds, the state of the listed mailboxes and of the
// application's registration in Exchange. It plans no change; its plan resolves the listed
// mailboxes for the kinds after it and warns about what would still stop mail.
//
// Observe: round 2 (once the directory resolved the mailboxes and the applications are
// known), one exchange.ObserveMail for every document: Get-TransportConfig once, a
// Get-ServicePrincipal per application, Get-CASMailbox and Get-MailboxPermission per mailbox,
// ten cmdlets a $batch round trip.
type mailboxKind struct{}

func (mailboxKind) name() Kind { return "" }

func (mailboxKind) traits() traits {
	return traits{operations: []rights.Operation{rights.OpReadTransportConfig}}
}

func (mailboxKind) directoryNames(want Desired) directoryNames {
	var n directoryNames
	for _, m := range want.Mailboxes {
		n.users = append(n.users, m.Address.Name)
	}
	return n
}

func (mailboxKind) observe(_ context.Context, n int, r *round) {
	if n != 2 {
		return
	}
	var reads exchange.MailReads
	appOf := make([]string, len(r.wants))
	for i, w := range r.wants {
		if !w.MailboxesManaged {
			continue
		}
		reads.TransportConfig = true
		if app := matchedApp(w, r.obs[i]); app != nil {
			appOf[i] = app.AppID
			reads.AppIDs = append(reads.AppIDs, app.AppID)
		}
		for _, m := range w.Mailboxes {
			if u := r.obs[i].Directory.User(m.Address.Name); u != nil && u.Mail != "" {
				reads.Mailboxes = append(reads.Mailboxes, u.UserPrincipalName)
			}
		}
	}
	if !reads.TransportConfig {
		return
	}
	r.exchangeRead(func(ctx context.Context) error {
		if r.e.Exchange == nil {
			return ErrNoExchange
		}
		got, err := r.e.Exchange.ObserveMail(ctx, reads)
		if err != nil {
			return fmt.Errorf("read the mailboxes' Exchange settings: %w", err)
		}
		byUPN := map[string]exchange.MailboxState{}
		for name, st := range got.Mailboxes {
			byUPN[strings.ToLower(name)] = st
		}
		for i, w := range r.wants {
			if !w.MailboxesManaged {
				continue
			}
			m := &ObservedMail{Read: true, Transport: got.Transport, TransportErr: got.TransportErr, Mailboxes: byUPN}
			if appOf[i] != "" {
				m.ServicePrincipal = got.ServicePrincipals[appOf[i]]
			}
			r.obs[i].Mail = m
		}
		return nil
	})
}

// resolvedMailbox is a listed mailbox matched to its user, with what Exchange holds of it.
type resolvedMailbox struct {
	want  DesiredMailbox
	upn   string
	state exchange.MailboxState
	read  bool // Exchange answered for it
}

// plan resolves the listed mailboxes (a user with a mailbox, else a problem at the line) and
// warns about what would still stop mail from flowing.
func (mailboxKind) plan(d *docPlan) {
	if !d.want.MailboxesManaged {
		if !d.opts.Destroy {
			d.warn(mailAccessWarnings(d)...) // app-only roles without a mailbox to use them on
		}
		return
	}
	seen := map[string]bool{}
	for _, m := range d.want.Mailboxes {
		u := d.obs.Directory.User(m.Address.Name)
		switch {
		case u == nil:
			d.problem(m.Address.Path, fmt.Errorf("no user with userPrincipalName or mail %q in the tenant%s", m.Address.Name, d.obs.Directory.suggestUser(m.Address.Name)))
			continue
		case u.Mail == "":
			d.problem(m.Address.Path, fmt.Errorf("user %s has no mailbox (no mail address in Entra ID): assign an Exchange Online licence, or remove this entry", m.Address.Name))
			continue
		case seen[strings.ToLower(u.UserPrincipalName)]:
			continue // validation refuses the same address twice; a UPN and its mail may still meet here
		}
		seen[strings.ToLower(u.UserPrincipalName)] = true
		rm := resolvedMailbox{want: m, upn: u.UserPrincipalName}
		if d.obs.Mail != nil {
			rm.state, rm.read = d.obs.Mail.Mailboxes[strings.ToLower(u.UserPrincipalName)]
		}
		d.mailboxes = append(d.mailboxes, rm)
	}
	if d.opts.Destroy {
		return
	}
	d.warn(mailAccessWarnings(d)...)
}

// mailboxAddress is the plan address of a mailbox's setting (full_access, smtp_auth).
func mailboxAddress(mailbox, what string) string {
	return fmt.Sprintf("mailbox[%q].%s", mailbox, what)
}

// appAccessWanted reports whether some listed mailbox has appAccess.
func (d *docPlan) appAccessWanted() bool {
	return slices.ContainsFunc(d.want.Mailboxes, func(m DesiredMailbox) bool { return m.AppAccess })
}

// asAppRoles are the Office 365 Exchange Online application permissions that give app-only
// mail access, and the protocol each is for.
func asAppRoles() map[string]string {
	return map[string]string{"SMTP.SendAsApp": "SMTP", "IMAP.AccessAsApp": "IMAP", "POP.AccessAsApp": "POP"}
}

// mailAccessWarnings are what would still stop mail: appAccess without an app-only role (or
// the reverse), and SMTP permissions with SMTP AUTH off for a mailbox that will log in: a
// listed one, or, through the organisation's setting, a user the manifest assigns or grants
// Send-As without listing them under mailboxes.
func mailAccessWarnings(d *docPlan) []Warning {
	var out []Warning
	var roles []string
	smtpRequested, smtpSource := false, manifests.Pos{}
	for _, api := range d.apis {
		exo := strings.EqualFold(api.Resource.AppID, manifests.ExchangeOnlineAppID)
		for _, p := range api.Application {
			if _, ok := asAppRoles()[p.Value]; ok && exo {
				roles = append(roles, p.Value)
			}
			if p.Value == "SMTP.SendAsApp" && exo && !smtpRequested {
				smtpRequested, smtpSource = true, p.Source
			}
		}
		for _, p := range api.Delegated {
			if p.Value == "SMTP.Send" && !smtpRequested {
				smtpRequested, smtpSource = true, p.Source
			}
		}
	}
	wanted := d.appAccessWanted()
	switch {
	case wanted && len(roles) == 0:
		for _, m := range d.want.Mailboxes {
			if m.AppAccess {
				out = append(out, Warning{Address: mailboxAddress(m.Address.Name, "full_access"), Source: d.want.pos(m.Path + ".appAccess"),
					Message: "appAccess gives the application FullAccess, but it declares no app-only mail permission of Office 365 Exchange Online (SMTP.SendAsApp, IMAP.AccessAsApp, POP.AccessAsApp): no app-only login will work; list them under application.permissions"})
				break
			}
		}
	case !wanted && len(roles) > 0:
		source := d.want.pos("mailboxes")
		if !d.want.MailboxesManaged {
			source = d.want.pos("application.permissions")
		}
		out = append(out, Warning{Address: d.want.Address, Source: source,
			Message: fmt.Sprintf("%s grant(s) nothing by themselves: Exchange also needs the application registered and FullAccess on each mailbox it signs in to; list those mailboxes under mailboxes with appAccess: true",
				strings.Join(sets.Sorted(roles), ", "))})
	}
	mail := d.obs.Mail
	if !smtpRequested || mail == nil {
		return out
	}
	org := exchange.TransportConfig{SMTPAuthDisabled: true} // unreadable: the default since 2020
	if mail.Transport != nil {
		org = *mail.Transport
	}
	listed := map[string]bool{}
	for _, m := range d.mailboxes {
		listed[strings.ToLower(m.upn)] = true
		if !m.read {
			continue
		}
		setting := m.state.CAS.SMTPAuth
		if m.want.SMTPAuth != "" {
			setting = m.want.SMTPAuth // what the plan sets
		}
		if (exchange.CASMailbox{SMTPAuth: setting}).SMTPAuthInForce(org) {
			continue
		}
		why := "its SMTP AUTH is disabled"
		if setting != exchange.SMTPAuthDisabled {
			why = "it follows the organisation, whose SMTP AUTH is disabled (Set-TransportConfig)"
		}
		out = append(out, Warning{Address: mailboxAddress(m.want.Address.Name, "smtp_auth"), Source: smtpSource,
			Message: fmt.Sprintf("SMTP is requested, but %s for %s: its SMTP logins will answer 535 5.7.139; set smtpAuth: enabled on its mailboxes entry",
				m.want.Address.Name, why)})
	}
	if !org.SMTPAuthDisabled {
		return out
	}
	var unlisted []string
	for _, name := range mailUsers(d.want) {
		if u := d.obs.Directory.User(name); u != nil && u.Mail != "" && !listed[strings.ToLower(u.UserPrincipalName)] {
			listed[strings.ToLower(u.UserPrincipalName)] = true
			unlisted = append(unlisted, name)
		}
	}
	if len(unlisted) > 0 {
		out = append(out, Warning{Address: d.want.Address, Source: smtpSource, Message: fmt.Sprintf(
			"SMTP is requested, but the organisation's SMTP AUTH is disabled (Set-TransportConfig) and %s %s not listed under mailboxes: their SMTP logins will answer 535 5.7.139; list them with smtpAuth: enabled",
			strings.Join(unlisted, ", "), map[bool]string{true: "is", false: "are"}[len(unlisted) == 1])})
	}
	return out
}

// mailUsers are the users the document gives mail to send: its assigned users, and the
// mailboxes and trustees of its Send-As entries.
func mailUsers(want Desired) []string {
	var out []string
	if want.Assignments != nil {
		for _, u := range want.Assignments.Users {
			out = append(out, u.Name)
		}
	}
	for _, s := range want.SendAs {
		out = append(out, s.Mailbox.Name)
		for _, t := range s.Trustees {
			out = append(out, t.Name)
		}
	}
	return out
}

func (mailboxKind) apply(context.Context, *Engine, *Change, *appState) (string, error) {
	return "", fmt.Errorf("the mailboxes' state is read here; their kinds write it")
}
