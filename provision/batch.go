package provision

import (
	"context"
	"fmt"
	"net/http"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"

	"github.com/provisionhq/provision/provision/graph"
)

// batch collects requests built by the fluent SDK to send in one $batch round trip.
type batch struct {
	graph *graph.Client
	reqs  []graph.BatchRequest
	err   error
}

func (e *Engine) newBatch() *batch { return &batch{graph: e.Graph} }

// add returns a function that queues a request under key; it takes a builder's
// To…RequestInformation results as they are: b.add(key)(builder.ToGetRequestInformation(...)).
// The first build error is returned by send.
func (b *batch) add(key string) func(*abstractions.RequestInformation, error) {
	return func(ri *abstractions.RequestInformation, err error) {
		if err == nil {
			var req graph.BatchRequest
			if req, err = b.graph.BatchRequestFrom(key, ri); err == nil {
				b.reqs = append(b.reqs, req)
				return
			}
		}
		if b.err == nil {
			b.err = fmt.Errorf("build request %s: %w", key, err)
		}
	}
}

func (b *batch) empty() bool { return len(b.reqs) == 0 && b.err == nil }

// batchResults are a batch's answers by key.
type batchResults map[string]graph.BatchResponse

// send runs the batch and indexes the answers. graph.Client.Batch retries the items throttled
// and the reads that failed with a server error; an item still failing keeps its last answer,
// which getOne and getList report.
func (b *batch) send(ctx context.Context) (batchResults, error) {
	if b.err != nil {
		return nil, b.err
	}
	resps, err := b.graph.Batch(ctx, b.reqs)
	if err != nil {
		return nil, err
	}
	out := batchResults{}
	for _, r := range resps {
		out[r.ID] = r
	}
	return out, nil
}

// getOne decodes the object answered under key; nil when Graph said 404.
func getOne[M any, O any](e *Engine, res batchResults, key string, ctor serialization.ParsableFactory, conv func(M) O) (*O, error) {
	r, ok := res[key]
	if !ok || r.Status == http.StatusNotFound {
		return nil, nil
	}
	m, err := graph.DecodeAs[M](e.Graph, r, ctor)
	if err != nil {
		return nil, err
	}
	o := conv(m)
	return &o, nil
}

// getList decodes the collection answered under key, following next links (each one more
// round trip) when Graph paged it.
func getList[C graph.Page[M], M serialization.Parsable, O any](ctx context.Context, e *Engine, res batchResults, key string, ctor serialization.ParsableFactory, conv func(M) O) ([]O, error) {
	r, ok := res[key]
	if !ok {
		return nil, nil
	}
	page, err := graph.DecodeAs[C](e.Graph, r, ctor)
	if err != nil {
		return nil, err
	}
	ms, err := graph.AllItems[M](ctx, e.Graph, page, ctor)
	if err != nil {
		return nil, fmt.Errorf("page %s: %w", key, err)
	}
	var out []O
	for _, m := range ms {
		out = append(out, conv(m))
	}
	return out, nil
}
