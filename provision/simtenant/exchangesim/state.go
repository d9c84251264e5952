package exchangesim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

// State is the persistent part of the fake: the explicit Send-As ACEs and the mailbox side of
// OAuth mail access (service principal registrations, mailbox permissions, client access
// settings, the organisation's transport settings). The ACEs every mailbox carries by default
// (NT AUTHORITY\SELF, the inherited system entries) are not stored; the server adds them to
// every read.
type State struct {
	Grants []Grant `json:"grants,omitempty"`
	// ServicePrincipals are the pointers New-ServicePrincipal created.
	ServicePrincipals []ServicePrincipal `json:"servicePrincipals,omitempty"`
	// MailboxPermissions are the explicit mailbox ACEs (Add-MailboxPermission) and seeded ones.
	MailboxPermissions []MailboxPermission `json:"mailboxPermissions,omitempty"`
	// CASMailboxes are the client access settings of the mailboxes that differ from the defaults.
	CASMailboxes []CASMailbox `json:"casMailboxes,omitempty"`
	// Transport is the organisation's transport configuration; nil means the defaults of a
	// tenant created since 2020 (SMTP AUTH disabled).
	Transport *TransportConfig `json:"transport,omitempty"`
}

// Grant is one Send-As ACE on a recipient.
type Grant struct {
	// Mailbox is the recipient's key: its ExternalDirectoryObjectId, else its Guid, else its Identity.
	Mailbox string `json:"mailbox"`
	// Trustee is the trustee's key in the same form, or a raw security principal (a SID such
	// as S-1-5-21-…) when Principal is true.
	Trustee   string `json:"trustee"`
	Principal bool   `json:"principal,omitempty"`
	Deny      bool   `json:"deny,omitempty"`
	Inherited bool   `json:"inherited,omitempty"`
}

// Row is one Get-RecipientPermission output object, as serialised with X-ResponseFormat: json.
type Row struct {
	Identity          string
	Trustee           string
	AccessControlType string
	AccessRights      []string
	IsInherited       bool
	InheritanceType   string
}

// Seed describes an ACE to plant directly in the state, for tests of the rows a client must
// ignore (orphans, Deny, inherited) or of pre-existing grants.
type Seed struct {
	// Trustee is a directory identity (UPN, SMTP, name, object id), or a raw principal such as
	// a SID when Principal is true.
	Trustee   string
	Principal bool
	Deny      bool
	Inherited bool
}

// SelfTrustee is the built-in principal of the ACE every mailbox carries on itself.
const SelfTrustee = `NT AUTHORITY\SELF`

// Seed adds an ACE on mailbox without any of the cmdlet checks (a Deny and an Allow for the
// same trustee may coexist, as in Active Directory).
func (s *Server) Seed(mailbox string, seed Seed) error {
	mbx, ok := s.dir.FindRecipient(mailbox)
	if !ok {
		return fmt.Errorf("seed send-as on %q: no such recipient", mailbox)
	}
	g := Grant{Mailbox: recipientKey(mbx), Trustee: seed.Trustee, Principal: seed.Principal, Deny: seed.Deny, Inherited: seed.Inherited}
	if !seed.Principal {
		tr, ok := s.dir.FindRecipient(seed.Trustee)
		if !ok {
			return fmt.Errorf("seed send-as trustee %q: no such recipient", seed.Trustee)
		}
		g.Trustee = recipientKey(tr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Grants = append(s.state.Grants, g)
	return nil
}

// Snapshot returns a deep copy of the state, safe to serialise while the server runs.
func (s *Server) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyLocked()
}

// copyLocked deep-copies the state; s.mu must be held.
func (s *Server) copyLocked() State {
	st := State{
		Grants:            slices.Clone(s.state.Grants),
		ServicePrincipals: slices.Clone(s.state.ServicePrincipals),
		CASMailboxes:      slices.Clone(s.state.CASMailboxes),
	}
	for _, p := range s.state.MailboxPermissions {
		p.AccessRights = slices.Clone(p.AccessRights)
		st.MailboxPermissions = append(st.MailboxPermissions, p)
	}
	for i, c := range st.CASMailboxes {
		if c.SmtpClientAuthenticationDisabled != nil {
			v := *c.SmtpClientAuthenticationDisabled
			st.CASMailboxes[i].SmtpClientAuthenticationDisabled = &v
		}
	}
	if s.state.Transport != nil {
		t := *s.state.Transport
		st.Transport = &t
	}
	return st
}

// Rows returns what Get-RecipientPermission -Identity mailbox would print, SELF included.
func (s *Server) Rows(mailbox string) ([]Row, error) {
	mbx, ok := s.dir.FindRecipient(mailbox)
	if !ok {
		return nil, fmt.Errorf("list send-as on %q: no such recipient", mailbox)
	}
	return s.view().rows(mbx), nil
}

// rows renders the Send-As ACEs of one recipient.
func (v view) rows(mbx Recipient) []Row {
	key := recipientKey(mbx)
	rows := []Row{{Identity: identityOf(mbx), Trustee: SelfTrustee, AccessControlType: "Allow",
		AccessRights: []string{"SendAs"}, InheritanceType: "None"}}
	for _, g := range v.state.Grants {
		if g.Mailbox == key {
			rows = append(rows, v.rowOf(mbx, g))
		}
	}
	return rows
}

func (v view) rowOf(mbx Recipient, g Grant) Row {
	row := Row{Identity: identityOf(mbx), Trustee: v.trusteeName(g), AccessControlType: "Allow",
		AccessRights: []string{"SendAs"}, InheritanceType: "None"}
	if g.Deny {
		row.AccessControlType = "Deny"
	}
	if g.Inherited {
		row.IsInherited = true
		row.InheritanceType = "All"
	}
	return row
}

// trusteeName prints a trustee as Exchange does: UPN for users, name for groups, and the bare
// SID once the principal is gone from the directory.
func (v view) trusteeName(g Grant) string {
	if g.Principal {
		return g.Trustee
	}
	tr, ok := v.dir.FindRecipient(g.Trustee)
	if !ok {
		return orphanSID(g.Trustee)
	}
	if isGroup(tr) {
		return firstNonEmpty(tr.Name, tr.DisplayName, tr.PrimarySmtpAddress)
	}
	return firstNonEmpty(tr.UserPrincipalName, tr.PrimarySmtpAddress, tr.Name)
}

func recipientKey(r Recipient) string {
	return firstNonEmpty(r.ExternalDirectoryObjectId, r.Guid, r.Identity, r.Name)
}

func identityOf(r Recipient) string {
	return firstNonEmpty(r.Identity, r.Name, r.PrimarySmtpAddress)
}

func isGroup(r Recipient) bool {
	return strings.Contains(strings.ToLower(r.RecipientType), "group")
}

// orphanSID derives a stable domain SID for a principal that no longer resolves.
func orphanSID(key string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	v := h.Sum64()
	return fmt.Sprintf("S-1-5-21-%d-%d-%d-%d", 1000000000+v%900000000, 1000000000+(v>>16)%900000000,
		1000000000+(v>>32)%900000000, 1000+(v>>48)%60000)
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// StaticDirectory is a fixed list of recipients, for tests and benchmarks. An identity
// matches a recipient's Identity, Name, PrimarySmtpAddress, UserPrincipalName,
// ExternalDirectoryObjectId or Guid, ignoring case.
type StaticDirectory []Recipient

// FindRecipient returns the first recipient identity names.
func (d StaticDirectory) FindRecipient(identity string) (Recipient, bool) {
	for _, r := range d {
		for _, k := range []string{r.Identity, r.Name, r.PrimarySmtpAddress, r.UserPrincipalName, r.ExternalDirectoryObjectId, r.Guid} {
			if k != "" && strings.EqualFold(k, identity) {
				return r, true
			}
		}
	}
	return Recipient{}, false
}
