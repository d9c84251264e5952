package graph

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBatchRetriesServerErrorsOnIdempotentItemsOnly(t *testing.T) {
	tests := []struct {
		reason      string
		method, url string
		script      []int
		wantStatus  int
		wantCalls   int
	}{
		{reason: "a read that met 500 then 502 is safe to repeat, and succeeds",
			method: "GET", url: "/applications(appId='r')", script: []int{500, 502}, wantStatus: 200, wantCalls: 3},
		{reason: "a write that met 500 may have been applied: it is not repeated, the engine decides",
			method: "POST", url: "/applications", script: []int{500}, wantStatus: 500, wantCalls: 1},
		{reason: "a PATCH sets properties: one that met 502 is repeated like a read",
			method: "PATCH", url: "/applications/obj-w", script: []int{502}, wantStatus: 204, wantCalls: 2},
		{reason: "a DELETE that met 504 is repeated: deleting what is gone is no harm",
			method: "DELETE", url: "/applications/obj-w", script: []int{504}, wantStatus: 204, wantCalls: 2},
		{reason: "a POST refused with 503 and Retry-After was throttled, not processed: repeated",
			method: "POST", url: "/servicePrincipals", script: []int{503}, wantStatus: 204, wantCalls: 2},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			f := &fakeBatch{t: t, script: map[string][]int{"i": tc.script}, bodies: map[string]map[string]any{}}
			c, _ := newTestClient(t, f.handle, Options{})
			req := BatchRequest{ID: "i", Method: tc.method, URL: tc.url}
			if tc.method != "GET" {
				req.Body = map[string]any{"notes": "x"}
			}
			resps, err := c.Batch(context.Background(), []BatchRequest{req})
			if err != nil {
				t.Fatal(err)
			}
			type outcome struct{ Status, Calls int }
			if diff := cmp.Diff(outcome{tc.wantStatus, tc.wantCalls}, outcome{resps[0].Status, len(f.calls)}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
