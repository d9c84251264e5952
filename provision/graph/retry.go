package graph

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	kiotahttp "github.com/microsoft/kiota-http-go"

	"github.com/provisionhq/provision/provision/backoff"
	"github.com/provisionhq/provision/provision/clock"
)

// Retry defaults. Three minutes of backoff lets a replication lag of half a minute converge
// with room to spare, and stays below what a CI job tolerates.
const (
	DefaultMaxAttempts = 6
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = 30 * time.Second
	DefaultMaxElapsed  = 3 * time.Minute
)

// AttemptsHeader is set on a response the retry middleware gave up on, with the number of
// attempts made, so the error built from it can say so.
const AttemptsHeader = "X-Provision-Attempts"

// RetryPolicy bounds a retry loop. Zero fields take the defaults.
type RetryPolicy struct {
	// MaxAttempts counts the first try. Zero means DefaultMaxAttempts for the transport, and
	// no limit for Retry, where MaxElapsed is the bound.
	MaxAttempts int
	// BaseDelay is the first backoff; each later one doubles, up to MaxDelay. The wait is
	// drawn between half and all of it (jitter), so concurrent writers spread out.
	BaseDelay time.Duration
	// MaxDelay caps one backoff (not a server's Retry-After, which is honoured as sent).
	MaxDelay time.Duration
	// MaxElapsed caps the total time spent waiting; a wait that would pass it is not made.
	MaxElapsed time.Duration
}

// withDefaults fills zero fields; maxAttempts is the default for MaxAttempts (0: unlimited).
func (p RetryPolicy) withDefaults(maxAttempts int) RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = maxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = DefaultMaxElapsed
	}
	return p
}

// backoff is the jittered wait after the given failed attempt (1-based).
func (p RetryPolicy) backoff(attempt int) time.Duration {
	return backoff.Jittered(attempt, p.BaseDelay, p.MaxDelay)
}

// exhausted reports whether another wait of wait after attempt attempts is not allowed.
func (p RetryPolicy) exhausted(attempt int, elapsed, wait time.Duration) bool {
	return (p.MaxAttempts > 0 && attempt >= p.MaxAttempts) || elapsed+wait > p.MaxElapsed
}

// Retry runs op until it succeeds, returns an error retryable rejects, or the policy is spent;
// it waits on clk between attempts with jittered exponential backoff (or the Retry-After of a
// throttled error). The engine wraps writes that reference just-created objects in it with
// IsReplicationLag. The final error wraps the last one, so the classifiers still see it.
func Retry(ctx context.Context, clk clock.Clock, policy RetryPolicy, op func(context.Context) error, retryable func(error) bool) error {
	if clk == nil {
		clk = clock.Real{}
	}
	policy = policy.withDefaults(0)
	start := clk.Now()
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := policy.backoff(attempt)
		if ra, ok := retryAfterOf(err, clk.Now()); ok {
			wait = ra
		}
		elapsed := clk.Now().Sub(start)
		if policy.exhausted(attempt, elapsed, wait) {
			return fmt.Errorf("gave up after %d attempts in %s: %w", attempt, elapsed.Round(time.Millisecond), err)
		}
		if serr := clk.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("wait to retry: %w (last error: %w)", serr, err)
		}
	}
}

// Retry runs op under the client's replication policy and clock; see the package function.
func (c *Client) Retry(ctx context.Context, op func(context.Context) error, retryable func(error) bool) error {
	return Retry(ctx, c.clock, c.replication, op, retryable)
}

// Clock is the clock the client waits on.
func (c *Client) Clock() clock.Clock { return c.clock }

// retryHandler is the kiota middleware that replaces kiota's RetryHandler: it retries 429, 503
// and 504 answers and dropped connections, honours Retry-After, waits on an injected clock, and
// bounds attempts and total wait.
type retryHandler struct {
	policy RetryPolicy
	clock  clock.Clock
}

// Intercept implements kiotahttp.Middleware. The body is buffered once and replayed on every
// attempt, because the compression middleware further down replaces it.
func (h *retryHandler) Intercept(pipeline kiotahttp.Pipeline, index int, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("buffer request body: %w", err)
		}
		body = b
	}
	start := h.clock.Now()
	for attempt := 1; ; attempt++ {
		try := req.Clone(ctx)
		if body != nil {
			try.Body = io.NopCloser(bytes.NewReader(body))
			try.ContentLength = int64(len(body))
			try.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		if attempt > 1 {
			try.Header.Set("Retry-Attempt", strconv.Itoa(attempt-1))
		}
		resp, err := pipeline.Next(try, index)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil || !retryableTransportError(req.Method, err) {
				return nil, err
			}
			wait = h.policy.backoff(attempt)
		case retryableStatus(req.Method, resp.StatusCode):
			wait = h.policy.backoff(attempt)
			if ra, ok := backoff.ParseRetryAfter(resp.Header.Get("Retry-After"), h.clock.Now()); ok {
				wait = ra
			}
		default:
			return resp, nil
		}
		if h.policy.exhausted(attempt, h.clock.Now().Sub(start), wait) {
			if err != nil {
				return nil, &GiveUpError{Method: req.Method, URL: redactURL(req.URL), Attempts: attempt, Err: err}
			}
			resp.Header.Set(AttemptsHeader, strconv.Itoa(attempt))
			return resp, nil
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
		}
		if err := h.clock.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// GiveUpError is returned when every attempt of a request failed without an HTTP answer.
type GiveUpError struct {
	Method, URL string
	Attempts    int
	Err         error
}

// Error says what was sent, how often, and the last failure.
func (e *GiveUpError) Error() string {
	return fmt.Sprintf("send %s %s: gave up after %d attempts: %v", e.Method, e.URL, e.Attempts, e.Err)
}

// Unwrap returns the last failure.
func (e *GiveUpError) Unwrap() error { return e.Err }

// retryableStatus reports whether an answer is worth repeating the request for. 429 and 503
// mean the request was not processed; 504 means a gateway stopped waiting, and the request may
// have been applied, so a POST (addPassword, create) is not repeated on it: the engine re-reads
// and decides instead.
func retryableStatus(method string, status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusGatewayTimeout:
		return method != http.MethodPost
	}
	return false
}

// retryableItem reports whether a $batch item's answer is worth sending the item again for:
// what the transport retries, and any other server error (500, 502) to a read, which is safe
// to repeat; the engine's batched observe relies on it to converge under server faults.
func retryableItem(method string, status int) bool {
	return retryableStatus(method, status) || (method == http.MethodGet && status >= 500)
}

// retryableTransportError reports whether a failed attempt may be repeated: for idempotent
// methods (PATCH included: Graph PATCHes set properties) any connection failure but a
// certificate problem; for POST only a failure to connect, when the request never reached
// the server.
func retryableTransportError(method string, err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) {
		return false
	}
	if method != http.MethodPost {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED)
}

// retryAfterOf finds a Retry-After in the response headers carried by a Graph error.
func retryAfterOf(err error, now time.Time) (time.Duration, bool) {
	e, ok := AsError(err)
	if !ok || e.RetryAfter == "" {
		return 0, false
	}
	return backoff.ParseRetryAfter(e.RetryAfter, now)
}
