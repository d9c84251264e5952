// Package gitignore tells whether a file lies inside a git work tree without being ignored,
// so that plan can warn before a credentials file is committed by accident. It needs no git:
// it walks up to the work tree's .git (a directory, or the .git file of a linked worktree or
// a submodule), then applies the .gitignore files on the way down and the repository's
// info/exclude with git's precedence and pattern rules (gitignore(5)).
//
// Not covered: the global excludes file (core.excludesFile), and files git already tracks
// (ignore rules do not apply to them; telling needs the index). Both only make Check report a
// file as exposed where git might not, which errs on the side of warning.
package gitignore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Status is where a path stands with respect to git.
type Status struct {
	// WorkTree is the top directory of the work tree holding the path; empty when none does.
	WorkTree string
	// Ignored reports whether git would ignore the path (or a directory above it).
	Ignored bool
	// Rule is the pattern that decided, as "<file>:<line>: <pattern>"; empty when none matched.
	Rule string
}

// Exposed reports whether a `git add -A` would pick the path up: it is in a work tree and
// not ignored.
func (s Status) Exposed() bool { return s.WorkTree != "" && !s.Ignored }

// Check reports where path stands. The path need not exist; its directory is where the search
// for the work tree starts.
func Check(p string) (Status, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return Status{}, fmt.Errorf("check git status of %s: %w", p, err)
	}
	top, gitDir, err := findWorkTree(filepath.Dir(abs))
	if err != nil || top == "" {
		return Status{}, err
	}
	rel, err := filepath.Rel(top, abs)
	if err != nil {
		return Status{}, fmt.Errorf("check git status of %s: %w", p, err)
	}
	rel = filepath.ToSlash(rel)
	st := Status{WorkTree: top}
	if rel == ".git" || strings.HasPrefix(rel, ".git/") {
		// Inside the repository's own directory: never added.
		st.Ignored, st.Rule = true, "inside .git"
		return st, nil
	}
	m := &matcher{top: top, files: map[string][]pattern{}}
	exclude, err := readPatterns(filepath.Join(commonDir(gitDir), "info", "exclude"), "")
	if err != nil {
		return Status{}, err
	}
	m.exclude = exclude
	parts := strings.Split(rel, "/")
	// A path inside an ignored directory is ignored whatever the rules below say: git does not
	// descend into it.
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		ignored, rule, err := m.ignored(sub, i < len(parts)-1)
		if err != nil {
			return Status{}, err
		}
		if ignored {
			st.Ignored, st.Rule = true, rule
			return st, nil
		}
		if i == len(parts)-1 {
			st.Rule = rule
		}
	}
	return st, nil
}

// findWorkTree walks up from dir to the directory holding .git. gitDir is the repository
// directory that .git is or names.
func findWorkTree(dir string) (top, gitDir string, err error) {
	for {
		dotGit := filepath.Join(dir, ".git")
		fi, err := os.Stat(dotGit)
		switch {
		case err == nil && fi.IsDir():
			return dir, dotGit, nil
		case err == nil && fi.Mode().IsRegular():
			target, err := readGitFile(dotGit)
			if err != nil {
				return "", "", err
			}
			return dir, target, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return "", "", fmt.Errorf("look for a git work tree: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", nil
		}
		dir = parent
	}
}

// readGitFile reads the "gitdir: <path>" line of a worktree's or submodule's .git file.
func readGitFile(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	target, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
	if !ok {
		return "", fmt.Errorf("read %s: no gitdir line", name)
	}
	target = strings.TrimSpace(target)
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(name), target)
	}
	return target, nil
}

// commonDir is where a linked worktree's repository keeps what its worktrees share
// (info/exclude among it): the directory its commondir file names, else gitDir itself.
func commonDir(gitDir string) string {
	data, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if err != nil {
		return gitDir
	}
	c := strings.TrimSpace(string(data))
	if !filepath.IsAbs(c) {
		c = filepath.Join(gitDir, c)
	}
	return c
}

// matcher holds the patterns read so far, by the directory (relative to top) of their file.
type matcher struct {
	top     string
	files   map[string][]pattern
	exclude []pattern
}

// ignored decides sub (a slash path relative to top): the .gitignore of its directory first,
// then those above it, then info/exclude; in each, the last matching pattern wins.
func (m *matcher) ignored(sub string, isDir bool) (bool, string, error) {
	dir := path.Dir(sub)
	for {
		pats, err := m.patterns(dir)
		if err != nil {
			return false, "", err
		}
		if p, ok := lastMatch(pats, sub, isDir); ok {
			return !p.negate, p.source, nil
		}
		if dir == "." {
			break
		}
		dir = path.Dir(dir)
	}
	if p, ok := lastMatch(m.exclude, sub, isDir); ok {
		return !p.negate, p.source, nil
	}
	return false, "", nil
}

func (m *matcher) patterns(dir string) ([]pattern, error) {
	if pats, ok := m.files[dir]; ok {
		return pats, nil
	}
	base := ""
	if dir != "." {
		base = dir
	}
	pats, err := readPatterns(filepath.Join(m.top, filepath.FromSlash(dir), ".gitignore"), base)
	if err != nil {
		return nil, err
	}
	m.files[dir] = pats
	return pats, nil
}

func lastMatch(pats []pattern, sub string, isDir bool) (pattern, bool) {
	for i := len(pats) - 1; i >= 0; i-- {
		if pats[i].matches(sub, isDir) {
			return pats[i], true
		}
	}
	return pattern{}, false
}

// pattern is one line of a .gitignore or exclude file.
type pattern struct {
	glob     string // with the leading "/" and trailing "/" removed
	base     string // the directory of its file, relative to top ("" at the top)
	negate   bool   // "!pattern": re-include
	dirOnly  bool   // "pattern/": directories only
	anchored bool   // a "/" at the start or in the middle: relative to base, not any level
	source   string // "<file>:<line>: <line as written>"
}

// readPatterns reads the patterns of a file; a missing file has none.
func readPatterns(name, base string) ([]pattern, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var out []pattern
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if p, ok := parseLine(sc.Text()); ok {
			p.base = base
			p.source = fmt.Sprintf("%s:%d: %s", name, n, strings.TrimRight(sc.Text(), "\r"))
			out = append(out, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// parseLine reads one line as gitignore(5) says: blank lines and "#" comments are no
// pattern, trailing spaces go unless escaped, "!" negates, "\#" and "\!" are literal.
func parseLine(line string) (pattern, bool) {
	line = strings.TrimRight(line, "\r")
	for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, `\ `) {
		line = line[:len(line)-1]
	}
	if line == "" || strings.HasPrefix(line, "#") {
		return pattern{}, false
	}
	var p pattern
	if rest, ok := strings.CutPrefix(line, "!"); ok {
		p.negate, line = true, rest
	}
	if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
		line = line[1:]
	}
	if rest, ok := strings.CutSuffix(line, "/"); ok {
		p.dirOnly, line = true, rest
	}
	p.anchored = strings.Contains(line, "/")
	p.glob = strings.TrimPrefix(line, "/")
	return p, p.glob != ""
}

// matches reports whether the pattern matches sub, a slash path relative to top.
func (p pattern) matches(sub string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	rel := sub
	if p.base != "" {
		var ok bool
		if rel, ok = strings.CutPrefix(sub, p.base+"/"); !ok {
			return false
		}
	}
	if !p.anchored {
		return wildmatch(p.glob, path.Base(rel))
	}
	return wildmatch(p.glob, rel)
}

// wildmatch matches a gitignore glob against a slash path: "*" and "?" stop at "/", "[...]"
// is a class ("[!...]" or "[^...]" negated), "\" quotes, and a "**" that is a whole segment
// ("**/x", "x/**", "x/**/y") spans any number of directories; other runs of stars are one.
func wildmatch(glob, name string) bool { return match(glob, name, true) }

// match is wildmatch where segStart says whether glob starts a segment (at the start of the
// pattern, or right after a "/").
func match(glob, name string, segStart bool) bool {
	for len(glob) > 0 {
		c := glob[0]
		switch {
		case segStart && strings.HasPrefix(glob, "**") && (len(glob) == 2 || glob[2] == '/'):
			if len(glob) == 2 {
				return true // "x/**": everything inside
			}
			rest := glob[3:] // after "**/": zero or more directories, then rest
			for {
				if match(rest, name, true) {
					return true
				}
				i := strings.IndexByte(name, '/')
				if i < 0 {
					return false
				}
				name = name[i+1:]
			}
		case c == '*':
			glob = strings.TrimLeft(glob, "*")
			for {
				if match(glob, name, false) {
					return true
				}
				if name == "" || name[0] == '/' {
					return false
				}
				name = name[1:]
			}
		case c == '?':
			if name == "" || name[0] == '/' {
				return false
			}
			glob, name = glob[1:], name[1:]
		case c == '[':
			end, ok := classEnd(glob)
			if !ok { // an unclosed "[" is a literal
				if name == "" || name[0] != '[' {
					return false
				}
				glob, name = glob[1:], name[1:]
				break
			}
			if name == "" || name[0] == '/' || !inClass(glob[1:end], name[0]) {
				return false
			}
			glob, name = glob[end+1:], name[1:]
		case c == '\\' && len(glob) > 1:
			if name == "" || name[0] != glob[1] {
				return false
			}
			glob, name = glob[2:], name[1:]
		default:
			if name == "" || name[0] != c {
				return false
			}
			glob, name = glob[1:], name[1:]
		}
		segStart = c == '/'
	}
	return name == ""
}

// classEnd returns the index of the "]" closing the class that glob starts with.
func classEnd(glob string) (int, bool) {
	i := 1
	if i < len(glob) && (glob[i] == '!' || glob[i] == '^') {
		i++
	}
	if i < len(glob) && glob[i] == ']' {
		i++ // a leading "]" is a member
	}
	for ; i < len(glob); i++ {
		switch glob[i] {
		case '\\':
			i++
		case ']':
			return i, true
		}
	}
	return 0, false
}

// inClass reports whether b is in the class body (between "[" and "]").
func inClass(body string, b byte) bool {
	negate := false
	if body != "" && (body[0] == '!' || body[0] == '^') {
		negate, body = true, body[1:]
	}
	found := false
	for i := 0; i < len(body); i++ {
		lo := body[i]
		if lo == '\\' && i+1 < len(body) {
			i++
			lo = body[i]
		}
		hi := lo
		if i+2 < len(body) && body[i+1] == '-' {
			hi = body[i+2]
			i += 2
		}
		if lo <= b && b <= hi {
			found = true
		}
	}
	return found != negate
}
