package graph

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	kiotahttp "github.com/microsoft/kiota-http-go"

	"github.com/provisionhq/provision/provision/clock"
	"github.com/provisionhq/provision/provision/sensitive"
)

// maxLoggedBody caps one logged body; the rest is summarised.
const maxLoggedBody = 16 << 10

// requestLogger is the innermost middleware of the -v request log: it writes one line per
// request and one per response (or transport error), as they go on the wire, with every
// secret replaced by the sensitive mask. Gzip bodies are decoded for the log only.
type requestLogger struct {
	mu    *sync.Mutex
	w     io.Writer
	clock clock.Clock
}

func newRequestLogger(w io.Writer, clk clock.Clock) *requestLogger {
	return &requestLogger{mu: &sync.Mutex{}, w: w, clock: clk}
}

// Intercept implements kiotahttp.Middleware.
func (l *requestLogger) Intercept(pipeline kiotahttp.Pipeline, index int, req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body for the log: %w", err)
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	target := redactURL(req.URL)
	l.printf("> %s %s headers=%s body=%s", req.Method, target, redactHeaders(req.Header),
		redactBody(reqBody, req.Header))
	start := l.clock.Now()
	resp, err := pipeline.Next(req, index)
	took := l.clock.Now().Sub(start).Round(time.Millisecond)
	if err != nil {
		l.printf("< error %s %s %s: %v", req.Method, target, took, err)
		return resp, err
	}
	respBody, readErr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if readErr != nil {
		l.printf("< %d %s %s %s: read body: %v", resp.StatusCode, req.Method, target, took, readErr)
		return resp, nil
	}
	l.printf("< %d %s %s %s headers=%s body=%s", resp.StatusCode, req.Method, target, took,
		redactHeaders(resp.Header), redactBody(respBody, resp.Header))
	return resp, nil
}

func (l *requestLogger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = fmt.Fprintf(l.w, format+"\n", args...)
}

// isSecretName reports whether a JSON field, form field, query parameter or header name holds
// a secret: the known ones (secretText, client_secret, client_assertion, access_token,
// refresh_token, password) and anything named like them.
func isSecretName(name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, "skiptoken") || strings.HasSuffix(n, "deltatoken") {
		return false // paging cursors, not credentials
	}
	for _, s := range []string{"secret", "password", "token", "assertion", "authorization", "cookie"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return n == "proof"
}

// redactHeaders renders headers as a one-line JSON object with secret values masked; an
// Authorization header keeps its scheme ("Bearer (sensitive)").
func redactHeaders(h http.Header) string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		v := strings.Join(vs, ", ")
		if isSecretName(k) {
			if scheme, _, ok := strings.Cut(v, " "); ok && strings.EqualFold(k, "Authorization") {
				v = scheme + " " + sensitive.Mask
			} else {
				v = sensitive.Mask
			}
		}
		out[k] = v
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// redactURL renders u with secret query parameters masked and $-parameters readable.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	if c.RawQuery == "" {
		return c.String()
	}
	q, err := url.ParseQuery(c.RawQuery)
	if err != nil {
		c.RawQuery = sensitive.Mask
		return c.String()
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			if isSecretName(k) {
				v = sensitive.Mask
			}
			parts = append(parts, k+"="+v)
		}
	}
	c.RawQuery = ""
	return c.String() + "?" + strings.Join(parts, "&")
}

// redactBody renders a body for the log: JSON with secret-named string fields masked, form
// bodies with secret fields masked, short plain text as is, anything else summarised (an
// unknown format could hold a secret the log cannot recognise).
func redactBody(body []byte, h http.Header) string {
	if len(body) == 0 {
		return "-"
	}
	if strings.EqualFold(h.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return fmt.Sprintf("(%d bytes gzip, undecodable)", len(body))
		}
		plain, err := io.ReadAll(io.LimitReader(zr, 8<<20))
		if err != nil {
			return fmt.Sprintf("(%d bytes gzip, undecodable)", len(body))
		}
		body = plain
	}
	mediaType, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	switch {
	case strings.Contains(mediaType, "json") || (mediaType == "" && len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')):
		return truncate(redactJSON(body))
	case mediaType == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return fmt.Sprintf("(%d bytes form, unparsable)", len(body))
		}
		for k := range q {
			if isSecretName(k) {
				q[k] = []string{sensitive.Mask}
			}
		}
		return truncate(q.Encode())
	case mediaType == "text/plain" && len(body) <= 256:
		return fmt.Sprintf("%q", body)
	default:
		return fmt.Sprintf("(%d bytes %s)", len(body), firstNonEmpty(mediaType, "unknown type"))
	}
}

// redactJSON masks every string value whose field name looks secret, at any depth.
func redactJSON(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Sprintf("(%d bytes, invalid JSON)", len(body))
	}
	v = redactValue(v)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("(%d bytes JSON)", len(body))
	}
	return strings.TrimSpace(buf.String())
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if _, isString := child.(string); isString && isSecretName(k) {
				t[k] = sensitive.Mask
				continue
			}
			t[k] = redactValue(child)
		}
		return t
	case []any:
		for i := range t {
			t[i] = redactValue(t[i])
		}
		return t
	default:
		return v
	}
}

func truncate(s string) string {
	if len(s) <= maxLoggedBody {
		return s
	}
	return s[:maxLoggedBody] + fmt.Sprintf("…(%d more bytes)", len(s)-maxLoggedBody)
}
