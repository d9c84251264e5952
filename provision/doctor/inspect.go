package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/credential"
	"github.com/provisionhq/provision/provision/rights"
)

// SignedIn is who a credential signs in as and what it holds.
type SignedIn struct {
	// Identity is read from the Microsoft Graph token.
	Identity credential.Identity `json:"identity"`
	Held     Held                `json:"held"`
	// ExchangeError says why no Exchange Online token was had, when none was: Send-As then
	// counts as not allowed.
	ExchangeError string `json:"exchangeError,omitempty"`
}

// Inspect asks cred for a Microsoft Graph token and an Exchange Online token and reads the
// identity and its rights from their claims. Tokens are never printed or kept. A failed
// Exchange token is not an error: it is reported in ExchangeError. An empty exchangeScope
// skips the Exchange token (no Exchange right is then held).
func Inspect(ctx context.Context, cred azcore.TokenCredential, graphScope, exchangeScope string) (SignedIn, error) {
	// With continuous access evaluation on, as the Graph SDK asks, so a plan's preflight reuses
	// the token its Graph client holds rather than fetching another.
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphScope}, EnableCAE: true})
	if err != nil {
		return SignedIn{}, fmt.Errorf("get a Microsoft Graph token: %w", err)
	}
	id, err := credential.Identify(tok.Token)
	if err != nil {
		return SignedIn{}, fmt.Errorf("read the Microsoft Graph token: %w", err)
	}
	s := SignedIn{Identity: id, Held: heldFrom(id)}
	if exchangeScope == "" {
		return s, nil
	}
	exo, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{exchangeScope}})
	if err != nil {
		s.ExchangeError = err.Error()
		return s, nil
	}
	exoID, err := credential.Identify(exo.Token)
	if err != nil {
		s.ExchangeError = err.Error()
		return s, nil
	}
	s.Held.Exchange = slices.Clone(exoID.Roles)
	for _, w := range exoID.DirectoryRoles {
		if name := rights.RoleName(w); !slices.Contains(s.Held.Roles, name) {
			s.Held.Roles = append(s.Held.Roles, name)
		}
	}
	slices.Sort(s.Held.Roles)
	return s, nil
}

// heldFrom reads the rights of a Graph token's identity.
func heldFrom(id credential.Identity) Held {
	h := Held{AppOnly: id.AppOnly}
	if id.AppOnly {
		h.Graph = slices.Clone(id.Roles)
	} else {
		h.Graph = slices.Clone(id.Scopes)
	}
	for _, w := range id.DirectoryRoles {
		h.Roles = append(h.Roles, rights.RoleName(w))
	}
	slices.Sort(h.Graph)
	slices.Sort(h.Roles)
	return h
}

// NeedOf says which parts of a run the documents use.
func NeedOf(docs []*manifests.Document) rights.Need {
	var n rights.Need
	for _, d := range docs {
		a := d.Application
		for _, p := range a.Permissions {
			if a.AdminConsent && len(p.Delegated) > 0 {
				n.DelegatedConsent = true
			}
			if a.AdminConsent && len(p.Application) > 0 {
				n.ApplicationConsent = true
				if p.API == "Microsoft Graph" || strings.EqualFold(p.API, manifests.MicrosoftGraphAppID) {
					n.GraphAppRoles = true
				}
			}
		}
		if as := a.Assignments; as != nil {
			n.Assignments = n.Assignments || as.Users != nil || as.Groups != nil || d.Source.Has("application.assignments.users") ||
				d.Source.Has("application.assignments.groups")
			n.Users = n.Users || len(as.Users) > 0
			n.Groups = n.Groups || len(as.Groups) > 0
		}
		if len(d.SendAs) > 0 {
			// Mailboxes and trustees are looked up as users, and trustees also as mail-enabled groups.
			n.SendAs, n.Users, n.Groups = true, true, true
		}
		if len(d.Mailboxes) > 0 {
			// Mailboxes are looked up as users; the registration in Exchange is managed (made or
			// removed) whenever mailboxes are listed, and the transport config is read.
			n.MailboxAccess, n.ExchangeServicePrincipal, n.Users = true, true, true
		}
	}
	return n
}

// Warnings turns a report's failing steps into plan warnings, so plan says before any write
// which steps apply would be refused and what to grant.
func Warnings(s SignedIn, r Report) []provision.Warning {
	var out []provision.Warning
	who := s.Identity.AppID
	if !s.Held.AppOnly && s.Identity.UserPrincipalName != "" {
		who = s.Identity.UserPrincipalName
	}
	for _, res := range r.Steps {
		if res.OK {
			continue
		}
		out = append(out, provision.Warning{
			Kind:    WarningRights,
			Message: fmt.Sprintf("the signed-in identity %s cannot %s: %s (provision doctor explains)", who, res.Step.Action, Describe(res)),
		})
	}
	return out
}

// WarningRights is the rights.Kind of a plan warning about a right the signed-in identity lacks.
const WarningRights = "rights"

// Preflight is doctor's check as plan runs it: the warnings for the steps the documents need
// and the signed-in identity cannot perform, before any write. An identity whose tokens
// cannot be had is not a warning but the error plan would meet anyway.
func Preflight(ctx context.Context, cred azcore.TokenCredential, graphScope, exchangeScope string, docs []*manifests.Document) ([]provision.Warning, error) {
	need := NeedOf(docs)
	if !need.SendAs && !need.MailboxAccess && !need.ExchangeServicePrincipal {
		// Only Send-As and mailboxes need the Exchange token's rights: a plan without them asks
		// for no Exchange token (a tenant without Exchange Online could not issue one).
		exchangeScope = ""
	}
	s, err := Inspect(ctx, cred, graphScope, exchangeScope)
	if err != nil {
		return nil, fmt.Errorf("check the signed-in identity's rights: %w", err)
	}
	return Warnings(s, Check(s.Held, rights.Steps(need))), nil
}
