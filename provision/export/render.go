package export

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/provisionhq/provision/manifests"
)

// Render writes r as a manifest: YAML in the key order of the README, with r.Notes as
// comments next to what they explain. Values that contain "${" are escaped as "$${", so
// loading the file gives them back unchanged rather than substituting a variable.
func Render(r Result) ([]byte, error) {
	d := r.Document
	n := r.Notes
	root := mapping()
	root.add("apiVersion", scalar(d.APIVersion)).HeadComment = comment(n.Header)
	if d.Tenant != "" {
		root.add("tenant", scalar(d.Tenant))
	}
	root.add("application", application(d.Application, n))
	if len(d.SendAs) > 0 {
		k := root.add("sendAs", sendAsNode(d.SendAs))
		k.HeadComment = comment(n.SendAs)
	} else if len(n.SendAs) > 0 {
		root.Node.FootComment = comment(append([]string{"sendAs:"}, n.SendAs...))
	}
	if len(d.Mailboxes) > 0 {
		k := root.add("mailboxes", mailboxesNode(d.Mailboxes))
		k.HeadComment = comment(n.Mailboxes)
	} else if len(n.Mailboxes) > 0 {
		root.Node.FootComment = strings.TrimSpace(root.Node.FootComment + "\n" + comment(append([]string{"mailboxes:"}, n.Mailboxes...)))
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root.Node}}); err != nil {
		return nil, fmt.Errorf("render manifest: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render manifest: %w", err)
	}
	return buf.Bytes(), nil
}

func application(a manifests.Application, n Notes) *yaml.Node {
	m := mapping()
	m.add("name", scalar(a.Name))
	if a.UniqueName != "" {
		m.add("uniqueName", scalar(a.UniqueName))
	}
	m.add("appId", scalar(a.AppID))
	if a.Audience != "" {
		m.add("audience", scalar(string(a.Audience)))
	}
	uris := mapping()
	for _, p := range []struct {
		key  string
		uris []string
	}{{"web", a.RedirectURIs.Web}, {"spa", a.RedirectURIs.SPA}, {"publicClient", a.RedirectURIs.PublicClient}} {
		if len(p.uris) > 0 {
			uris.add(p.key, list(p.uris, nil))
		}
	}
	if len(uris.Node.Content) > 0 {
		m.add("redirectUris", uris.Node)
	}
	perms := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, p := range a.Permissions {
		e := mapping()
		api := scalar(p.API)
		api.LineComment = n.APIs[p.API]
		e.add("api", api)
		if len(p.Delegated) > 0 {
			e.add("delegated", list(p.Delegated, nil))
		}
		if len(p.Application) > 0 {
			e.add("application", list(p.Application, nil))
		}
		perms.Content = append(perms.Content, e.Node)
	}
	if len(perms.Content) == 0 {
		perms.Style = yaml.FlowStyle
	}
	m.add("permissions", perms).HeadComment = comment(n.Permissions)
	consent := m.add("adminConsent", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(a.AdminConsent)})
	consent.HeadComment = comment(n.Consent)
	if a.Assignments != nil {
		as := mapping()
		if a.Assignments.Required != nil {
			as.add("required", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(*a.Assignments.Required)})
		}
		as.add("users", list(a.Assignments.Users, nil))
		as.add("groups", list(a.Assignments.Groups, n.Groups))
		k := m.add("assignments", as.Node)
		k.HeadComment = comment(append(append([]string{}, n.Secrets...), n.Assignments...))
	} else if len(n.Secrets) > 0 || len(n.Assignments) > 0 {
		m.Node.FootComment = comment(append(append([]string{}, n.Secrets...), n.Assignments...))
	}
	return m.Node
}

func sendAsNode(entries []manifests.SendAs) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, s := range entries {
		e := mapping()
		e.add("mailbox", scalar(s.Mailbox))
		e.add("trustees", list(s.Trustees, nil))
		e.add("exclusive", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(s.Exclusive)})
		seq.Content = append(seq.Content, e.Node)
	}
	return seq
}

func mailboxesNode(entries []manifests.Mailbox) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, m := range entries {
		e := mapping()
		e.add("address", scalar(m.Address))
		if m.SMTPAuth != "" {
			e.add("smtpAuth", scalar(string(m.SMTPAuth)))
		}
		e.add("appAccess", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(m.AppAccess)})
		seq.Content = append(seq.Content, e.Node)
	}
	return seq
}

// mappingNode builds a YAML mapping in insertion order.
type mappingNode struct{ Node *yaml.Node }

func mapping() mappingNode { return mappingNode{&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}} }

// add appends key: value and returns the key node, which carries the comments above it.
func (m mappingNode) add(key string, value *yaml.Node) *yaml.Node {
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	m.Node.Content = append(m.Node.Content, k, value)
	return k
}

// scalar is a string scalar, escaped against variable substitution.
func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.ReplaceAll(s, "${", "$${")}
}

// list is a block sequence of strings; lineComments annotate items by value. An empty list
// is written [] so that the key stays present (managed and empty).
func list(items []string, lineComments map[string]string) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, it := range items {
		s := scalar(it)
		s.LineComment = lineComments[it]
		seq.Content = append(seq.Content, s)
	}
	if len(items) == 0 {
		seq.Style = yaml.FlowStyle
	}
	return seq
}

func comment(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "# " + l
	}
	return strings.Join(out, "\n")
}

// yamlScalar renders s as it would appear as a plain or quoted YAML value, for the
// commented-out entries that are written as text.
func yamlScalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}
