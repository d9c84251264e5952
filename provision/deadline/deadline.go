// Package deadline bounds every HTTP request provision sends (Graph, Exchange, the identity
// platform, Key Vault) by timeouts that reset on progress: one for the response headers to
// arrive, one for each wait on more of the response body. A server that accepts a request and
// never answers would otherwise hold a run until it is killed. A stalled request fails with
// an *Error naming the method and URL path; the clients' retry rules then treat it like a
// dropped connection (repeated when idempotent, reported otherwise).
//
// While a request waits longer than a few seconds for its answer, an optional callback is
// told what it waits for, so the command line can say so on stderr instead of going quiet.
//
// The timeouts run on the wall clock: they guard real sockets, which a fake clock cannot stop.
package deadline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options fields left at zero. A directory answer takes well under a second and
// a slow Exchange cmdlet some seconds; a minute of silence means the answer is not coming. Both
// stay well below the three-minute retry budget, so a stalled read is tried again in time.
const (
	DefaultHeaderTimeout = time.Minute
	DefaultIdleTimeout   = 30 * time.Second
	DefaultNoticeAfter   = 5 * time.Second
)

// Options bound requests. The zero value uses the defaults and tells no one about waits.
type Options struct {
	// HeaderTimeout bounds the time from sending a request to receiving its response headers.
	HeaderTimeout time.Duration
	// IdleTimeout bounds each wait for more of the response body once the headers came.
	IdleTimeout time.Duration
	// NoticeAfter is how long a request waits for its headers before Waiting is told, and
	// then how often it is told again.
	NoticeAfter time.Duration
	// Waiting, when set, is told what a request still waits for (for example
	// "Graph POST /v1.0/$batch") and how long it has waited. It is called from timer
	// goroutines, possibly for several requests at once, and must not block.
	Waiting func(what string, waited time.Duration)
}

func (o Options) withDefaults() Options {
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = DefaultHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.NoticeAfter <= 0 {
		o.NoticeAfter = DefaultNoticeAfter
	}
	return o
}

// Describe names a request for Waiting, e.g. "Graph GET /v1.0/applications". It must not
// include the query or anything secret.
type Describe func(*http.Request) string

// Doer sends a request, as an *http.Client or azcore's policy.Transporter does.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Error is a request that made no progress for too long.
type Error struct {
	Method string
	// Path is the URL path, without query.
	Path string
	// Body is false when no response headers came, true when the body stopped coming.
	Body bool
	// After is the timeout that passed.
	After time.Duration
}

// Error reads "GET /v1.0/applications: no answer within 1m0s".
func (e *Error) Error() string {
	if e.Body {
		return fmt.Sprintf("%s %s: the answer stopped coming for %s", e.Method, e.Path, e.After)
	}
	return fmt.Sprintf("%s %s: no answer within %s", e.Method, e.Path, e.After)
}

// Timeout reports true, as net.Error timeouts do.
func (e *Error) Timeout() bool { return true }

// Wrap returns a RoundTripper sending through base (nil: a clone of http.DefaultTransport)
// under o, naming requests with describe (nil: method and path).
func (o Options) Wrap(base http.RoundTripper, describe Describe) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &roundTripper{base: base, o: o.withDefaults(), describe: orDescribe(describe)}
}

// WrapDoer is Wrap for a Doer (nil: an http.Client over a clone of http.DefaultTransport), the
// shape azcore's clients (azidentity, azsecrets) take as their transport.
func (o Options) WrapDoer(base Doer, describe Describe) Doer {
	if base == nil {
		return &http.Client{Transport: o.Wrap(nil, describe)}
	}
	return &doer{base: base, o: o.withDefaults(), describe: orDescribe(describe)}
}

func orDescribe(d Describe) Describe {
	if d != nil {
		return d
	}
	return func(r *http.Request) string { return r.Method + " " + r.URL.Path }
}

type roundTripper struct {
	base     http.RoundTripper
	o        Options
	describe Describe
}

// RoundTrip implements http.RoundTripper.
func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.o.send(req, t.base.RoundTrip, t.describe)
}

// CloseIdleConnections passes the call on, so http.Client.CloseIdleConnections still works.
func (t *roundTripper) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type doer struct {
	base     Doer
	o        Options
	describe Describe
}

// Do implements Doer.
func (d *doer) Do(req *http.Request) (*http.Response, error) {
	return d.o.send(req, d.base.Do, d.describe)
}

// send runs one request under the header timeout and hands back a body under the idle
// timeout. Both cancel the request's context with an *Error as cause, which is then returned
// instead of the transport's "context canceled".
func (o Options) send(req *http.Request, next func(*http.Request) (*http.Response, error), describe Describe) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	headers := &Error{Method: req.Method, Path: req.URL.Path, After: o.HeaderTimeout}
	timer := time.AfterFunc(o.HeaderTimeout, func() { cancel(headers) })
	var n *notice
	if o.Waiting != nil {
		what := describe(req)
		n = startNotice(o.NoticeAfter, func(waited time.Duration) { o.Waiting(what, waited) })
	}
	resp, err := next(req.WithContext(ctx))
	fired := !timer.Stop()
	n.stop()
	if err != nil || fired {
		if resp != nil {
			_ = resp.Body.Close()
		}
		cause := context.Cause(ctx)
		cancel(nil)
		if fired || errors.Is(cause, headers) {
			return nil, headers
		}
		return nil, err
	}
	b := &body{rc: resp.Body, cancel: cancel, stall: &Error{Method: req.Method, Path: req.URL.Path, Body: true, After: o.IdleTimeout}, idle: o.IdleTimeout}
	b.timer = time.AfterFunc(time.Hour, b.expire)
	b.timer.Stop()
	resp.Body = b
	return resp, nil
}

// body is a response body whose every Read must make progress within idle.
type body struct {
	rc      io.ReadCloser
	cancel  context.CancelCauseFunc
	stall   *Error
	idle    time.Duration
	timer   *time.Timer
	expired atomic.Bool
}

func (b *body) expire() {
	b.expired.Store(true)
	b.cancel(b.stall)
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if b.expired.Load() {
		return 0, b.stall
	}
	b.timer.Reset(b.idle)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF && b.expired.Load() {
		return n, b.stall
	}
	return n, err
}

// Close implements io.Closer and releases the request's context.
func (b *body) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// notice calls f every `every` until stopped, with the time waited so far.
type notice struct {
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func startNotice(every time.Duration, f func(waited time.Duration)) *notice {
	n := &notice{}
	start := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.timer = time.AfterFunc(every, func() {
		n.mu.Lock()
		stopped := n.stopped
		n.mu.Unlock()
		if stopped {
			return
		}
		f(time.Since(start).Round(time.Millisecond))
		n.mu.Lock()
		if !n.stopped {
			n.timer.Reset(every)
		}
		n.mu.Unlock()
	})
	return n
}

// stop ends the notices; a nil notice is a no-op.
func (n *notice) stop() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	n.timer.Stop()
}
