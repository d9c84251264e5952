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
	"github.com/provisionhq/provision/provision/internal/sets"
	"github.com/provisionhq/provision/provision/rights"
)

// directoryKind reads the users and groups the manifests name (assignments, Send-As
// mailboxes and trustees), so that the kinds naming them resolve names to directory objects
// without a read of their own. It plans no change.
//
// Observe: round 1, every name of every document once, in bulk ($filter ... in (...), 15
// values a filter); users by userPrincipalName and by mail in the same round, so a manifest
// may write either. When a name matched nothing, round 2 also reads a page of the directory's
// users and groups, whose names the planners suggest ("did you mean"). A complete
// observation reads, in round 4, the users and groups assigned to the application.
type directoryKind struct{}

func (directoryKind) name() Kind { return "" }

func (directoryKind) traits() traits {
	return traits{operations: []rights.Operation{rights.OpReadUsers, rights.OpReadGroups}}
}

// directoryNamer is implemented by kinds whose manifest entries name users or groups.
type directoryNamer interface {
	// directoryNames lists the users and groups want names in the kind's entries.
	directoryNames(want Desired) directoryNames
}

// directoryNames are names to look up in the directory.
type directoryNames struct {
	users      []string // userPrincipalName or mail
	groups     []string // display name or object id
	groupMails []string // mail of a mail-enabled group (Send-As trustees may be one)
}

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

// Directory holds the users and groups that the manifests name, found in bulk by observe.
type Directory struct {
	Users  []DirectoryObject
	Groups []DirectoryObject
	// UserNames and GroupNames are names of other users (userPrincipalName) and groups
	// (display name) of the directory, read when a manifest name matched nothing, for "did
	// you mean".
	UserNames  []string
	GroupNames []string

	// byUPN and byMail index Users by lower-cased name, built on first use: a manifest
	// may name thousands of users.
	byUPN, byMail map[string]int
}

// User finds the user whose userPrincipalName, else whose mail, is identity (ignoring case).
func (d *Directory) User(identity string) *DirectoryObject {
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

// userByID finds the user with object id id.
func (d *Directory) userByID(id string) *DirectoryObject {
	if d == nil {
		return nil
	}
	for i := range d.Users {
		if strings.EqualFold(d.Users[i].ID, id) {
			return &d.Users[i]
		}
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

// suggestUser renders the closest user names of the directory to name, or "". Addresses are
// compared by their local part among the users of the same domain (so a shared domain does not
// make every user look close), and whole otherwise (a misspelt domain).
func (d *Directory) suggestUser(name string) string {
	if d == nil {
		return ""
	}
	names := append([]string{}, d.UserNames...)
	for _, u := range d.Users {
		names = append(names, u.UserPrincipalName)
	}
	local, domain, ok := strings.Cut(name, "@")
	if !ok {
		return suggestion(name, names)
	}
	byLocal := map[string]string{}
	var locals []string
	for _, n := range names {
		if l, dom, ok := strings.Cut(n, "@"); ok && strings.EqualFold(dom, domain) {
			byLocal[l] = n
			locals = append(locals, l)
		}
	}
	if len(locals) == 0 {
		return suggestion(name, names)
	}
	var out []string
	for _, l := range manifests.ClosestNames(local, locals, 3) {
		out = append(out, byLocal[l])
	}
	return quotedSuggestion(out)
}

// suggestGroup renders the closest group names of the directory to name, or "".
func (d *Directory) suggestGroup(name string) string {
	if d == nil {
		return ""
	}
	var names []string
	for _, g := range d.Groups {
		names = append(names, g.DisplayName)
	}
	return suggestion(name, append(names, d.GroupNames...))
}

// userFields are the user properties read; accountEnabled is why reading users needs more
// than User.ReadBasic.All (the basic profile does not show whether an account is disabled).
func userFields() []string {
	return []string{"id", "userPrincipalName", "mail", "displayName", "accountEnabled"}
}

// groupFields are the group properties read.
func groupFields() []string {
	return []string{"id", "displayName", "mail", "mailEnabled", "securityEnabled"}
}

// userFromModel converts an SDK user read with userFields; a user whose accountEnabled was
// not returned counts as enabled.
func userFromModel(m models.Userable) DirectoryObject {
	return DirectoryObject{ID: str(m.GetId()), Type: PrincipalUser, UserPrincipalName: str(m.GetUserPrincipalName()),
		Mail: str(m.GetMail()), DisplayName: str(m.GetDisplayName()),
		AccountEnabled: m.GetAccountEnabled() == nil || *m.GetAccountEnabled()}
}

// groupFromModel converts an SDK group read with groupFields.
func groupFromModel(m models.Groupable) DirectoryObject {
	return DirectoryObject{ID: str(m.GetId()), Type: PrincipalGroup, Mail: str(m.GetMail()), DisplayName: str(m.GetDisplayName()),
		SecurityEnabled: flag(m.GetSecurityEnabled()), MailEnabled: flag(m.GetMailEnabled())}
}

// names gathers, lower-cased and without duplicates (Graph compares these properties without
// case), the names every document's kinds refer to.
func (r *round) directoryNames() directoryNames {
	var all directoryNames
	for _, w := range r.wants {
		for _, k := range kinds() {
			if n, ok := k.(directoryNamer); ok {
				got := n.directoryNames(w)
				all.users = append(all.users, got.users...)
				all.groups = append(all.groups, got.groups...)
				all.groupMails = append(all.groupMails, got.groupMails...)
			}
		}
	}
	var ids, names []string
	for _, g := range all.groups {
		if manifests.IsGUID(g) {
			ids = append(ids, strings.ToLower(g))
		} else {
			names = append(names, g)
		}
	}
	lower := func(xs []string) []string {
		out := make([]string, len(xs))
		for i, x := range xs {
			out[i] = strings.ToLower(x)
		}
		return sets.Sorted(out)
	}
	return directoryNames{users: lower(all.users), groups: append(sets.Sorted(ids), sets.Sorted(names)...), groupMails: lower(all.groupMails)}
}

func (directoryKind) observe(ctx context.Context, n int, r *round) {
	switch {
	case n == 1:
		names := r.directoryNames()
		if len(names.users)+len(names.groups)+len(names.groupMails) == 0 {
			return
		}
		dir := &Directory{}
		for _, o := range r.obs {
			o.Directory = dir
		}
		var ids, groupNames []string
		for _, g := range names.groups {
			if manifests.IsGUID(g) {
				ids = append(ids, g)
			} else {
				groupNames = append(groupNames, g)
			}
		}
		readUsers(ctx, r, dir, "userPrincipalName", names.users)
		readUsers(ctx, r, dir, "mail", names.users)
		readGroups(ctx, r, dir, "id", ids)
		readGroups(ctx, r, dir, "displayName", groupNames)
		readGroups(ctx, r, dir, "mail", names.groupMails)
	case n == 2:
		dir := r.directory()
		if dir == nil || !dir.missing(r.directoryNames()) {
			return
		}
		readDirectoryNames(ctx, r, dir)
	case n == 4 && r.opts.Complete:
		var users, groups []string
		for _, o := range r.obs {
			for _, a := range o.AssignedTo {
				switch a.PrincipalType {
				case PrincipalUser:
					users = append(users, a.PrincipalID)
				case PrincipalGroup:
					groups = append(groups, a.PrincipalID)
				}
			}
		}
		if len(users)+len(groups) == 0 {
			return
		}
		dir := r.directory()
		if dir == nil {
			dir = &Directory{}
			for _, o := range r.obs {
				o.Directory = dir
			}
		}
		readUsers(ctx, r, dir, "id", sets.Sorted(users))
		readGroups(ctx, r, dir, "id", sets.Sorted(groups))
	}
}

// directory is the documents' shared directory, nil when nothing was looked up.
func (r *round) directory() *Directory {
	for _, o := range r.obs {
		if o.Directory != nil {
			return o.Directory
		}
	}
	return nil
}

// missing reports whether some name matched nothing.
func (d *Directory) missing(names directoryNames) bool {
	for _, u := range names.users {
		if d.User(u) == nil && d.groupByMail(u) == nil {
			return true
		}
	}
	for _, g := range names.groups {
		if len(d.groupsNamed(g)) == 0 {
			return true
		}
	}
	return false
}

// readUsers queues the lookups of users whose prop is one of values, adding them to dir.
func readUsers(ctx context.Context, r *round, dir *Directory, prop string, values []string) {
	for _, c := range inFilterChunks(values) {
		f := inFilter(prop, c)
		top := int32(len(c))
		r.graph(func(ctx context.Context, res graph.BatchResponse) error {
			us, err := decodeList[models.UserCollectionResponseable](ctx, r.e, res, models.CreateUserCollectionResponseFromDiscriminatorValue, userFromModel)
			if err != nil {
				return fmt.Errorf("read users: %w", rights.ExplainDenied(err, rights.OpReadUsers))
			}
			for _, u := range us {
				if !slices.ContainsFunc(dir.Users, func(x DirectoryObject) bool { return x.ID == u.ID }) {
					dir.Users = append(dir.Users, u)
				}
			}
			slices.SortFunc(dir.Users, func(a, b DirectoryObject) int { return strings.Compare(a.ID, b.ID) })
			dir.byUPN = nil
			return nil
		})(r.e.Graph.Graph.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &f, Select: userFields(), Top: &top}}))
	}
}

// readGroups queues the lookups of groups whose prop is one of values, adding them to dir.
func readGroups(ctx context.Context, r *round, dir *Directory, prop string, values []string) {
	for _, c := range inFilterChunks(values) {
		f := inFilter(prop, c)
		r.graph(func(ctx context.Context, res graph.BatchResponse) error {
			gs, err := decodeList[models.GroupCollectionResponseable](ctx, r.e, res, models.CreateGroupCollectionResponseFromDiscriminatorValue, groupFromModel)
			if err != nil {
				return fmt.Errorf("read groups: %w", rights.ExplainDenied(err, rights.OpReadGroups))
			}
			for _, g := range gs {
				if !slices.ContainsFunc(dir.Groups, func(x DirectoryObject) bool { return x.ID == g.ID }) {
					dir.Groups = append(dir.Groups, g)
				}
			}
			slices.SortFunc(dir.Groups, func(a, b DirectoryObject) int { return strings.Compare(a.ID, b.ID) })
			return nil
		})(r.e.Graph.Graph.Groups().ToGetRequestInformation(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: &f, Select: groupFields()}}))
	}
}

// readDirectoryNames queues a read of one page of the directory's user and group names, the
// candidates of "did you mean". It follows no next link: a suggestion is a courtesy, not
// worth more round trips.
func readDirectoryNames(ctx context.Context, r *round, dir *Directory) {
	r.graph(func(_ context.Context, res graph.BatchResponse) error {
		page, err := graph.DecodeAs[models.UserCollectionResponseable](r.e.Graph, res, models.CreateUserCollectionResponseFromDiscriminatorValue)
		if err != nil || page == nil {
			return nil // no suggestion, no harm
		}
		for _, u := range page.GetValue() {
			dir.UserNames = append(dir.UserNames, str(u.GetUserPrincipalName()))
		}
		return nil
	})(r.e.Graph.Graph.Users().ToGetRequestInformation(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: []string{"userPrincipalName"}, Top: pageSize()}}))
	r.graph(func(_ context.Context, res graph.BatchResponse) error {
		page, err := graph.DecodeAs[models.GroupCollectionResponseable](r.e.Graph, res, models.CreateGroupCollectionResponseFromDiscriminatorValue)
		if err != nil || page == nil {
			return nil
		}
		for _, g := range page.GetValue() {
			dir.GroupNames = append(dir.GroupNames, str(g.GetDisplayName()))
		}
		return nil
	})(r.e.Graph.Graph.Groups().ToGetRequestInformation(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Select: []string{"displayName"}, Top: pageSize()}}))
}

func (directoryKind) plan(*docPlan) {}

func (directoryKind) apply(context.Context, *Engine, *Change, *appState) (string, error) {
	return "", fmt.Errorf("the directory is read, never written")
}
