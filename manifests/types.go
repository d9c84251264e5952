// Package manifests reads and checks provision/v1 manifests: YAML documents that say
// which application registration, permissions, consent, secrets, assignments and Send-As
// rights should exist in a tenant. It knows YAML and validation, and nothing of Graph.
package manifests

import (
	"fmt"
	"strings"
	"time"
)

// APIVersion is the only manifest format version this package reads.
const APIVersion = "provision/v1"

// Pos is a place in a manifest file. Line and Col start at 1; a zero Pos means unknown.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
}

// String renders the position as file:line:col, the form editors and terminals link.
func (p Pos) String() string {
	if p.Line == 0 {
		if p.File == "" {
			return "-"
		}
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// IsZero reports whether the position is unknown.
func (p Pos) IsZero() bool { return p.Line == 0 }

// Document is one YAML document of a manifest file: one application, and the Send-As rights
// and mailbox settings that go with it.
type Document struct {
	APIVersion  string      `json:"apiVersion" doc:"Manifest format version; must be provision/v1."`
	Tenant      string      `json:"tenant,omitempty" doc:"Tenant domain (contoso.onmicrosoft.com) or tenant id; when set it must match the credential's tenant."`
	Application Application `json:"application" doc:"The app registration and its enterprise application."`
	SendAs      []SendAs    `json:"sendAs,omitempty" doc:"Exchange Online SendAs recipient permissions."`
	Mailboxes   []Mailbox   `json:"mailboxes,omitempty" doc:"Exchange Online settings of the mailboxes the application signs in to: SMTP AUTH, and app-only IMAP/POP/SMTP access."`

	// Source says where the document was read from and where each of its values stands.
	Source Source `json:"-"`
}

// Source records where a document came from. Positions are keyed by path, in the form
// "application.permissions[0].delegated[2]" (the same paths diagnostics print).
type Source struct {
	File      string
	Index     int // 0-based position of the document in its file
	Positions map[string]Pos
}

// Pos returns the position of the value at path, or of its nearest enclosing value that has
// one, so an error about a missing key still points into the right mapping.
func (s Source) Pos(path string) Pos {
	for {
		if p, ok := s.Positions[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			if p, ok := s.Positions[""]; ok {
				return p
			}
			return Pos{File: s.File}
		}
		path = path[:i]
	}
}

// Has reports whether the manifest wrote a value at path (even an empty list), which is how
// the engine tells "not managed" from "managed and empty".
func (s Source) Has(path string) bool {
	_, ok := s.Positions[path]
	return ok
}

// Audience is who may sign in to the application, in manifest words.
type Audience string

// The audiences a manifest may name; each maps to one Graph signInAudience.
const (
	SingleOrg               Audience = "single-org"
	MultipleOrgs            Audience = "multiple-orgs"
	MultipleOrgsAndPersonal Audience = "multiple-orgs-and-personal"
	Personal                Audience = "personal"
)

// Audiences returns every valid Audience in documentation order.
func Audiences() []Audience {
	return []Audience{SingleOrg, MultipleOrgs, MultipleOrgsAndPersonal, Personal}
}

// SignInAudience returns the Graph signInAudience value for a, or "" if a is not valid.
func (a Audience) SignInAudience() string {
	switch a {
	case SingleOrg:
		return "AzureADMyOrg"
	case MultipleOrgs:
		return "AzureADMultipleOrgs"
	case MultipleOrgsAndPersonal:
		return "AzureADandPersonalMicrosoftAccount"
	case Personal:
		return "PersonalMicrosoftAccount"
	}
	return ""
}

// AudienceFromSignIn maps a Graph signInAudience back to its manifest word ("" if unknown).
func AudienceFromSignIn(signInAudience string) Audience {
	for _, a := range Audiences() {
		if a.SignInAudience() == signInAudience {
			return a
		}
	}
	return ""
}

// Application is the app registration (and, through it, the enterprise app).
//
// Lists that provision owns are authoritative when the manifest writes them: what is not
// listed is removed. A key the manifest leaves out entirely (Source.Has is false) is not
// managed and is left as the tenant has it.
type Application struct {
	Name         string       `json:"name" doc:"The application's displayName."`
	UniqueName   string       `json:"uniqueName,omitempty" doc:"Optional stable key (Graph uniqueName, immutable once set); otherwise an existing app is matched by appId, then by name."`
	AppID        string       `json:"appId,omitempty" doc:"Optional: adopt an existing registration by its client id."`
	Audience     Audience     `json:"audience,omitempty" doc:"Who may sign in: single-org, multiple-orgs, multiple-orgs-and-personal or personal. Default single-org."`
	RedirectURIs RedirectURIs `json:"redirectUris,omitempty" doc:"Redirect URIs per platform."`
	Permissions  []Permission `json:"permissions,omitempty" doc:"API permissions the app requests; authoritative: what is not listed is removed."`
	AdminConsent bool         `json:"adminConsent,omitempty" doc:"Grant tenant-wide admin consent for every listed permission."`
	Secrets      []Secret     `json:"secrets,omitempty" doc:"Client secrets provision creates, delivers and rotates, recognised by name."`
	Assignments  *Assignments `json:"assignments,omitempty" doc:"Users and groups assigned to the enterprise app; authoritative."`
}

// RedirectURIs are the application's reply URLs per platform.
type RedirectURIs struct {
	Web          []string `json:"web,omitempty" doc:"Web platform redirect URIs: https, or http://localhost."`
	SPA          []string `json:"spa,omitempty" doc:"Single-page application redirect URIs."`
	PublicClient []string `json:"publicClient,omitempty" doc:"Mobile and desktop (public client) redirect URIs."`
}

// Permission is the set of permissions requested from one resource API.
type Permission struct {
	API         string   `json:"api" doc:"Display name or appId of the resource service principal, e.g. Microsoft Graph."`
	Delegated   []string `json:"delegated,omitempty" doc:"Delegated permission (scope) names, e.g. Mail.Send."`
	Application []string `json:"application,omitempty" doc:"Application permission (app role) names, e.g. SMTP.SendAsApp."`
}

// Secret is a client secret (password credential) that provision owns, recognised by name.
type Secret struct {
	Name         string      `json:"name" doc:"The credential's displayName: how provision recognises its own."`
	Lifetime     Duration    `json:"lifetime,omitempty" doc:"Validity of a new secret, at most 730d. Default 180d."`
	RotateBefore Duration    `json:"rotateBefore,omitempty" doc:"Rotate when the newest secret expires within this. Default 30d."`
	KeepPrevious *int        `json:"keepPrevious,omitempty" doc:"Older secrets of this name kept after a rotation (overlap). Default 1."`
	Store        SecretStore `json:"store" doc:"Where a new secret value is delivered; at least one sink."`
}

// Defaults for a secret whose manifest leaves them out.
const (
	DefaultLifetime     = Duration(180 * 24 * time.Hour)
	DefaultRotateBefore = Duration(30 * 24 * time.Hour)
	DefaultKeepPrevious = 1
	MaxLifetime         = Duration(730 * 24 * time.Hour)
)

// EffectiveLifetime returns Lifetime or its default.
func (s Secret) EffectiveLifetime() Duration {
	if s.Lifetime == 0 {
		return DefaultLifetime
	}
	return s.Lifetime
}

// EffectiveRotateBefore returns RotateBefore or its default.
func (s Secret) EffectiveRotateBefore() Duration {
	if s.RotateBefore == 0 {
		return DefaultRotateBefore
	}
	return s.RotateBefore
}

// EffectiveKeepPrevious returns KeepPrevious or its default.
func (s Secret) EffectiveKeepPrevious() int {
	if s.KeepPrevious == nil {
		return DefaultKeepPrevious
	}
	return *s.KeepPrevious
}

// SecretStore lists the sinks a new secret value is written to, all before anything is retired.
type SecretStore struct {
	File         string          `json:"file,omitempty" doc:"Path of a 0600 JSON file with tenantId, clientId, secret, keyId, expiresAt and endpoints."`
	KeyVault     *KeyVaultSecret `json:"keyVault,omitempty" doc:"An Azure Key Vault secret."`
	Exec         []string        `json:"exec,omitempty" doc:"A command that receives the JSON on stdin (never argv or environment) and must exit 0."`
	GitHubOutput bool            `json:"githubOutput,omitempty" doc:"In GitHub Actions, mask the value and write it to $GITHUB_OUTPUT."`
}

// Empty reports whether no sink is configured.
func (s SecretStore) Empty() bool {
	return s.File == "" && s.KeyVault == nil && len(s.Exec) == 0 && !s.GitHubOutput
}

// KeyVaultSecret names a secret in an Azure Key Vault.
type KeyVaultSecret struct {
	URL  string `json:"url" doc:"Vault URL, e.g. https://myvault.vault.azure.net."`
	Name string `json:"name" doc:"Secret name in the vault (letters, digits and dashes)."`
}

// Assignments are the users and groups assigned to the enterprise app.
type Assignments struct {
	Required *bool    `json:"required,omitempty" doc:"appRoleAssignmentRequired on the enterprise app: only assigned users may sign in."`
	Users    []string `json:"users,omitempty" doc:"User principal names or e-mail addresses."`
	Groups   []string `json:"groups,omitempty" doc:"Group display names or object ids."`
}

// SendAs grants trustees the right to send as a mailbox (Exchange Online recipient permission).
type SendAs struct {
	Mailbox   string   `json:"mailbox" doc:"The mailbox sent as (UPN or e-mail address)."`
	Trustees  []string `json:"trustees" doc:"Users (or mail-enabled security groups) who may send as the mailbox."`
	Exclusive bool     `json:"exclusive,omitempty" doc:"true: trustees not listed lose SendAs on this mailbox."`
}

// Mailbox is the Exchange Online side of a mailbox the application signs in to.
//
// AppAccess is authoritative on the listed mailboxes: the application's service principal
// holds FullAccess where it is true and loses it where it is false (or left out); other
// users' permissions on the mailbox are never touched.
type Mailbox struct {
	Address   string   `json:"address" doc:"The mailbox (UPN or e-mail address), e.g. admin@contoso.com."`
	SMTPAuth  SMTPAuth `json:"smtpAuth,omitempty" doc:"The mailbox's own SMTP AUTH switch (Set-CASMailbox SmtpClientAuthenticationDisabled): enabled, disabled, or organization to follow the organisation's setting (Set-TransportConfig). Left out: left as it is."`
	AppAccess bool     `json:"appAccess,omitempty" doc:"true: app-only IMAP, POP and SMTP for this application on this mailbox (its service principal registered in Exchange Online and holding FullAccess); false: that access is removed."`
}

// SMTPAuth is a mailbox's SMTP AUTH setting, in manifest words; "" leaves it as it is.
type SMTPAuth string

// The SMTP AUTH settings a manifest may name.
const (
	SMTPAuthEnabled      SMTPAuth = "enabled"
	SMTPAuthDisabled     SMTPAuth = "disabled"
	SMTPAuthOrganization SMTPAuth = "organization"
)

// SMTPAuthSettings returns every valid SMTPAuth in documentation order.
func SMTPAuthSettings() []SMTPAuth {
	return []SMTPAuth{SMTPAuthEnabled, SMTPAuthDisabled, SMTPAuthOrganization}
}

// Valid reports whether a is one of the settings a manifest may name ("" is not one: it
// means the key was left out).
func (a SMTPAuth) Valid() bool {
	for _, s := range SMTPAuthSettings() {
		if a == s {
			return true
		}
	}
	return false
}

// Duration is a manifest duration such as 730d or 12h.
type Duration time.Duration

// String renders d in days when it is a whole number of days, else in hours (e.g. 730d, 36h).
func (d Duration) String() string {
	td := time.Duration(d)
	day := 24 * time.Hour
	if td%day == 0 {
		return fmt.Sprintf("%dd", td/day)
	}
	if td%time.Hour == 0 {
		return fmt.Sprintf("%dh", td/time.Hour)
	}
	return td.String()
}

// ParseDuration reads a manifest duration: a whole number followed by d (days) or h (hours).
func ParseDuration(s string) (Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("invalid duration %q: write a whole number of days or hours, such as 730d or 12h", s)
	}
	unit := s[len(s)-1]
	var mult time.Duration
	switch unit {
	case 'd':
		mult = 24 * time.Hour
	case 'h':
		mult = time.Hour
	default:
		return 0, fmt.Errorf("invalid duration %q: write a whole number of days or hours, such as 730d or 12h", s)
	}
	n := 0
	for _, c := range s[:len(s)-1] {
		if c < '0' || c > '9' || n > 1_000_000 {
			return 0, fmt.Errorf("invalid duration %q: write a whole number of days or hours, such as 730d or 12h", s)
		}
		n = n*10 + int(c-'0')
	}
	return Duration(time.Duration(n) * mult), nil
}

// MarshalText writes the manifest form, so JSON and YAML output round-trip.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads the manifest form.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// IsGUID reports whether s has the shape of a directory id (tenant id, appId, object id):
// 8-4-4-4-12 hexadecimal digits. Values of that shape are ids; anything else is a name.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
