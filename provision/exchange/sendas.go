package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Recipient is what Get-Recipient reports about a directory object.
type Recipient struct {
	Identity                  string
	Name                      string
	DisplayName               string
	PrimarySmtpAddress        string
	ExternalDirectoryObjectId string // the Entra object id
	RecipientType             string
	RecipientTypeDetails      string
	Guid                      string // the Exchange object guid
}

// Trustee is a principal holding Send-As on a mailbox.
//
// Exchange prints a trustee as a string whose form depends on the object: the UPN for users,
// the name for groups, DOMAIN\name for built-ins, a bare SID once the principal is deleted.
// A user's UPN usually, but not always, equals its primary SMTP address, and a group's name
// is not an address at all. So a Trustee carries what Exchange said (Raw) and the best
// mapping the client could make; callers should compare a desired trustee against Raw,
// Address and ObjectID together (Matches), not against one of them.
type Trustee struct {
	// Raw is the Trustee field exactly as Exchange printed it.
	Raw string
	// Address is Raw lower-cased when Raw looks like an address (a user's UPN, most likely),
	// else the lower-cased PrimarySmtpAddress Get-Recipient gave for Raw; "" if unresolved.
	Address string
	// ObjectID is the Entra object id, known only when Raw was resolved with Get-Recipient
	// (names, not addresses, are resolved).
	ObjectID string
}

// Matches reports whether identity (a UPN, an address, a name or an object id) names t,
// ignoring case.
func (t Trustee) Matches(identity string) bool {
	for _, v := range []string{t.Raw, t.Address, t.ObjectID} {
		if v != "" && strings.EqualFold(v, strings.TrimSpace(identity)) {
			return true
		}
	}
	return false
}

// IgnoreReason says why a Send-As row is not a manageable grant.
type IgnoreReason string

// Reasons a row of Get-RecipientPermission is reported but never changed.
const (
	IgnoredSelf      IgnoreReason = "self"      // the NT AUTHORITY\SELF ACE every mailbox has
	IgnoredInherited IgnoreReason = "inherited" // inherited from the container
	IgnoredDeny      IgnoreReason = "deny"      // a Deny ACE
	IgnoredOrphan    IgnoreReason = "orphan"    // a bare SID: the principal is gone
	IgnoredOther     IgnoreReason = "other"     // no SendAs right in the row
)

// IgnoredRow is an ACE the reconciler reports and leaves alone.
type IgnoredRow struct {
	Trustee           string
	AccessControlType string
	IsInherited       bool
	Reason            IgnoreReason
}

// SendAsPermissions is the Send-As state of one mailbox.
type SendAsPermissions struct {
	// Mailbox is the identity asked for.
	Mailbox string
	// Trustees are the explicit Allow Send-As grants to live principals, in Exchange's order.
	Trustees []Trustee
	// Ignored are rows reported for information only.
	Ignored []IgnoredRow
}

// permissionRow is a Get-RecipientPermission output object. Fields are decoded leniently:
// the JSON serialisation of enums and booleans is not documented.
type permissionRow struct {
	Identity          string          `json:"Identity"`
	Trustee           string          `json:"Trustee"`
	AccessControlType string          `json:"AccessControlType"`
	AccessRights      json.RawMessage `json:"AccessRights"`
	IsInherited       json.RawMessage `json:"IsInherited"`
}

// orphanSID matches a bare security identifier, what Exchange prints for a deleted principal.
func orphanSID() *regexp.Regexp { return regexp.MustCompile(`^S-1-\d+(-\d+)+$`) }

// SendAsPermissions reads the Send-As ACEs of mailbox (Get-RecipientPermission -Identity
// mailbox -AccessRights SendAs -ResultSize Unlimited). It only reads. A mailbox that does
// not exist yet gives an error for which IsNotFound is true. Rows of another recipient fail
// with ErrForeignRows. Group trustees, printed by name, are resolved with Get-Recipient.
func (c *Client) SendAsPermissions(ctx context.Context, mailbox string) (SendAsPermissions, error) {
	mailbox = strings.TrimSpace(mailbox)
	if mailbox == "" {
		// An empty Identity lists the whole tenant.
		return SendAsPermissions{}, errors.New("list send-as: mailbox is empty")
	}
	res, err := c.invoke(ctx, call{cmdlet: "Get-RecipientPermission", anchor: c.mailboxAnchor(mailbox), idempotent: true,
		params: map[string]any{"Identity": mailbox, "AccessRights": "SendAs", "ResultSize": "Unlimited"}})
	if err != nil {
		return SendAsPermissions{}, fmt.Errorf("list send-as on %s: %w", mailbox, err)
	}
	rows := make([]permissionRow, 0, len(res.Values))
	for _, v := range res.Values {
		var row permissionRow
		if err := json.Unmarshal(v, &row); err != nil {
			return SendAsPermissions{}, fmt.Errorf("list send-as on %s: decode row: %w", mailbox, err)
		}
		rows = append(rows, row)
	}
	for _, w := range res.Warnings {
		c.warn("Get-RecipientPermission", w)
	}
	if err := c.checkRowsBelongTo(ctx, mailbox, rows); err != nil {
		return SendAsPermissions{}, fmt.Errorf("list send-as on %s: %w", mailbox, err)
	}
	out := SendAsPermissions{Mailbox: mailbox}
	sid := orphanSID()
	seen := map[string]bool{}
	for _, row := range rows {
		inherited := jsonBool(row.IsInherited)
		ignore := IgnoreReason("")
		switch {
		case strings.EqualFold(row.Trustee, `NT AUTHORITY\SELF`) || row.Trustee == "S-1-5-10":
			ignore = IgnoredSelf
		case inherited:
			ignore = IgnoredInherited
		case !strings.EqualFold(row.AccessControlType, "Allow"):
			ignore = IgnoredDeny
		case !hasSendAs(row.AccessRights):
			ignore = IgnoredOther
		case sid.MatchString(strings.ToUpper(row.Trustee)):
			ignore = IgnoredOrphan
		}
		if ignore != "" {
			out.Ignored = append(out.Ignored, IgnoredRow{Trustee: row.Trustee, AccessControlType: row.AccessControlType,
				IsInherited: inherited, Reason: ignore})
			continue
		}
		if seen[strings.ToLower(row.Trustee)] {
			continue
		}
		seen[strings.ToLower(row.Trustee)] = true
		t, err := c.mapTrustee(ctx, row.Trustee)
		if err != nil {
			return SendAsPermissions{}, fmt.Errorf("list send-as on %s: %w", mailbox, err)
		}
		out.Trustees = append(out.Trustees, t)
	}
	return out, nil
}

// SendAsTrustees returns the principals with an explicit Allow Send-As grant on mailbox,
// leaving out SELF, inherited, Deny and orphaned rows (see SendAsPermissions).
func (c *Client) SendAsTrustees(ctx context.Context, mailbox string) ([]Trustee, error) {
	p, err := c.SendAsPermissions(ctx, mailbox)
	return p.Trustees, err
}

// AddSendAs grants trustee Send-As on mailbox. It is idempotent: the "already present"
// answer, as a warning or as an error, counts as success.
func (c *Client) AddSendAs(ctx context.Context, mailbox, trustee string) error {
	return c.changeSendAs(ctx, "Add-RecipientPermission", mailbox, trustee, []string{"already present"})
}

// RemoveSendAs removes trustee's Send-As on mailbox. It is idempotent: "the ACE isn't
// present", as a warning or as an error, counts as success.
func (c *Client) RemoveSendAs(ctx context.Context, mailbox, trustee string) error {
	return c.changeSendAs(ctx, "Remove-RecipientPermission", mailbox, trustee,
		[]string{"isn't present", "is not present", "doesn't exist", "does not exist"})
}

func (c *Client) changeSendAs(ctx context.Context, cmdlet, mailbox, trustee string, done []string) error {
	verb := map[string]string{"Add-RecipientPermission": "grant", "Remove-RecipientPermission": "revoke"}[cmdlet]
	mailbox, trustee = strings.TrimSpace(mailbox), strings.TrimSpace(trustee)
	if mailbox == "" || trustee == "" {
		return fmt.Errorf("%s send-as: mailbox and trustee are required", verb)
	}
	res, err := c.invoke(ctx, call{cmdlet: cmdlet, anchor: c.mailboxAnchor(mailbox), idempotent: true,
		params: map[string]any{"Identity": mailbox, "Trustee": trustee, "AccessRights": []string{"SendAs"}, "Confirm": false}})
	var xerr *Error
	if errors.As(err, &xerr) && containsAny(xerr.Message, done) {
		// The wire shape of these answers was never captured; accept them as errors too.
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s send-as on %s to %s: %w", verb, mailbox, trustee, err)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%s send-as on %s to %s: %s", verb, mailbox, trustee, strings.Join(res.Errors, "; "))
	}
	for _, w := range res.Warnings {
		if !containsAny(w, done) {
			c.warn(cmdlet, w)
		}
	}
	return nil
}

// GetRecipient looks identity up with Get-Recipient. Answers are cached for the life of the
// client, which is one run.
func (c *Client) GetRecipient(ctx context.Context, identity string) (Recipient, error) {
	identity = strings.TrimSpace(identity)
	if identity == "" {
		return Recipient{}, errors.New("get recipient: identity is empty")
	}
	key := strings.ToLower(identity)
	c.mu.Lock()
	r, ok := c.recipients[key]
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	res, err := c.invoke(ctx, call{cmdlet: "Get-Recipient", anchor: c.systemAnchor(), idempotent: true,
		params: map[string]any{"Identity": identity}})
	if err != nil {
		return Recipient{}, fmt.Errorf("get recipient %s: %w", identity, err)
	}
	switch len(res.Values) {
	case 0:
		return Recipient{}, fmt.Errorf("get recipient %s: %w", identity, &Error{Status: 404, Cmdlet: "Get-Recipient",
			Code: "NotFound", Message: "no recipient matched '" + identity + "'"})
	case 1:
	default:
		return Recipient{}, fmt.Errorf("get recipient %s: %d recipients match; use an address or an object id", identity, len(res.Values))
	}
	if err := json.Unmarshal(res.Values[0], &r); err != nil {
		return Recipient{}, fmt.Errorf("get recipient %s: decode: %w", identity, err)
	}
	c.mu.Lock()
	c.recipients[key] = r
	c.mu.Unlock()
	return r, nil
}

// mapTrustee makes the best Trustee of a printed name: addresses are taken as they are
// (resolving each would cost a round trip per grant), names are resolved.
func (c *Client) mapTrustee(ctx context.Context, raw string) (Trustee, error) {
	t := Trustee{Raw: raw}
	if looksLikeAddress(raw) {
		t.Address = strings.ToLower(raw)
		return t, nil
	}
	r, err := c.GetRecipient(ctx, raw)
	if IsNotFound(err) {
		return t, nil
	}
	if err != nil {
		return Trustee{}, fmt.Errorf("resolve trustee %q: %w", raw, err)
	}
	t.Address = strings.ToLower(r.PrimarySmtpAddress)
	t.ObjectID = r.ExternalDirectoryObjectId
	return t, nil
}

// checkRowsBelongTo guards against the documented behaviour of listing every recipient's
// rows for an Identity the cmdlet ignores. Exchange prints Identity as the recipient's
// name (often a GUID-like one), so a row that does not repeat mailbox costs one cached
// Get-Recipient to compare against.
func (c *Client) checkRowsBelongTo(ctx context.Context, mailbox string, rows []permissionRow) error {
	var names []string
	for _, row := range rows {
		if strings.EqualFold(row.Identity, mailbox) {
			continue
		}
		if names == nil {
			r, err := c.GetRecipient(ctx, mailbox)
			if err != nil {
				return fmt.Errorf("check row identities: %w", err)
			}
			names = []string{r.Identity, r.Name, r.PrimarySmtpAddress, r.ExternalDirectoryObjectId, r.Guid}
		}
		if !identityMatches(row.Identity, names) {
			return fmt.Errorf("%w: row for %q", ErrForeignRows, row.Identity)
		}
	}
	return nil
}

func identityMatches(identity string, names []string) bool {
	for _, n := range names {
		if n == "" {
			continue
		}
		// A canonical name (…/Microsoft Exchange Hosted Organizations/tenant/name) ends with the name.
		if strings.EqualFold(identity, n) || strings.HasSuffix(strings.ToLower(identity), "/"+strings.ToLower(n)) {
			return true
		}
	}
	return false
}

func looksLikeAddress(s string) bool {
	at := strings.LastIndex(s, "@")
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, ` \/`)
}

// hasSendAs accepts AccessRights as ["SendAs"], "SendAs", "SendAs, ..." or the enum value 1.
func hasSendAs(raw json.RawMessage) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return true // not serialised: the query already filtered on SendAs
	}
	var list []any
	if json.Unmarshal(raw, &list) != nil {
		var one any
		if json.Unmarshal(raw, &one) != nil {
			return false
		}
		list = []any{one}
	}
	for _, v := range list {
		switch t := v.(type) {
		case string:
			for _, part := range strings.Split(t, ",") {
				if strings.EqualFold(strings.TrimSpace(part), "SendAs") {
					return true
				}
			}
		case float64:
			if t == 1 {
				return true
			}
		}
	}
	return false
}

// jsonBool accepts true/false and "True"/"False".
func jsonBool(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && strings.EqualFold(s, "true")
}

func containsAny(s string, subs []string) bool {
	low := strings.ToLower(s)
	for _, sub := range subs {
		if strings.Contains(low, strings.ToLower(sub)) {
			return true
		}
	}
	return false
}
