package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/rights"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// TestMailboxSideAgainstSimulatedTenant runs SMTP AUTH and FullAccess through the whole
// simulated tenant, signed in as its operator (an Exchange Recipient Administrator) with a
// real azidentity credential.
func TestMailboxSideAgainstSimulatedTenant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f := simtest.Start(t, simtest.SignInRetry(policy.RetryOptions{MaxRetries: -1}))
	c := f.Exchange
	const mailbox = "admin@office.openfire.pro"
	// The pointer is planted: registering one needs Exchange Administrator, which the
	// operator does not hold.
	sp := f.Tenant.Exchange().RegisterServicePrincipal("5c2f0d8e-8a41-4a51-9b1e-0f6a2b7c9d10", "a1b2c3d4-0000-4000-8000-000000000001", "OpenFire")
	if err := c.SetSMTPAuth(ctx, mailbox, exchange.SMTPAuthEnabled); err != nil {
		t.Fatalf("SetSMTPAuth: %v", err)
	}
	if err := c.AddFullAccess(ctx, mailbox, sp.ObjectID); err != nil {
		t.Fatalf("AddFullAccess: %v", err)
	}
	states, err := c.MailboxStates(ctx, []string{mailbox})
	if err != nil {
		t.Fatalf("MailboxStates: %v", err)
	}
	st := states[0]
	if st.CAS.SMTPAuth != exchange.SMTPAuthEnabled || st.CAS.ExternalDirectoryObjectId == "" {
		t.Errorf("client access settings %+v, want SMTP AUTH enabled and the user's object id", st.CAS)
	}
	pointer := exchange.ServicePrincipal{AppID: sp.AppID, ObjectID: sp.ObjectID}
	if got := st.Permissions.FullAccessOf(pointer); !got.Granted {
		t.Errorf("FullAccessOf = %+v, want granted", got)
	}
}

// TestRoleNamesAreTheRightsTable keeps the role names the client's errors give equal to the
// rights table's, which doctor checks.
func TestRoleNamesAreTheRightsTable(t *testing.T) {
	if exchange.RoleExchangeAdministrator != rights.RoleExchangeAdmin || exchange.RoleRecipientAdministrator != rights.RoleExchangeRecipientAdmin {
		t.Errorf("exchange's role names %q, %q differ from package rights' %q, %q", exchange.RoleExchangeAdministrator,
			exchange.RoleRecipientAdministrator, rights.RoleExchangeAdmin, rights.RoleExchangeRecipientAdmin)
	}
}
