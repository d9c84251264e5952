package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/graph"
)

// Query says which application to export and which mailboxes' Send-As to include.
type Query struct {
	// AppID is the application's client id; when empty, Name is its display name, which must
	// name exactly one application.
	AppID string
	Name  string
	// Mailboxes are the mailboxes (UPN or address) whose Send-As trustees are exported.
	Mailboxes []string
}

// ErrNotFound reports that no application matches the query.
var ErrNotFound = errors.New("no such application")

// Read reads everything the manifest of one application is made of: the registration, its
// service principal, the resource APIs it requests permissions from (to turn ids into names),
// its consent, the users and groups assigned to it, and, through exc, the Send-As trustees
// of q.Mailboxes. It is the engine's complete observation of that one application, so its
// reads travel in the engine's $batch rounds. It only reads. exc may be nil when q names no
// mailbox.
func Read(ctx context.Context, c *graph.Client, exc *exchange.Client, q Query) (*Snapshot, error) {
	if len(q.Mailboxes) > 0 && exc == nil {
		return nil, errors.New("read Send-As: no Exchange Online client")
	}
	want := provision.Desired{Address: "export", AppID: q.AppID, Name: q.Name}
	for _, mb := range q.Mailboxes {
		want.SendAs = append(want.SendAs, provision.DesiredSendAs{Mailbox: provision.DesiredName{Name: mb}})
		want.Mailboxes = append(want.Mailboxes, provision.DesiredMailbox{Address: provision.DesiredName{Name: mb}})
	}
	want.MailboxesManaged = len(q.Mailboxes) > 0
	engine := &provision.Engine{Graph: c, Exchange: exc}
	obs, err := engine.Observe(ctx, []provision.Desired{want}, provision.ObserveOptions{Complete: true})
	if err != nil {
		return nil, err
	}
	o := obs[0]
	app, err := theApp(q, o.Apps)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{App: *app, ServicePrincipal: o.ServicePrincipal, Resources: o.Resources, Grants: o.Grants,
		AppRoleAssignments: o.AppRoleAssignments, AssignedTo: o.AssignedTo, Principals: map[string]provision.DirectoryObject{}}
	if o.Directory != nil {
		for _, u := range o.Directory.Users {
			s.Principals[strings.ToLower(u.ID)] = u
		}
		for _, g := range o.Directory.Groups {
			s.Principals[strings.ToLower(g.ID)] = g
		}
	}
	for _, mb := range q.Mailboxes {
		s.SendAs = append(s.SendAs, sendAsOf(o, mb))
	}
	if o.Mail != nil {
		s.ExchangeServicePrincipal = o.Mail.ServicePrincipal
		for _, mb := range q.Mailboxes {
			m := Mailbox{Address: mb}
			u := o.Directory.User(mb)
			if u != nil {
				m.State, m.Found = o.Mail.Mailboxes[strings.ToLower(u.UserPrincipalName)]
			}
			s.Mailboxes = append(s.Mailboxes, m)
		}
	}
	return s, nil
}

// theApp is the one application the query names.
func theApp(q Query, apps []provision.ObservedApp) (*provision.ObservedApp, error) {
	if q.AppID != "" {
		for i := range apps {
			if strings.EqualFold(apps[i].AppID, q.AppID) {
				return &apps[i], nil
			}
		}
		return nil, fmt.Errorf("read application %s: %w with this appId", q.AppID, ErrNotFound)
	}
	switch len(apps) {
	case 0:
		return nil, fmt.Errorf("read application %q: %w with this display name", q.Name, ErrNotFound)
	case 1:
		return &apps[0], nil
	}
	ids := make([]string, len(apps))
	for i, a := range apps {
		ids[i] = a.AppID
	}
	slices.Sort(ids)
	return nil, fmt.Errorf("read application %q: %d applications have this display name (appIds %s): export one with --app-id",
		q.Name, len(apps), strings.Join(ids, ", "))
}

// sendAsOf is the Send-As state observed of mailbox; a mailbox the directory or Exchange
// does not know is reported as Missing, for Build to say.
func sendAsOf(o *provision.Observed, mailbox string) provision.ObservedSendAs {
	upn := mailbox
	if o.Directory != nil {
		if u := o.Directory.User(mailbox); u != nil {
			upn = u.UserPrincipalName
		}
	}
	for _, s := range o.SendAs {
		if strings.EqualFold(s.Mailbox, upn) {
			return s
		}
	}
	return provision.ObservedSendAs{Mailbox: mailbox, Missing: true}
}
