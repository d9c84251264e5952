package simtenant

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Query handling follows the directory rules of the reference (simulator-fidelity.md §4.3–4.6):
// only the default $filter subset works without ConsistencyLevel, $top is a page size between 1
// and 999, pages are linked by absolute @odata.nextLink URLs, $count needs the advanced headers.

const (
	maxTop          = 999
	defaultPageSize = 100
	advancedHint    = "is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
)

// queryParam returns an OData system query option, accepted with or without its '$' as Graph does.
func (rq *request) queryParam(name string) (string, bool) {
	for k, v := range rq.query {
		if strings.EqualFold(k, "$"+name) || strings.EqualFold(k, name) {
			return v[0], true
		}
	}
	return "", false
}

// advanced reports whether the request carries the advanced-query pair (ConsistencyLevel: eventual
// and $count=true) that unlocks ne/not/endsWith/$orderby+$filter.
func (rq *request) advanced() bool {
	c, _ := rq.queryParam("count")
	return rq.eventual() && strings.EqualFold(c, "true")
}

func (rq *request) eventual() bool {
	return strings.EqualFold(rq.header.Get("ConsistencyLevel"), "eventual")
}

// filterItems applies $filter (and $search) to a collection, refusing what the real service refuses.
func (rq *request) filterItems(k *kind, items []*entry) ([]*entry, *response) {
	if s, ok := rq.queryParam("search"); ok {
		if !rq.eventual() {
			return nil, rq.unsupportedQuery("Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
		}
		items = searchItems(items, s)
	}
	f, ok := rq.queryParam("filter")
	if !ok || strings.TrimSpace(f) == "" {
		return items, nil
	}
	expr, err := parseFilter(f)
	if err != nil {
		return nil, rq.badRequest(fmt.Sprintf("Invalid filter clause: %v", err))
	}
	if msg := k.checkFilter(expr, rq.advanced()); msg != "" {
		return nil, rq.unsupportedQuery(msg)
	}
	var out []*entry
	for _, e := range items {
		if expr.eval(e.Props, nil) {
			out = append(out, e)
		}
	}
	return out, nil
}

// searchItems implements the "property:word" form of $search, matching a word prefix.
func searchItems(items []*entry, s string) []*entry {
	s = strings.Trim(s, `"`)
	prop, word, ok := strings.Cut(s, ":")
	if !ok {
		return nil
	}
	var out []*entry
	for _, e := range items {
		v, _ := e.Props[prop].(string)
		for _, w := range strings.Fields(strings.ToLower(v)) {
			if strings.HasPrefix(w, strings.ToLower(word)) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// selection parses $select, checking names against the entity's properties.
func (rq *request) selection(k *kind) ([]string, *response) {
	s, ok := rq.queryParam("select")
	if !ok || strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		canonical, ok := k.property(name)
		if !ok {
			canonical, ok = rq.betaProperty(k, name)
		}
		if !ok {
			return nil, rq.badRequest(fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", name, k.typeName))
		}
		out = append(out, canonical)
	}
	return out, nil
}

// project renders an entity for the wire: the selected properties, or the kind's default set.
func (k *kind) project(props map[string]any, sel []string) map[string]any {
	names := sel
	if names == nil {
		names = k.defaultSelect
	}
	if names == nil {
		return cloneMap(props)
	}
	out := make(map[string]any, len(names))
	for _, n := range names {
		v, ok := props[n]
		if !ok {
			v = nil
		}
		out[n] = cloneValue(v)
	}
	return out
}

// contextURL is the @odata.context value: base/$metadata#path(select)[/$entity].
func (rq *request) contextURL(path string, sel []string, entity bool) string {
	s := rq.base + "/$metadata#" + path
	if len(sel) > 0 {
		s += "(" + strings.Join(sel, ",") + ")"
	}
	if entity {
		s += "/$entity"
	}
	return s
}

// entityResponse answers one entity with its context, honouring $select.
func (rq *request) entityResponse(status int, k *kind, path string, e *entry) *response {
	sel, errResp := rq.selection(k)
	if errResp != nil {
		return errResp
	}
	body := k.project(e.Props, sel)
	body["@odata.context"] = rq.contextURL(path, sel, true)
	return jsonResponse(status, body)
}

// listResponse pages a filtered collection. Pages are min($top, PageSize) long: the service may
// return fewer items than $top, and a small page size makes every client exercise its paging.
func (rq *request) listResponse(k *kind, path string, items []*entry) *response {
	sel, errResp := rq.selection(k)
	if errResp != nil {
		return errResp
	}
	pageSize := defaultPageSize
	if t, ok := rq.queryParam("top"); ok {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > maxTop {
			return rq.unsupportedQuery(fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", t))
		}
		pageSize = n
	}
	if rq.pageSize > 0 && rq.pageSize < pageSize {
		pageSize = rq.pageSize
	}
	if ob, ok := rq.queryParam("orderby"); ok {
		// $orderby on directory objects is an advanced query (reference §4.3).
		if !rq.advanced() {
			return rq.unsupportedQuery("Sorting not supported for current query.")
		}
		orderItems(items, ob)
	}
	if _, ok := rq.queryParam("expand"); ok {
		// Not simulated: refuse rather than silently ignore, so no client comes to depend on it.
		return rq.badRequest("$expand is not supported by the simulated tenant.")
	}
	offset := 0
	if tok, ok := rq.queryParam("skiptoken"); ok {
		n, err := decodeSkipToken(tok)
		if err != nil {
			return rq.badRequest("Invalid skip token.")
		}
		offset = n
	}
	if offset > len(items) {
		offset = len(items)
	}
	end := min(offset+pageSize, len(items))
	value := make([]any, 0, end-offset)
	for _, e := range items[offset:end] {
		value = append(value, k.project(e.Props, sel))
	}
	body := map[string]any{"@odata.context": rq.contextURL(path, sel, false), "value": value}
	if offset == 0 && rq.advanced() {
		body["@odata.count"] = len(items)
	}
	if end < len(items) {
		body["@odata.nextLink"] = rq.nextLink(end)
	}
	return jsonResponse(http.StatusOK, body)
}

// countResponse answers /$count, which needs ConsistencyLevel: eventual.
func (rq *request) countResponse(n int) *response {
	if !rq.eventual() {
		return rq.badRequest("$count is not currently supported.")
	}
	return &response{status: http.StatusOK, header: http.Header{"Content-Type": {"text/plain"}}, text: strconv.Itoa(n)}
}

// nextLink keeps every query option of the request and replaces $skiptoken: absolute, on the
// host the request came in on, because the page iterator follows it verbatim.
func (rq *request) nextLink(offset int) string {
	q := url.Values{}
	for k, v := range rq.query {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), "skiptoken") {
			continue
		}
		q[k] = v
	}
	q.Set("$skiptoken", encodeSkipToken(offset))
	return rq.base + rq.path + "?" + encodeQuery(q)
}

// encodeQuery writes OData options the way Graph does, keeping '$', ',', '(', ')' and quotes readable.
func encodeQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, k+"="+strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	s := strings.Join(parts, "&")
	return strings.NewReplacer("%24", "$", "%2C", ",", "%27", "'", "%28", "(", "%29", ")").Replace(s)
}

// Skip tokens are opaque to clients, like the real ones; this one carries an offset.
func encodeSkipToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("DSpt" + strconv.Itoa(offset)))
}

func decodeSkipToken(tok string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "DSpt") {
		return 0, fmt.Errorf("decode skip token %q: not one of ours", tok)
	}
	return strconv.Atoi(strings.TrimPrefix(string(b), "DSpt"))
}

func orderItems(items []*entry, orderby string) {
	field, dir, _ := strings.Cut(strings.TrimSpace(orderby), " ")
	desc := strings.EqualFold(strings.TrimSpace(dir), "desc")
	sort.SliceStable(items, func(i, j int) bool {
		a := strings.ToLower(fmt.Sprint(items[i].Props[field]))
		b := strings.ToLower(fmt.Sprint(items[j].Props[field]))
		if desc {
			return a > b
		}
		return a < b
	})
}
