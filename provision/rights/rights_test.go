package rights

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStepOf(t *testing.T) {
	ids := []StepID{StepReadApplications, StepReadConsent, StepWriteApplication, StepGrantDelegated, StepGrantApplication,
		StepAssign, StepReadUsers, StepReadGroups, StepSendAs, StepExchangeServicePrincipal, StepMailboxAccess}
	var got []StepID
	for _, s := range Steps(Everything()) {
		got = append(got, s.ID)
	}
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("Steps(Everything()) are not every step in run order (-want +got):\n%s", diff)
	}
	for _, id := range ids {
		s, ok := StepOf(id)
		if !ok || s.Action == "" || len(s.AppOnly) == 0 {
			t.Errorf("StepOf(%s) = %+v, %v: want a step with an action and app-only alternatives", id, s, ok)
		}
	}
	if _, ok := StepOf("no-such-step"); ok {
		t.Error("StepOf found a step that does not exist")
	}
}

func TestReadUsersRecommendsUserReadAll(t *testing.T) {
	s, _ := StepOf(StepReadUsers)
	want := Alternative{{Kind: GraphPermission, Name: "User.Read.All"}}
	if diff := cmp.Diff(want, s.AppOnly[0]); diff != "" {
		t.Errorf("least-privileged way to read users, which must show accountEnabled (-want +got):\n%s", diff)
	}
}
