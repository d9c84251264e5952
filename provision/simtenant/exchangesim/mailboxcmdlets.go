package exchangesim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// lookupMailboxCmdlet finds the cmdlets of the mailbox side of OAuth mail access: service
// principal pointers, mailbox permissions, client access settings and the transport config.
func lookupMailboxCmdlet(name string) (cmdlet, bool) {
	switch strings.ToLower(name) {
	case "new-serviceprincipal":
		return cmdlet{name: "New-ServicePrincipal", params: []string{"AppId", "ObjectId", "ServiceId", "DisplayName", "Organization"},
			mandatory: []string{"AppId"}, run: (*Server).newServicePrincipal, orgAdmin: true}, true
	case "get-serviceprincipal":
		return cmdlet{name: "Get-ServicePrincipal", params: []string{"Identity", "Organization"},
			run: (*Server).getServicePrincipal, orgAdmin: true}, true
	case "remove-serviceprincipal":
		return cmdlet{name: "Remove-ServicePrincipal", params: []string{"Identity"},
			mandatory: []string{"Identity"}, run: (*Server).removeServicePrincipal, orgAdmin: true}, true
	case "add-mailboxpermission":
		return cmdlet{name: "Add-MailboxPermission",
			params: []string{"Identity", "User", "AccessRights", "AutoMapping", "Deny", "GroupMailbox", "IgnoreDefaultScope",
				"InheritanceType", "Owner"},
			mandatory: []string{"Identity", "User", "AccessRights"}, run: (*Server).addMailboxPermission}, true
	case "get-mailboxpermission":
		return cmdlet{name: "Get-MailboxPermission",
			params: []string{"Identity", "User", "ResultSize", "IncludeUnresolvedPermissions", "IncludeSoftDeletedUserPermissions",
				"SoftDeletedMailbox", "GroupMailbox", "Owner", "ReadFromDomainController"},
			run: (*Server).getMailboxPermission}, true
	case "remove-mailboxpermission":
		return cmdlet{name: "Remove-MailboxPermission",
			params: []string{"Identity", "User", "AccessRights", "BypassMasterAccountSid", "Deny", "GroupMailbox",
				"IgnoreDefaultScope", "InheritanceType", "SoftDeletedMailbox"},
			mandatory: []string{"Identity", "User", "AccessRights"}, run: (*Server).removeMailboxPermission}, true
	case "get-casmailbox":
		return cmdlet{name: "Get-CASMailbox", params: []string{"Identity", "Filter", "ProtocolSettings", "RecipientTypeDetails", "ResultSize"},
			run: (*Server).getCASMailbox}, true
	case "set-casmailbox":
		return cmdlet{name: "Set-CASMailbox", params: []string{"Identity", "SmtpClientAuthenticationDisabled", "ImapEnabled", "PopEnabled"},
			mandatory: []string{"Identity"}, run: (*Server).setCASMailbox}, true
	case "get-transportconfig":
		return cmdlet{name: "Get-TransportConfig", params: []string{"Identity"}, run: (*Server).getTransportConfig, orgAdmin: true}, true
	}
	return cmdlet{}, false
}

// alreadyExistsType is the exception of a duplicate object; the text over REST for
// New-ServicePrincipal was never captured, clients match "already exist" (mailbox.md §1.1).
const alreadyExistsType = "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"

func (s *Server) newServicePrincipal(p params) result {
	appID, err := p.str("AppId")
	if err != nil {
		return result{err: err}
	}
	objectID, err := p.str("ObjectId")
	if err != nil {
		return result{err: err}
	}
	if objectID == "" {
		// ServiceId is the deprecated name of ObjectId.
		if objectID, err = p.str("ServiceId"); err != nil {
			return result{err: err}
		}
	}
	if objectID == "" {
		return result{err: bindError("Cannot process command because of one or more missing mandatory parameters: ObjectId.")}
	}
	name, err := p.str("DisplayName")
	if err != nil {
		return result{err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.state.ServicePrincipals {
		if strings.EqualFold(sp.AppID, appID) {
			return result{err: &cmdletError{typ: alreadyExistsType,
				text: fmt.Sprintf("The service principal with AppId '%s' already exists in the organization.", appID)}}
		}
	}
	if p.flag("WhatIf") {
		return result{confirmation: fmt.Sprintf("Creating service principal for application '%s'.", appID)}
	}
	// Neither id is checked against Entra: a wrong ObjectId is accepted here and only makes the
	// logins fail later (mailbox.md §1.1, MICHEV-SP).
	sp := ServicePrincipal{AppID: appID, ObjectID: objectID, DisplayName: name, Guid: uuid.NewString(), Created: s.clock.Now()}
	s.state.ServicePrincipals = append(s.state.ServicePrincipals, sp)
	return result{values: []any{pointerObject(sp)}}
}

func (s *Server) getServicePrincipal(p params) result {
	identity, err := p.str("Identity")
	if err != nil {
		return result{err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if identity != "" {
		sp, ok := s.findPointerLocked(identity)
		if ok {
			return result{values: []any{pointerObject(sp)}}
		}
		if !s.faults.UnknownIdentityListsAll {
			return result{err: s.notFound(identity)}
		}
	}
	values := []any{}
	for _, sp := range s.state.ServicePrincipals {
		values = append(values, pointerObject(sp))
	}
	return result{values: values}
}

func (s *Server) removeServicePrincipal(p params) result {
	identity, err := p.str("Identity")
	if err != nil {
		return result{err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := s.findPointerLocked(identity)
	if !ok {
		return result{err: s.notFound(identity)}
	}
	if p.flag("WhatIf") {
		return result{confirmation: fmt.Sprintf("Removing service principal '%s'.", sp.ObjectID)}
	}
	// Its mailbox ACEs stay behind and print as orphans (mailbox.md §1.3 leaves it open).
	s.state.ServicePrincipals = slices.DeleteFunc(s.state.ServicePrincipals, func(have ServicePrincipal) bool { return have.Guid == sp.Guid })
	return result{}
}

// pointerObject is the output object of the *-ServicePrincipal cmdlets: DisplayName, ObjectId
// and AppId as captured, Identity holding the object id as Microsoft365DSC reads it
// (mailbox.md §1.2), and the usual presentation fields.
func pointerObject(sp ServicePrincipal) map[string]any {
	return map[string]any{
		"Identity": sp.ObjectID, "Name": sp.ObjectID, "DisplayName": sp.DisplayName,
		"AppId": sp.AppID, "ObjectId": sp.ObjectID, "Guid": sp.Guid,
		"IsValid": true, "ObjectState": "Unchanged",
	}
}

func (s *Server) addMailboxPermission(p params) result {
	mbx, ace, err := s.bindMailboxACE(p, false)
	if err != nil {
		return result{err: err}
	}
	inheritance, err := p.str("InheritanceType")
	if err != nil {
		return result{err: err}
	}
	if ace.InheritanceType, err = inheritanceType(inheritance); err != nil {
		return result{err: err}
	}
	user, _ := s.view().principalName(ace)
	switch s.grantMailboxPermission(ace, p.flag("WhatIf")) {
	case alreadyGranted:
		return result{warnings: []string{fmt.Sprintf("The appropriate access control entry is already present on object \"%s\" for account \"%s\".", identityOf(mbx), user)}}
	case wouldGrant:
		return result{confirmation: fmt.Sprintf("Adding mailbox permission '%s' for user '%s' on mailbox '%s'.", strings.Join(ace.AccessRights, ", "), user, identityOf(mbx))}
	}
	return result{values: s.view().userRows(mbx, ace)}
}

// grantOutcome is what grantMailboxPermission did.
type grantOutcome int

const (
	granted grantOutcome = iota
	alreadyGranted
	wouldGrant // -WhatIf
)

// grantMailboxPermission adds the rights of ace to the explicit ACE of the same principal and
// kind, or adds ace.
func (s *Server) grantMailboxPermission(ace MailboxPermission, whatIf bool) grantOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, have := range s.state.MailboxPermissions {
		if !sameACE(have, ace) {
			continue
		}
		missing := slices.DeleteFunc(slices.Clone(ace.AccessRights), func(r string) bool { return hasRight(have.AccessRights, r) })
		switch {
		case len(missing) == 0:
			return alreadyGranted
		case whatIf:
			return wouldGrant
		}
		s.state.MailboxPermissions[i].AccessRights = append(have.AccessRights, missing...)
		s.state.MailboxPermissions[i].Granted = s.clock.Now()
		return granted
	}
	if whatIf {
		return wouldGrant
	}
	ace.Granted = s.clock.Now()
	s.state.MailboxPermissions = append(s.state.MailboxPermissions, ace)
	return granted
}

// sameACE reports whether have is the explicit ACE of ace's principal, mailbox and kind (Allow or Deny).
func sameACE(have, ace MailboxPermission) bool {
	return have.Mailbox == ace.Mailbox && have.User == ace.User && have.ServicePrincipal == ace.ServicePrincipal && have.Deny == ace.Deny && !have.Inherited
}

func (s *Server) removeMailboxPermission(p params) result {
	mbx, ace, err := s.bindMailboxACE(p, true)
	if err != nil {
		return result{err: err}
	}
	user, _ := s.view().principalName(ace)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, have := range s.state.MailboxPermissions {
		if !sameACE(have, ace) {
			continue
		}
		if !slices.ContainsFunc(ace.AccessRights, func(r string) bool { return hasRight(have.AccessRights, r) }) {
			continue
		}
		if p.flag("WhatIf") {
			return result{confirmation: fmt.Sprintf("Removing mailbox permission '%s' for user '%s' on mailbox '%s'.", strings.Join(ace.AccessRights, ", "), user, identityOf(mbx))}
		}
		left := slices.DeleteFunc(slices.Clone(have.AccessRights), func(r string) bool { return hasRight(ace.AccessRights, r) })
		if len(left) == 0 {
			s.state.MailboxPermissions = slices.Delete(s.state.MailboxPermissions, i, i+1)
		} else {
			s.state.MailboxPermissions[i].AccessRights = left
		}
		return result{}
	}
	return result{warnings: []string{fmt.Sprintf("Can't remove the access control entry on the object \"%s\" for account \"%s\" because the ACE doesn't exist on the object.", identityOf(mbx), user)}}
}

// bindMailboxACE resolves Identity, User, AccessRights and Deny of Add/Remove-MailboxPermission.
// Removal also accepts the SID or name an ACE prints as once its principal is gone.
func (s *Server) bindMailboxACE(p params, removing bool) (Recipient, MailboxPermission, *cmdletError) {
	identity, err := p.str("Identity")
	if err != nil {
		return Recipient{}, MailboxPermission{}, err
	}
	userID, err := p.str("User")
	if err != nil {
		return Recipient{}, MailboxPermission{}, err
	}
	rights, err := mailboxAccessRights(p)
	if err != nil {
		return Recipient{}, MailboxPermission{}, err
	}
	mbx, ok := s.findMailbox(identity)
	if !ok {
		return Recipient{}, MailboxPermission{}, s.notFound(identity)
	}
	ace, ok := s.resolveUser(userID)
	v := s.view()
	if ok && ace.ServicePrincipal && !removing {
		sp, _ := pointerByGuid(v.state.ServicePrincipals, ace.User)
		if s.clock.Now().Before(sp.Created.Add(v.faults.ServicePrincipalLag)) {
			ok = false // the new pointer has not reached this backend yet
		}
	}
	if !ok && removing {
		for _, have := range v.state.MailboxPermissions {
			if name, sid := v.principalName(have); have.Mailbox == recipientKey(mbx) && (strings.EqualFold(name, userID) || strings.EqualFold(sid, userID)) {
				ace, ok = MailboxPermission{User: have.User, ServicePrincipal: have.ServicePrincipal, Principal: have.Principal}, true
				break
			}
		}
	}
	if !ok {
		return Recipient{}, MailboxPermission{}, s.trusteeNotFound(userID)
	}
	ace.Mailbox, ace.AccessRights, ace.Deny = recipientKey(mbx), rights, p.flag("Deny")
	return mbx, ace, nil
}

// userRows renders the ACEs of one principal on a mailbox, the output of Add-MailboxPermission.
func (v view) userRows(mbx Recipient, ace MailboxPermission) []any {
	name, _ := v.principalName(ace)
	var out []any
	for _, row := range v.permissionRows(mbx) {
		if row.User == name {
			out = append(out, v.renderRow(row))
		}
	}
	return out
}

// renderRow applies the AccessRights shape the faults select.
func (v view) renderRow(row PermissionRow) any {
	if !v.faults.AccessRightsAsString {
		return row
	}
	m := map[string]any{"AccessRights": strings.Join(row.AccessRights, ", "), "Deny": row.Deny, "InheritanceType": row.InheritanceType,
		"User": row.User, "UserSid": row.UserSid, "Identity": row.Identity, "IsInherited": row.IsInherited,
		"IsValid": row.IsValid, "ObjectState": row.ObjectState}
	return m
}

func (s *Server) getMailboxPermission(p params) result {
	limit, err := resultSize(p)
	if err != nil {
		return result{err: err}
	}
	identity, err := p.str("Identity")
	if err != nil {
		return result{err: err}
	}
	userID, err := p.str("User")
	if err != nil {
		return result{err: err}
	}
	v := s.view()
	var mailboxes []Recipient
	if identity != "" {
		mbx, ok := s.findMailbox(identity)
		switch {
		case ok:
			mailboxes = []Recipient{mbx}
		case v.faults.UnknownIdentityListsAll:
			identity = ""
		default:
			return result{err: s.notFound(identity)}
		}
	}
	var user MailboxPermission
	if userID != "" {
		var ok bool
		if user, ok = s.resolveUser(userID); !ok {
			return result{err: s.trusteeNotFound(userID)}
		}
	}
	if identity == "" {
		// The fake cannot enumerate the directory: "every mailbox" is every mailbox with an ACE.
		seen := map[string]bool{}
		for _, ace := range v.state.MailboxPermissions {
			if seen[ace.Mailbox] {
				continue
			}
			seen[ace.Mailbox] = true
			if mbx, ok := s.findMailbox(ace.Mailbox); ok {
				mailboxes = append(mailboxes, mbx)
			}
		}
	}
	var want string
	if userID != "" {
		want, _ = v.principalName(user)
	}
	values := []any{}
	for _, mbx := range mailboxes {
		for _, row := range v.permissionRows(mbx) {
			if want == "" || row.User == want {
				values = append(values, v.renderRow(row))
			}
		}
	}
	return result{values: values, pageable: true, limit: limit}
}

func (s *Server) getCASMailbox(p params) result {
	identity, err := p.str("Identity")
	if err != nil {
		return result{err: err}
	}
	if identity == "" {
		return result{err: &cmdletError{typ: "System.NotSupportedException",
			text: "The simulated tenant answers Get-CASMailbox only with -Identity."}}
	}
	mbx, ok := s.findMailbox(identity)
	if !ok {
		return result{err: s.notFound(identity)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.casLocked(recipientKey(mbx))
	var smtp any
	if c.SmtpClientAuthenticationDisabled != nil {
		smtp = *c.SmtpClientAuthenticationDisabled
	}
	return result{values: []any{map[string]any{
		"Identity": identityOf(mbx), "Name": firstNonEmpty(mbx.Name, identityOf(mbx)), "DisplayName": mbx.DisplayName,
		"PrimarySmtpAddress": mbx.PrimarySmtpAddress, "Guid": mbx.Guid, "ExternalDirectoryObjectId": mbx.ExternalDirectoryObjectId,
		"ImapEnabled": !c.ImapDisabled, "PopEnabled": !c.PopDisabled, "SmtpClientAuthenticationDisabled": smtp,
		"OWAEnabled": true, "EwsEnabled": true, "MAPIEnabled": true, "ActiveSyncEnabled": true, "ECPEnabled": true,
		"UniversalOutlookEnabled": true,
	}}}
}

func (s *Server) setCASMailbox(p params) result {
	identity, err := p.str("Identity")
	if err != nil {
		return result{err: err}
	}
	mbx, ok := s.findMailbox(identity)
	if !ok {
		return result{err: s.notFound(identity)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.casLocked(recipientKey(mbx))
	after := before
	if v, present := p["SmtpClientAuthenticationDisabled"]; present {
		// JSON null blanks the switch, so the organisation's setting applies (mailbox.md §1.0).
		b, isNull, err := boolParam("SmtpClientAuthenticationDisabled", v, true)
		if err != nil {
			return result{err: err}
		}
		after.SmtpClientAuthenticationDisabled = nil
		if !isNull {
			after.SmtpClientAuthenticationDisabled = &b
		}
	}
	for _, sw := range []struct {
		name     string
		disabled *bool
	}{{"ImapEnabled", &after.ImapDisabled}, {"PopEnabled", &after.PopDisabled}} {
		if v, present := p[sw.name]; present {
			b, _, err := boolParam(sw.name, v, false)
			if err != nil {
				return result{err: err}
			}
			*sw.disabled = !b
		}
	}
	if sameCAS(before, after) {
		return result{warnings: []string{fmt.Sprintf("The command completed successfully but no settings of '%s' have been modified.", identityOf(mbx))}}
	}
	if p.flag("WhatIf") {
		return result{confirmation: fmt.Sprintf("Setting client access settings of mailbox '%s'.", identityOf(mbx))}
	}
	s.putCASLocked(after)
	return result{}
}

func sameCAS(a, b CASMailbox) bool {
	ptr := func(p *bool) string {
		if p == nil {
			return "blank"
		}
		return fmt.Sprint(*p)
	}
	return ptr(a.SmtpClientAuthenticationDisabled) == ptr(b.SmtpClientAuthenticationDisabled) && a.ImapDisabled == b.ImapDisabled && a.PopDisabled == b.PopDisabled
}

func (s *Server) getTransportConfig(params) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return result{values: []any{map[string]any{"SmtpClientAuthenticationDisabled": s.transportLocked().SmtpClientAuthenticationDisabled}}}
}

// boolParam converts a [Boolean] parameter as PowerShell does: JSON booleans, and the strings
// True/False/$true/$false; null only where nullable (the blank of a tri-state switch).
func boolParam(name string, v any, nullable bool) (value, isNull bool, err *cmdletError) {
	switch t := v.(type) {
	case nil:
		if nullable {
			return false, true, nil
		}
	case bool:
		return t, false, nil
	case string:
		switch strings.ToLower(strings.TrimPrefix(strings.TrimSpace(t), "$")) {
		case "true":
			return true, false, nil
		case "false":
			return false, false, nil
		}
	}
	return false, false, bindError(fmt.Sprintf("Cannot process argument transformation on parameter '%s'. Cannot convert value \"%v\" to type \"System.Boolean\". "+
		"Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.", name, v))
}

// mailboxAccessRights binds AccessRights (mandatory) to canonical MailboxRights names.
func mailboxAccessRights(p params) ([]string, *cmdletError) {
	var vals []any
	switch t := p["AccessRights"].(type) {
	case []any:
		vals = t
	case string:
		for _, part := range strings.Split(t, ",") {
			vals = append(vals, strings.TrimSpace(part))
		}
	default:
		vals = []any{t}
	}
	var out []string
	for _, x := range vals {
		str, _ := x.(string)
		i := slices.IndexFunc(mailboxRights(), func(r string) bool { return strings.EqualFold(r, str) })
		if i < 0 {
			return nil, bindError(fmt.Sprintf("Cannot bind parameter 'AccessRights'. Cannot convert value \"%v\" to type "+
				"\"Microsoft.Exchange.Management.RecipientTasks.MailboxRights\". Error: \"Unable to match the identifier name %v "+
				"to a valid enumerator name. Specify one of the following enumerator names and try again: %s\"", x, x, strings.Join(mailboxRights(), ", ")))
		}
		if !slices.Contains(out, mailboxRights()[i]) {
			out = append(out, mailboxRights()[i])
		}
	}
	return out, nil
}

// inheritanceType binds InheritanceType; "" means All, the default.
func inheritanceType(v string) (string, *cmdletError) {
	if v == "" {
		return "All", nil
	}
	for _, t := range []string{"None", "All", "Descendents", "SelfAndChildren", "Children"} {
		if strings.EqualFold(t, v) {
			return t, nil
		}
	}
	return "", bindError(fmt.Sprintf("Cannot bind parameter 'InheritanceType'. Cannot convert value \"%s\" to type "+
		"\"System.DirectoryServices.ActiveDirectorySecurityInheritance\". Error: \"Unable to match the identifier name %s to a valid "+
		"enumerator name. Specify one of the following enumerator names and try again: None, All, Descendents, SelfAndChildren, Children\"", v, v))
}
