package dotenv

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	cases := map[string]struct {
		reason string
		file   string
		want   []Var
	}{
		"Plain": {
			reason: "NAME=VALUE, blanks around the name and value trimmed",
			file:   "TENANT=contoso.onmicrosoft.com\n  BASE = https://contoso.openfire.fr  \n",
			want:   []Var{{"TENANT", "contoso.onmicrosoft.com", 1}, {"BASE", "https://contoso.openfire.fr", 2}},
		},
		"CommentsAndBlankLines": {
			reason: "# lines and blank lines are skipped; an inline comment needs a blank before its #",
			file:   "# customer Contoso\n\nA=1 # one\nB=x#y\nC=\t# nothing\n",
			want:   []Var{{"A", "1", 3}, {"B", "x#y", 4}, {"C", "", 5}},
		},
		"Export": {
			reason: "a shell-style export prefix is allowed, and a name starting with export is still a name",
			file:   "export ADMIN=admin@contoso.com\nexported=yes\n",
			want:   []Var{{"ADMIN", "admin@contoso.com", 1}, {"exported", "yes", 2}},
		},
		"SingleQuoted": {
			reason: "single quotes are literal, \\' writes a quote, # inside is not a comment",
			file:   `A='${NOT} a\tb # c' # comment` + "\n" + `B='Let\'s go'` + "\n",
			want:   []Var{{"A", `${NOT} a\tb # c`, 1}, {"B", "Let's go", 2}},
		},
		"DoubleQuoted": {
			reason: "double quotes understand the usual escapes",
			file:   `A="a\tb\n\"c\" \\ \$d \q"` + "\n",
			want:   []Var{{"A", "a\tb\n\"c\" \\ $d \\q", 1}},
		},
		"Multiline": {
			reason: "a quoted value may span lines; the next definition's line is counted right",
			file:   "KEY=\"line one\nline two\"\nNEXT=1\n",
			want:   []Var{{"KEY", "line one\nline two", 1}, {"NEXT", "1", 3}},
		},
		"LaterWinsIsTheCallersChoice": {
			reason: "a name defined twice is listed twice, in file order, so the last one wins when applied in order",
			file:   "A=1\nA=2\n",
			want:   []Var{{"A", "1", 1}, {"A", "2", 2}},
		},
		"CRLF": {
			reason: "files edited on Windows",
			file:   "A=1\r\nB='2'\r\n",
			want:   []Var{{"A", "1", 1}, {"B", "2", 2}},
		},
		"DollarIsLiteral": {
			reason: "values are not interpolated: a secret-looking value with $ stays as written",
			file:   "P=ab$cd${EF}\n",
			want:   []Var{{"P", "ab$cd${EF}", 1}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Parse("t.env", []byte(tc.file))
			if err != nil {
				t.Fatalf("%s\nParse: %v", tc.reason, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nParse (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	file := strings.Join([]string{
		"GOOD=1",
		"no equals sign",
		"1BAD=x",
		"my-var=x",
		`Q="closed" trailing`,
		"S='never closed secret-value",
		"AFTER=2",
	}, "\n")
	_, err := Parse("tenants/contoso.env", []byte(file))
	if err == nil {
		t.Fatal("Parse of a malformed file: no error")
	}
	want := []string{
		`tenants/contoso.env:2: no "=" on this line: write NAME=VALUE (or start the line with # for a comment)`,
		`tenants/contoso.env:3: "1BAD" is not a variable name: use letters, digits and _, not starting with a digit`,
		`tenants/contoso.env:4: "my-var" is not a variable name: use letters, digits and _, not starting with a digit`,
		`tenants/contoso.env:5: text after the closing quote of Q: put a comment after a blank and #, or move the text inside the quotes`,
		`tenants/contoso.env:6: the value of S opens a single quote that is never closed: close it, or escape the quote with \`,
	}
	if diff := cmp.Diff(strings.Join(want, "\n"), err.Error()); diff != "" {
		t.Errorf("every bad line, by file and line (-want +got):\n%s", diff)
	}
	if strings.Contains(err.Error(), "secret-value") {
		t.Error("an error message shows a value")
	}
}
