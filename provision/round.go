package provision

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"golang.org/x/sync/errgroup"

	"github.com/provisionhq/provision/provision/graph"
	"github.com/provisionhq/provision/provision/retry"
)

// maxRounds bounds observation: the applications (1), their service principals (2), what
// those hold (3), and for a complete observation what that refers to (4).
const maxRounds = 4

// ObserveOptions tune an observation. The zero value reads what planning needs.
type ObserveOptions struct {
	// Complete also reads what the application refers to that no manifest names: every
	// resource API it requests or holds permissions of, the users and groups assigned to it,
	// whether or not the document lists assignments. Export uses it.
	Complete bool
	// SecretsOnly reads what provision rotate plans (set by PlanWith).
	SecretsOnly bool
}

// Observe reads what planning needs for every document, in one Graph round trip per
// observation round whatever the number of documents and kinds (see the kind contract),
// with Exchange and sink reads alongside. It never writes. The result has one Observed per
// want, in order.
func (e *Engine) Observe(ctx context.Context, wants []Desired, opts ObserveOptions) ([]*Observed, error) {
	obs := make([]*Observed, len(wants))
	for i := range obs {
		obs[i] = &Observed{}
	}
	for n := 1; n <= maxRounds; n++ {
		r := &round{e: e, n: n, wants: wants, obs: obs, opts: opts}
		for _, k := range kinds() {
			k.observe(ctx, n, r)
		}
		if r.empty() {
			break
		}
		if err := r.run(ctx); err != nil {
			return nil, err
		}
	}
	return obs, nil
}

// round is one round of observation: the Graph reads every kind queued, sent together in
// $batch calls, and the Exchange and local reads that run alongside. Kinds queue reads with
// the continuation that stores their answer; see the kind contract.
type round struct {
	e     *Engine
	n     int
	wants []Desired
	obs   []*Observed
	opts  ObserveOptions

	reads    []graphRead
	exchange []func(context.Context) error
	local    []func(context.Context) error
	err      error // the first request that did not build
}

// graphRead is one queued Graph read and what to do with its answer.
type graphRead struct {
	req  graph.BatchRequest
	then func(context.Context, graph.BatchResponse) error
	// below marks a read of what lies under an object an earlier round found; see graphBelow.
	below bool
}

// graph queues a Graph read built by the fluent SDK; it takes the builder's
// To…RequestInformation results as they are: r.graph(then)(builder.ToGetRequestInformation(...)).
// then runs once the round's batches are answered, with the read's own answer.
func (r *round) graph(then func(context.Context, graph.BatchResponse) error) func(*abstractions.RequestInformation, error) {
	return func(ri *abstractions.RequestInformation, err error) {
		id := strconv.Itoa(len(r.reads) + 1)
		var req graph.BatchRequest
		if err == nil {
			req, err = r.e.Graph.BatchRequestFrom(id, ri)
		}
		if err != nil {
			if r.err == nil {
				r.err = fmt.Errorf("build request: %w", err)
			}
			return
		}
		r.reads = append(r.reads, graphRead{req: req, then: then})
	}
}

// graphBelow is graph for a read of what lies under an object an earlier round found (what a
// service principal holds, who is assigned to it). Such a read answering 404 landed on a
// replica that has not seen the object yet (made moments ago, by a run that did not wait for
// the directory): it is sent again, with the other reads of the round in the same case, in
// $batch calls with a backoff, for up to visibleWithin; only then does its continuation see
// the 404. An object deleted between two rounds is reported as before, a little later.
func (r *round) graphBelow(then func(context.Context, graph.BatchResponse) error) func(*abstractions.RequestInformation, error) {
	queue := r.graph(then)
	return func(ri *abstractions.RequestInformation, err error) {
		n := len(r.reads)
		queue(ri, err)
		if len(r.reads) > n {
			r.reads[n].below = true
		}
	}
}

// exchangeRead queues an Exchange admin API read; the round runs them concurrently, at most
// the engine's Exchange bound at once.
func (r *round) exchangeRead(read func(context.Context) error) { r.exchange = append(r.exchange, read) }

// localRead queues a read of this machine's or a sink's state (a credentials file, a Key
// Vault secret's tags); the round runs them concurrently with its other reads.
func (r *round) localRead(read func(context.Context) error) { r.local = append(r.local, read) }

func (r *round) empty() bool {
	return len(r.reads) == 0 && len(r.exchange) == 0 && len(r.local) == 0 && r.err == nil
}

// run sends the round's Graph reads in $batch calls (several at once when there are more
// than one call's worth), runs its Exchange and local reads alongside, then hands every Graph
// answer to its continuation, in the order the reads were queued. graph.Client.Batch retries
// throttled items and reads that met a server error; an item still failing keeps its last
// answer, which the continuation reports.
func (r *round) run(ctx context.Context) error {
	if r.err != nil {
		return r.err
	}
	answers := make([]graph.BatchResponse, len(r.reads))
	g, gctx := errgroup.WithContext(ctx)
	calls := chunk(len(r.reads), graph.MaxBatchSize)
	g.SetLimit(r.e.concurrency() + 1)
	for _, c := range calls {
		g.Go(recovered(func() error {
			reqs := make([]graph.BatchRequest, 0, c.n)
			for i := c.from; i < c.from+c.n; i++ {
				reqs = append(reqs, r.reads[i].req)
			}
			resps, err := r.e.readBatch(gctx, reqs)
			if err != nil {
				return err
			}
			for k, resp := range resps {
				answers[c.from+k] = resp
			}
			return nil
		}))
	}
	if len(r.exchange) > 0 {
		g.Go(func() error { return bounded(gctx, r.exchange, r.e.exchangeConcurrency()) })
	}
	if len(r.local) > 0 {
		g.Go(func() error { return bounded(gctx, r.local, len(r.local)) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := r.reread(ctx, answers); err != nil {
		return err
	}
	for i, read := range r.reads {
		if err := read.then(ctx, answers[i]); err != nil {
			return err
		}
	}
	return nil
}

// reread sends again the reads below an object (graphBelow) that answered 404, until they
// answer otherwise or visibleWithin has passed, replacing their answers.
func (r *round) reread(ctx context.Context, answers []graph.BatchResponse) error {
	loop := retry.Policy{BaseDelay: firstPoll, MaxDelay: maxPoll, MaxElapsed: visibleWithin}.Start(r.e.clock())
	for {
		var lagging []int
		for i, read := range r.reads {
			if read.below && answers[i].Status == http.StatusNotFound {
				lagging = append(lagging, i)
			}
		}
		wait := loop.Wait(0, false)
		if len(lagging) == 0 || loop.Spent(wait) {
			return nil
		}
		if err := loop.Sleep(ctx, wait); err != nil {
			return err
		}
		reqs := make([]graph.BatchRequest, len(lagging))
		for k, i := range lagging {
			reqs[k] = r.reads[i].req
		}
		resps, err := r.e.readBatch(ctx, reqs)
		if err != nil {
			return err
		}
		for k, i := range lagging {
			answers[i] = resps[k]
		}
	}
}

// readAttempts bounds the sends of a $batch of reads whose call failed as a whole.
const readAttempts = 4

// readBatch sends reads in $batch calls (graph.Client.Batch). A call's envelope is a POST,
// which the transport does not repeat after a server error, a dropped connection or a stalled
// answer, since a POST may have done its work; a batch of reads has none to do twice, so such
// a call is sent again, with the replication backoff, rather than failing the observation.
func (e *Engine) readBatch(ctx context.Context, reqs []graph.BatchRequest) ([]graph.BatchResponse, error) {
	var resps []graph.BatchResponse
	attempt := 1
	err := e.Graph.Retry(ctx, func(ctx context.Context) error {
		var err error
		resps, err = e.Graph.Batch(ctx, reqs)
		return err
	}, func(err error) bool {
		attempt++
		return attempt <= readAttempts && outcomeUnknown(err)
	})
	return resps, err
}

// span is a run of n items starting at from.
type span struct{ from, n int }

// chunk splits n items into spans of at most size.
func chunk(n, size int) []span {
	var out []span
	for from := 0; from < n; from += size {
		out = append(out, span{from, min(size, n-from)})
	}
	return out
}

// bounded runs fs, at most limit at a time, and returns the first error; after an error,
// calls not yet started are not made.
func bounded(ctx context.Context, fs []func(context.Context) error, limit int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(limit, 1))
	for _, f := range fs {
		if gctx.Err() != nil {
			break
		}
		g.Go(recovered(func() error { return f(gctx) }))
	}
	return g.Wait()
}

// decodeOne decodes the object of a read's answer; nil when Graph said 404.
func decodeOne[M any, O any](e *Engine, res graph.BatchResponse, ctor serialization.ParsableFactory, conv func(M) O) (*O, error) {
	if res.Status == http.StatusNotFound {
		return nil, nil
	}
	m, err := graph.DecodeAs[M](e.Graph, res, ctor)
	if err != nil {
		return nil, err
	}
	if any(m) == nil {
		return nil, fmt.Errorf("decode %s: Graph answered %d with an empty body", res.ID, res.Status)
	}
	o := conv(m)
	return &o, nil
}

// decodeList decodes the collection of a read's answer, following next links (each one more
// round trip) when Graph paged it.
func decodeList[C graph.Page[M], M serialization.Parsable, O any](ctx context.Context, e *Engine, res graph.BatchResponse, ctor serialization.ParsableFactory, conv func(M) O) ([]O, error) {
	page, err := graph.DecodeAs[C](e.Graph, res, ctor)
	if err != nil {
		return nil, err
	}
	if any(page) == nil {
		return nil, fmt.Errorf("decode %s: Graph answered %d with an empty body", res.ID, res.Status)
	}
	ms, err := graph.AllItems[M](ctx, e.Graph, page, ctor)
	if err != nil {
		return nil, fmt.Errorf("page: %w", err)
	}
	out := make([]O, 0, len(ms))
	for _, m := range ms {
		out = append(out, conv(m))
	}
	return out, nil
}

// recovered runs f, turning a panic into an error: a goroutine's panic would end the
// process with no word of what it was doing, and exit code 2, which means "changes pending".
// The engine's goroutines report it like any failure, and main's last-resort handler is left
// with nothing to catch.
func recovered(f func() error) func() error {
	return func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error (a bug in provision, please report it): %v", p)
			}
		}()
		return f()
	}
}
