package provision_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision"
	"github.com/provisionhq/provision/provision/exchange"
)

// TestPlanSendAs plans Send-As from hand-made observations, without a tenant: how held
// grants are matched to manifest trustees, and what an unlisted one becomes.
func TestPlanSendAs(t *testing.T) {
	dir := &provision.Directory{
		Users: []provision.DirectoryObject{
			{ID: "u-jm", Type: "User", UserPrincipalName: "jm@x.test", Mail: "jm@x.test", AccountEnabled: true},
			{ID: "u-jojo", Type: "User", UserPrincipalName: "jojo@x.test", Mail: "josiane.martin@x.test", AccountEnabled: true},
			{ID: "u-bob", Type: "User", UserPrincipalName: "bob@x.test", Mail: "bob@x.test", AccountEnabled: true},
		},
		Groups: []provision.DirectoryObject{
			{ID: "g-compta", Type: "Group", DisplayName: "Comptabilité", Mail: "compta@x.test", SecurityEnabled: true, MailEnabled: true},
		},
	}
	entry := func(exclusive bool, trustees ...string) []provision.DesiredSendAs {
		s := provision.DesiredSendAs{Path: "sendAs[0]", Exclusive: exclusive, Mailbox: provision.DesiredName{Name: "jm@x.test", Path: "sendAs[0].mailbox"}}
		for i, tr := range trustees {
			s.Trustees = append(s.Trustees, provision.DesiredName{Name: tr, Path: fmt.Sprintf("sendAs[0].trustees[%d]", i)})
		}
		return []provision.DesiredSendAs{s}
	}
	held := func(ts ...exchange.Trustee) []provision.ObservedSendAs {
		return []provision.ObservedSendAs{{Mailbox: "jm@x.test", Trustees: ts,
			Ignored: []exchange.IgnoredRow{{Trustee: `NT AUTHORITY\SELF`, AccessControlType: "Allow", Reason: exchange.IgnoredSelf}}}}
	}
	jojo := exchange.Trustee{Raw: "jojo@x.test", Address: "jojo@x.test"}
	bob := exchange.Trustee{Raw: "bob@x.test", Address: "bob@x.test"}
	compta := exchange.Trustee{Raw: "compta", Address: "compta@x.test", ObjectID: "g-compta"}

	cases := map[string]struct {
		reason   string
		sendAs   []provision.DesiredSendAs
		held     []provision.ObservedSendAs
		want     []string
		warnings []string
	}{
		"NothingHeld": {
			reason: "every trustee is granted; a group is given to Exchange by its address",
			sendAs: entry(false, "jojo@x.test", "compta@x.test"),
			held:   held(),
			want: []string{
				`+ send_as["jm@x.test"].trustee["compta@x.test"] compta@x.test`,
				`+ send_as["jm@x.test"].trustee["jojo@x.test"] jojo@x.test`,
			},
		},
		"MatchedByMailAndObjectID": {
			reason: "a trustee written by mail matches the grant Exchange prints by UPN, a group printed by name matches by object id",
			sendAs: entry(false, "josiane.martin@x.test", "compta@x.test"),
			held:   held(jojo, compta),
		},
		"UnlistedKept": {
			reason: "without exclusive, an unlisted trustee is a warning, not a change",
			sendAs: entry(false, "jojo@x.test"),
			held:   held(jojo, bob),
			warnings: []string{`send_as["jm@x.test"].trustee["bob@x.test"]: ` +
				`bob@x.test also holds Send-As on jm@x.test without being listed; kept, since exclusive is false`},
		},
		"UnlistedRemoved": {
			reason: "with exclusive, an unlisted trustee is removed, by the name Exchange printed",
			sendAs: entry(true, "jojo@x.test"),
			held:   held(jojo, bob, compta),
			want: []string{
				`- send_as["jm@x.test"].trustee["bob@x.test"] bob@x.test`,
				`- send_as["jm@x.test"].trustee["compta@x.test"] compta`,
			},
		},
		"OrphanReported": {
			reason: "a grant to a deleted principal (bare SID) is reported and left alone, even when exclusive",
			sendAs: entry(true, "jojo@x.test"),
			held: []provision.ObservedSendAs{{Mailbox: "jm@x.test", Trustees: []exchange.Trustee{jojo},
				Ignored: []exchange.IgnoredRow{{Trustee: "S-1-5-21-1-2-3-1001", AccessControlType: "Allow", Reason: exchange.IgnoredOrphan}}}},
			warnings: []string{`send_as["jm@x.test"].trustee["S-1-5-21-1-2-3-1001"]: orphan Send-As entry for S-1-5-21-1-2-3-1001 on jm@x.test is left alone`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want := provision.Desired{Address: `application["X"]`, Name: "X", SendAs: tc.sendAs}
			changes, warnings, err := provision.PlanDocument(want, &provision.Observed{Directory: dir, SendAs: tc.held}, provision.PlanOptions{})
			if err != nil {
				t.Fatalf("%s\nplan: %v", tc.reason, err)
			}
			var got []string
			for _, c := range changes {
				if c.Kind == provision.KindSendAs {
					got = append(got, fmt.Sprintf("%c %s %s", c.Action, c.Address, trusteeOf(c)))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nSend-As changes -want +got:\n%s", tc.reason, diff)
			}
			var ws []string
			for _, w := range warnings {
				if w.Address != "" && w.Address[0] == 's' {
					ws = append(ws, w.Address+": "+w.Message)
				}
			}
			if diff := cmp.Diff(tc.warnings, ws); diff != "" {
				t.Errorf("%s\nwarnings -want +got:\n%s", tc.reason, diff)
			}
		})
	}
}

// trusteeOf is the trustee a Send-As change writes, as its attributes show it.
func trusteeOf(c provision.Change) any {
	for _, a := range c.Attrs {
		if a.Name == "trustee" {
			if a.After != nil {
				return a.After
			}
			return a.Before
		}
	}
	return nil
}
