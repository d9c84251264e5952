package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/retry"
)

// errPropagating marks a refused login whose every precondition is in place.
var errPropagating = errors.New("exchange has not applied the setup yet")

// mailCheck tries one login and, when it is refused, names the cause. A refusal with
// everything in place on the Exchange side is retried within the Retry bounds, since
// Exchange applies a registration or a grant up to an hour late.
func (r *run) mailCheck(ctx context.Context, p protocol, mailbox string, haveToken bool) Check {
	c := Check{ID: p.name + ":" + mailbox, Kind: p.name, Target: mailbox}
	if !haveToken {
		c.Status, c.Cause = Skipped, CauseNoExchangeToken
		c.Explanation = "not tried: no usable Exchange token (see the token:exchange check)"
		return c
	}
	addr := p.endpoint(r.Endpoints)
	var res loginResult
	var d diagnosis
	start := r.Clock.Now()
	err := retry.Do(ctx, r.Clock, r.Retry, func(ctx context.Context) error {
		c.Attempts++
		res = p.login(ctx, r, addr, mailbox, r.tokens["exchange"])
		if res.ok || res.err != nil || res.noXOAUTH2 {
			return nil
		}
		d = r.diagnose(ctx, p, mailbox, res.reply)
		if d.cause == CausePropagation {
			return errPropagating
		}
		return nil
	}, func(err error) bool { return errors.Is(err, errPropagating) })
	if c.Attempts == 1 {
		c.Attempts = 0
	}
	switch {
	case res.ok:
		c.Status, c.Detail = Passed, res.reply
		if c.Attempts > 0 {
			c.Detail += fmt.Sprintf(" (after %s of propagation)", r.Clock.Now().Sub(start).Round(1e9))
		}
		return c
	case res.err != nil:
		return failed(c, CauseConnection, res.err.Error(), "the "+p.label+" endpoint "+addr+" could not be reached or spoke no "+p.label,
			"check PROVISION_"+strings.ToUpper(p.name)+"_ENDPOINT and that the network lets "+addr+" through")
	case res.noXOAUTH2:
		return failed(c, CauseNoXOAUTH2, res.reply, addr+" does not offer XOAUTH2, which Exchange Online does",
			"check PROVISION_"+strings.ToUpper(p.name)+"_ENDPOINT: it does not point at Exchange Online")
	}
	if errors.Is(err, errPropagating) {
		d.explanation += fmt.Sprintf("; verify waited %s", r.Clock.Now().Sub(start).Round(1e9))
	}
	c = failed(c, d.cause, res.reply, d.explanation, d.fix)
	c.MissingRoles = d.missing
	return c
}

// diagnosis is the named cause of a refused login.
type diagnosis struct {
	cause            Cause
	explanation, fix string
	missing          []string
}

// diagnose explains a refusal: from the reply when it says (SMTP AUTH off), from the token
// (the protocol's role), else from the Exchange side when it can be read.
func (r *run) diagnose(ctx context.Context, p protocol, mailbox, reply string) diagnosis {
	smtpFix := fmt.Sprintf("set smtpAuth: enabled on mailbox %s in the manifest and run provision apply FILE "+
		"(Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $false)", mailbox, mailbox)
	if p.name == "smtp" && strings.Contains(reply, "5.7.139") && strings.Contains(reply, "SmtpClientAuthentication is disabled") {
		scope := "the organisation (Set-TransportConfig), which the mailbox follows"
		if strings.Contains(reply, "for the Mailbox") {
			scope = "the mailbox"
		}
		return diagnosis{cause: CauseSMTPAuthDisabled, fix: smtpFix,
			explanation: "SMTP AUTH is disabled for " + scope + "; Exchange refuses OAuth logins to SMTP too while it is"}
	}
	claims := r.claims["exchange"]
	if !hasRole(claims.Roles, p.role) {
		return diagnosis{cause: CauseRoleMissing, missing: []string{p.role},
			explanation: "the Exchange token lacks " + p.role + r.consentHint(),
			fix:         "declare " + p.role + " under Office 365 Exchange Online in the manifest with adminConsent: true, then provision apply FILE"}
	}
	const pending = "a registration or grant made less than an hour ago (Exchange applies them late)"
	if r.Exchange == nil {
		return diagnosis{cause: CauseNotAuthorized,
			explanation: "Exchange refused the login and its reply does not say why; the likely causes: the application's service principal " +
				"not registered in Exchange (or registered with the app registration's object id instead of the enterprise application's), " +
				"no FullAccess on " + mailbox + ", or " + pending,
			fix: "run provision plan FILE to see what of mailboxes[].appAccess is still to apply; run verify signed in as an operator " +
				"with the Exchange Administrator role to have the cause named"}
	}
	view, mv, err := r.readExchange(ctx, mailbox)
	if err != nil {
		return diagnosis{cause: CauseNotAuthorized,
			explanation: "Exchange refused the login, and its side could not be read to say why (" + err.Error() + ")",
			fix:         "sign in as an operator with the " + exchange.RequiredRole(cmdletOf(err)) + " role, or run provision plan FILE"}
	}
	if mv.notFound {
		return diagnosis{cause: CauseMailboxNotFound, explanation: "Exchange knows no mailbox " + mailbox + " (a user licensed minutes ago has none yet)",
			fix: "check the address under mailboxes: in the manifest, or wait for the mailbox to be created"}
	}
	appID, oid := firstOf(claims.AppID, r.app.ClientID), claims.ObjectID
	registerFix := fmt.Sprintf("set appAccess: true on mailbox %s and run provision apply FILE (New-ServicePrincipal -AppId %s -ObjectId %s)", mailbox, appID, oid)
	grantFix := fmt.Sprintf("set appAccess: true on mailbox %s and run provision apply FILE (Add-MailboxPermission -Identity %s -User %s -AccessRights FullAccess)", mailbox, mailbox, oid)
	sp, cas := view.sp, mv.state.CAS
	switch {
	case sp == nil && view.spErr == nil:
		return diagnosis{cause: CauseNoServicePrincipal, fix: registerFix,
			explanation: "the application's service principal is not registered in Exchange Online; its " + p.role + " role grants nothing until it is"}
	case sp != nil && !strings.EqualFold(sp.ObjectID, oid):
		return diagnosis{cause: CauseWrongObjectID,
			explanation: fmt.Sprintf("the application is registered in Exchange with object id %s, but its service principal (enterprise application) is %s: "+
				"the app registration's object id was given to New-ServicePrincipal", sp.ObjectID, oid),
			fix: fmt.Sprintf("run provision apply FILE, which registers it again (Remove-ServicePrincipal -Identity %s; New-ServicePrincipal -AppId %s -ObjectId %s)", appID, appID, oid)}
	case p.name == "imap" && !cas.ImapEnabled, p.name == "pop" && !cas.PopEnabled:
		return diagnosis{cause: CauseProtocolDisabled, explanation: p.label + " is turned off for " + mailbox,
			fix: fmt.Sprintf("Set-CASMailbox -Identity %s -%sEnabled $true (provision does not manage this switch)", mailbox, map[string]string{"imap": "Imap", "pop": "Pop"}[p.name])}
	case p.name == "smtp" && view.transport != nil && !cas.SMTPAuthInForce(*view.transport):
		return diagnosis{cause: CauseSMTPAuthDisabled, fix: smtpFix, explanation: "SMTP AUTH is disabled for " + mailbox + " (its own switch, else the organisation's)"}
	}
	if sp == nil {
		// The pointer could not be read: match its rows by what the token says it should be.
		sp = &exchange.ServicePrincipal{AppID: appID, ObjectID: oid}
	}
	unread := ""
	if view.spErr != nil {
		unread = " (its registration could not be read: " + view.spErr.Error() + ")"
	}
	full := mv.state.Permissions.FullAccessOf(*sp)
	switch {
	case full.Denied:
		return diagnosis{cause: CauseFullAccessDenied,
			explanation: "a Deny FullAccess entry for the application on " + mailbox + " overrides any grant; provision reports Deny entries and leaves them alone",
			fix:         fmt.Sprintf("Remove-MailboxPermission -Identity %s -User %s -AccessRights FullAccess -Deny", mailbox, oid)}
	case !full.InForce():
		return diagnosis{cause: CauseNoFullAccess, fix: grantFix,
			explanation: "the application's service principal holds no FullAccess on " + mailbox + unread}
	case view.spErr != nil:
		return diagnosis{cause: CauseNotAuthorized,
			explanation: "the application holds FullAccess on " + mailbox + " and the mailbox allows " + p.label + ", yet Exchange refused the login" + unread +
				"; the registration may be missing, carry the app registration's object id, or be " + pending,
			fix: "sign in as an operator with the " + exchange.RoleExchangeAdministrator + " role to have the cause named, or run provision plan FILE"}
	}
	return diagnosis{cause: CausePropagation,
		explanation: "the service principal is registered with the right object id and holds FullAccess on " + mailbox +
			", yet Exchange refused the login: Exchange can take up to an hour after New-ServicePrincipal or Add-MailboxPermission to apply them",
		fix: "wait, then run provision verify FILE again"}
}

// exchangeView is what verify read of the Exchange side: once per run for the application and
// the organisation, once per mailbox.
type exchangeView struct {
	sp        *exchange.ServicePrincipal
	spErr     error                     // the pointer could not be read (the operator lacks Exchange Administrator)
	transport *exchange.TransportConfig // nil when it could not be read
	mailboxes map[string]*mailboxView
}

type mailboxView struct {
	state    exchange.MailboxState
	notFound bool
}

// readExchange reads, or recalls, the application's pointer, the organisation's transport
// config and the mailbox.
func (r *run) readExchange(ctx context.Context, mailbox string) (*exchangeView, *mailboxView, error) {
	if r.exo == nil {
		v := &exchangeView{mailboxes: map[string]*mailboxView{}}
		sp, found, err := r.Exchange.ServicePrincipal(ctx, firstOf(r.claims["exchange"].AppID, r.app.ClientID))
		switch {
		case exchange.IsForbidden(err):
			// An Exchange Recipient Administrator reads the mailboxes but not the pointers.
			v.spErr = err
		case err != nil:
			return nil, nil, err
		case found:
			v.sp = &sp
		}
		// Reading it needs Exchange Administrator; without it the mailbox's own switch and
		// the 5.7.139 reply still tell.
		if t, err := r.Exchange.TransportConfig(ctx); err == nil {
			v.transport = &t
		}
		r.exo = v
	}
	if mv, ok := r.exo.mailboxes[mailbox]; ok {
		return r.exo, mv, nil
	}
	mv := &mailboxView{}
	states, err := r.Exchange.MailboxStates(ctx, []string{mailbox})
	switch {
	case exchange.IsNotFound(err):
		mv.notFound = true
	case err != nil:
		return nil, nil, err
	default:
		mv.state = states[0]
	}
	r.exo.mailboxes[mailbox] = mv
	return r.exo, mv, nil
}

// cmdletOf is the cmdlet an Exchange error concerns, "" if none.
func cmdletOf(err error) string {
	var e *exchange.Error
	if errors.As(err, &e) {
		return e.Cmdlet
	}
	return ""
}
