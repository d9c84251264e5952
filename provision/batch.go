package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// batch collects read requests to send in as few $batch round trips as Graph allows.
type batch struct {
	keys []string
	reqs []*abstractions.RequestInformation
	err  error
}

// add returns a function that queues a request under key; it takes a builder's
// ToGetRequestInformation results as they are: b.add(key)(builder.ToGetRequestInformation(...)).
// The first build error is returned by send.
func (b *batch) add(key string) func(*abstractions.RequestInformation, error) {
	return func(ri *abstractions.RequestInformation, err error) {
		if err != nil {
			if b.err == nil {
				b.err = fmt.Errorf("build request %s: %w", key, err)
			}
			return
		}
		b.keys = append(b.keys, key)
		b.reqs = append(b.reqs, ri)
	}
}

func (b *batch) empty() bool { return len(b.keys) == 0 && b.err == nil }

// batchItem is one answer of a batch.
type batchItem struct {
	status int
	item   msgraphcore.BatchItem
	resp   msgraphcore.BatchResponse
}

// batchResults are a batch's answers by key.
type batchResults map[string]batchItem

// maxBatchAttempts bounds how often a throttled or failed inner request is sent again.
const maxBatchAttempts = 8

// send runs the batch. Inner requests answered 429 or 5xx are sent again, in a smaller batch,
// after their Retry-After (or an exponential pause) on the engine's clock: the SDK's retry
// middleware only sees the outer 200.
func (e *Engine) send(ctx context.Context, b *batch) (batchResults, error) {
	if b.err != nil {
		return nil, b.err
	}
	adapter := e.Graph.Adapter
	out := batchResults{}
	pending := make([]int, len(b.keys))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 1; len(pending) > 0; attempt++ {
		coll := msgraphcore.NewBatchRequestCollectionWithLimit(adapter, len(pending)/19+1)
		ids := map[int]string{}
		for _, i := range pending {
			item, err := coll.AddBatchRequestStep(*b.reqs[i])
			if err != nil {
				return nil, fmt.Errorf("build batch: %w", err)
			}
			ids[i] = *item.GetId()
		}
		resp, err := coll.Send(ctx, adapter)
		if err != nil {
			return nil, fmt.Errorf("send batch: %w", err)
		}
		var again []int
		wait := time.Duration(0)
		for _, i := range pending {
			item := resp.GetResponseById(ids[i])
			if item == nil || item.GetStatus() == nil {
				return nil, fmt.Errorf("send batch: no answer for %s", b.keys[i])
			}
			status := int(*item.GetStatus())
			if transient(status) && attempt < maxBatchAttempts {
				again = append(again, i)
				wait = max(wait, retryAfter(item.GetHeaders(), attempt))
				continue
			}
			out[b.keys[i]] = batchItem{status: status, item: item, resp: resp}
		}
		if len(again) > 0 {
			if err := e.clock().Sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
		pending = again
	}
	return out, nil
}

// transient reports whether a status is worth asking again.
func transient(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter is the pause an inner answer asks for, or an exponential one from 1 s.
func retryAfter(h msgraphcore.RequestHeader, attempt int) time.Duration {
	for k, v := range h {
		if http.CanonicalHeaderKey(k) == "Retry-After" {
			if s, err := strconv.Atoi(v); err == nil && s >= 0 {
				return time.Duration(s) * time.Second
			}
		}
	}
	return time.Duration(1<<min(attempt-1, 5)) * time.Second
}

// itemError turns a failed inner answer into the *odataerrors.ODataError the SDK returns for
// a direct call, so one set of classifiers serves both.
func itemError(it batchItem) error {
	body, err := json.Marshal(it.item.GetBody())
	if err != nil {
		return fmt.Errorf("status %d", it.status)
	}
	node, err := serialization.DefaultParseNodeFactoryInstance.GetRootParseNode("application/json", body)
	if err == nil {
		if v, err := node.GetObjectValue(odataerrors.CreateODataErrorFromDiscriminatorValue); err == nil {
			if oe, ok := v.(*odataerrors.ODataError); ok {
				oe.ResponseStatusCode = it.status
				if main := oe.GetErrorEscaped(); main != nil && main.GetMessage() != nil {
					oe.Message = *main.GetMessage()
				}
				return oe
			}
		}
	}
	return fmt.Errorf("status %d: %s", it.status, body)
}

// getOne decodes the object answered under key; nil when Graph said 404.
func getOne[M serialization.Parsable, O any](res batchResults, key string, ctor serialization.ParsableFactory, conv func(M) O) (*O, error) {
	it, ok := res[key]
	if !ok {
		return nil, nil
	}
	if it.status == http.StatusNotFound {
		return nil, nil
	}
	if it.status >= 400 {
		return nil, itemError(it)
	}
	m, err := msgraphcore.GetBatchResponseById[M](it.resp, *it.item.GetId(), ctor)
	if err != nil {
		return nil, err
	}
	o := conv(m)
	return &o, nil
}

// collection is a Graph collection response page.
type collection[M any] interface {
	serialization.Parsable
	GetValue() []M
	GetOdataNextLink() *string
}

// getList decodes the collection answered under key, following next links (each one more
// round trip) when Graph paged it. A 404 (an alternate key that matched nothing) is an empty
// list.
func getList[C collection[M], M serialization.Parsable, O any](ctx context.Context, e *Engine, res batchResults, key string, ctor serialization.ParsableFactory, conv func(M) O) ([]O, error) {
	it, ok := res[key]
	if !ok || it.status == http.StatusNotFound {
		return nil, nil
	}
	if it.status >= 400 {
		return nil, itemError(it)
	}
	page, err := msgraphcore.GetBatchResponseById[C](it.resp, *it.item.GetId(), ctor)
	if err != nil {
		return nil, err
	}
	var out []O
	if page.GetOdataNextLink() == nil {
		for _, m := range page.GetValue() {
			out = append(out, conv(m))
		}
		return out, nil
	}
	iter, err := msgraphcore.NewPageIterator[M](page, e.Graph.Adapter, ctor)
	if err != nil {
		return nil, fmt.Errorf("page %s: %w", key, err)
	}
	err = iter.Iterate(ctx, func(m M) bool {
		out = append(out, conv(m))
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("page %s: %w", key, err)
	}
	return out, nil
}
