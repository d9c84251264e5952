package exchangesim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// cmdlet is one supported cmdlet: its canonical name, the parameters it binds (canonical
// spelling) and the ones that are mandatory.
type cmdlet struct {
	name      string
	params    []string
	mandatory []string
	run       func(s *Server, p params) result
	// orgAdmin marks the cmdlets of Organization Management (Exchange Administrator) that
	// Recipient Management (Exchange Recipient Administrator) does not hold.
	orgAdmin bool
}

// commonParams are PowerShell's common parameters, accepted by every cmdlet.
func commonParams() []string {
	return []string{"ErrorAction", "WarningAction", "Verbose", "Debug", "WhatIf", "Confirm", "DomainController"}
}

func lookupCmdlet(name string) (cmdlet, bool) {
	switch strings.ToLower(name) {
	case "get-recipientpermission":
		return cmdlet{name: "Get-RecipientPermission",
			params: []string{"Identity", "Trustee", "AccessRights", "ResultSize", "ReadFromDomainController"},
			run:    (*Server).getRecipientPermission}, true
	case "add-recipientpermission":
		return cmdlet{name: "Add-RecipientPermission",
			params: []string{"Identity", "Trustee", "AccessRights", "SkipDomainValidationForMailContact",
				"SkipDomainValidationForMailUser", "SkipDomainValidationForSharedMailbox"},
			mandatory: []string{"Identity", "Trustee", "AccessRights"},
			run:       (*Server).addRecipientPermission}, true
	case "remove-recipientpermission":
		return cmdlet{name: "Remove-RecipientPermission",
			params: []string{"Identity", "Trustee", "AccessRights", "Deny", "MultiTrustees",
				"SkipDomainValidationForMailContact", "SkipDomainValidationForMailUser", "SkipDomainValidationForSharedMailbox"},
			mandatory: []string{"Identity", "Trustee", "AccessRights"},
			run:       (*Server).removeRecipientPermission}, true
	case "get-recipient":
		return cmdlet{name: "Get-Recipient",
			params: []string{"Identity", "ResultSize", "RecipientType", "RecipientTypeDetails"},
			run:    (*Server).getRecipient}, true
	}
	return lookupMailboxCmdlet(name)
}

// params are bound parameters under their canonical names.
type params map[string]any

func (p params) str(name string) (string, *cmdletError) {
	v, ok := p[name]
	if !ok || v == nil {
		return "", nil
	}
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case []any:
		if len(t) == 1 {
			return params{name: t[0]}.str(name)
		}
	}
	return "", bindError(fmt.Sprintf("Cannot bind parameter '%s'. Cannot convert the value of type \"%T\" to a single value.", name, v))
}

func (p params) flag(name string) bool {
	b, _ := p[name].(bool)
	return b
}

// result is what a cmdlet produced: output objects and warnings, or an error.
type result struct {
	values       []any
	warnings     []string
	confirmation string
	err          *cmdletError
	pageable     bool
	limit        int // ResultSize; 0 means the default 1000, -1 Unlimited
}

// run binds the parameters of in to cmd, runs it and writes the answer.
func (s *Server) run(w http.ResponseWriter, r *http.Request, cmd cmdlet, in input) {
	bound := params{}
	allowed := append(append([]string(nil), cmd.params...), commonParams()...)
	for k, v := range in.params {
		canon := ""
		for _, a := range allowed {
			if strings.EqualFold(a, k) {
				canon = a
				break
			}
		}
		if canon == "" {
			s.writeCmdletError(w, &cmdletError{typ: "System.Management.Automation.AmbiguousParameterSetException",
				text: fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", k)})
			return
		}
		bound[canon] = v
	}
	var missing []string
	for _, m := range cmd.mandatory {
		if v, ok := bound[m]; !ok || v == nil || v == "" {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		s.writeCmdletError(w, bindError("Cannot process command because of one or more missing mandatory parameters: "+strings.Join(missing, " ")+"."))
		return
	}
	if strings.Contains(r.URL.RawQuery, "skiptoken") {
		// graph2otel found that a nextLink cannot be followed from outside the backend session.
		writeODataError(w, http.StatusBadRequest, "BadRequest", "Expired or Invalid pagination request. Default Expiry time is 00:30:00", nil)
		return
	}
	res := cmd.run(s, bound)
	if res.err != nil {
		s.writeCmdletError(w, res.err)
		return
	}
	writeResult(w, r, res)
}

func (s *Server) getRecipientPermission(p params) result {
	if err := checkAccessRights(p, false); err != nil {
		return result{err: err}
	}
	limit, err := resultSize(p)
	if err != nil {
		return result{err: err}
	}
	identity, err := p.str("Identity")
	if err != nil {
		return result{err: err}
	}
	trustee, err := p.str("Trustee")
	if err != nil {
		return result{err: err}
	}
	var mailboxes []Recipient
	if identity != "" {
		mbx, ok := s.dir.FindRecipient(identity)
		switch {
		case ok:
			mailboxes = []Recipient{mbx}
		case s.Faults().UnknownIdentityListsAll:
			identity = ""
		default:
			return result{err: s.notFound(identity)}
		}
	}
	v := s.view()
	if identity == "" {
		seen := map[string]bool{}
		for _, g := range v.state.Grants {
			if seen[g.Mailbox] {
				continue
			}
			seen[g.Mailbox] = true
			if mbx, ok := s.dir.FindRecipient(g.Mailbox); ok {
				mailboxes = append(mailboxes, mbx)
			}
		}
	}
	var rows []Row
	for _, mbx := range mailboxes {
		rows = append(rows, v.rows(mbx)...)
	}
	if trustee != "" {
		want := trustee
		if tr, ok := s.dir.FindRecipient(trustee); ok {
			want = v.trusteeName(Grant{Trustee: recipientKey(tr)})
		} else if !strings.EqualFold(trustee, SelfTrustee) && !strings.HasPrefix(strings.ToUpper(trustee), "S-1-") {
			return result{err: s.trusteeNotFound(trustee)}
		}
		kept := rows[:0]
		for _, row := range rows {
			if strings.EqualFold(row.Trustee, want) {
				kept = append(kept, row)
			}
		}
		rows = kept
	}
	values := make([]any, len(rows))
	for i, row := range rows {
		values[i] = row
	}
	return result{values: values, pageable: true, limit: limit}
}

func (s *Server) addRecipientPermission(p params) result {
	mbx, g, err := s.bindACE(p, false)
	if err != nil {
		return result{err: err}
	}
	v := s.view()
	name := v.trusteeName(g)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.state.Grants {
		if have == g {
			return result{warnings: []string{fmt.Sprintf("The appropriate access control entry is already present on object \"%s\" for account \"%s\".", identityOf(mbx), name)}}
		}
	}
	if p.flag("WhatIf") {
		return result{confirmation: fmt.Sprintf("Adding recipient permission 'SendAs' for user or group '%s' on recipient '%s'.", name, identityOf(mbx))}
	}
	s.state.Grants = append(s.state.Grants, g)
	return result{values: []any{v.rowOf(mbx, g)}}
}

func (s *Server) removeRecipientPermission(p params) result {
	mbx, g, err := s.bindACE(p, true)
	if err != nil {
		return result{err: err}
	}
	g.Deny = p.flag("Deny")
	name := s.view().trusteeName(g)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, have := range s.state.Grants {
		if have != g {
			continue
		}
		if p.flag("WhatIf") {
			return result{confirmation: fmt.Sprintf("Removing recipient permission 'SendAs' for user or group '%s' on recipient '%s'.", name, identityOf(mbx))}
		}
		s.state.Grants = append(s.state.Grants[:i], s.state.Grants[i+1:]...)
		return result{}
	}
	return result{warnings: []string{fmt.Sprintf("Can't remove the access control entry on the object \"%s\" for account \"%s\" because the ACE isn't present.", identityOf(mbx), name)}}
}

// bindACE resolves Identity and Trustee of Add/Remove-RecipientPermission to an explicit
// Allow ACE. Removal also accepts the SID a deleted trustee now prints as.
func (s *Server) bindACE(p params, removing bool) (Recipient, Grant, *cmdletError) {
	if err := checkAccessRights(p, true); err != nil {
		return Recipient{}, Grant{}, err
	}
	identity, err := p.str("Identity")
	if err != nil {
		return Recipient{}, Grant{}, err
	}
	trustee, err := p.str("Trustee")
	if err != nil {
		return Recipient{}, Grant{}, err
	}
	mbx, ok := s.dir.FindRecipient(identity)
	if !ok {
		return Recipient{}, Grant{}, s.notFound(identity)
	}
	g := Grant{Mailbox: recipientKey(mbx)}
	if tr, ok := s.dir.FindRecipient(trustee); ok {
		g.Trustee = recipientKey(tr)
		return mbx, g, nil
	}
	if removing {
		v := s.view()
		for _, have := range v.state.Grants {
			if have.Mailbox == g.Mailbox && strings.EqualFold(v.trusteeName(have), trustee) {
				g.Trustee, g.Principal = have.Trustee, have.Principal
				return mbx, g, nil
			}
		}
	}
	return Recipient{}, Grant{}, s.trusteeNotFound(trustee)
}

func (s *Server) getRecipient(p params) result {
	identity, err := p.str("Identity")
	if err != nil {
		return result{err: err}
	}
	if identity == "" {
		// The fake's directory can only look objects up, not enumerate them.
		return result{err: &cmdletError{typ: "System.NotSupportedException",
			text: "The simulated tenant answers Get-Recipient only with -Identity."}}
	}
	rc, ok := s.dir.FindRecipient(identity)
	if !ok {
		return result{err: s.notFound(identity)}
	}
	return result{values: []any{map[string]any{
		"Identity":                  identityOf(rc),
		"Name":                      rc.Name,
		"DisplayName":               rc.DisplayName,
		"PrimarySmtpAddress":        rc.PrimarySmtpAddress,
		"ExternalDirectoryObjectId": rc.ExternalDirectoryObjectId,
		"RecipientType":             rc.RecipientType,
		"RecipientTypeDetails":      rc.RecipientTypeDetails,
		"Guid":                      rc.Guid,
	}}}
}

// checkAccessRights accepts only SendAs (any case), as a string or an array.
func checkAccessRights(p params, required bool) *cmdletError {
	v, ok := p["AccessRights"]
	if !ok || v == nil {
		if required {
			return bindError("Cannot process command because of one or more missing mandatory parameters: AccessRights.")
		}
		return nil
	}
	var vals []any
	switch t := v.(type) {
	case []any:
		vals = t
	default:
		vals = []any{t}
	}
	for _, x := range vals {
		str, _ := x.(string)
		if !strings.EqualFold(str, "SendAs") {
			return bindError(fmt.Sprintf("Cannot bind parameter 'AccessRights'. Cannot convert value \"%v\" to type "+
				"\"Microsoft.Exchange.Management.RecipientTasks.RecipientAccessRight\". Error: \"Unable to match the identifier name %v "+
				"to a valid enumerator name. Specify one of the following enumerator names and try again: SendAs\"", x, x))
		}
	}
	return nil
}

func resultSize(p params) (int, *cmdletError) {
	v, err := p.str("ResultSize")
	if err != nil || v == "" {
		return 0, err
	}
	if strings.EqualFold(v, "Unlimited") {
		return -1, nil
	}
	n, convErr := strconv.Atoi(v)
	if convErr != nil || n < 1 {
		return 0, bindError(fmt.Sprintf("Cannot bind parameter 'ResultSize'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\".", v))
	}
	return n, nil
}
