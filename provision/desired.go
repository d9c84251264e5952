package provision

import (
	"errors"
	"fmt"

	"github.com/provisionhq/provision/manifests"
)

// Desired is what one manifest document asks of the tenant, in the engine's terms: Graph
// values instead of manifest words, and for each list whether the manifest manages it at all
// (a key left out is left as the tenant has it). Each kind's part is described in its file.
type Desired struct {
	// Address is the application's plan address, application["<name>"].
	Address    string
	Name       string
	UniqueName string
	AppID      string

	// SignInAudience is the Graph value; empty when the manifest does not say.
	SignInAudience string

	// Redirect URIs per platform; a nil slice means the platform is not managed.
	Web          []string
	SPA          []string
	PublicClient []string

	// Permissions lists what is requested per API; PermissionsManaged is false when the
	// manifest has no permissions key, and then neither requests nor consent are touched.
	Permissions        []DesiredAPI
	PermissionsManaged bool
	AdminConsent       bool

	// AssignmentRequired is appRoleAssignmentRequired on the enterprise app; nil: not managed.
	AssignmentRequired *bool
	// Assignments are the users and groups assigned to the enterprise app; nil: not managed.
	Assignments *DesiredAssignments
	// SendAs are the document's Send-As grants (Exchange Online).
	SendAs []DesiredSendAs
	// Mailboxes are the mailboxes the application signs in to (Exchange Online);
	// MailboxesManaged is whether the document has a mailboxes key.
	Mailboxes        []DesiredMailbox
	MailboxesManaged bool

	// Secrets are the client secrets the manifest manages, recognised by name.
	Secrets []DesiredSecret

	// Source locates values in the manifest for diagnostics.
	Source manifests.Source
}

// DesiredName is one name (a permission, a user, a mailbox) and where the manifest wrote it.
type DesiredName struct {
	Name string
	Path string
}

// DesiredFromDocument reads what d asks for. It does no validation beyond what planning
// needs; manifests.Validate has already run.
func DesiredFromDocument(d *manifests.Document) Desired {
	a := d.Application
	want := Desired{
		Address:    fmt.Sprintf("application[%q]", a.Name),
		Name:       a.Name,
		UniqueName: a.UniqueName,
		AppID:      a.AppID,
		Source:     d.Source,
	}
	desiredApplication(d, &want)
	want.Secrets = desiredSecrets(a.Secrets)
	if a.Assignments != nil && a.Assignments.Required != nil {
		r := *a.Assignments.Required
		want.AssignmentRequired = &r
	}
	want.Assignments, want.SendAs = desiredAssignments(d), desiredSendAs(d)
	want.Mailboxes, want.MailboxesManaged = desiredMailboxes(d)
	return want
}

// pos returns where the manifest wrote path.
func (d Desired) pos(path string) manifests.Pos { return d.Source.Pos(path) }

// problem is a diagnostic about the manifest value at path.
func (d Desired) problem(path string, err error) manifests.Diagnostic {
	return manifests.Diagnostic{Pos: d.pos(path), Path: path, Message: err.Error()}
}

// usesExchange reports whether the document asks for anything only the Exchange Online admin
// API can do.
func (d Desired) usesExchange() bool { return len(d.SendAs) > 0 || d.MailboxesManaged }

// ErrNoExchange reports manifests that need Exchange Online (sendAs, mailboxes) to an engine
// without an Exchange client.
var ErrNoExchange = errors.New("sendAs and mailboxes need the Exchange Online admin API, and no Exchange client is configured " +
	"(provision builds one for PROVISION_EXCHANGE_ENDPOINT, default https://outlook.office365.com; " +
	"library users set Engine.Exchange)")

// requireExchange fails before any I/O when wants need Exchange and the engine cannot.
func (e *Engine) requireExchange(wants []Desired) error {
	for _, w := range wants {
		if w.usesExchange() && e.Exchange == nil {
			return fmt.Errorf("plan %s: %w", w.Address, ErrNoExchange)
		}
	}
	return nil
}
