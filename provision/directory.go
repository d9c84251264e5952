package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/provisionhq/provision/manifests"
	"github.com/provisionhq/provision/provision/graph"
)

// MaxInValues is how many values one $filter "in (...)" list carries. Graph caps the
// number of expressions in a directory-object filter at 15, so longer lists are split.
const MaxInValues = 15

// DirectoryObject is a user or group the manifests name, as read from Graph.
type DirectoryObject struct {
	ID string
	// Type is the Graph principalType it would have in an assignment: "User" or "Group".
	Type              string
	UserPrincipalName string // users only
	Mail              string // "" for a user without a mailbox
	DisplayName       string
	AccountEnabled    bool // users only
	SecurityEnabled   bool // groups only
	MailEnabled       bool // groups only
}

// The principal types of directory objects.
const (
	PrincipalUser  = "User"
	PrincipalGroup = "Group"
)

// Directory holds the users and groups that the manifests' assignments and sendAs entries
// name, found in bulk ($filter ... in (...) inside $batch) by observe.
type Directory struct {
	Users  []DirectoryObject
	Groups []DirectoryObject

	// byUPN and byMail index Users by lower-cased name, built on first use: a manifest
	// may name thousands of users.
	byUPN, byMail map[string]int
}

// user finds the user whose userPrincipalName, else whose mail, is identity (ignoring case).
func (d *Directory) user(identity string) *DirectoryObject {
	if d == nil {
		return nil
	}
	if d.byUPN == nil {
		d.byUPN, d.byMail = map[string]int{}, map[string]int{}
		for i, u := range d.Users {
			d.byUPN[strings.ToLower(u.UserPrincipalName)] = i
			if u.Mail != "" {
				d.byMail[strings.ToLower(u.Mail)] = i
			}
		}
	}
	k := strings.ToLower(identity)
	if i, ok := d.byUPN[k]; ok {
		return &d.Users[i]
	}
	if i, ok := d.byMail[k]; ok {
		return &d.Users[i]
	}
	return nil
}

// groupsNamed returns the groups whose object id, else whose display name, is name.
func (d *Directory) groupsNamed(name string) []DirectoryObject {
	if d == nil {
		return nil
	}
	var out []DirectoryObject
	for _, g := range d.Groups {
		if strings.EqualFold(g.ID, name) {
			return []DirectoryObject{g}
		}
		if g.DisplayName == name {
			out = append(out, g)
		}
	}
	return out
}

// groupByMail returns the group whose mail is address, or nil.
func (d *Directory) groupByMail(address string) *DirectoryObject {
	if d == nil {
		return nil
	}
	for i := range d.Groups {
		if d.Groups[i].Mail != "" && strings.EqualFold(d.Groups[i].Mail, address) {
			return &d.Groups[i]
		}
	}
	return nil
}

// UserFields are the user properties read; accountEnabled is why reading users needs more
// than User.ReadBasic.All (the basic profile does not show whether an account is disabled).
func UserFields() []string {
	return []string{"id", "userPrincipalName", "mail", "displayName", "accountEnabled"}
}

// GroupFields are the group properties read.
func GroupFields() []string {
	return []string{"id", "displayName", "mail", "mailEnabled", "securityEnabled"}
}

// directoryLookup is the part of observe's first round that finds the manifests' users and
// groups: each name once, whatever the number of documents naming it.
type directoryLookup struct {
	users      []string // UPNs or mail addresses (assignments, sendAs mailboxes and trustees)
	groupIDs   []string
	groupNames []string
	groupMails []string // sendAs trustees that may be mail-enabled security groups
	keys       []string // batch keys added, each answering a page of users or groups
}

// newDirectoryLookup collects the names wants refer to, lower-cased and without duplicates
// (Graph compares these properties without case).
func newDirectoryLookup(wants []Desired) *directoryLookup {
	l := &directoryLookup{}
	var users, ids, names, mails []string
	for _, w := range wants {
		if w.Assignments != nil {
			for _, u := range w.Assignments.Users {
				users = append(users, strings.ToLower(u.Name))
			}
			for _, g := range w.Assignments.Groups {
				if manifests.IsGUID(g.Name) {
					ids = append(ids, strings.ToLower(g.Name))
				} else {
					names = append(names, g.Name)
				}
			}
		}
		for _, s := range w.SendAs {
			users = append(users, strings.ToLower(s.Mailbox.Name))
			for _, t := range s.Trustees {
				users = append(users, strings.ToLower(t.Name))
				mails = append(mails, strings.ToLower(t.Name))
			}
		}
	}
	l.users, l.groupIDs, l.groupNames, l.groupMails = set(users), set(ids), set(names), set(mails)
	return l
}

// InFilterChunks splits xs into lists of at most MaxInValues, each small enough for one InFilter.
func InFilterChunks(xs []string) [][]string {
	var out [][]string
	for len(xs) > 0 {
		n := min(len(xs), MaxInValues)
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	return out
}

// InFilter renders "prop in ('a','b')", each value an OData string literal.
func InFilter(prop string, values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = quote(v)
	}
	return prop + " in (" + strings.Join(q, ",") + ")"
}

// add queues the lookups on b. Users are looked up by userPrincipalName and by mail in the
// same round, so a manifest may name either without a second round trip.
func (l *directoryLookup) add(ctx context.Context, e *Engine, b *batch) {
	client := e.Graph.Graph
	queue := func(kind, prop string, values []string) {
		for i, c := range InFilterChunks(values) {
			key := fmt.Sprintf("dir.%s.%s.%d", kind, prop, i)
			f := InFilter(prop, c)
			top := int32(len(c))
			l.keys = append(l.keys, key)
			if kind == "user" {
				b.add(key)(client.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
					QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &f, Select: UserFields(), Top: &top}}))
				continue
			}
			b.add(key)(client.Groups().ToGetRequestInformation(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
				QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &f, Select: GroupFields()}}))
		}
	}
	queue("user", "userPrincipalName", l.users)
	queue("user", "mail", l.users)
	queue("group", "id", l.groupIDs)
	queue("group", "displayName", l.groupNames)
	queue("group", "mail", l.groupMails)
}

// read decodes the lookups' answers into one Directory; nil when nothing was looked up.
func (l *directoryLookup) read(ctx context.Context, e *Engine, res batchResults) (*Directory, error) {
	if len(l.keys) == 0 {
		return nil, nil
	}
	d := &Directory{}
	seenUsers, seenGroups := map[string]bool{}, map[string]bool{}
	for _, key := range l.keys {
		if strings.HasPrefix(key, "dir.user.") {
			us, err := getList[models.UserCollectionResponseable](ctx, e, res, key, models.CreateUserCollectionResponseFromDiscriminatorValue, UserFromModel)
			if err != nil {
				return nil, fmt.Errorf("read users: %w", graph.ExplainDenied(err, graph.OpReadUsers))
			}
			for _, u := range us {
				if !seenUsers[u.ID] {
					seenUsers[u.ID] = true
					d.Users = append(d.Users, u)
				}
			}
			continue
		}
		gs, err := getList[models.GroupCollectionResponseable](ctx, e, res, key, models.CreateGroupCollectionResponseFromDiscriminatorValue, GroupFromModel)
		if err != nil {
			return nil, fmt.Errorf("read groups: %w", graph.ExplainDenied(err, graph.OpReadGroups))
		}
		for _, g := range gs {
			if !seenGroups[g.ID] {
				seenGroups[g.ID] = true
				d.Groups = append(d.Groups, g)
			}
		}
	}
	slices.SortFunc(d.Users, func(a, b DirectoryObject) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(d.Groups, func(a, b DirectoryObject) int { return strings.Compare(a.ID, b.ID) })
	return d, nil
}

// UserFromModel converts an SDK user read with UserFields; a user whose accountEnabled was
// not returned counts as enabled.
func UserFromModel(m models.Userable) DirectoryObject {
	return DirectoryObject{ID: str(m.GetId()), Type: PrincipalUser, UserPrincipalName: str(m.GetUserPrincipalName()),
		Mail: str(m.GetMail()), DisplayName: str(m.GetDisplayName()),
		AccountEnabled: m.GetAccountEnabled() == nil || *m.GetAccountEnabled()}
}

// GroupFromModel converts an SDK group read with GroupFields.
func GroupFromModel(m models.Groupable) DirectoryObject {
	return DirectoryObject{ID: str(m.GetId()), Type: PrincipalGroup, Mail: str(m.GetMail()), DisplayName: str(m.GetDisplayName()),
		SecurityEnabled: m.GetSecurityEnabled() != nil && *m.GetSecurityEnabled(),
		MailEnabled:     m.GetMailEnabled() != nil && *m.GetMailEnabled()}
}
