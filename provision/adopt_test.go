package provision

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExplicitAppIDAdoptsWithoutAChange(t *testing.T) {
	untagged := func() *ObservedApp {
		return &ObservedApp{ID: "obj", AppID: "11111111-1111-1111-1111-111111111111", DisplayName: "OpenFire",
			SignInAudience: "AzureADMultipleOrgs", Tags: []string{"WindowsAzureActiveDirectoryIntegratedApp"}}
	}
	for _, tc := range []struct {
		reason     string
		want       Desired
		wantAction Action // 0: no change
	}{
		{
			reason:     "matched by name, the untagged registration is adopted with a change that stamps the tag",
			want:       Desired{Address: `application["OpenFire"]`, Name: "OpenFire"},
			wantAction: Adopt,
		},
		{
			reason: "named by appId and otherwise equal, the registration needs no change",
			want:   Desired{Address: `application["OpenFire"]`, Name: "OpenFire", AppID: "11111111-1111-1111-1111-111111111111"},
		},
		{
			reason: "named by appId with a difference, the change also stamps the tag",
			want: Desired{Address: `application["OpenFire"]`, Name: "OpenFire", AppID: "11111111-1111-1111-1111-111111111111",
				SignInAudience: "AzureADMyOrg"},
			wantAction: Adopt,
		},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			c := planApplication(tc.want, untagged(), nil, nil)
			var got Action
			if c != nil {
				got = c.Action
			}
			if diff := cmp.Diff(tc.wantAction, got); diff != "" {
				t.Errorf("action -want +got:\n%s", diff)
			}
		})
	}
}
