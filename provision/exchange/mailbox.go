package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SMTPAuth is a mailbox's own SMTP AUTH switch, Set-CASMailbox -SmtpClientAuthenticationDisabled.
// Its values are the words of the manifest's smtpAuth key.
type SMTPAuth string

// The three states of the switch.
const (
	// SMTPAuthEnabled is SmtpClientAuthenticationDisabled false: on for the mailbox, whatever
	// the organisation says.
	SMTPAuthEnabled SMTPAuth = "enabled"
	// SMTPAuthDisabled is SmtpClientAuthenticationDisabled true.
	SMTPAuthDisabled SMTPAuth = "disabled"
	// SMTPAuthOrganization is the blank value (null): Set-TransportConfig decides.
	SMTPAuthOrganization SMTPAuth = "organization"
)

// parameter is the value Set-CASMailbox takes: false, true, or JSON null for blank.
func (s SMTPAuth) parameter() (any, error) {
	switch s {
	case SMTPAuthEnabled:
		return false, nil
	case SMTPAuthDisabled:
		return true, nil
	case SMTPAuthOrganization:
		return nil, nil
	}
	return nil, fmt.Errorf("smtp auth %q is not one of enabled, disabled, organization", string(s))
}

// CASMailbox is what Get-CASMailbox reports of a mailbox that mail access depends on.
type CASMailbox struct {
	Identity                  string
	Name                      string
	DisplayName               string
	PrimarySmtpAddress        string
	ExternalDirectoryObjectId string // the Entra object id of the mailbox's user
	Guid                      string
	// SMTPAuth is the mailbox's own SMTP AUTH switch.
	SMTPAuth SMTPAuth
	// ImapEnabled and PopEnabled are the protocol switches (true unless turned off).
	ImapEnabled, PopEnabled bool
}

// SMTPAuthInForce reports whether SMTP AUTH works for the mailbox: its own switch, else the
// organisation's (mailbox.md §1.9).
func (m CASMailbox) SMTPAuthInForce(org TransportConfig) bool {
	switch m.SMTPAuth {
	case SMTPAuthEnabled:
		return true
	case SMTPAuthDisabled:
		return false
	}
	return !org.SMTPAuthDisabled
}

// TransportConfig is the part of Get-TransportConfig mail access depends on.
type TransportConfig struct {
	// SMTPAuthDisabled is SmtpClientAuthenticationDisabled, the organisation's SMTP AUTH
	// switch: true (off) for tenants created since January 2020.
	SMTPAuthDisabled bool
}

// casObject is a Get-CASMailbox output object; booleans are decoded leniently.
type casObject struct {
	Identity                         string          `json:"Identity"`
	Name                             string          `json:"Name"`
	DisplayName                      string          `json:"DisplayName"`
	PrimarySmtpAddress               string          `json:"PrimarySmtpAddress"`
	ExternalDirectoryObjectId        string          `json:"ExternalDirectoryObjectId"`
	Guid                             string          `json:"Guid"`
	SmtpClientAuthenticationDisabled json.RawMessage `json:"SmtpClientAuthenticationDisabled"`
	ImapEnabled                      json.RawMessage `json:"ImapEnabled"`
	PopEnabled                       json.RawMessage `json:"PopEnabled"`
}

// CASMailbox reads the client access settings of mailbox (Get-CASMailbox -Identity mailbox,
// one round trip). It only reads. An unknown mailbox gives an error for which IsNotFound is
// true. It needs Exchange Recipient Administrator.
func (c *Client) CASMailbox(ctx context.Context, mailbox string) (CASMailbox, error) {
	mailbox = strings.TrimSpace(mailbox)
	if mailbox == "" {
		return CASMailbox{}, errors.New("read client access settings: mailbox is empty")
	}
	res, err := c.invoke(ctx, c.casCall(mailbox))
	return c.casRead(mailbox, res, err)
}

func (c *Client) casCall(mailbox string) call {
	return call{cmdlet: "Get-CASMailbox", anchor: c.mailboxAnchor(mailbox), idempotent: true, params: map[string]any{"Identity": mailbox}}
}

// casRead decodes the answer of casCall, and remembers the mailbox's names for the checks of
// its permission rows.
func (c *Client) casRead(mailbox string, res Result, err error) (CASMailbox, error) {
	if err != nil {
		return CASMailbox{}, fmt.Errorf("read client access settings of %s: %w", mailbox, withRole(err))
	}
	if len(res.Values) != 1 {
		return CASMailbox{}, fmt.Errorf("read client access settings of %s: %d objects returned, want 1", mailbox, len(res.Values))
	}
	var o casObject
	if err := json.Unmarshal(res.Values[0], &o); err != nil {
		return CASMailbox{}, fmt.Errorf("read client access settings of %s: decode: %w", mailbox, err)
	}
	m := CASMailbox{Identity: o.Identity, Name: o.Name, DisplayName: o.DisplayName, PrimarySmtpAddress: o.PrimarySmtpAddress,
		ExternalDirectoryObjectId: o.ExternalDirectoryObjectId, Guid: o.Guid,
		SMTPAuth: SMTPAuthOrganization, ImapEnabled: boolOr(o.ImapEnabled, true), PopEnabled: boolOr(o.PopEnabled, true)}
	if !isBlank(o.SmtpClientAuthenticationDisabled) {
		m.SMTPAuth = SMTPAuthEnabled
		if jsonBool(o.SmtpClientAuthenticationDisabled) {
			m.SMTPAuth = SMTPAuthDisabled
		}
	}
	// What Get-Recipient would say: the permission reads of this mailbox compare their rows
	// against it without a round trip of their own.
	c.mu.Lock()
	c.recipients[strings.ToLower(mailbox)] = Recipient{Identity: m.Identity, Name: m.Name, DisplayName: m.DisplayName,
		PrimarySmtpAddress: m.PrimarySmtpAddress, ExternalDirectoryObjectId: m.ExternalDirectoryObjectId, Guid: m.Guid}
	c.mu.Unlock()
	return m, nil
}

// SetSMTPAuth sets the mailbox's own SMTP AUTH switch (Set-CASMailbox, one round trip);
// SMTPAuthOrganization blanks it. It is idempotent: "no settings have been modified" is
// success. It needs Exchange Recipient Administrator.
func (c *Client) SetSMTPAuth(ctx context.Context, mailbox string, value SMTPAuth) error {
	mailbox = strings.TrimSpace(mailbox)
	if mailbox == "" {
		return errors.New("set smtp auth: mailbox is empty")
	}
	v, err := value.parameter()
	if err != nil {
		return fmt.Errorf("set smtp auth of %s: %w", mailbox, err)
	}
	res, err := c.invoke(ctx, call{cmdlet: "Set-CASMailbox", anchor: c.mailboxAnchor(mailbox), idempotent: true,
		params: map[string]any{"Identity": mailbox, "SmtpClientAuthenticationDisabled": v}})
	if err != nil {
		return fmt.Errorf("set smtp auth of %s to %s: %w", mailbox, value, withRole(err))
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("set smtp auth of %s to %s: %s", mailbox, value, strings.Join(res.Errors, "; "))
	}
	c.passWarnings("Set-CASMailbox", res.Warnings, []string{"no settings of"})
	return nil
}

// TransportConfig reads the organisation's transport configuration (Get-TransportConfig, one
// round trip). It only reads. It needs View-Only Configuration, which
// Exchange Administrator (or Global Reader) carries and Exchange Recipient Administrator does not.
func (c *Client) TransportConfig(ctx context.Context) (TransportConfig, error) {
	res, err := c.invoke(ctx, c.transportCall())
	return transportRead(res, err)
}

func (c *Client) transportCall() call {
	return call{cmdlet: "Get-TransportConfig", anchor: c.systemAnchor(), idempotent: true}
}

// transportRead decodes the answer of transportCall.
func transportRead(res Result, err error) (TransportConfig, error) {
	if err != nil {
		return TransportConfig{}, fmt.Errorf("read transport config: %w", withRole(err))
	}
	if len(res.Values) != 1 {
		return TransportConfig{}, fmt.Errorf("read transport config: %d objects returned, want 1", len(res.Values))
	}
	var o struct {
		SmtpClientAuthenticationDisabled json.RawMessage `json:"SmtpClientAuthenticationDisabled"`
	}
	if err := json.Unmarshal(res.Values[0], &o); err != nil {
		return TransportConfig{}, fmt.Errorf("read transport config: decode: %w", err)
	}
	if isBlank(o.SmtpClientAuthenticationDisabled) {
		return TransportConfig{}, errors.New("read transport config: SmtpClientAuthenticationDisabled missing from the answer")
	}
	return TransportConfig{SMTPAuthDisabled: jsonBool(o.SmtpClientAuthenticationDisabled)}, nil
}

// MailboxPermission is one row of Get-MailboxPermission.
type MailboxPermission struct {
	// User is the principal as Exchange printed it: a UPN, a group or built-in name, a
	// service principal (see ServicePrincipal.Matches), or a SID once the principal is gone.
	User            string
	AccessRights    []string
	Deny            bool
	IsInherited     bool
	InheritanceType string
}

// HasRight reports whether the row grants (or, for a Deny row, denies) right.
func (p MailboxPermission) HasRight(right string) bool {
	for _, r := range p.AccessRights {
		if strings.EqualFold(r, right) {
			return true
		}
	}
	return false
}

// MailboxPermissions are the rows of one mailbox, the defaults (SELF, inherited system
// entries) and other users' included: a reconciler reads them all and changes only its own.
type MailboxPermissions struct {
	// Mailbox is the identity asked for.
	Mailbox string
	// Rows are in Exchange's order.
	Rows []MailboxPermission
}

// FullAccess is what a mailbox's rows say about one principal's FullAccess.
type FullAccess struct {
	// Granted is an explicit (not inherited) Allow row with FullAccess.
	Granted bool
	// Denied is a Deny row with FullAccess, which wins over any grant; provision reports it
	// and leaves it alone.
	Denied bool
	// Inherited is an inherited Allow row with FullAccess; reported, left alone.
	Inherited bool
}

// InForce reports whether the principal holds FullAccess: granted or inherited, not denied.
func (f FullAccess) InForce() bool { return (f.Granted || f.Inherited) && !f.Denied }

// FullAccessOf sums up the rows that name sp.
func (p MailboxPermissions) FullAccessOf(sp ServicePrincipal) FullAccess {
	var f FullAccess
	for _, row := range p.Rows {
		if !sp.Matches(row.User) || !row.HasRight("FullAccess") {
			continue
		}
		switch {
		case row.Deny:
			f.Denied = true
		case row.IsInherited:
			f.Inherited = true
		default:
			f.Granted = true
		}
	}
	return f
}

// mailboxPermissionObject is a Get-MailboxPermission output object.
type mailboxPermissionObject struct {
	Identity        string          `json:"Identity"`
	User            string          `json:"User"`
	AccessRights    json.RawMessage `json:"AccessRights"`
	Deny            json.RawMessage `json:"Deny"`
	IsInherited     json.RawMessage `json:"IsInherited"`
	InheritanceType string          `json:"InheritanceType"`
}

// MailboxPermissions reads every row of mailbox (Get-MailboxPermission -Identity mailbox
// -ResultSize Unlimited, one round trip). It only reads. Rows are checked to belong to mailbox
// (the cmdlet lists the whole tenant for an Identity it ignores): against what CASMailbox read
// of the same mailbox earlier in the run, else with one cached Get-Recipient. An unknown mailbox
// gives an error for which IsNotFound is true. It needs Exchange Recipient Administrator.
func (c *Client) MailboxPermissions(ctx context.Context, mailbox string) (MailboxPermissions, error) {
	mailbox = strings.TrimSpace(mailbox)
	if mailbox == "" {
		return MailboxPermissions{}, errors.New("list mailbox permissions: mailbox is empty")
	}
	res, err := c.invoke(ctx, c.permissionsCall(mailbox))
	return c.permissionsRead(ctx, mailbox, res, err)
}

func (c *Client) permissionsCall(mailbox string) call {
	return call{cmdlet: "Get-MailboxPermission", anchor: c.mailboxAnchor(mailbox), idempotent: true,
		params: map[string]any{"Identity": mailbox, "ResultSize": "Unlimited"}}
}

// permissionsRead decodes the answer of permissionsCall and checks its rows belong to mailbox.
func (c *Client) permissionsRead(ctx context.Context, mailbox string, res Result, err error) (MailboxPermissions, error) {
	if err != nil {
		return MailboxPermissions{}, fmt.Errorf("list mailbox permissions on %s: %w", mailbox, withRole(err))
	}
	c.passWarnings("Get-MailboxPermission", res.Warnings, nil)
	out := MailboxPermissions{Mailbox: mailbox}
	identities := make([]permissionRow, 0, len(res.Values))
	for _, v := range res.Values {
		var o mailboxPermissionObject
		if err := json.Unmarshal(v, &o); err != nil {
			return MailboxPermissions{}, fmt.Errorf("list mailbox permissions on %s: decode row: %w", mailbox, err)
		}
		identities = append(identities, permissionRow{Identity: o.Identity})
		out.Rows = append(out.Rows, MailboxPermission{User: o.User, AccessRights: decodeRights(o.AccessRights),
			Deny: jsonBool(o.Deny), IsInherited: jsonBool(o.IsInherited), InheritanceType: o.InheritanceType})
	}
	if err := c.checkRowsBelongTo(ctx, mailbox, identities); err != nil {
		return MailboxPermissions{}, fmt.Errorf("list mailbox permissions on %s: %w", mailbox, err)
	}
	return out, nil
}

// principalWait bounds how long AddFullAccess waits for a service principal pointer registered
// moments ago to resolve on the backend (mailbox.md §1.4: retry before failing).
const principalWait = 3 * time.Minute

// AddFullAccess grants user FullAccess on mailbox (Add-MailboxPermission -AccessRights
// FullAccess -InheritanceType All -AutoMapping $false, one round trip). user is what the
// principal is known by: for an application, its pointer's ObjectID. It is idempotent: "already
// present", as a warning or an error, is success. A user that does not resolve yet (a pointer
// just registered) is retried on the client's clock for a few minutes. It needs
// Exchange Recipient Administrator.
func (c *Client) AddFullAccess(ctx context.Context, mailbox, user string) error {
	mailbox, user = strings.TrimSpace(mailbox), strings.TrimSpace(user)
	if mailbox == "" || user == "" {
		return errors.New("grant full access: mailbox and user are required")
	}
	done := []string{"already present", "existing permission entry was found"}
	cl := call{cmdlet: "Add-MailboxPermission", anchor: c.mailboxAnchor(mailbox), idempotent: true,
		params: map[string]any{"Identity": mailbox, "User": user, "AccessRights": []string{"FullAccess"},
			"InheritanceType": "All", "AutoMapping": false, "Confirm": false}}
	start := c.clock.Now()
	for attempt := 1; ; attempt++ {
		res, err := c.invoke(ctx, cl)
		var xerr *Error
		switch {
		case errors.As(err, &xerr) && containsAny(xerr.Message, done):
			return nil
		case userNotResolved(err, user):
			wait := c.retry.Backoff(attempt)
			if c.clock.Now().Sub(start)+wait > principalWait {
				return fmt.Errorf("grant full access on %s to %s: %w", mailbox, user, err)
			}
			if serr := c.clock.Sleep(ctx, wait); serr != nil {
				return fmt.Errorf("grant full access on %s to %s: wait for the principal to resolve: %w", mailbox, user, serr)
			}
			continue
		case err != nil:
			return fmt.Errorf("grant full access on %s to %s: %w", mailbox, user, withRole(err))
		case len(res.Errors) > 0:
			return fmt.Errorf("grant full access on %s to %s: %s", mailbox, user, strings.Join(res.Errors, "; "))
		}
		c.passWarnings("Add-MailboxPermission", res.Warnings, done)
		return nil
	}
}

// RemoveFullAccess removes user's FullAccess on mailbox (Remove-MailboxPermission, one round
// trip). It is idempotent: "the ACE doesn't exist", and a user that no longer resolves, are
// success. Deny and inherited rows are not touched. It needs Exchange Recipient Administrator.
func (c *Client) RemoveFullAccess(ctx context.Context, mailbox, user string) error {
	mailbox, user = strings.TrimSpace(mailbox), strings.TrimSpace(user)
	if mailbox == "" || user == "" {
		return errors.New("revoke full access: mailbox and user are required")
	}
	done := []string{"doesn't exist", "does not exist", "isn't present", "is not present"}
	res, err := c.invoke(ctx, call{cmdlet: "Remove-MailboxPermission", anchor: c.mailboxAnchor(mailbox), idempotent: true,
		params: map[string]any{"Identity": mailbox, "User": user, "AccessRights": []string{"FullAccess"}, "Confirm": false}})
	var xerr *Error
	switch {
	case errors.As(err, &xerr) && containsAny(xerr.Message, done), userNotResolved(err, user):
		return nil
	case err != nil:
		return fmt.Errorf("revoke full access on %s from %s: %w", mailbox, user, withRole(err))
	case len(res.Errors) > 0:
		return fmt.Errorf("revoke full access on %s from %s: %s", mailbox, user, strings.Join(res.Errors, "; "))
	}
	c.passWarnings("Remove-MailboxPermission", res.Warnings, done)
	return nil
}

// userNotResolved reports a not-found error about the principal rather than the mailbox: its
// text names user ("'<user>' wasn't found", wording not captured over REST).
func userNotResolved(err error, user string) bool {
	var e *Error
	return IsNotFound(err) && errors.As(err, &e) && strings.Contains(strings.ToLower(e.Message), strings.ToLower(user))
}

// MailboxState is what Exchange holds about one mailbox for mail access.
type MailboxState struct {
	// Mailbox is the identity asked for.
	Mailbox     string
	CAS         CASMailbox
	Permissions MailboxPermissions
}

// MailboxStates reads CASMailbox and MailboxPermissions of each mailbox, in $batch requests
// (ObserveMail). It only reads. The first error fails the whole read; it names its mailbox,
// and IsNotFound still sees through it.
func (c *Client) MailboxStates(ctx context.Context, mailboxes []string) ([]MailboxState, error) {
	obs, err := c.ObserveMail(ctx, MailReads{Mailboxes: mailboxes})
	if err != nil {
		return nil, err
	}
	out := make([]MailboxState, len(mailboxes))
	for i, mbx := range mailboxes {
		out[i] = obs.Mailboxes[strings.TrimSpace(mbx)]
	}
	return out, nil
}

// MailReads names what ObserveMail reads.
type MailReads struct {
	// TransportConfig asks for the organisation's transport config (once per plan).
	TransportConfig bool
	// AppIDs are the applications whose service principal pointers are read.
	AppIDs []string
	// Mailboxes are read with Get-CASMailbox and Get-MailboxPermission.
	Mailboxes []string
}

// MailObservation is what ObserveMail read.
type MailObservation struct {
	// Transport is the organisation's transport config; nil when it was not asked for or could
	// not be read (TransportErr: reading it needs Exchange Administrator, and a provisioner
	// that manages only mailboxes may run without).
	Transport    *TransportConfig
	TransportErr error
	// ServicePrincipals maps each app id asked for (as spelt) to its pointer; nil when not registered.
	ServicePrincipals map[string]*ServicePrincipal
	// Mailboxes maps each mailbox asked for (as spelt) to its state; spellings that differ only
	// in case are read once.
	Mailboxes map[string]MailboxState
}

// ObserveMail reads the mailbox side of mail access for a plan: 1 + len(AppIDs) + 2 ×
// len(Mailboxes) cmdlets, sent MaxBatch to a $batch request, the batches concurrently within
// the client's bound (so ⌈cmdlets ÷ 10⌉ round trips when the front door batches; a read it
// refuses is sent alone). It only reads. The first error other than the transport config's
// fails it, naming its object; IsNotFound and IsForbidden still see through it.
func (c *Client) ObserveMail(ctx context.Context, reads MailReads) (MailObservation, error) {
	obs := MailObservation{ServicePrincipals: map[string]*ServicePrincipal{}, Mailboxes: map[string]MailboxState{}}
	var calls []call
	apps, mailboxes := distinct(reads.AppIDs), distinct(reads.Mailboxes)
	if reads.TransportConfig {
		calls = append(calls, c.transportCall())
	}
	for _, app := range apps {
		calls = append(calls, c.pointerCall(app))
	}
	for _, mbx := range mailboxes {
		calls = append(calls, c.casCall(mbx), c.permissionsCall(mbx))
	}
	results, errs := c.readAll(ctx, calls)
	next := 0
	if reads.TransportConfig {
		t, err := transportRead(results[0], errs[0])
		if err == nil {
			obs.Transport = &t
		}
		obs.TransportErr, next = err, 1
	}
	for _, app := range apps {
		sp, found, err := pointerRead(app, results[next], errs[next])
		if err != nil {
			return MailObservation{}, err
		}
		if found {
			obs.ServicePrincipals[app] = &sp
		} else {
			obs.ServicePrincipals[app] = nil
		}
		next++
	}
	for _, mbx := range mailboxes {
		// The CAS answer identifies the mailbox, so checking its permission rows costs nothing more.
		cas, err := c.casRead(mbx, results[next], errs[next])
		if err != nil {
			return MailObservation{}, err
		}
		perms, err := c.permissionsRead(ctx, mbx, results[next+1], errs[next+1])
		if err != nil {
			return MailObservation{}, err
		}
		obs.Mailboxes[mbx] = MailboxState{Mailbox: mbx, CAS: cas, Permissions: perms}
		next += 2
	}
	// Every spelling asked for finds its answer, not only the first.
	for _, asked := range reads.Mailboxes {
		asked = strings.TrimSpace(asked)
		for _, mbx := range mailboxes {
			if strings.EqualFold(asked, mbx) {
				st := obs.Mailboxes[mbx]
				st.Mailbox = asked
				obs.Mailboxes[asked] = st
			}
		}
	}
	for _, asked := range reads.AppIDs {
		asked = strings.TrimSpace(asked)
		for _, app := range apps {
			if strings.EqualFold(asked, app) {
				obs.ServicePrincipals[asked] = obs.ServicePrincipals[app]
			}
		}
	}
	return obs, nil
}

// distinct trims, drops empty and repeated (ignoring case) values, keeping the first spelling.
func distinct(values []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" || seen[strings.ToLower(v)] {
			continue
		}
		seen[strings.ToLower(v)] = true
		out = append(out, v)
	}
	return out
}

// decodeRights accepts AccessRights as ["A","B"], "A, B" or a single string.
func decodeRights(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return nil
		}
		list = []string{one}
	}
	var out []string
	for _, item := range list {
		for _, part := range strings.Split(item, ",") {
			if p := strings.TrimSpace(part); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func isBlank(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null" || s == `""`
}

func boolOr(raw json.RawMessage, def bool) bool {
	if isBlank(raw) {
		return def
	}
	return jsonBool(raw)
}
