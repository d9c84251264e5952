package gitignore

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWildmatch(t *testing.T) {
	cases := []struct {
		glob, name string
		want       bool
	}{
		{"*.json", "creds.json", true},
		{"*.json", "a/creds.json", false}, // "*" stops at "/"
		{"creds.?son", "creds.json", true},
		{"[ab]*.json", "b.json", true},
		{"[!ab]*.json", "b.json", false},
		{"[a-c].json", "c.json", true},
		{"**/creds.json", "creds.json", true},
		{"**/creds.json", "a/b/creds.json", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "ab", false},
		{"out/**", "out/x/y.json", true},
		{"out/**", "out", false},
		{"x**y", "xay", true}, // not a whole segment: one star
		{"x**y", "xa/y", false},
		{`\*.json`, "*.json", true},
		{`\*.json`, "a.json", false},
		{"[unclosed", "[unclosed", true},
	}
	for _, tc := range cases {
		if got := wildmatch(tc.glob, tc.name); got != tc.want {
			t.Errorf("wildmatch(%q, %q) = %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
}

// tree writes files (path → content) under a new directory and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "/") {
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// ignoreCases are a repository's ignore files and what each path should be.
var ignoreFiles = map[string]string{
	".git/HEAD":          "ref: refs/heads/main\n",
	".git/info/exclude":  "# local\n*.local.json\n",
	".gitignore":         "# credentials\n*.json\n!keep.json\n/top-only.txt\nsecrets/\n\\#literal\ntrailing.txt   \n",
	"sub/.gitignore":     "!sub-creds.json\n*.local.json\n!override.local.json\n",
	"secrets/.gitignore": "!creds.json\n",
	"deep/.gitignore":    "**/out/*.txt\n",
}

var ignoreCases = []struct {
	reason  string
	path    string
	ignored bool
}{
	{"a pattern of the top .gitignore", "creds.json", true},
	{"the pattern matches at any level when it has no slash", "sub/dir/creds.json", true},
	{"a negation re-includes", "keep.json", false},
	{"a deeper .gitignore overrides the top one", "sub/sub-creds.json", false},
	{"a file nothing ignores", "notes.txt", false},
	{"an anchored pattern matches at its own level only", "top-only.txt", true},
	{"... and not below", "sub/top-only.txt", false},
	{"inside an ignored directory nothing can be re-included", "secrets/creds.json", true},
	{"info/exclude applies", "app.local.json", true},
	{"a .gitignore outranks info/exclude", "sub/override.local.json", false},
	{"an escaped # is a pattern, not a comment", "#literal", true},
	{"trailing spaces are dropped", "trailing.txt", true},
	{"** spans directories", "deep/a/b/out/x.txt", true},
	{"** needs the out segment", "deep/a/b/x.txt", false},
}

func TestCheck(t *testing.T) {
	root := tree(t, ignoreFiles)
	for _, tc := range ignoreCases {
		t.Run(tc.reason, func(t *testing.T) {
			st, err := Check(filepath.Join(root, filepath.FromSlash(tc.path)))
			if err != nil {
				t.Fatal(err)
			}
			if st.WorkTree != root {
				t.Errorf("WorkTree = %q, want %q", st.WorkTree, root)
			}
			if st.Ignored != tc.ignored || st.Exposed() == tc.ignored {
				t.Errorf("Check(%s) = %+v, want ignored %v", tc.path, st, tc.ignored)
			}
			if tc.ignored && st.Rule == "" {
				t.Errorf("Check(%s) says it is ignored without naming the rule", tc.path)
			}
		})
	}
	st, err := Check(filepath.Join(root, "creds.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, ".gitignore") + ":2: *.json"; st.Rule != want {
		t.Errorf("Rule = %q, want %q", st.Rule, want)
	}
}

// TestCheckAgreesWithGit asks git itself about the same paths, where git is installed.
func TestCheckAgreesWithGit(t *testing.T) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	files := map[string]string{}
	for name, content := range ignoreFiles {
		if !strings.HasPrefix(name, ".git/") {
			files[name] = content
		}
	}
	root := tree(t, files)
	git := func(args ...string) *exec.Cmd {
		cmd := exec.Command(gitPath, args...)
		cmd.Dir = root
		// No user or system configuration: no global excludes file.
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1", "HOME="+root)
		return cmd
	}
	if out, err := git("init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, ".git", "info", "exclude"), []byte(ignoreFiles[".git/info/exclude"]), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range ignoreCases {
		if got, err := Check(filepath.Join(root, filepath.FromSlash(tc.path))); err != nil || got.Ignored != tc.ignored {
			t.Errorf("%s: Check(%s) = %+v, %v in a repository git made", tc.reason, tc.path, got, err)
		}
		err := git("check-ignore", "--no-index", "-q", tc.path).Run()
		var exitErr *exec.ExitError
		switch {
		case err == nil && !tc.ignored, errors.As(err, &exitErr) && exitErr.ExitCode() == 1 && tc.ignored:
			t.Errorf("%s: git disagrees about %s (git ignores it: %v)", tc.reason, tc.path, err == nil)
		case err != nil && !(errors.As(err, &exitErr) && exitErr.ExitCode() == 1):
			t.Fatalf("git check-ignore %s: %v", tc.path, err)
		}
	}
}

func TestWorkTrees(t *testing.T) {
	main := tree(t, map[string]string{
		".git/HEAD":                   "ref: refs/heads/main\n",
		".git/info/exclude":           "shared-exclude.json\n",
		".git/worktrees/wt/HEAD":      "ref: refs/heads/wt\n",
		".git/worktrees/wt/commondir": "../..\n",
	})
	wt := tree(t, map[string]string{"nested/": ""})
	if err := os.WriteFile(filepath.Join(wt, ".git"), []byte("gitdir: "+filepath.Join(main, ".git", "worktrees", "wt")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	type result struct {
		WorkTree string
		Ignored  bool
	}
	cases := []struct {
		reason string
		path   string
		want   result
	}{
		{"a linked worktree's .git file leads to its repository", filepath.Join(wt, "nested", "creds.json"), result{WorkTree: wt}},
		{"and its info/exclude is the main repository's", filepath.Join(wt, "shared-exclude.json"), result{WorkTree: wt, Ignored: true}},
		{"a file outside any work tree", filepath.Join(outside, "creds.json"), result{}},
		{"the repository's own directory is never added", filepath.Join(main, ".git", "creds.json"), result{WorkTree: main, Ignored: true}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			st, err := Check(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, result{st.WorkTree, st.Ignored}); diff != "" {
				t.Errorf("Check(%s) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}
