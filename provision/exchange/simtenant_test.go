package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"

	"github.com/provisionhq/provision/provision/exchange"
	"github.com/provisionhq/provision/provision/simtenant/simtest"
)

// TestAgainstSimulatedTenant runs the Send-As cycle through the whole simulated tenant: a
// real azidentity credential gets an Exchange token from its authority, and the tenant
// authorises the call from the token's roles before handing it to exchangesim.
func TestAgainstSimulatedTenant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := simtest.Start(t, simtest.SignInRetry(policy.RetryOptions{MaxRetries: -1})).Exchange
	const mailbox = "jm@office.openfire.pro"
	for _, tr := range []string{"jojo@office.openfire.pro", "compta@office.openfire.pro"} {
		if err := c.AddSendAs(ctx, mailbox, tr); err != nil {
			t.Fatalf("AddSendAs(%s): %v", tr, err)
		}
	}
	got, err := c.SendAsTrustees(ctx, mailbox)
	if err != nil {
		t.Fatalf("SendAsTrustees: %v", err)
	}
	want := []string{"jojo@office.openfire.pro", "compta@office.openfire.pro"}
	var addrs []string
	for _, tr := range got {
		addrs = append(addrs, tr.Address)
	}
	if diff := cmp.Diff(want, addrs); diff != "" {
		t.Errorf("trustee addresses (-want +got):\n%s", diff)
	}
	if err := c.RemoveSendAs(ctx, mailbox, "compta@office.openfire.pro"); err != nil {
		t.Fatalf("RemoveSendAs: %v", err)
	}
	if _, err := c.SendAsTrustees(ctx, "nobody@office.openfire.pro"); !exchange.IsNotFound(err) {
		t.Errorf("unknown mailbox: error %v, want IsNotFound", err)
	}
}
