package rights

import (
	"errors"
	"strings"
	"testing"

	"github.com/provisionhq/provision/provision/graph"
)

func TestExplainDenied(t *testing.T) {
	tests := []struct {
		name, reason string
		status       int
		code         string
		op           Operation
		want         []string
		unchanged    bool
	}{
		{name: "create app 403", reason: "a denial names least-privileged permissions, the roles and the request id",
			status: 403, code: "Authorization_RequestDenied", op: OpCreateApplication,
			want: []string{"create the application: permission denied", "403 Authorization_RequestDenied",
				"Application.ReadWrite.All, Application.ReadWrite.OwnedBy",
				"Cloud Application Administrator, Application Administrator or Global Administrator",
				"request-id 9f0c1d2e-0000-4000-8000-000000000001"}},
		{name: "consent app roles", reason: "the permission and the Graph-specific role are named",
			status: 403, code: "Authorization_RequestDenied", op: OpGrantApplicationRoles,
			want: []string{"AppRoleAssignment.ReadWrite.All", "Privileged Role Administrator"}},
		{name: "read users", reason: "the rights table's least privilege for reading users, the same doctor recommends",
			status: 403, code: "Authorization_RequestDenied", op: OpReadUsers,
			want: []string{"needs User.Read.All,", "User.ReadBasic.All finds users but does not show whether an account is disabled"}},
		{name: "401", reason: "a rejected token points at tenant and cloud", status: 401, code: "InvalidAuthenticationToken",
			op: OpReadServicePrincipals, want: []string{"token was rejected", "Application.Read.All"}},
		{name: "404 untouched", reason: "only denials are explained", status: 404, code: "Request_ResourceNotFound",
			op: OpFindApplication, unchanged: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error = &graph.Error{Status: tc.status, Code: tc.code, Message: "Insufficient privileges to complete the operation.",
				RequestID: "9f0c1d2e-0000-4000-8000-000000000001"}
			got := ExplainDenied(err, tc.op)
			if tc.unchanged {
				if got != err {
					t.Errorf("ExplainDenied changed %v into %v (%s)", err, got, tc.reason)
				}
				return
			}
			var denied *DeniedError
			if !errors.As(got, &denied) {
				t.Fatalf("ExplainDenied = %T %v, want *DeniedError", got, got)
			}
			for _, s := range tc.want {
				if !strings.Contains(got.Error(), s) {
					t.Errorf("message lacks %q (%s):\n%s", s, tc.reason, got)
				}
			}
			if graph.StatusCode(got) != tc.status {
				t.Errorf("StatusCode through DeniedError = %d", graph.StatusCode(got))
			}
		})
	}
}

func TestEveryOperationHasARequirement(t *testing.T) {
	for _, op := range Operations() {
		r, ok := RequirementOf(op)
		if !ok || r.Action == "" || len(r.AppPermissions) == 0 {
			t.Errorf("operation %s has no usable requirement: %+v", op, r)
		}
	}
}
