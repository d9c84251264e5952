package manifests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func ptr[T any](v T) *T { return &v }

func ignoreSource() cmp.Option { return cmpopts.IgnoreFields(Document{}, "Source") }

func TestLoadExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "apiVersion: "+APIVersion) {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			docs, diags := LoadFile(f, noEnv)
			if len(diags) != 0 {
				t.Errorf("LoadFile(%s): want no diagnostics, got\n%v", f, diags)
			}
			if len(docs) == 0 {
				t.Errorf("LoadFile(%s): no document", f)
			}
		})
	}
}

// TestLoadOpenFire checks the example that replaces the OpenFire procedure decodes to exactly
// the application the procedure builds by hand.
func TestLoadOpenFire(t *testing.T) {
	cases := map[string]struct {
		reason    string
		env       map[string]string
		wantWeb   string
		wantCreds string
	}{
		"Default": {
			reason:    "with OPENFIRE_BASE_URL unset the documentation's base is used, and the credentials go outside the working directory",
			wantWeb:   "https://mabase.openfire.fr/microsoft_outlook/confirm",
			wantCreds: "../openfire-credentials.json",
		},
		"FromEnvironment": {
			reason:    "OPENFIRE_BASE_URL points the redirect URI at the customer's base, OPENFIRE_CREDENTIALS_FILE the credentials where they belong",
			env:       map[string]string{"OPENFIRE_BASE_URL": "https://acme.openfire.fr", "OPENFIRE_CREDENTIALS_FILE": "/etc/openfire/credentials.json"},
			wantWeb:   "https://acme.openfire.fr/microsoft_outlook/confirm",
			wantCreds: "/etc/openfire/credentials.json",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			docs, diags := LoadFile(filepath.Join("..", "examples", "openfire.yaml"), envOf(tc.env))
			if diags.HasErrors() {
				t.Fatalf("%s\nLoadFile: %v", tc.reason, diags)
			}
			want := []*Document{{
				APIVersion: APIVersion,
				Tenant:     "office.openfire.pro",
				Application: Application{
					Name:         "OpenFire",
					UniqueName:   "openfire-mail",
					Audience:     MultipleOrgs,
					RedirectURIs: RedirectURIs{Web: []string{tc.wantWeb}},
					Permissions: []Permission{
						{API: "Microsoft Graph", Delegated: []string{"User.Read", "User.Read.All", "Mail.Send", "Mail.Send.Shared", "Mail.ReadWrite", "offline_access", "SMTP.Send", "POP.AccessAsUser.All", "IMAP.AccessAsUser.All"}},
						{API: "Office 365 Exchange Online", Delegated: []string{"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"}, Application: []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"}},
					},
					AdminConsent: true,
					Secrets: []Secret{{
						Name:         "OpenFire Mail",
						Lifetime:     MaxLifetime,
						RotateBefore: Duration(30 * 24 * 3600 * 1e9),
						KeepPrevious: ptr(1),
						Store:        SecretStore{File: tc.wantCreds},
					}},
					Assignments: &Assignments{Users: []string{"jm@office.openfire.pro", "jojo@office.openfire.pro"}},
				},
				SendAs: []SendAs{{Mailbox: "jm@office.openfire.pro", Trustees: []string{"jojo@office.openfire.pro"}}},
				Mailboxes: []Mailbox{{Address: "jm@office.openfire.pro", SMTPAuth: SMTPAuthEnabled, AppAccess: true},
					{Address: "jojo@office.openfire.pro", SMTPAuth: SMTPAuthEnabled}},
			}}
			if diff := cmp.Diff(want, docs, ignoreSource()); diff != "" {
				t.Errorf("%s\nLoadFile(openfire.yaml) (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	cases := map[string]struct {
		reason string
		yaml   string
		env    map[string]string
		want   []*Document
	}{
		"Minimal": {
			reason: "apiVersion and a name are enough",
			yaml:   "apiVersion: provision/v1\napplication:\n  name: A\n",
			want:   []*Document{{APIVersion: APIVersion, Application: Application{Name: "A"}}},
		},
		"SeveralDocumentsEmptyOnesSkipped": {
			reason: "--- separates documents; empty and comment-only documents are skipped",
			yaml:   "---\n# nothing\n---\napiVersion: provision/v1\napplication: {name: A}\n---\n---\napiVersion: provision/v1\napplication: {name: B}\n",
			want: []*Document{
				{APIVersion: APIVersion, Application: Application{Name: "A"}},
				{APIVersion: APIVersion, Application: Application{Name: "B"}},
			},
		},
		"EmptyListsAreNotNil": {
			reason: "an empty list written in the manifest means 'managed and empty', so it decodes to a non-nil slice",
			yaml:   "apiVersion: provision/v1\napplication:\n  name: A\n  redirectUris: {web: [], spa: []}\n  permissions: []\n  assignments: {users: [], groups: []}\nsendAs: []\n",
			want: []*Document{{
				APIVersion: APIVersion,
				Application: Application{
					Name:         "A",
					RedirectURIs: RedirectURIs{Web: []string{}, SPA: []string{}},
					Permissions:  []Permission{},
					Assignments:  &Assignments{Users: []string{}, Groups: []string{}},
				},
				SendAs: []SendAs{},
			}},
		},
		"TypedScalarsFromEnvironment": {
			reason: "a substituted plain scalar is typed as if written out: booleans and numbers work from variables",
			yaml:   "apiVersion: provision/v1\napplication:\n  name: ${NAME}\n  adminConsent: ${CONSENT:-true}\n  secrets:\n    - name: s\n      lifetime: ${LIFETIME}\n      keepPrevious: ${KEEP}\n      store: {githubOutput: true}\n",
			env:    map[string]string{"NAME": "From Env", "LIFETIME": "90d", "KEEP": "2"},
			want: []*Document{{
				APIVersion: APIVersion,
				Application: Application{
					Name:         "From Env",
					AdminConsent: true,
					Secrets: []Secret{{
						Name: "s", Lifetime: Duration(90 * 24 * 3600 * 1e9), KeepPrevious: ptr(2),
						Store: SecretStore{GitHubOutput: true},
					}},
				},
			}},
		},
		"AliasesFollowed": {
			reason: "anchors and aliases are plain YAML and are followed",
			yaml:   "apiVersion: provision/v1\napplication:\n  name: A\n  assignments:\n    users: &people [a@contoso.com]\nsendAs:\n  - mailbox: m@contoso.com\n    trustees: *people\n",
			want: []*Document{{
				APIVersion:  APIVersion,
				Application: Application{Name: "A", Assignments: &Assignments{Users: []string{"a@contoso.com"}}},
				SendAs:      []SendAs{{Mailbox: "m@contoso.com", Trustees: []string{"a@contoso.com"}}},
			}},
		},
		"Mailboxes": {
			reason: "each mailbox setting decodes; smtpAuth left out is empty (left alone), appAccess from a variable is typed",
			yaml:   "apiVersion: provision/v1\napplication: {name: A}\nmailboxes:\n  - address: admin@contoso.com\n    smtpAuth: enabled\n    appAccess: ${APP_ACCESS:-true}\n  - address: other@contoso.com\n    smtpAuth: organization\n  - address: third@contoso.com\n    appAccess: false\n",
			want: []*Document{{
				APIVersion:  APIVersion,
				Application: Application{Name: "A"},
				Mailboxes: []Mailbox{
					{Address: "admin@contoso.com", SMTPAuth: SMTPAuthEnabled, AppAccess: true},
					{Address: "other@contoso.com", SMTPAuth: SMTPAuthOrganization},
					{Address: "third@contoso.com"},
				},
			}},
		},
		"PointersAndFalse": {
			reason: "required: false and keepPrevious: 0 are kept apart from 'not written'",
			yaml:   "apiVersion: provision/v1\napplication:\n  name: A\n  assignments: {required: false}\n  secrets: [{name: s, keepPrevious: 0, store: {file: f}}]\n",
			want: []*Document{{
				APIVersion: APIVersion,
				Application: Application{
					Name:        "A",
					Assignments: &Assignments{Required: ptr(false)},
					Secrets:     []Secret{{Name: "s", KeepPrevious: ptr(0), Store: SecretStore{File: "f"}}},
				},
			}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			docs, diags := Load("m.yaml", []byte(tc.yaml), envOf(tc.env))
			if len(diags) != 0 {
				t.Fatalf("%s\nLoad: want no diagnostics, got\n%v", tc.reason, diags)
			}
			if diff := cmp.Diff(tc.want, docs, ignoreSource()); diff != "" {
				t.Errorf("%s\nLoad (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	env := envOf(map[string]string{"HOST": "app.example.com", "EMPTY": "", "SECRETISH": "s3cr3t"})
	cases := map[string]struct {
		reason string
		in     string
		want   string
		errs   []substitutionError
	}{
		"NoReference":      {reason: "text without ${ is unchanged", in: "https://a/$x", want: "https://a/$x"},
		"Set":              {reason: "a set variable is replaced", in: "https://${HOST}/cb", want: "https://app.example.com/cb"},
		"DefaultUnused":    {reason: "the default applies only when unset or empty", in: "${HOST:-other}", want: "app.example.com"},
		"DefaultUsed":      {reason: "an unset variable takes the default", in: "${NOPE:-https://x}/y", want: "https://x/y"},
		"EmptyDefault":     {reason: "an empty default is allowed", in: "a${NOPE:-}b", want: "ab"},
		"EmptyWithDefault": {reason: "as in the shell, :- also replaces a set but empty variable", in: "${EMPTY:-d}", want: "d"},
		"EmptyNoDefault":   {reason: "a set but empty variable without default is empty", in: "a${EMPTY}b", want: "ab"},
		"Escape":           {reason: "$${ is a literal ${ and is not expanded", in: "$${HOST} ${HOST}", want: "${HOST} app.example.com"},
		"Several":          {reason: "every reference is replaced", in: "${HOST}${HOST}", want: "app.example.comapp.example.com"},
		"Unset": {
			reason: "an unset variable is an error naming it, at the $",
			in:     "x ${NOPE}", want: "x ",
			errs: []substitutionError{{2, "environment variable NOPE is not set: set it, or write ${NOPE:-default} to give a default"}},
		},
		"AllErrorsReported": {
			reason: "every bad reference is reported, not only the first",
			in:     "${A} ${B-x} ${C",
			want:   "  ${C",
			errs: []substitutionError{
				{0, "environment variable A is not set: set it, or write ${A:-default} to give a default"},
				{5, "invalid reference ${B-x}: write ${NAME} or ${NAME:-default} with NAME made of letters, digits and _, or $${ for a literal ${"},
				{12, "unterminated ${: close the reference with }, or write $${ for a literal ${"},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, errs := substitute(tc.in, env)
			if got != tc.want {
				t.Errorf("%s\nsubstitute(%q) = %q, want %q", tc.reason, tc.in, got, tc.want)
			}
			if diff := cmp.Diff(tc.errs, errs, cmp.AllowUnexported(substitutionError{})); diff != "" {
				t.Errorf("%s\nsubstitute(%q) errors (-want +got):\n%s", tc.reason, tc.in, diff)
			}
			for _, e := range errs {
				if strings.Contains(e.message, "s3cr3t") {
					t.Errorf("an error message carries a variable's value: %s", e.message)
				}
			}
		})
	}
}

func TestPositions(t *testing.T) {
	src := `apiVersion: provision/v1
application:
  name: OpenFire
  redirectUris:
    spa: []
  permissions:
    - api: Microsoft Graph
      delegated: [User.Read, Mail.Send]
sendAs:
  - mailbox: jm@contoso.com
    trustees:
      - jo@contoso.com
mailboxes:
  - address: admin@contoso.com
    smtpAuth: enabled
    appAccess: true
`
	docs, diags := Parse("m.yaml", []byte(src), noEnv)
	if len(diags) != 0 || len(docs) != 1 {
		t.Fatalf("Parse: %d documents, diagnostics %v", len(docs), diags)
	}
	at := func(line, col int) Pos { return Pos{File: "m.yaml", Line: line, Col: col} }
	want := map[string]Pos{
		"":                                        at(1, 1),
		"apiVersion":                              at(1, 13),
		"application":                             at(3, 3),
		"application.name":                        at(3, 9),
		"application.redirectUris":                at(5, 5),
		"application.redirectUris.spa":            at(5, 10),
		"application.permissions":                 at(7, 5),
		"application.permissions[0]":              at(7, 7),
		"application.permissions[0].api":          at(7, 12),
		"application.permissions[0].delegated":    at(8, 18),
		"application.permissions[0].delegated[0]": at(8, 19),
		"application.permissions[0].delegated[1]": at(8, 30),
		"sendAs":                 at(10, 3),
		"sendAs[0]":              at(10, 5),
		"sendAs[0].mailbox":      at(10, 14),
		"sendAs[0].trustees":     at(12, 7),
		"sendAs[0].trustees[0]":  at(12, 9),
		"mailboxes":              at(14, 3),
		"mailboxes[0]":           at(14, 5),
		"mailboxes[0].address":   at(14, 14),
		"mailboxes[0].smtpAuth":  at(15, 15),
		"mailboxes[0].appAccess": at(16, 16),
	}
	doc := docs[0]
	if diff := cmp.Diff(want, doc.Source.Positions); diff != "" {
		t.Errorf("Positions (-want +got):\n%s", diff)
	}
	if !doc.Source.Has("application.redirectUris.spa") || doc.Source.Has("application.redirectUris.web") {
		t.Errorf("Has: spa written as [] must be recorded, web never written must not be")
	}
	if got := doc.Source.Pos("application.redirectUris.web"); got != at(5, 5) {
		t.Errorf("Pos of an absent key = %v, want its parent's %v", got, at(5, 5))
	}
	if doc.Source.File != "m.yaml" || doc.Source.Index != 0 {
		t.Errorf("Source = %q #%d, want m.yaml #0", doc.Source.File, doc.Source.Index)
	}
}

func TestReferencePositions(t *testing.T) {
	cases := map[string]struct {
		reason string
		yaml   string
		want   Pos
	}{
		"Plain":        {reason: "plain scalar: the column of the $", yaml: "application:\n  name: ab ${X}\n", want: Pos{"m.yaml", 2, 12}},
		"DoubleQuoted": {reason: "the opening quote counts", yaml: "application:\n  name: \"ab ${X}\"\n", want: Pos{"m.yaml", 2, 13}},
		"SingleQuoted": {reason: "the opening quote counts", yaml: "application:\n  name: 'ab ${X}'\n", want: Pos{"m.yaml", 2, 13}},
		"SequenceItem": {reason: "items of a list too (in flow lists {} are syntax: quote such values)", yaml: "application:\n  assignments:\n    users:\n      - ab ${X}\n", want: Pos{"m.yaml", 4, 12}},
		"Block":        {reason: "block scalars point at the scalar", yaml: "application:\n  name: |\n    ab ${X}\n", want: Pos{"m.yaml", 2, 9}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, diags := Parse("m.yaml", []byte(tc.yaml), noEnv)
			if len(diags) != 1 {
				t.Fatalf("%s\nParse: want one diagnostic, got %v", tc.reason, diags)
			}
			if diags[0].Pos != tc.want {
				t.Errorf("%s\nposition %v, want %v", tc.reason, diags[0].Pos, tc.want)
			}
		})
	}
}

func TestDiagnostics(t *testing.T) {
	ds := Diagnostics{
		{Pos: Pos{"b.yaml", 1, 1}, Message: "third"},
		{Pos: Pos{"a.yaml", 10, 2}, Path: "application.name", Message: "second"},
		{Pos: Pos{"a.yaml", 2, 5}, Path: "tenant", Message: "first", Severity: Warning},
	}
	ds.sort()
	want := "a.yaml:2:5: tenant: warning: first\na.yaml:10:2: application.name: second\nb.yaml:1:1: third"
	if diff := cmp.Diff(want, ds.Error()); diff != "" {
		t.Errorf("sorted Error() (-want +got):\n%s", diff)
	}
	if !ds.HasErrors() || (Diagnostics{ds[0]}).HasErrors() {
		t.Errorf("HasErrors must count errors and ignore warnings")
	}
	if got := len(ds.Errors()); got != 2 {
		t.Errorf("Errors() kept %d, want 2", got)
	}
}

func TestClosestNames(t *testing.T) {
	graph := []string{"User.Read", "User.Read.All", "Mail.Send", "Mail.Send.Shared", "Mail.Read", "offline_access"}
	cases := map[string]struct {
		reason     string
		name       string
		candidates []string
		n          int
		want       []string
	}{
		"Typo":          {reason: "one extra letter", name: "Mail.Sendd", candidates: graph, n: 1, want: []string{"Mail.Send"}},
		"Case":          {reason: "case differences cost nothing", name: "mail.send", candidates: graph, n: 1, want: []string{"Mail.Send"}},
		"Swap":          {reason: "swapped neighbours count as one edit", name: "Mail.Sned", candidates: graph, n: 2, want: []string{"Mail.Send", "Mail.Read"}},
		"Key":           {reason: "manifest keys use it too", name: "redirectUri", candidates: []string{"name", "redirectUris", "permissions"}, n: 3, want: []string{"redirectUris"}},
		"Nothing":       {reason: "unrelated names are not suggested", name: "Calendars.Read", candidates: graph, n: 3},
		"ExactExcluded": {reason: "the name itself is no suggestion", name: "Mail.Send", candidates: graph, n: 1, want: []string{"Mail.Read"}},
		"Zero":          {reason: "n = 0 asks for nothing", name: "Mail.Sendd", candidates: graph, n: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := ClosestNames(tc.name, tc.candidates, tc.n)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nClosestNames(%q) (-want +got):\n%s", tc.reason, tc.name, diff)
			}
		})
	}
}

func TestValidateWithoutCatalogue(t *testing.T) {
	doc := &Document{
		APIVersion: APIVersion,
		Application: Application{
			Name:        "A",
			Permissions: []Permission{{API: "Microsoft Graph", Delegated: []string{"Mail.Sendd"}}},
		},
	}
	doc.Source.Positions = map[string]Pos{"application": {}}
	if diags := Validate([]*Document{doc}, nil); len(diags) != 0 {
		t.Errorf("Validate with no catalogue checks no names, got %v", diags)
	}
	diags := Validate([]*Document{doc}, BuiltinCatalogue())
	if len(diags) != 1 || !strings.Contains(diags[0].Message, `did you mean "Mail.Send"`) {
		t.Errorf("Validate with the built-in catalogue: want one typo diagnostic, got %v", diags)
	}
}

func TestLoadFileUnreadable(t *testing.T) {
	_, diags := LoadFile(filepath.Join(t.TempDir(), "missing.yaml"), noEnv)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "missing.yaml: cannot read the manifest: no such file or directory") {
		t.Errorf("LoadFile of a missing file: got %v", diags)
	}
}

// TestDecodeBudget checks that aliases cannot make a small file expand into an unbounded
// amount of work: decoding stops with one diagnostic once the budget is spent.
func TestDecodeBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: provision/v1\napplication:\n  name: bomb\n  assignments:\n    users: &d [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("a@b.co")
	}
	b.WriteString("]\n  permissions:\n    - &p {api: Custom, delegated: *d}\n")
	for range 1000 {
		b.WriteString("    - *p\n")
	}
	docs, diags := Parse("bomb.yaml", []byte(b.String()), noEnv)
	if len(docs) != 1 {
		t.Fatalf("Parse: want the document back, got %d", len(docs))
	}
	var budget int
	for _, d := range diags {
		if strings.Contains(d.Message, "the document is too large") {
			budget++
		}
	}
	if budget != 1 {
		t.Errorf("want exactly one 'too large' diagnostic, got %d in %d diagnostics", budget, len(diags))
	}
}

func BenchmarkLoadOpenFire(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "openfire.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := Load("openfire.yaml", data, noEnv); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}

func TestDiagnosticJSON(t *testing.T) {
	d := Diagnostic{Pos: Pos{"m.yaml", 3, 9}, Path: "application.name", Message: "must not be empty", Severity: Warning}
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"pos":{"file":"m.yaml","line":3,"column":9},"path":"application.name","message":"must not be empty","severity":"warning"}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("json.Marshal(Diagnostic) (-want +got):\n%s", diff)
	}
}
