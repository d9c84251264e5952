package graph

import (
	"github.com/provisionhq/provision/provision/retry"

	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/microsoftgraph/msgraph-sdk-go/applicationswithappid"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// fakeBatch answers $batch calls: each item by its URL, with a per-id script of statuses to
// answer before the real one.
type fakeBatch struct {
	t      *testing.T
	mu     sync.Mutex
	calls  [][]string // ids per $batch call
	script map[string][]int
	bodies map[string]map[string]any // item id → body the item sent
}

func (f *fakeBatch) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/v1.0/$batch") {
		writeJSON(w, http.StatusNotFound, odataError("Request_ResourceNotFound", "no route "+r.URL.Path))
		return
	}
	var in struct {
		Requests []struct {
			ID, Method, URL string
			Headers         map[string]string
			Body            map[string]any
			DependsOn       []string `json:"dependsOn"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(readBody(f.t, r), &in); err != nil {
		f.t.Errorf("decode batch: %v", err)
	}
	if len(in.Requests) > MaxBatchSize {
		writeJSON(w, http.StatusBadRequest, odataError("Request_BadRequest", "too many requests in batch"))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	var out []map[string]any
	failed := map[string]bool{}
	for _, req := range in.Requests {
		ids = append(ids, req.ID)
		if req.Body != nil {
			f.bodies[req.ID] = req.Body
		}
		resp := map[string]any{"id": req.ID}
		dependencyFailed := false
		for _, d := range req.DependsOn {
			dependencyFailed = dependencyFailed || failed[d]
		}
		switch {
		case dependencyFailed:
			resp["status"] = http.StatusFailedDependency
			resp["body"] = odataError("FailedDependency", "dependency failed")
			failed[req.ID] = true
		case len(f.script[req.ID]) > 0:
			status := f.script[req.ID][0]
			f.script[req.ID] = f.script[req.ID][1:]
			resp["status"] = status
			resp["headers"] = map[string]string{"Retry-After": "3", "Content-Type": "application/json"}
			resp["body"] = odataError("TooManyRequests", "Too many requests")
			failed[req.ID] = true
		case strings.HasPrefix(req.URL, "/applications(appId="):
			resp["status"] = http.StatusOK
			resp["headers"] = map[string]string{"Content-Type": "application/json"}
			resp["body"] = application("obj-"+req.ID, "app-"+req.ID, "App "+req.ID)
		case strings.HasPrefix(req.URL, "/applications/missing"):
			resp["status"] = http.StatusNotFound
			resp["body"] = odataError("Request_ResourceNotFound", "Resource 'missing' does not exist or one of its queried reference-property objects are not present.")
		default:
			resp["status"] = http.StatusNoContent
		}
		// Answer in reverse order, as Graph may.
		out = append([]map[string]any{resp}, out...)
	}
	f.calls = append(f.calls, ids)
	writeJSON(w, http.StatusOK, map[string]any{"responses": out})
}

func TestBatchRetriesThrottledItemsAndDecodesModels(t *testing.T) {
	f := &fakeBatch{t: t, script: map[string][]int{"a": {429, 429}}, bodies: map[string]map[string]any{}}
	c, clk := newTestClient(t, f.handle, Options{})
	ctx := context.Background()

	appID := "app-a"
	cfg := &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetRequestConfiguration{
		QueryParameters: &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"id", "appId", "displayName"}},
	}
	ri, err := c.Graph.ApplicationsWithAppId(&appID).ToGetRequestInformation(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	getA, err := c.BatchRequestFrom("a", ri)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("/applications(appId='app-a')?$select=id,appId,displayName", getA.URL); diff != "" {
		t.Errorf("batch URL from the SDK builder (-want +got):\n%s", diff)
	}
	patch := models.NewApplication()
	notes := "managed by provision"
	patch.SetNotes(&notes)
	pri, err := c.Graph.Applications().ByApplicationId("obj-b").ToPatchRequestInformation(ctx, patch, nil)
	if err != nil {
		t.Fatal(err)
	}
	patchB, err := c.BatchRequestFrom("b", pri)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []BatchRequest{getA, patchB,
		{ID: "c", Method: "GET", URL: "/applications/missing"},
		{ID: "d", Method: "PATCH", URL: "/applications/obj-d", Body: map[string]any{"notes": "x"}, DependsOn: []string{"a"}},
	}
	for i := range 21 {
		id := fmt.Sprintf("x%02d", i)
		reqs = append(reqs, BatchRequest{ID: id, Method: "GET", URL: "/applications(appId='" + id + "')"})
	}

	resps, err := c.Batch(ctx, reqs)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if len(resps) != len(reqs) {
		t.Fatalf("got %d responses for %d requests", len(resps), len(reqs))
	}
	for i, r := range resps {
		if r.ID != reqs[i].ID {
			t.Errorf("response %d is %s, want %s: responses follow the request order", i, r.ID, reqs[i].ID)
		}
	}
	// Chunk 1 (20 items) is sent, then a and its dependant d again twice; chunk 2 has 5 items.
	wantCalls := [][]string{idsOf(reqs[:20]), {"a", "d"}, {"a", "d"}, idsOf(reqs[20:])}
	if diff := cmp.Diff(wantCalls, f.calls); diff != "" {
		t.Errorf("$batch calls (-want +got):\n%s", diff)
	}
	if waited := clk.Now().Sub(epoch()); waited != 6*time.Second {
		t.Errorf("waited %s on the fake clock, want the two inner Retry-After of 3s", waited)
	}

	app, err := DecodeAs[models.Applicationable](c, resps[0], models.CreateApplicationFromDiscriminatorValue)
	if err != nil {
		t.Fatalf("decode a: %v", err)
	}
	if got := []string{*app.GetId(), *app.GetAppId(), *app.GetDisplayName()}; !cmp.Equal(got, []string{"obj-a", "app-a", "App a"}) {
		t.Errorf("decoded application = %v", got)
	}
	if resps[0].Attempts != 3 {
		t.Errorf("a took %d attempts, want 3", resps[0].Attempts)
	}
	if err := resps[1].Err(); err != nil || resps[1].Status != http.StatusNoContent {
		t.Errorf("b = %d %v", resps[1].Status, err)
	}
	if diff := cmp.Diff(map[string]any{"@odata.type": "#microsoft.graph.application", "notes": "managed by provision"}, f.bodies["b"]); diff != "" {
		t.Errorf("PATCH body sent for b (-want +got):\n%s", diff)
	}
	if err := resps[2].Err(); !IsNotFound(err) || !IsReplicationLag(err) {
		t.Errorf("c error = %v, want a classified 404", err)
	}
	if v, err := c.Decode(resps[1], models.CreateApplicationFromDiscriminatorValue); v != nil || err != nil {
		t.Errorf("decoding a 204 = %v, %v; want nil, nil", v, err)
	}
}

func TestBatchGivesUpKeepingTheLastAnswer(t *testing.T) {
	f := &fakeBatch{t: t, script: map[string][]int{"a": {429, 429, 429, 429, 429, 429, 429}}, bodies: map[string]map[string]any{}}
	// Throttled items are bounded by the time budget: two waits of their Retry-After (3 s).
	c, _ := newTestClient(t, f.handle, Options{Retry: retry.Policy{MaxAttempts: 3, MaxElapsed: 6 * time.Second}})
	resps, err := c.Batch(context.Background(), []BatchRequest{{ID: "a", Method: "GET", URL: "/applications(appId='a')"}})
	if err != nil {
		t.Fatal(err)
	}
	err = resps[0].Err()
	if StatusCode(err) != http.StatusTooManyRequests || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("err = %v, want the last 429 after 3 attempts", err)
	}
	if len(f.calls) != 3 {
		t.Errorf("%d batch calls, want 3", len(f.calls))
	}
}

func TestBatchRejectsBadInput(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { t.Error("nothing should be sent") }, Options{})
	tests := []struct {
		name, reason string
		reqs         []BatchRequest
	}{
		{name: "duplicate id", reason: "Graph rejects the whole batch", reqs: []BatchRequest{{ID: "a", Method: "GET", URL: "/x"}, {ID: "a", Method: "GET", URL: "/y"}}},
		{name: "dependency across chunks", reason: "dependsOn only works inside one $batch",
			reqs: append(make21(), BatchRequest{ID: "late", Method: "GET", URL: "/x", DependsOn: []string{"r00"}})},
	}
	for _, tc := range tests {
		if _, err := c.Batch(context.Background(), tc.reqs); err == nil {
			t.Errorf("%s: Batch accepted it (%s)", tc.name, tc.reason)
		}
	}
}

func make21() []BatchRequest {
	var out []BatchRequest
	for i := range 21 {
		out = append(out, BatchRequest{ID: fmt.Sprintf("r%02d", i), Method: "GET", URL: "/x"})
	}
	return out
}

func idsOf(reqs []BatchRequest) []string {
	var ids []string
	for _, r := range reqs {
		ids = append(ids, r.ID)
	}
	return ids
}
