package manifests

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Load parses a manifest file's content and validates it against the built-in catalogue. It
// returns every document it could read and every problem found, sorted by position; the
// documents are fit for use only when the diagnostics have no errors. A file without any
// document is an error: a manifest that manages nothing is more likely a mistake than a wish.
func Load(file string, data []byte, env func(string) (string, bool)) ([]*Document, Diagnostics) {
	docs, diags, broken := parse(file, data, env)
	if len(docs) == 0 && len(diags) == 0 {
		diags = append(diags, Diagnostic{Pos: Pos{File: file, Line: 1, Col: 1}, Message: "no manifest document in this file: start one with apiVersion: " + APIVersion})
	}
	v := newValidator(BuiltinCatalogue())
	for _, doc := range docs {
		v.document(doc, broken[doc])
	}
	v.acrossDocuments(docs)
	diags = append(diags, v.diags...)
	diags.sort()
	return docs, diags
}

// LoadFile reads the manifest at path with ReadFile and loads it like Load; diagnostics name
// path as given. A file that cannot be read is one diagnostic; callers that must tell an I/O
// error from an invalid manifest call ReadFile and Load themselves.
func LoadFile(path string, env func(string) (string, bool)) ([]*Document, Diagnostics) {
	data, err := ReadFile(path)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return nil, Diagnostics{{Pos: Pos{File: path}, Message: fmt.Sprintf("cannot read the manifest: %v", err)}}
	}
	return Load(path, data, env)
}

// Validate checks what decoded documents mean: every rule, every problem, none of them
// stopping the others. cat knows permission names; with a nil cat names are not checked.
func Validate(docs []*Document, cat *Catalogue) Diagnostics {
	v := newValidator(cat)
	for _, doc := range docs {
		v.document(doc, nil)
	}
	v.acrossDocuments(docs)
	v.diags.sort()
	return v.diags
}

// patterns are compiled once per validation run (the package keeps no globals).
type patterns struct {
	uniqueName, vaultSecretName, vaultName, emailLocal *regexp.Regexp
}

func newPatterns() patterns {
	return patterns{
		uniqueName:      regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$`),
		vaultSecretName: regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`),
		vaultName:       regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$`),
		emailLocal:      regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"),
	}
}

type validator struct {
	cat    *Catalogue
	re     patterns
	diags  Diagnostics
	doc    *Document
	broken map[string]bool
}

func newValidator(cat *Catalogue) *validator {
	return &validator{cat: cat, re: newPatterns()}
}

// add records a problem at path, unless decoding already reported one there or above it: a
// value that could not be read is empty, and saying so again would only confuse.
func (v *validator) add(sev Severity, path, format string, args ...any) {
	if v.suppressed(path) {
		return
	}
	v.diags = append(v.diags, Diagnostic{Pos: v.doc.Source.Pos(path), Path: path, Message: fmt.Sprintf(format, args...), Severity: sev})
}

func (v *validator) suppressed(path string) bool {
	for {
		if v.broken[path] {
			return true
		}
		if path == "" {
			return false
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			i = 0
		}
		path = path[:i]
	}
}

func (v *validator) errorf(path, format string, args ...any) { v.add(Error, path, format, args...) }

func (v *validator) warnf(path, format string, args ...any) { v.add(Warning, path, format, args...) }

func (v *validator) line(path string) int { return v.doc.Source.Pos(path).Line }

func (v *validator) has(path string) bool { return v.doc.Source.Has(path) }

func (v *validator) document(doc *Document, broken map[string]bool) {
	v.doc, v.broken = doc, broken
	switch {
	case doc.APIVersion == "" && !v.has("apiVersion"):
		v.errorf("apiVersion", "missing: add \"apiVersion: %s\" at the top of the document", APIVersion)
	case doc.APIVersion != APIVersion:
		v.errorf("apiVersion", "unsupported apiVersion %q: use %s", doc.APIVersion, APIVersion)
	}
	if doc.Tenant != "" && !IsGUID(doc.Tenant) && !isDomainName(doc.Tenant) {
		v.errorf("tenant", "%q is neither a tenant id (GUID) nor a domain name: write e.g. contoso.onmicrosoft.com or the directory id", doc.Tenant)
	}
	if !v.has("application") {
		v.errorf("application", "missing: add an application mapping with at least a name")
	} else {
		v.application(doc.Application)
	}
	v.sendAs(doc.SendAs)
	v.mailboxes(doc.Mailboxes)
}

func (v *validator) application(app Application) {
	if strings.TrimSpace(app.Name) == "" {
		v.errorf("application.name", "must not be empty: set the application's display name, e.g. name: OpenFire")
	}
	if app.UniqueName != "" && !v.re.uniqueName.MatchString(app.UniqueName) {
		v.errorf("application.uniqueName", "%q is not a valid uniqueName: use letters, digits, '.', '-' and '_' (at most 120, starting with a letter or digit), e.g. openfire-mail", app.UniqueName)
	}
	if app.AppID != "" && !IsGUID(app.AppID) {
		v.errorf("application.appId", "%q is not a GUID: write the application (client) id, e.g. 11111111-2222-3333-4444-555555555555", app.AppID)
	}
	if app.Audience != "" && app.Audience.SignInAudience() == "" {
		v.errorf("application.audience", "%s", enumMessage("audience", string(app.Audience), audienceNames()))
	}
	v.redirectURIs("application.redirectUris.web", app.RedirectURIs.Web, true)
	v.redirectURIs("application.redirectUris.spa", app.RedirectURIs.SPA, true)
	v.redirectURIs("application.redirectUris.publicClient", app.RedirectURIs.PublicClient, false)
	v.permissions(app.Permissions)
	v.secrets(app.Secrets)
	if app.Assignments != nil {
		v.addresses("application.assignments.users", app.Assignments.Users, "user")
		v.names("application.assignments.groups", app.Assignments.Groups, "group")
	}
}

func audienceNames() []string {
	var out []string
	for _, a := range Audiences() {
		out = append(out, string(a))
	}
	return out
}

func enumMessage(what, got string, valid []string) string {
	msg := fmt.Sprintf("unknown %s %q", what, got)
	if s := ClosestNames(got, valid, 1); len(s) > 0 {
		msg += fmt.Sprintf(": did you mean %q?", s[0])
	}
	return msg + " (use one of " + strings.Join(valid, ", ") + ")"
}

// maxRedirectURILength is the longest redirect URI Microsoft Entra accepts.
const maxRedirectURILength = 256

func (v *validator) redirectURIs(path string, uris []string, web bool) {
	seen := map[string]string{}
	for i, raw := range uris {
		p := fmt.Sprintf("%s[%d]", path, i)
		if first, dup := seen[raw]; dup {
			v.errorf(p, "duplicate redirect URI (also at line %d): remove one", v.line(first))
			continue
		}
		seen[raw] = p
		if msg := redirectURIProblem(raw, web); msg != "" {
			v.errorf(p, "%s", msg)
		}
	}
}

// redirectURIProblem says what is wrong with a redirect URI, or "" when nothing is. Web and
// single-page app URIs receive authorization codes over the network, hence https; loopback
// is the one place plain http is accepted, for local development.
func redirectURIProblem(raw string, web bool) string {
	const fix = "use https, or http://localhost for local development"
	switch {
	case strings.TrimSpace(raw) == "":
		return "must not be empty"
	case len(raw) > maxRedirectURILength:
		return fmt.Sprintf("is %d characters long; Microsoft Entra accepts at most %d", len(raw), maxRedirectURILength)
	case strings.Contains(raw, "*"):
		return "wildcards (*) are not allowed in redirect URIs: list each URI in full"
	case strings.Contains(raw, "#"):
		return "must not contain a fragment (#...): the authorization response is appended to the URI"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || (u.Host == "" && (web || u.Opaque == "" && u.Path == "")) {
		example := "https://app.example.com/callback"
		if !web {
			example = "myapp://auth or http://localhost"
		}
		return fmt.Sprintf("%q is not an absolute URL: write the full address, e.g. %s", raw, example)
	}
	if !web {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "http is only allowed for localhost: " + fix
	}
	return fmt.Sprintf("scheme %q is not allowed here: %s", u.Scheme, fix)
}

func isLoopback(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

func (v *validator) permissions(perms []Permission) {
	seen := map[string]string{}
	for i, p := range perms {
		path := fmt.Sprintf("application.permissions[%d]", i)
		api := strings.TrimSpace(p.API)
		if api == "" {
			v.errorf(path+".api", "must not be empty: write the resource's display name (Microsoft Graph) or its appId")
		} else {
			key := strings.ToLower(api)
			if r, ok := v.cat.Resource(api); ok {
				key = r.AppID
			}
			if first, dup := seen[key]; dup {
				v.errorf(path+".api", "%s is already listed at line %d: merge the two entries", api, v.line(first))
			} else {
				seen[key] = path + ".api"
			}
		}
		if len(p.Delegated) == 0 && len(p.Application) == 0 {
			v.warnf(path, "lists no delegated or application permission: add some, or remove the entry")
		}
		v.permissionNames(path+".delegated", api, p.Delegated, true)
		v.permissionNames(path+".application", api, p.Application, false)
	}
}

// permissionNames checks one list of permission names of one api. The catalogue is offline
// and partial, so only mistakes it is sure of are errors (a name in the wrong list, the wrong
// case, a one-letter typo); a merely unknown name close to a known one is a warning, and a
// name of an api it does not know is left to the tenant at plan time.
func (v *validator) permissionNames(path, api string, names []string, delegated bool) {
	res, known := v.cat.Resource(api)
	same, other := res.Roles, res.Scopes
	kind, otherKind, otherList := "application", "a delegated permission (scope)", "delegated"
	if delegated {
		same, other = res.Scopes, res.Roles
		kind, otherKind, otherList = "delegated", "an application permission (app role)", "application"
	}
	seen := map[string]string{}
	for i, name := range names {
		p := fmt.Sprintf("%s[%d]", path, i)
		if strings.TrimSpace(name) == "" {
			v.errorf(p, "must not be empty")
			continue
		}
		if first, dup := seen[name]; dup {
			v.errorf(p, "duplicate permission %s (also at line %d): remove one", name, v.line(first))
			continue
		}
		seen[name] = p
		if !known {
			continue
		}
		if _, ok := findEntry(same, name); ok {
			continue
		}
		if e, ok := findEntry(other, name); ok {
			v.errorf(p, "%s is %s of %s; move it to %s", e.Value, otherKind, res.DisplayName, otherList)
			continue
		}
		if e, ok := findFold(same, name); ok {
			v.errorf(p, "unknown %s %s permission %q: did you mean %q? (permission names are case-sensitive)", res.DisplayName, kind, name, e.Value)
			continue
		}
		if e, ok := findFold(other, name); ok {
			v.errorf(p, "%q: %s is %s of %s (and names are case-sensitive); move it to %s", name, e.Value, otherKind, res.DisplayName, otherList)
			continue
		}
		near := ClosestNames(name, entryValues(same), 1)
		if len(near) == 0 {
			continue
		}
		if editDistance(strings.ToLower(name), strings.ToLower(near[0]), 1) <= 1 {
			v.errorf(p, "unknown %s %s permission %q: did you mean %q?", res.DisplayName, kind, name, near[0])
			continue
		}
		v.warnf(p, "%q is not in the built-in catalogue of %s %s permissions: did you mean %q? (the tenant decides at plan time)", name, res.DisplayName, kind, near[0])
	}
}

func findFold(entries []CatalogueEntry, value string) (CatalogueEntry, bool) {
	for _, e := range entries {
		if strings.EqualFold(e.Value, value) {
			return e, true
		}
	}
	return CatalogueEntry{}, false
}

func (v *validator) secrets(secrets []Secret) {
	seen := map[string]string{}
	for i, s := range secrets {
		path := fmt.Sprintf("application.secrets[%d]", i)
		switch {
		case strings.TrimSpace(s.Name) == "":
			v.errorf(path+".name", "must not be empty: provision recognises its secrets by this name")
		case seen[s.Name] != "":
			v.errorf(path+".name", "duplicate secret name %q (also at line %d): secrets are recognised by name, so each needs its own", s.Name, v.line(seen[s.Name]))
		default:
			seen[s.Name] = path + ".name"
		}
		v.durations(path, s)
		if s.KeepPrevious != nil && *s.KeepPrevious < 0 {
			v.errorf(path+".keepPrevious", "must be 0 or more (the number of older secrets kept after a rotation)")
		}
		v.store(path+".store", s.Store)
	}
}

func (v *validator) durations(path string, s Secret) {
	lifetimeOK := !v.broken[path+".lifetime"]
	switch {
	case v.has(path+".lifetime") && s.Lifetime <= 0:
		v.errorf(path+".lifetime", "must be greater than zero, e.g. 180d")
		lifetimeOK = false
	case s.Lifetime > MaxLifetime:
		v.errorf(path+".lifetime", "%s is longer than %s, the longest client secret lifetime the Azure portal offers and provision allows: use at most %s", s.Lifetime, MaxLifetime, MaxLifetime)
		lifetimeOK = false
	}
	switch {
	case v.has(path+".rotateBefore") && s.RotateBefore <= 0:
		v.errorf(path+".rotateBefore", "must be greater than zero, e.g. 30d")
	case lifetimeOK && s.EffectiveRotateBefore() >= s.EffectiveLifetime():
		rotate, lifetime, at := "rotateBefore "+s.EffectiveRotateBefore().String(), "lifetime "+s.EffectiveLifetime().String(), path+".rotateBefore"
		if s.RotateBefore == 0 {
			rotate, at = "the default rotateBefore "+s.EffectiveRotateBefore().String(), path+".lifetime"
		}
		if s.Lifetime == 0 {
			lifetime = "the default lifetime " + s.EffectiveLifetime().String()
		}
		v.errorf(at, "%s is not shorter than %s, so every run would rotate: lower rotateBefore or raise lifetime", rotate, lifetime)
	}
}

// vaultSuffixes are the DNS suffixes of Azure Key Vault and Managed HSM in the public and
// sovereign clouds; under them a vault name follows Azure's naming rules.
func vaultSuffixes() []string {
	return []string{
		".vault.azure.net", ".vault.azure.cn", ".vault.usgovcloudapi.net", ".vault.microsoftazure.de",
		".managedhsm.azure.net", ".managedhsm.azure.cn", ".managedhsm.usgovcloudapi.net",
	}
}

func (v *validator) store(path string, st SecretStore) {
	if st.Empty() {
		v.errorf(path, "no sink for the secret value: add at least one of file, keyVault, exec or githubOutput under store")
	}
	if v.has(path+".file") && strings.TrimSpace(st.File) == "" {
		v.errorf(path+".file", "must not be empty: write the path of the credentials file, e.g. ./credentials.json")
	}
	if st.KeyVault != nil {
		if msg := v.vaultURLProblem(st.KeyVault.URL); msg != "" {
			v.errorf(path+".keyVault.url", "%s", msg)
		}
		if !v.re.vaultSecretName.MatchString(st.KeyVault.Name) {
			v.errorf(path+".keyVault.name", "%q is not a valid Key Vault secret name: use 1 to 127 letters, digits and dashes, e.g. openfire-client-secret", st.KeyVault.Name)
		}
	} else if v.has(path + ".keyVault") {
		v.errorf(path+".keyVault", "is empty: write {url: https://NAME.vault.azure.net, name: SECRET-NAME}")
	}
	if v.has(path+".exec") && len(st.Exec) == 0 {
		v.errorf(path+".exec", "needs a program: write [program, args...]; the value arrives on its stdin")
	} else if len(st.Exec) > 0 && strings.TrimSpace(st.Exec[0]) == "" {
		v.errorf(path+".exec[0]", "the program must not be empty: write [program, args...]")
	}
}

func (v *validator) vaultURLProblem(raw string) string {
	const fix = "write https://NAME.vault.azure.net (no path)"
	if strings.TrimSpace(raw) == "" {
		return "must not be empty: " + fix
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return fmt.Sprintf("%q is not a Key Vault URL: %s", raw, fix)
	case u.Scheme != "https":
		return fmt.Sprintf("%q must use https: %s", raw, fix)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Sprintf("%q has a path, query or user: the vault URL is only the address, %s; the secret goes in name", raw, fix)
	}
	host := strings.ToLower(u.Hostname())
	for _, suffix := range vaultSuffixes() {
		if name, ok := strings.CutSuffix(host, suffix); ok {
			if !v.re.vaultName.MatchString(name) || strings.Contains(name, "--") {
				return fmt.Sprintf("%q is not a valid vault name: use 3 to 24 letters, digits and dashes, starting with a letter", name)
			}
		}
	}
	return ""
}

// addresses checks a list of user principal names or e-mail addresses.
func (v *validator) addresses(path string, list []string, what string) {
	seen := map[string]string{}
	for i, a := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		key := strings.ToLower(a)
		if first, dup := seen[key]; dup {
			v.errorf(p, "duplicate %s %s (also at line %d): remove one", what, a, v.line(first))
			continue
		}
		seen[key] = p
		if !v.isAddress(a) {
			v.errorf(p, "%q is not a user principal name or e-mail address: write name@domain, e.g. jm@contoso.com", a)
		}
	}
}

// names checks a list of display names or ids: not empty, no duplicates.
func (v *validator) names(path string, list []string, what string) {
	seen := map[string]string{}
	for i, n := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		key := strings.ToLower(strings.TrimSpace(n))
		switch {
		case key == "":
			v.errorf(p, "must not be empty: write the %s's display name or object id", what)
		case seen[key] != "":
			v.errorf(p, "duplicate %s %s (also at line %d): remove one", what, n, v.line(seen[key]))
		default:
			seen[key] = p
		}
	}
}

func (v *validator) sendAs(entries []SendAs) {
	seen := map[string]string{}
	for i, e := range entries {
		path := fmt.Sprintf("sendAs[%d]", i)
		key := strings.ToLower(e.Mailbox)
		switch {
		case strings.TrimSpace(e.Mailbox) == "":
			v.errorf(path+".mailbox", "must not be empty: write the address of the mailbox sent as")
		case seen[key] != "":
			v.errorf(path+".mailbox", "mailbox %s is already listed at line %d: merge the two entries", e.Mailbox, v.line(seen[key]))
		case !v.isAddress(e.Mailbox):
			v.errorf(path+".mailbox", "%q is not a user principal name or e-mail address: write name@domain, e.g. jm@contoso.com", e.Mailbox)
			seen[key] = path + ".mailbox"
		default:
			seen[key] = path + ".mailbox"
		}
		if len(e.Trustees) == 0 {
			v.errorf(path+".trustees", "no trustees: list at least one user who may send as %s", orSomething(e.Mailbox, "this mailbox"))
		}
		v.addresses(path+".trustees", e.Trustees, "trustee")
	}
}

func (v *validator) mailboxes(entries []Mailbox) {
	seen := map[string]string{}
	for i, m := range entries {
		path := fmt.Sprintf("mailboxes[%d]", i)
		key := strings.ToLower(strings.TrimSpace(m.Address))
		switch {
		case key == "" && !v.has(path+".address"):
			v.errorf(path+".address", "missing: add address: with the mailbox the application signs in to, e.g. address: admin@contoso.com")
		case key == "":
			v.errorf(path+".address", "must not be empty: write the address of the mailbox the application signs in to, e.g. admin@contoso.com")
		case seen[key] != "":
			v.errorf(path+".address", "mailbox %s is already listed at line %d: merge the two entries", m.Address, v.line(seen[key]))
		default:
			seen[key] = path + ".address"
			if !v.isAddress(m.Address) {
				v.errorf(path+".address", "%q is not a user principal name or e-mail address: write name@domain, e.g. admin@contoso.com", m.Address)
			}
		}
		if m.SMTPAuth != "" && !m.SMTPAuth.Valid() {
			v.errorf(path+".smtpAuth", "%s; leave smtpAuth out to keep the mailbox's current setting", enumMessage("smtpAuth setting", string(m.SMTPAuth), smtpAuthNames()))
		} else if m.SMTPAuth == "" && v.has(path+".smtpAuth") {
			v.errorf(path+".smtpAuth", "is empty: write enabled, disabled or organization, or leave smtpAuth out to keep the mailbox's current setting")
		}
	}
}

func smtpAuthNames() []string {
	var out []string
	for _, s := range SMTPAuthSettings() {
		out = append(out, string(s))
	}
	return out
}

func orSomething(s, fallback string) string {
	if strings.TrimSpace(s) == "" {
		return fallback
	}
	return s
}

// isAddress accepts a user principal name or e-mail address: a dot-atom local part (which
// covers guest UPNs such as jo_fabrikam.com#EXT#@contoso.onmicrosoft.com) at a domain name.
func (v *validator) isAddress(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || len(local) > 113 || !v.re.emailLocal.MatchString(local) {
		return false
	}
	return isDomainName(domain)
}

// isDomainName reports whether s is a DNS name of at least two labels.
func isDomainName(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// acrossDocuments reports one application declared twice: both documents would fight over it.
func (v *validator) acrossDocuments(docs []*Document) {
	type first struct {
		doc  *Document
		path string
	}
	seen := map[string]first{}
	for _, doc := range docs {
		app := doc.Application
		var keys [][2]string
		if app.UniqueName != "" {
			keys = append(keys, [2]string{"uniqueName:" + app.UniqueName, "application.uniqueName"})
		}
		if app.AppID != "" {
			keys = append(keys, [2]string{"appId:" + strings.ToLower(app.AppID), "application.appId"})
		}
		if len(keys) == 0 && strings.TrimSpace(app.Name) != "" {
			keys = append(keys, [2]string{"name:" + app.Name, "application.name"})
		}
		for _, k := range keys {
			f, dup := seen[k[0]]
			if !dup {
				seen[k[0]] = first{doc, k[1]}
				continue
			}
			v.doc, v.broken = doc, nil
			v.errorf(k[1], "this application is already declared in document %d, line %d: declare each application once", f.doc.Source.Index+1, f.doc.Source.Pos(f.path).Line)
			break
		}
	}
}
