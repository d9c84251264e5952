package mailsim

import (
	"context"
	"encoding/base64"
	"strings"
	"time"
)

// Reason is the verdict on one login: Accepted, or the first precondition it missed.
type Reason string

// The verdicts, in the order the preconditions are checked.
const (
	Accepted Reason = "accepted"
	// BadRequest is a SASL response that is not an XOAUTH2 blob.
	BadRequest Reason = "bad_request"
	// InvalidToken covers a token Exchange does not accept at all: bad signature, another
	// tenant, another audience (a Graph token), expired, or not a JWT.
	InvalidToken Reason = "invalid_token"
	// UnknownMailbox is a user= that names no mailbox.
	UnknownMailbox Reason = "unknown_mailbox"
	// SMTPAuthDisabled is SMTP AUTH off for the mailbox (its own switch, or the organisation's).
	SMTPAuthDisabled Reason = "smtp_auth_disabled"
	// ProtocolDisabled is IMAP or POP turned off for the mailbox (ImapEnabled, PopEnabled).
	ProtocolDisabled Reason = "protocol_disabled"
	// MissingRole is an app-only token without the protocol's application role.
	MissingRole Reason = "missing_role"
	// MissingScope is a delegated token without the protocol's scope.
	MissingScope Reason = "missing_scope"
	// NotMailboxUser is a delegated login to a mailbox neither the user's nor granted to it.
	NotMailboxUser Reason = "not_mailbox_user"
	// NoServicePrincipal is an application not registered in Exchange (New-ServicePrincipal).
	NoServicePrincipal Reason = "no_service_principal"
	// WrongObjectID is a registration whose ObjectId is not the token's oid, the service
	// principal's: the app registration's object id was passed instead.
	WrongObjectID Reason = "wrong_object_id"
	// NoFullAccess is a registered application without FullAccess on the mailbox.
	NoFullAccess Reason = "no_full_access"
	// Propagating is everything in place, but for less than the propagation delay.
	Propagating Reason = "propagating"
	// BasicAuth is a password login (AUTH LOGIN/PLAIN, IMAP LOGIN, POP USER/PASS): disabled.
	BasicAuth Reason = "basic_auth"
)

// protocolGrant is what a protocol's login requires of a token.
func protocolGrant(p Protocol) (role, scope string) {
	switch p {
	case SMTP:
		return "SMTP.SendAsApp", "SMTP.Send"
	case IMAP:
		return "IMAP.AccessAsApp", "IMAP.AccessAsUser.All"
	}
	return "POP.AccessAsApp", "POP.AccessAsUser.All"
}

// login is a judged XOAUTH2 attempt; disabledBy is "Tenant" or "Mailbox" for SMTPAuthDisabled.
type login struct {
	reason     Reason
	disabledBy string
}

// authorize judges the base64 XOAUTH2 response of a login over protocol and records it.
func (s *Server) authorize(ctx context.Context, p Protocol, response string) login {
	user, token, ok := parseXOAUTH2(response)
	if !ok {
		s.record(Attempt{Protocol: p, Reason: BadRequest})
		return login{reason: BadRequest}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, appID := s.judge(ctx, p, user, token)
	s.record(Attempt{Protocol: p, Mailbox: user, AppID: appID, Reason: l.reason})
	return l
}

func (s *Server) judge(ctx context.Context, p Protocol, mailbox, token string) (login, string) {
	c, problem := s.validate(ctx, token)
	if problem != "" {
		return login{reason: InvalidToken}, ""
	}
	appID := c.clientID()
	exo := s.opts.Tenant.Exchange()
	access, ok := exo.MailboxAccess(mailbox, appID)
	if !ok {
		return login{reason: UnknownMailbox}, appID
	}
	switch {
	case p == SMTP && access.SMTPAuthDisabledBy != "":
		return login{reason: SMTPAuthDisabled, disabledBy: access.SMTPAuthDisabledBy}, appID
	case p == IMAP && !access.ImapEnabled, p == POP && !access.PopEnabled:
		return login{reason: ProtocolDisabled}, appID
	}
	role, scope := protocolGrant(p)
	if c.delegated() {
		// A user signs in to their own mailbox, or to one they hold FullAccess on; Exchange's
		// service principal pointer plays no part (mailbox.md §3.1).
		if !c.hasScope(scope) {
			return login{reason: MissingScope}, appID
		}
		for _, n := range c.userNames() {
			if n != "" && (strings.EqualFold(n, access.Mailbox.UserPrincipalName) || strings.EqualFold(n, access.Mailbox.PrimarySmtpAddress) ||
				strings.EqualFold(n, access.Mailbox.ExternalDirectoryObjectId) || exo.HasFullAccess(mailbox, n)) {
				return login{reason: Accepted}, appID
			}
		}
		return login{reason: NotMailboxUser}, appID
	}
	switch {
	case !c.hasRole(role):
		return login{reason: MissingRole}, appID
	case access.ServicePrincipal == nil:
		return login{reason: NoServicePrincipal}, appID
	case !strings.EqualFold(access.ServicePrincipal.ObjectID, c.ObjectID):
		return login{reason: WrongObjectID}, appID
	case access.FullAccessSince.IsZero():
		return login{reason: NoFullAccess}, appID
	}
	since := access.ServicePrincipal.Created
	if access.FullAccessSince.After(since) {
		since = access.FullAccessSince
	}
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if s.clock.Now().Before(since.Add(delay)) {
		return login{reason: Propagating}, appID
	}
	return login{reason: Accepted}, appID
}

// parseXOAUTH2 decodes base64("user=" + user + "\x01auth=Bearer " + token + "\x01\x01").
func parseXOAUTH2(response string) (user, token string, ok bool) {
	response = strings.TrimSpace(response)
	raw, err := base64.StdEncoding.DecodeString(response)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(response); err != nil {
			return "", "", false
		}
	}
	fields := strings.Split(string(raw), "\x01")
	if len(fields) != 4 || fields[2] != "" || fields[3] != "" {
		return "", "", false
	}
	user, ok1 := strings.CutPrefix(fields[0], "user=")
	auth, ok2 := strings.CutPrefix(fields[1], "auth=")
	scheme, token, ok3 := strings.Cut(auth, " ")
	if !ok1 || !ok2 || !ok3 || !strings.EqualFold(scheme, "Bearer") || user == "" || token == "" {
		return "", "", false
	}
	return user, token, true
}
