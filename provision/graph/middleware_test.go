package graph

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	kiotahttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

func TestMiddlewareIsTheSDKDefaultWithOurRetry(t *testing.T) {
	opts := msgraphsdk.GetDefaultClientOptions()
	want := map[string]bool{}
	for _, m := range msgraphcore.GetDefaultMiddlewaresWithOptions(&opts) {
		if _, isRetry := m.(*kiotahttp.RetryHandler); isRetry {
			continue
		}
		want[reflect.TypeOf(m).String()] = true
	}
	want["*graph.retryHandler"] = true
	got := map[string]bool{}
	for _, m := range middleware(Options{}, RetryPolicy{}) {
		got[reflect.TypeOf(m).String()] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("middleware types (-want +got):\n%s", diff)
	}
}
