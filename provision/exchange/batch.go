package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"
)

// MaxBatch is how many cmdlets one $batch request carries: CIPP, the one client known to batch
// InvokeCommand, splits at 10 (exchange.md §1.1); the service's limit is not documented.
const MaxBatch = 10

// batchItem is the answer to one call of a batch: a Result, an error, or retry set when the
// batch could not answer it and the call must be sent on its own.
type batchItem struct {
	res   Result
	err   error
	retry bool
}

// readAll runs read calls, MaxBatch to a $batch request (POST {endpoint}/adminapi/beta/{tenant}/$batch),
// the batches concurrently within the client's bound. Whatever a batch could not answer (the
// front door refused the batch, redirected it, throttled it, or an item met a transient error)
// is sent on its own through invoke, with its retries, so a batch never makes a read less
// reliable than sending it alone. A batch of one is sent alone.
func (c *Client) readAll(ctx context.Context, calls []call) ([]Result, []error) {
	results, errs := make([]Result, len(calls)), make([]error, len(calls))
	var wg sync.WaitGroup
	alone := func(i int) {
		defer wg.Done()
		results[i], errs[i] = c.invoke(ctx, calls[i])
	}
	for start := 0; start < len(calls); start += MaxBatch {
		end := min(start+MaxBatch, len(calls))
		wg.Add(1)
		if end-start == 1 {
			go alone(start)
			continue
		}
		go func() {
			defer wg.Done()
			items := c.sendBatch(ctx, calls[start:end])
			for k, it := range items {
				i := start + k
				if it.retry {
					wg.Add(1)
					go alone(i)
					continue
				}
				results[i], errs[i] = it.res, it.err
			}
		}()
	}
	wg.Wait()
	return results, errs
}

// sendBatch sends one $batch; items it could not answer are marked for a retry alone.
func (c *Client) sendBatch(ctx context.Context, calls []call) []batchItem {
	items := make([]batchItem, len(calls))
	retryAll := func() []batchItem {
		for i := range items {
			items[i] = batchItem{retry: true}
		}
		return items
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		for i := range items {
			items[i].err = fmt.Errorf("wait for a free exchange slot: %w", ctx.Err())
		}
		return items
	}
	defer func() { <-c.slots }()
	invokeURL := c.invokeURL()
	type request struct {
		ID      string            `json:"id"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    any               `json:"body"`
	}
	reqs := make([]request, len(calls))
	for i, cl := range calls {
		if cl.params == nil {
			cl.params = map[string]any{}
		}
		if cl.anchor == "" {
			cl.anchor = c.systemAnchor()
		}
		reqs[i] = request{ID: fmt.Sprint(i), Method: http.MethodPost, URL: invokeURL.String(),
			Headers: map[string]string{"Content-Type": "application/json", "X-AnchorMailbox": cl.anchor, "X-CmdletName": cl.cmdlet},
			Body:    map[string]any{"CmdletInput": map[string]any{"CmdletName": cl.cmdlet, "Parameters": cl.params}}}
	}
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return retryAll()
	}
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		for i := range items {
			items[i].err = fmt.Errorf("get exchange token for %s: %w", c.scope, err)
		}
		return items
	}
	batchURL := *invokeURL
	batchURL.Path = strings.TrimSuffix(batchURL.Path, "InvokeCommand") + "$batch"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, batchURL.String(), bytes.NewReader(body))
	if err != nil {
		return retryAll()
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+tok.Token)
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Accept", "application/json")
	h.Set("X-ResponseFormat", "json")
	// The batch mixes mailboxes; each request carries its own anchor.
	h.Set("X-AnchorMailbox", c.systemAnchor())
	h.Set("X-ClientApplication", clientApplication)
	h.Set("Prefer", "odata.maxpagesize=1000;odata.continue-on-error")
	h.Set("connection-id", c.connectionID)
	h.Set("client-request-id", uuid.NewString())
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.logf("POST %s $batch of %d -> %v", redactURL(&batchURL), len(calls), err)
		return retryAll()
	}
	defer drain(resp)
	c.logf("POST %s $batch of %d -> %d (%s) request-id=%s", redactURL(&batchURL), len(calls), resp.StatusCode,
		time.Since(start).Round(time.Millisecond), responseRequestID(resp))
	var answer struct {
		Responses []struct {
			ID      string            `json:"id"`
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Body    json.RawMessage   `json:"body"`
		} `json:"responses"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &answer) != nil {
		return retryAll()
	}
	answered := make([]bool, len(calls))
	for _, r := range answer.Responses {
		var i int
		if _, err := fmt.Sscan(r.ID, &i); err != nil || i < 0 || i >= len(calls) || answered[i] {
			continue
		}
		answered[i] = true
		sub := &http.Response{StatusCode: r.Status, Header: http.Header{}, Request: req,
			Body: io.NopCloser(bytes.NewReader(r.Body))}
		for k, v := range r.Headers {
			sub.Header.Set(k, v)
		}
		res, err := c.decode(calls[i].cmdlet, sub)
		var xerr *Error
		if errors.As(err, &xerr) && xerr.retryable(true) {
			items[i] = batchItem{retry: true}
			continue
		}
		items[i] = batchItem{res: res, err: err}
	}
	for i, ok := range answered {
		if !ok {
			items[i] = batchItem{retry: true}
		}
	}
	return items
}
