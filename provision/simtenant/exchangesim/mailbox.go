package exchangesim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ServicePrincipal is a service principal pointer, the Exchange-side registration of an Entra
// application that New-ServicePrincipal creates.
type ServicePrincipal struct {
	// AppID is the application (client) id it was registered with.
	AppID string `json:"appId"`
	// ObjectID is the object id it was registered with. Exchange does not check it (mailbox.md
	// §1.1), so it may be the app registration's id instead of the service principal's, and
	// then logins fail.
	ObjectID    string `json:"objectId"`
	DisplayName string `json:"displayName,omitempty"`
	// Guid is Exchange's own id of the pointer. Mailbox ACEs hold it, so an ACE of a pointer
	// removed and registered again is an orphan, as an ACE of a deleted Active Directory object.
	Guid string `json:"guid"`
	// Created is when New-ServicePrincipal ran, on the server's clock.
	Created time.Time `json:"created"`
}

// MailboxPermission is one mailbox ACE.
type MailboxPermission struct {
	// Mailbox is the mailbox's recipient key (see Grant).
	Mailbox string `json:"mailbox"`
	// User is the principal: a recipient key, the Guid of a service principal pointer when
	// ServicePrincipal is set, or a raw principal (a SID) when Principal is set.
	User             string   `json:"user"`
	ServicePrincipal bool     `json:"servicePrincipal,omitempty"`
	Principal        bool     `json:"principal,omitempty"`
	AccessRights     []string `json:"accessRights"`
	Deny             bool     `json:"deny,omitempty"`
	Inherited        bool     `json:"inherited,omitempty"`
	InheritanceType  string   `json:"inheritanceType"`
	// Granted is when the ACE was written, on the server's clock.
	Granted time.Time `json:"granted"`
}

// CASMailbox holds the client access settings of a mailbox that differ from the defaults.
type CASMailbox struct {
	Mailbox string `json:"mailbox"`
	// SmtpClientAuthenticationDisabled is the mailbox's own SMTP AUTH switch: nil (blank,
	// the default) follows the organisation.
	SmtpClientAuthenticationDisabled *bool `json:"smtpClientAuthenticationDisabled,omitempty"`
	ImapDisabled                     bool  `json:"imapDisabled,omitempty"`
	PopDisabled                      bool  `json:"popDisabled,omitempty"`
}

// TransportConfig is the organisation's transport configuration.
type TransportConfig struct {
	// SmtpClientAuthenticationDisabled is the organisation's SMTP AUTH switch; true for
	// tenants created since January 2020.
	SmtpClientAuthenticationDisabled bool `json:"smtpClientAuthenticationDisabled"`
}

// PermissionRow is one Get-MailboxPermission output object.
type PermissionRow struct {
	AccessRights    []string
	Deny            bool
	InheritanceType string
	User            string
	UserSid         string
	Identity        string
	IsInherited     bool
	IsValid         bool
	ObjectState     string
}

// Mailbox rights Add- and Remove-MailboxPermission accept (mailbox.md §1.4, §1.6).
func mailboxRights() []string {
	return []string{"ChangeOwner", "ChangePermission", "DeleteItem", "ExternalAccount", "FullAccess", "ReadPermission", "SendAs"}
}

// defaultRows are the ACEs every mailbox carries without anyone granting them: SELF, and the
// inherited entries of the organisation's administrators and servers (PSDOC:Get-MailboxPermission).
func (v view) defaultRows(mbx Recipient) []PermissionRow {
	domain := "EURPRD01"
	if parts := strings.Split(v.serverName, "."); len(parts) > 1 {
		domain = parts[1]
	}
	id := identityOf(mbx)
	row := func(user, sid string, deny, inherited bool, rights ...string) PermissionRow {
		return PermissionRow{AccessRights: rights, Deny: deny, InheritanceType: "All", User: user, UserSid: sid,
			Identity: id, IsInherited: inherited, IsValid: true, ObjectState: "Unchanged"}
	}
	named := func(name string) (string, string) { return domain + `\` + name, orphanSID("builtin/" + name) }
	rows := []PermissionRow{row(SelfTrustee, "S-1-5-10", false, false, "FullAccess", "ReadPermission")}
	for _, admin := range []string{"Administrator", "Domain Admins", "Enterprise Admins", "Organization Management"} {
		u, sid := named(admin)
		rows = append(rows, row(u, sid, true, true, "FullAccess"))
	}
	rows = append(rows, row(`NT AUTHORITY\SYSTEM`, "S-1-5-18", false, true, "FullAccess"),
		row(`NT AUTHORITY\NETWORK`, "S-1-5-2", false, true, "ReadPermission"))
	for _, server := range []struct {
		name   string
		rights []string
	}{
		{"Exchange Servers", []string{"FullAccess", "ReadPermission"}},
		{"Exchange Trusted Subsystem", []string{"FullAccess", "ReadPermission"}},
		{"Managed Availability Servers", []string{"ReadPermission"}},
	} {
		u, sid := named(server.name)
		rows = append(rows, row(u, sid, false, true, server.rights...))
	}
	return rows
}

// permissionRows renders every ACE of a mailbox, the default ones first.
func (v view) permissionRows(mbx Recipient) []PermissionRow {
	rows := v.defaultRows(mbx)
	key := recipientKey(mbx)
	for _, p := range v.state.MailboxPermissions {
		if p.Mailbox != key {
			continue
		}
		user, sid := v.principalName(p)
		rows = append(rows, PermissionRow{AccessRights: slices.Clone(p.AccessRights), Deny: p.Deny,
			InheritanceType: p.InheritanceType, User: user, UserSid: sid, Identity: identityOf(mbx),
			IsInherited: p.Inherited, IsValid: true, ObjectState: "Unchanged"})
	}
	return rows
}

// principalName prints the User of an ACE: a user's UPN, a group's name, a service principal
// in the form the faults select, and the bare SID of a principal that is gone.
func (v view) principalName(p MailboxPermission) (user, sid string) {
	switch {
	case p.Principal:
		return p.User, p.User
	case p.ServicePrincipal:
		sp, ok := pointerByGuid(v.state.ServicePrincipals, p.User)
		if !ok {
			return orphanSID(p.User), orphanSID(p.User)
		}
		sid = orphanSID("sp/" + sp.Guid)
		switch v.faults.PrincipalUser {
		case PrincipalByDisplayName:
			return firstNonEmpty(sp.DisplayName, sp.ObjectID), sid
		case PrincipalByAppID:
			return sp.AppID, sid
		}
		return sp.ObjectID, sid
	}
	name := v.trusteeName(Grant{Trustee: p.User})
	return name, orphanSID("user/" + p.User)
}

func pointerByGuid(sps []ServicePrincipal, guid string) (ServicePrincipal, bool) {
	for _, sp := range sps {
		if sp.Guid == guid {
			return sp, true
		}
	}
	return ServicePrincipal{}, false
}

// findPointerLocked resolves a ServicePrincipalIdParameter: AppId, ObjectId, Guid, or the
// display name; s.mu must be held.
func (s *Server) findPointerLocked(identity string) (ServicePrincipal, bool) {
	identity = strings.TrimSpace(identity)
	if identity == "" {
		return ServicePrincipal{}, false
	}
	for _, sp := range s.state.ServicePrincipals {
		for _, k := range []string{sp.AppID, sp.ObjectID, sp.Guid, sp.DisplayName} {
			if k != "" && strings.EqualFold(k, identity) {
				return sp, true
			}
		}
	}
	return ServicePrincipal{}, false
}

// findMailbox resolves a MailboxIdParameter: a recipient that has a mailbox (not a group).
func (s *Server) findMailbox(identity string) (Recipient, bool) {
	r, ok := s.dir.FindRecipient(identity)
	if !ok || !strings.Contains(strings.ToLower(r.RecipientType), "mailbox") {
		return Recipient{}, false
	}
	return r, true
}

func (s *Server) casLocked(key string) CASMailbox {
	for _, c := range s.state.CASMailboxes {
		if c.Mailbox == key {
			return c
		}
	}
	return CASMailbox{Mailbox: key}
}

func (s *Server) putCASLocked(c CASMailbox) {
	s.state.CASMailboxes = slices.DeleteFunc(s.state.CASMailboxes, func(have CASMailbox) bool { return have.Mailbox == c.Mailbox })
	if c.SmtpClientAuthenticationDisabled != nil || c.ImapDisabled || c.PopDisabled {
		s.state.CASMailboxes = append(s.state.CASMailboxes, c)
	}
}

func (s *Server) transportLocked() TransportConfig {
	if s.state.Transport == nil {
		return TransportConfig{SmtpClientAuthenticationDisabled: true}
	}
	return *s.state.Transport
}

// MailboxAccess is what Exchange weighs before it accepts an app-only XOAUTH2 login to a
// mailbox: the mailbox's protocol switches, the application's service principal pointer and
// the pointer's FullAccess on the mailbox.
type MailboxAccess struct {
	// Mailbox is the mailbox the login named.
	Mailbox Recipient
	// SMTPAuthDisabledBy is "" when SMTP AUTH is enabled for the mailbox, else "Mailbox"
	// (its own switch is true) or "Tenant" (blank, and the organisation's switch is true).
	SMTPAuthDisabledBy string
	// ImapEnabled and PopEnabled are the mailbox's protocol switches.
	ImapEnabled, PopEnabled bool
	// ServicePrincipal is the application's pointer; nil when it has none.
	ServicePrincipal *ServicePrincipal
	// FullAccessSince is when the pointer's explicit FullAccess on the mailbox was written;
	// zero when it holds none or a Deny FullAccess entry overrides it.
	FullAccessSince time.Time
}

// MailboxAccess returns what a login of the application appID to mailbox depends on; false
// when mailbox names no mailbox.
func (s *Server) MailboxAccess(mailbox, appID string) (MailboxAccess, bool) {
	mbx, ok := s.findMailbox(mailbox)
	if !ok {
		return MailboxAccess{}, false
	}
	key := recipientKey(mbx)
	s.mu.Lock()
	defer s.mu.Unlock()
	cas := s.casLocked(key)
	a := MailboxAccess{Mailbox: mbx, ImapEnabled: !cas.ImapDisabled, PopEnabled: !cas.PopDisabled}
	switch {
	case cas.SmtpClientAuthenticationDisabled != nil && *cas.SmtpClientAuthenticationDisabled:
		a.SMTPAuthDisabledBy = "Mailbox"
	case cas.SmtpClientAuthenticationDisabled == nil && s.transportLocked().SmtpClientAuthenticationDisabled:
		a.SMTPAuthDisabledBy = "Tenant"
	}
	for _, sp := range s.state.ServicePrincipals {
		if strings.EqualFold(sp.AppID, appID) {
			sp := sp
			a.ServicePrincipal = &sp
			a.FullAccessSince = s.fullAccessSinceLocked(key, MailboxPermission{User: sp.Guid, ServicePrincipal: true})
			break
		}
	}
	return a, true
}

// HasFullAccess reports whether user (a UPN, an address or an object id) holds an explicit,
// not denied FullAccess on mailbox: what a delegated login to another user's (or a shared)
// mailbox needs.
func (s *Server) HasFullAccess(mailbox, user string) bool {
	mbx, ok := s.findMailbox(mailbox)
	if !ok {
		return false
	}
	u, ok := s.dir.FindRecipient(user)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.fullAccessSinceLocked(recipientKey(mbx), MailboxPermission{User: recipientKey(u)}).IsZero()
}

// fullAccessSinceLocked is when principal's explicit FullAccess on the mailbox key was
// written, or zero when it has none or is denied it.
func (s *Server) fullAccessSinceLocked(key string, principal MailboxPermission) time.Time {
	var since time.Time
	for _, p := range s.state.MailboxPermissions {
		if p.Mailbox != key || p.User != principal.User || p.ServicePrincipal != principal.ServicePrincipal || !hasRight(p.AccessRights, "FullAccess") {
			continue
		}
		if p.Deny {
			return time.Time{}
		}
		if !p.Inherited {
			since = p.Granted
		}
	}
	return since
}

func hasRight(rights []string, want string) bool {
	return slices.ContainsFunc(rights, func(r string) bool { return strings.EqualFold(r, want) })
}

// RegisterServicePrincipal plants a service principal pointer without the cmdlet's checks,
// dated now on the server's clock; for tests that start from a registered application.
func (s *Server) RegisterServicePrincipal(appID, objectID, displayName string) ServicePrincipal {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := ServicePrincipal{AppID: appID, ObjectID: objectID, DisplayName: displayName, Guid: uuid.NewString(), Created: s.clock.Now()}
	s.state.ServicePrincipals = append(s.state.ServicePrincipals, sp)
	return sp
}

// ServicePrincipals returns the registered pointers, oldest first.
func (s *Server) ServicePrincipals() []ServicePrincipal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.state.ServicePrincipals)
}

// PermissionSeed describes a mailbox ACE to plant directly in the state.
type PermissionSeed struct {
	// User is a directory identity (UPN, SMTP address, name, object id), the AppId or ObjectId
	// of a registered service principal, or a raw principal (a SID) when Principal is set.
	User      string
	Principal bool
	// AccessRights defaults to FullAccess.
	AccessRights []string
	Deny         bool
	Inherited    bool
}

// SeedMailboxPermission adds an ACE on mailbox without the cmdlet's checks, dated now.
func (s *Server) SeedMailboxPermission(mailbox string, seed PermissionSeed) error {
	mbx, ok := s.findMailbox(mailbox)
	if !ok {
		return fmt.Errorf("seed mailbox permission on %q: no such mailbox", mailbox)
	}
	p := MailboxPermission{Mailbox: recipientKey(mbx), User: seed.User, Principal: seed.Principal,
		AccessRights: seed.AccessRights, Deny: seed.Deny, Inherited: seed.Inherited, InheritanceType: "All"}
	if len(p.AccessRights) == 0 {
		p.AccessRights = []string{"FullAccess"}
	}
	if !seed.Principal {
		user, ok := s.resolveUser(seed.User)
		if !ok {
			return fmt.Errorf("seed mailbox permission for %q: no such recipient or service principal", seed.User)
		}
		p.User, p.ServicePrincipal = user.User, user.ServicePrincipal
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p.Granted = s.clock.Now()
	s.state.MailboxPermissions = append(s.state.MailboxPermissions, p)
	return nil
}

// MailboxPermissionRows returns what Get-MailboxPermission -Identity mailbox would print.
func (s *Server) MailboxPermissionRows(mailbox string) ([]PermissionRow, error) {
	mbx, ok := s.findMailbox(mailbox)
	if !ok {
		return nil, fmt.Errorf("list mailbox permissions on %q: no such mailbox", mailbox)
	}
	return s.view().permissionRows(mbx), nil
}

// RevokeMailboxPermissions removes every explicit ACE of user on mailbox, as an administrator
// would by hand; it reports how many it removed.
func (s *Server) RevokeMailboxPermissions(mailbox, user string) (int, error) {
	mbx, ok := s.findMailbox(mailbox)
	if !ok {
		return 0, fmt.Errorf("revoke mailbox permissions on %q: no such mailbox", mailbox)
	}
	u, ok := s.resolveUser(user)
	if !ok {
		return 0, fmt.Errorf("revoke mailbox permissions of %q: no such recipient or service principal", user)
	}
	key := recipientKey(mbx)
	s.mu.Lock()
	defer s.mu.Unlock()
	before := len(s.state.MailboxPermissions)
	s.state.MailboxPermissions = slices.DeleteFunc(s.state.MailboxPermissions, func(p MailboxPermission) bool {
		return p.Mailbox == key && p.User == u.User && p.ServicePrincipal == u.ServicePrincipal && !p.Inherited
	})
	return before - len(s.state.MailboxPermissions), nil
}

// SetSMTPAuth sets a mailbox's own SMTP AUTH switch (SmtpClientAuthenticationDisabled; nil
// follows the organisation), as Set-CASMailbox would.
func (s *Server) SetSMTPAuth(mailbox string, disabled *bool) error {
	mbx, ok := s.findMailbox(mailbox)
	if !ok {
		return fmt.Errorf("set smtp auth of %q: no such mailbox", mailbox)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.casLocked(recipientKey(mbx))
	c.SmtpClientAuthenticationDisabled = disabled
	s.putCASLocked(c)
	return nil
}

// SetProtocols turns IMAP and POP on or off for a mailbox (ImapEnabled, PopEnabled).
func (s *Server) SetProtocols(mailbox string, imap, pop bool) error {
	mbx, ok := s.findMailbox(mailbox)
	if !ok {
		return fmt.Errorf("set protocols of %q: no such mailbox", mailbox)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.casLocked(recipientKey(mbx))
	c.ImapDisabled, c.PopDisabled = !imap, !pop
	s.putCASLocked(c)
	return nil
}

// SetOrganizationSMTPAuth sets the organisation's SMTP AUTH switch, as Set-TransportConfig
// -SmtpClientAuthenticationDisabled would.
func (s *Server) SetOrganizationSMTPAuth(disabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Transport = &TransportConfig{SmtpClientAuthenticationDisabled: disabled}
}

// CAS returns the client access settings of a mailbox (defaults included).
func (s *Server) CAS(mailbox string) (CASMailbox, error) {
	mbx, ok := s.findMailbox(mailbox)
	if !ok {
		return CASMailbox{}, fmt.Errorf("read client access settings of %q: no such mailbox", mailbox)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.casLocked(recipientKey(mbx)), nil
}

// resolveUser resolves a SecurityPrincipalIdParameter to the User of an ACE: a directory
// recipient first, then a service principal pointer.
func (s *Server) resolveUser(identity string) (MailboxPermission, bool) {
	if r, ok := s.dir.FindRecipient(identity); ok {
		return MailboxPermission{User: recipientKey(r)}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp, ok := s.findPointerLocked(identity); ok {
		return MailboxPermission{User: sp.Guid, ServicePrincipal: true}, true
	}
	return MailboxPermission{}, false
}
