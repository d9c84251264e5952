package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/provisionhq/provision/provision/httpbody"
	"github.com/provisionhq/provision/provision/retry"
)

// MaxBatchSize is the most requests Graph accepts in one $batch.
const MaxBatchSize = 20

// BatchRequest is one request of a $batch.
type BatchRequest struct {
	// ID is unique within the call; responses carry it back.
	ID string
	// Method is GET, POST, PATCH or DELETE.
	Method string
	// URL is relative to the version root, e.g. "/applications(appId='…')?$select=id,appId".
	URL string
	// Headers are the request's own headers (ConsistencyLevel goes here, not on the batch).
	Headers map[string]string
	// Body is marshalled as JSON; a json.RawMessage or []byte is sent as is.
	Body any
	// DependsOn lists ids that must succeed first; they must be in the same chunk of
	// MaxBatchSize, so keep dependent requests together at the start of the slice.
	DependsOn []string
}

// BatchResponse is the answer to one BatchRequest.
type BatchResponse struct {
	ID      string
	Status  int
	Headers map[string]string
	Body    json.RawMessage
	// Attempts is how many times the request was sent (inner throttling is retried).
	Attempts int

	// method and path name the request in the error of an answer that is not Graph's envelope.
	method, path string
}

// Err is nil for a 2xx answer and an *Error built from the body otherwise, so the classifiers
// (IsNotFound, IsReplicationLag, ExplainDenied…) work on batch items as on single calls.
func (r BatchResponse) Err() error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	e := &Error{Status: r.Status, RetryAfter: header(r.Headers, "Retry-After")}
	var env struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID       string `json:"request-id"`
				ClientRequestID string `json:"client-request-id"`
				Date            string `json:"date"`
			} `json:"innerError"`
			Details []struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"details"`
		} `json:"error"`
	}
	if len(r.Body) > 0 && json.Unmarshal(r.Body, &env) == nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		e.RequestID = env.Error.InnerError.RequestID
		e.ClientRequestID = env.Error.InnerError.ClientRequestID
		e.Date = env.Error.InnerError.Date
		for _, d := range env.Error.Details {
			e.Details = append(e.Details, strings.TrimPrefix(d.Code+": "+d.Message, ": "))
		}
	}
	if e.Message == "" {
		// Graph's envelope always has a message; without one the body is something else.
		e.Message = "answered with " + httpbody.Describe(header(r.Headers, "Content-Type"), r.Body)
		if r.method != "" {
			e.Message = r.method + " " + r.path + " " + e.Message
		}
	}
	e.RequestID = firstNonEmpty(e.RequestID, header(r.Headers, "request-id"))
	if r.Attempts > 1 && retry.OnStatus(retry.Idempotent(r.method), r.Status, e.RetryAfter != "") {
		e.Attempts = r.Attempts
	}
	return e
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// BatchRequestFrom turns a request built by the fluent SDK into a BatchRequest, so the engine
// never writes Graph URLs by hand. For a GET with $select:
//
//	cfg := &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetRequestConfiguration{
//		QueryParameters: &applicationswithappid.ApplicationsWithAppIdRequestBuilderGetQueryParameters{Select: []string{"id", "appId"}},
//	}
//	ri, _ := c.Graph.ApplicationsWithAppId(&appID).ToGetRequestInformation(ctx, cfg)
//	req, _ := c.BatchRequestFrom("app", ri)
//	resps, _ := c.Batch(ctx, []graph.BatchRequest{req, …})
//	app, err := graph.DecodeAs[models.Applicationable](c, resps[0], models.CreateApplicationFromDiscriminatorValue)
func (c *Client) BatchRequestFrom(id string, ri *abstractions.RequestInformation) (BatchRequest, error) {
	if ri.PathParameters == nil {
		ri.PathParameters = map[string]string{}
	}
	if _, ok := ri.PathParameters["baseurl"]; !ok {
		ri.PathParameters["baseurl"] = c.Adapter.GetBaseUrl()
	}
	u, err := ri.GetUri()
	if err != nil {
		return BatchRequest{}, fmt.Errorf("build batch request %s: %w", id, err)
	}
	rel, ok := strings.CutPrefix(u.String(), c.Adapter.GetBaseUrl())
	if !ok {
		return BatchRequest{}, fmt.Errorf("build batch request %s: %s is not under %s", id, u.Redacted(), c.Adapter.GetBaseUrl())
	}
	req := BatchRequest{ID: id, Method: ri.Method.String(), URL: decodeQueryNames(rel)}
	for _, k := range ri.Headers.ListKeys() {
		if req.Headers == nil {
			req.Headers = map[string]string{}
		}
		req.Headers[k] = strings.Join(ri.Headers.Get(k), ",")
	}
	if len(ri.Content) > 0 {
		req.Body = json.RawMessage(ri.Content)
	}
	return req, nil
}

// decodeQueryNames writes %24select as $select, as the SDK's parameter-name middleware does on
// the wire, since the batch URLs travel in a body that middleware does not touch.
func decodeQueryNames(rel string) string {
	path, query, ok := strings.Cut(rel, "?")
	if !ok {
		return rel
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		if rest, ok := strings.CutPrefix(p, "%24"); ok {
			parts[i] = "$" + rest
		}
	}
	return path + "?" + strings.Join(parts, "&")
}

// Batch sends reqs as $batch calls of at most MaxBatchSize, in order, and returns one response
// per request in the order of reqs. The outer call goes through the client's middleware
// (auth, retries, log). Inner answers the middleware cannot see behind the outer 200 are
// retried here by the same rules (retry.OnStatus): throttling for every item, server errors
// for the items of idempotent methods (GET, PATCH, DELETE, PUT; a POST's may follow its write),
// with their own Retry-After, together with the 424s that depended on them, under the client's
// transport retry policy. A request still failing when the policy is spent keeps its last
// answer: check each response's Err.
func (c *Client) Batch(ctx context.Context, reqs []BatchRequest) ([]BatchResponse, error) {
	seen := map[string]bool{}
	for _, r := range reqs {
		if r.ID == "" || seen[r.ID] {
			return nil, fmt.Errorf("send batch: request id %q is empty or repeated", r.ID)
		}
		seen[r.ID] = true
	}
	var chunks [][]BatchRequest
	for start := 0; start < len(reqs); start += MaxBatchSize {
		chunk := reqs[start:min(start+MaxBatchSize, len(reqs))]
		inChunk := map[string]bool{}
		for _, r := range chunk {
			inChunk[r.ID] = true
		}
		for _, r := range chunk {
			for _, d := range r.DependsOn {
				if !inChunk[d] {
					return nil, fmt.Errorf("send batch: request %s depends on %s, which is not in its chunk of %d", r.ID, d, MaxBatchSize)
				}
			}
		}
		chunks = append(chunks, chunk)
	}
	out := make([]BatchResponse, 0, len(reqs))
	for _, chunk := range chunks {
		resps, err := c.batchChunk(ctx, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, resps...)
	}
	return out, nil
}

// batchChunk sends one chunk, retrying the items whose answers retry.OnStatus allows.
func (c *Client) batchChunk(ctx context.Context, chunk []BatchRequest) ([]BatchResponse, error) {
	results := make(map[string]BatchResponse, len(chunk))
	pending := chunk
	loop := c.retry.Start(c.clock)
	for len(pending) > 0 {
		resps, err := c.sendBatch(ctx, pending)
		if err != nil {
			return nil, err
		}
		var again []BatchRequest
		retrying := map[string]bool{}
		var wait time.Duration
		for _, r := range pending {
			resp := resps[r.ID]
			resp.Attempts = loop.Attempt()
			resp.method, resp.path = strings.ToUpper(r.Method), pathOf(r.URL)
			results[r.ID] = resp
			dependsOnRetry := false
			for _, d := range r.DependsOn {
				dependsOnRetry = dependsOnRetry || retrying[d]
			}
			server, hasServer := retry.ParseRetryAfter(header(resp.Headers, "Retry-After"), c.clock.Now())
			switch {
			case retry.OnStatus(retry.Idempotent(r.Method), resp.Status, hasServer):
				wait = max(wait, loop.Wait(server, hasServer))
			case resp.Status == http.StatusFailedDependency && dependsOnRetry:
			default:
				continue
			}
			retrying[r.ID] = true
			again = append(again, r)
		}
		if len(again) == 0 || loop.Spent(wait) {
			break
		}
		if err := loop.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("send batch: wait to retry: %w", err)
		}
		for i := range again {
			var deps []string
			for _, d := range again[i].DependsOn {
				if retrying[d] {
					deps = append(deps, d)
				}
			}
			again[i].DependsOn = deps
		}
		pending = again
	}
	out := make([]BatchResponse, len(chunk))
	for i, r := range chunk {
		out[i] = results[r.ID]
	}
	return out, nil
}

// pathOf is a batch URL without its query, for messages.
func pathOf(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return p
}

// batchItem and batchAnswer are the $batch wire shapes.
type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      json.RawMessage   `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

type batchAnswer struct {
	Responses []struct {
		ID      string            `json:"id"`
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"responses"`
}

// sendBatch sends one $batch POST through the adapter and indexes the answers by id.
func (c *Client) sendBatch(ctx context.Context, reqs []BatchRequest) (map[string]BatchResponse, error) {
	items := make([]batchItem, len(reqs))
	for i, r := range reqs {
		item := batchItem{ID: r.ID, Method: strings.ToUpper(r.Method), URL: r.URL, DependsOn: r.DependsOn}
		if !strings.HasPrefix(item.URL, "/") {
			item.URL = "/" + item.URL
		}
		if len(r.Headers) > 0 {
			item.Headers = make(map[string]string, len(r.Headers))
			for k, v := range r.Headers {
				item.Headers[k] = v
			}
		}
		if r.Body != nil {
			body, err := marshalBody(r.Body)
			if err != nil {
				return nil, fmt.Errorf("send batch: encode body of %s: %w", r.ID, err)
			}
			item.Body = body
			if header(item.Headers, "Content-Type") == "" {
				if item.Headers == nil {
					item.Headers = map[string]string{}
				}
				item.Headers["Content-Type"] = "application/json"
			}
		}
		items[i] = item
	}
	payload, err := json.Marshal(map[string]any{"requests": items})
	if err != nil {
		return nil, fmt.Errorf("send batch: encode: %w", err)
	}
	ri := abstractions.NewRequestInformation()
	ri.Method = abstractions.POST
	ri.UrlTemplate = "{+baseurl}/$batch"
	ri.PathParameters = map[string]string{"baseurl": c.Adapter.GetBaseUrl()}
	ri.Headers.TryAdd("Accept", "application/json")
	ri.SetStreamContentAndContentType(payload, "application/json")
	raw, err := c.Adapter.SendPrimitive(ctx, ri, "[]byte", abstractions.ErrorMappings{
		"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue,
	})
	if err != nil {
		return nil, fmt.Errorf("send batch: %w", Wrap(err))
	}
	body, ok := raw.([]byte)
	if !ok {
		return nil, errors.New("send batch: empty answer")
	}
	var answer batchAnswer
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("send batch: decode answer: %w", err)
	}
	out := make(map[string]BatchResponse, len(answer.Responses))
	for _, r := range answer.Responses {
		out[r.ID] = BatchResponse{ID: r.ID, Status: r.Status, Headers: r.Headers, Body: r.Body}
	}
	for _, r := range reqs {
		if _, ok := out[r.ID]; !ok {
			return nil, fmt.Errorf("send batch: no answer for request %s", r.ID)
		}
	}
	return out, nil
}

func marshalBody(v any) (json.RawMessage, error) {
	switch b := v.(type) {
	case json.RawMessage:
		return b, nil
	case []byte:
		if !json.Valid(b) {
			return nil, errors.New("body is not JSON")
		}
		return b, nil
	}
	return json.Marshal(v)
}

// Decode parses a successful response's body into an SDK model with the adapter's own parse
// node factory, so the engine gets the same models as from a direct call (nil for an empty
// body, the item's *Error for a failed one).
func (c *Client) Decode(r BatchResponse, create serialization.ParsableFactory) (serialization.Parsable, error) {
	if err := r.Err(); err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(r.Body)
	if len(body) == 0 || string(body) == "null" {
		return nil, nil
	}
	node, err := c.parseNodes.GetRootParseNode("application/json", body)
	if err != nil {
		return nil, fmt.Errorf("decode batch response %s: %w", r.ID, err)
	}
	v, err := node.GetObjectValue(create)
	if err != nil {
		return nil, fmt.Errorf("decode batch response %s: %w", r.ID, err)
	}
	return v, nil
}

// DecodeAs is Decode with the model's interface type, e.g. models.Applicationable.
func DecodeAs[T any](c *Client, r BatchResponse, create serialization.ParsableFactory) (T, error) {
	var zero T
	v, err := c.Decode(r, create)
	if err != nil || v == nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("decode batch response %s: got %T", r.ID, v)
	}
	return t, nil
}
