package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrObjectIDMismatch reports an application registered in Exchange with another object id
// than its service principal's: usually the app registration's object id was passed to
// New-ServicePrincipal, the classic mistake, and every app-only login fails until the pointer
// is removed and registered again with the enterprise application's object id.
var ErrObjectIDMismatch = errors.New("exchange service principal registered with another object id")

// ServicePrincipal is an application's service principal pointer in Exchange Online: what
// New-ServicePrincipal creates so that mailbox permissions can name the application.
type ServicePrincipal struct {
	// AppID is the application (client) id.
	AppID string
	// ObjectID is the object id the pointer was registered with; it must be the Entra service
	// principal's (the enterprise application's) id, which the app's tokens carry as oid.
	ObjectID string
	// DisplayName, Identity and Name are as Exchange printed them.
	DisplayName string
	Identity    string
	Name        string
}

// names are the strings Exchange may print for the pointer as the User of a mailbox ACE;
// which one it uses was never captured (mailbox.md §2), so any of them counts.
func (sp ServicePrincipal) names() []string {
	return []string{sp.ObjectID, sp.Identity, sp.Name, sp.AppID, sp.DisplayName}
}

// Matches reports whether user, the User column of a mailbox ACE, names sp (ignoring case).
func (sp ServicePrincipal) Matches(user string) bool {
	user = strings.TrimSpace(user)
	for _, n := range sp.names() {
		if n != "" && strings.EqualFold(n, user) {
			return true
		}
	}
	return false
}

// pointerObject is a *-ServicePrincipal output object; older module versions printed the
// object id as ServiceId.
type pointerObject struct {
	AppID       string `json:"AppId"`
	ObjectID    string `json:"ObjectId"`
	ServiceID   string `json:"ServiceId"`
	DisplayName string `json:"DisplayName"`
	Identity    string `json:"Identity"`
	Name        string `json:"Name"`
}

func decodePointer(raw json.RawMessage) (ServicePrincipal, error) {
	var o pointerObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return ServicePrincipal{}, err
	}
	return ServicePrincipal{AppID: o.AppID, ObjectID: firstNonEmpty(o.ObjectID, o.ServiceID, o.Identity),
		DisplayName: o.DisplayName, Identity: o.Identity, Name: o.Name}, nil
}

// ServicePrincipal reads the pointer of the application appID (Get-ServicePrincipal -Identity
// appID, one round trip). It only reads; found is false when the application is not
// registered. Both documented answers to an unknown Identity are handled: a not-found error,
// and every pointer of the tenant (filtered here by AppId). It needs Exchange Administrator;
// a refusal is an *AccessDeniedError.
func (c *Client) ServicePrincipal(ctx context.Context, appID string) (sp ServicePrincipal, found bool, err error) {
	appID = strings.TrimSpace(appID)
	if appID == "" {
		// An empty Identity lists every pointer.
		return ServicePrincipal{}, false, errors.New("read exchange service principal: app id is empty")
	}
	res, err := c.invoke(ctx, c.pointerCall(appID))
	return pointerRead(appID, res, err)
}

func (c *Client) pointerCall(appID string) call {
	return call{cmdlet: "Get-ServicePrincipal", anchor: c.systemAnchor(), idempotent: true, params: map[string]any{"Identity": appID}}
}

// pointerRead decodes the answer of pointerCall.
func pointerRead(appID string, res Result, err error) (ServicePrincipal, bool, error) {
	if IsNotFound(err) {
		return ServicePrincipal{}, false, nil
	}
	if err != nil {
		return ServicePrincipal{}, false, fmt.Errorf("read exchange service principal of %s: %w", appID, withRole(err))
	}
	var hits []ServicePrincipal
	for _, v := range res.Values {
		p, err := decodePointer(v)
		if err != nil {
			return ServicePrincipal{}, false, fmt.Errorf("read exchange service principal of %s: decode: %w", appID, err)
		}
		if strings.EqualFold(p.AppID, appID) {
			hits = append(hits, p)
		}
	}
	switch len(hits) {
	case 0:
		return ServicePrincipal{}, false, nil
	case 1:
		return hits[0], true, nil
	}
	return ServicePrincipal{}, false, fmt.Errorf("read exchange service principal of %s: %d pointers carry that app id", appID, len(hits))
}

// NewServicePrincipal registers the application appID in Exchange (New-ServicePrincipal, one
// round trip; two when it exists already). objectID must be the object id of the application's
// service principal (its enterprise application), not of its app registration: Exchange accepts
// either without a check, and only the first lets the application sign in.
//
// It is idempotent: when the application is registered already with objectID, the existing
// pointer is returned; with another object id, the error wraps ErrObjectIDMismatch (remove the
// pointer and register it again). It needs Exchange Administrator.
func (c *Client) NewServicePrincipal(ctx context.Context, appID, objectID, displayName string) (ServicePrincipal, error) {
	appID, objectID = strings.TrimSpace(appID), strings.TrimSpace(objectID)
	if appID == "" || objectID == "" {
		return ServicePrincipal{}, errors.New("register exchange service principal: app id and object id are required")
	}
	params := map[string]any{"AppId": appID, "ObjectId": objectID}
	if displayName != "" {
		params["DisplayName"] = displayName
	}
	// Repeating it after an ambiguous failure is safe: a second one answers "already exists".
	res, err := c.invoke(ctx, call{cmdlet: "New-ServicePrincipal", anchor: c.systemAnchor(), idempotent: true, params: params})
	if IsAlreadyExists(err) {
		sp, found, rerr := c.ServicePrincipal(ctx, appID)
		switch {
		case rerr != nil:
			return ServicePrincipal{}, fmt.Errorf("register exchange service principal for %s: %w", appID, rerr)
		case !found:
			return ServicePrincipal{}, fmt.Errorf("register exchange service principal for %s: %w", appID, err)
		case !strings.EqualFold(sp.ObjectID, objectID):
			return sp, fmt.Errorf("register exchange service principal for %s: %w: %s, not %s", appID, ErrObjectIDMismatch, sp.ObjectID, objectID)
		}
		return sp, nil
	}
	if err != nil {
		return ServicePrincipal{}, fmt.Errorf("register exchange service principal for %s: %w", appID, withRole(err))
	}
	c.passWarnings("New-ServicePrincipal", res.Warnings, nil)
	if len(res.Values) > 0 {
		if sp, err := decodePointer(res.Values[0]); err == nil && sp.AppID != "" {
			return sp, nil
		}
	}
	// The output object is not documented (mailbox.md §1.1): what was asked is what exists.
	return ServicePrincipal{AppID: appID, ObjectID: objectID, DisplayName: displayName, Identity: objectID}, nil
}

// RemoveServicePrincipal removes the pointer of the application appID (Remove-ServicePrincipal,
// one round trip). It is idempotent: a pointer that is gone is success. Remove the pointer's
// FullAccess entries first; Exchange leaves them behind as orphans. It needs
// Exchange Administrator.
func (c *Client) RemoveServicePrincipal(ctx context.Context, appID string) error {
	appID = strings.TrimSpace(appID)
	if appID == "" {
		return errors.New("remove exchange service principal: app id is empty")
	}
	res, err := c.invoke(ctx, call{cmdlet: "Remove-ServicePrincipal", anchor: c.systemAnchor(), idempotent: true,
		params: map[string]any{"Identity": appID, "Confirm": false}})
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove exchange service principal of %s: %w", appID, withRole(err))
	}
	c.passWarnings("Remove-ServicePrincipal", res.Warnings, nil)
	return nil
}

// passWarnings hands the warnings that do not say "nothing to do" (done) to OnWarning.
func (c *Client) passWarnings(cmdlet string, warnings, done []string) {
	for _, w := range warnings {
		if !containsAny(w, done) {
			c.warn(cmdlet, w)
		}
	}
}
