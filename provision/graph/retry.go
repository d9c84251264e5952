package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	kiotahttp "github.com/microsoft/kiota-http-go"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/httpbody"
	"github.com/provisionhq/provision/provision/retry"
)

// RetryPolicy is the retry policy type of Options.
//
// Deprecated: use retry.Policy.
type RetryPolicy = retry.Policy

// TransportPolicy is the default of Options.Retry, the transport's retries of throttling,
// server errors and dropped connections: at most six attempts, backoff from one second doubling
// to thirty, three minutes in all.
func TransportPolicy() retry.Policy {
	return retry.Policy{MaxAttempts: 6, BaseDelay: time.Second, MaxDelay: 30 * time.Second, MaxElapsed: 3 * time.Minute, Multiplier: 2}
}

// ReplicationPolicy is the default of Options.Replication, the wait for an object just created
// to become visible (Client.Retry). Entra's replication usually takes a few seconds: the first
// retry comes after a fifth of a second and each wait grows by half, so the retry that
// succeeds comes soon after the object appears: BenchmarkReplicationOvershoot measures a mean
// overshoot of 0.2 s, 0.6 s and 1.4 s for lags of 0.5 s, 2 s and 10 s (4, 6.5 and 10 attempts),
// against 0.26 s, 1.0 s and 3.8 s for one second doubling. Waits are capped at four seconds,
// and three minutes per object bound the whole, as the reference tools budget (graph.md §2.4).
func ReplicationPolicy() retry.Policy {
	return retry.Policy{BaseDelay: 200 * time.Millisecond, MaxDelay: 4 * time.Second, MaxElapsed: 3 * time.Minute, Multiplier: 1.5}
}

// AttemptsHeader is set on a response the retry middleware gave up on, with the number of
// attempts made, so the error built from it can say so.
const AttemptsHeader = "X-Provision-Attempts"

// maxCheckedBody bounds how much of an answer the middleware reads to check it.
const maxCheckedBody = 64 << 20

// Retry runs op under the client's replication policy and clock until it succeeds, returns an
// error retryable rejects, or the policy is spent, honouring the Retry-After of a throttled
// answer. The engine wraps writes that reference just-created objects in it with
// IsReplicationLag. op's errors come back converted by Wrap, so the final one still answers
// the classifiers and errors.As for the SDK's types.
func (c *Client) Retry(ctx context.Context, op func(context.Context) error, retryable func(error) bool) error {
	return retry.Do(ctx, c.clock, c.replication, func(ctx context.Context) error { return Wrap(op(ctx)) }, retryable)
}

// Clock is the clock the client waits on.
func (c *Client) Clock() clock.Clock { return c.clock }

// retryHandler is the kiota middleware that replaces kiota's RetryHandler: it retries what
// retry.OnStatus and retry.OnTransportError allow (idempotent requests on server errors and
// dropped or stalled connections, every request on throttling), honours Retry-After, waits on
// an injected clock, and bounds attempts and total wait. It also checks each answer, so a
// gateway's HTML page or a JSON body cut short becomes an error naming the request.
type retryHandler struct {
	policy retry.Policy
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
	idempotent := retry.Idempotent(req.Method)
	loop := h.policy.Start(h.clock)
	for {
		try := req.Clone(ctx)
		if body != nil {
			try.Body = io.NopCloser(bytes.NewReader(body))
			try.ContentLength = int64(len(body))
			try.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		if loop.Attempt() > 1 {
			try.Header.Set("Retry-Attempt", strconv.Itoa(loop.Attempt()-1))
		}
		resp, err := pipeline.Next(try, index)
		if err == nil {
			resp, err = checkAnswer(req, resp)
		}
		var server time.Duration
		hasServer := false
		if err != nil {
			if ctx.Err() != nil || !retry.OnTransportError(idempotent, err) {
				return nil, newTransportError(req, loop.Attempt(), err)
			}
		} else {
			server, hasServer = retry.ParseRetryAfter(resp.Header.Get("Retry-After"), h.clock.Now())
			if !retry.OnStatus(idempotent, resp.StatusCode, hasServer) {
				return resp, nil
			}
		}
		wait := loop.Wait(server, hasServer)
		if loop.Spent(wait) {
			if err != nil {
				return nil, newTransportError(req, loop.Attempt(), err)
			}
			resp.Header.Set(AttemptsHeader, strconv.Itoa(loop.Attempt()))
			return resp, nil
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
		}
		if err := loop.Sleep(ctx, wait); err != nil {
			return nil, newTransportError(req, loop.Attempt(), err)
		}
	}
}

// TransportError is a request that got no usable answer: the connection failed, dropped or
// stalled, or the answer was not the JSON it claimed to be. It names the request, so that
// "send POST /v1.0/applications: EOF" says what was lost.
type TransportError struct {
	Method string
	// Path is the URL path, without the query.
	Path string
	// Status is the HTTP status of an answer that came but could not be used; 0 when none came.
	Status int
	// Attempts is how many times the request was sent.
	Attempts int
	Err      error
}

// Error names the request, the attempts and the failure.
func (e *TransportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "send %s %s: ", e.Method, e.Path)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, "gave up after %d attempts: ", e.Attempts)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the last failure.
func (e *TransportError) Unwrap() error { return e.Err }

func newTransportError(req *http.Request, attempts int, err error) error {
	var te *TransportError
	if errors.As(err, &te) {
		te.Attempts = attempts
		return te
	}
	return &TransportError{Method: req.Method, Path: req.URL.Path, Attempts: attempts, Err: err}
}

// checkAnswer makes an answer the SDK can read or an error that says what came. An error
// status with a body that is not Graph's error envelope (a gateway's HTML page, nothing, JSON
// cut short) gets an envelope whose message names the request and the body, so the SDK's
// ODataError (and Error) read "502 Bad Gateway: GET /v1.0/applications answered text/html:
// <html>…" and the status still classifies it. A success whose JSON is invalid, or an HTML
// page where JSON was due, is a *TransportError, retried like a dropped connection when the
// request is idempotent.
func checkAnswer(req *http.Request, resp *http.Response) (*http.Response, error) {
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode < 200 || (resp.StatusCode >= 300 && resp.StatusCode < 400) {
		return resp, nil
	}
	ct := resp.Header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(ct)
	isJSON := strings.Contains(mediaType, "json")
	if resp.StatusCode < 300 && !isJSON && mediaType != "text/html" {
		return resp, nil // $count's text/plain, $value's bytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckedBody))
	_ = resp.Body.Close()
	if err != nil {
		return nil, &TransportError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode,
			Err: fmt.Errorf("read the %d answer: %w", resp.StatusCode, err)}
	}
	setBody(resp, body, ct)
	if resp.StatusCode < 300 {
		if len(bytes.TrimSpace(body)) == 0 || (isJSON && json.Valid(body)) {
			return resp, nil
		}
		return nil, &TransportError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode,
			Err: fmt.Errorf("answered %d %s with %s", resp.StatusCode, http.StatusText(resp.StatusCode), httpbody.Describe(ct, body))}
	}
	code, envelope, hasMessage := errorEnvelope(body)
	if isJSON && hasMessage {
		return resp, nil
	}
	what := httpbody.Describe(ct, body)
	if envelope {
		what = "an error without a message"
	}
	fixed, err := json.Marshal(map[string]any{"error": map[string]any{
		"code":    code,
		"message": fmt.Sprintf("%s %s answered with %s", req.Method, req.URL.Path, what),
	}})
	if err != nil {
		return nil, fmt.Errorf("describe the %d answer: %w", resp.StatusCode, err)
	}
	setBody(resp, fixed, "application/json")
	return resp, nil
}

func setBody(resp *http.Response, body []byte, contentType string) {
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Type", contentType)
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// errorEnvelope reads Graph's error envelope: its code, whether there is one, and whether it
// has the string message the SDK's ODataError cannot do without.
func errorEnvelope(body []byte) (code string, envelope, hasMessage bool) {
	var env struct {
		Error *struct {
			Code    any `json:"code"`
			Message any `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return "", false, false
	}
	code, _ = env.Error.Code.(string)
	msg, _ := env.Error.Message.(string)
	return code, true, msg != ""
}

// ServerWait is the wait the answer's Retry-After asked for, so retry.Do honours it.
func (e *Error) ServerWait(now time.Time) (time.Duration, bool) {
	return retry.ParseRetryAfter(e.RetryAfter, now)
}
