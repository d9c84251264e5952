package exchangesim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// cmdletError is a terminating cmdlet error: the .NET exception type and its text.
type cmdletError struct {
	typ      string
	text     string
	notFound bool // an unknown object: 404 NotFound when Faults.NotFoundAs404
}

const notFoundType = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"

func bindError(text string) *cmdletError {
	return &cmdletError{typ: "System.Management.Automation.ParameterBindingException", text: text}
}

func (s *Server) notFound(identity string) *cmdletError {
	return &cmdletError{typ: notFoundType, notFound: true,
		text: fmt.Sprintf("The operation couldn't be performed because object '%s' couldn't be found on '%s'.", identity, s.opts.ServerName)}
}

// trusteeNotFound uses the wording Exchange gives for principal parameters; the exact text over
// REST was never captured (exchange.md §2.4), clients must classify by type.
func (s *Server) trusteeNotFound(trustee string) *cmdletError {
	return &cmdletError{typ: notFoundType, notFound: true,
		text: fmt.Sprintf("'%s' wasn't found. Please make sure you've typed it correctly.", trustee)}
}

// writeCmdletError encodes e in the envelope shape the current faults select.
func (s *Server) writeCmdletError(w http.ResponseWriter, e *cmdletError) {
	f := s.Faults()
	status, code := http.StatusBadRequest, "BadRequest"
	if e.notFound && f.NotFoundAs404 {
		status, code = http.StatusNotFound, "NotFound"
	}
	short := e.typ[strings.LastIndex(e.typ, ".")+1:]
	inner := map[string]any{
		"message":    "Error executing cmdlet",
		"type":       "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
		"stacktrace": "   at Microsoft.Exchange.AdminApi.CommandInvocation.CommandInvocationHelper.InvokeCommand()",
	}
	var detail string
	message := "Error executing cmdlet"
	switch f.ErrorShape {
	case ShapeExceptionID:
		detail = exceptionID(e.typ) + "|" + e.typ + "|" + e.text
		inner["internalexception"] = map[string]any{"message": e.text, "type": e.typ,
			"stacktrace": "   at Microsoft.Exchange.Configuration.Tasks.Task.ThrowError()"}
	case ShapeTypePipe:
		detail = "|" + e.typ + "|" + e.text
		message = "Invalid Operation"
		inner = nil
	case ShapeJSONDetail:
		b, _ := json.Marshal(map[string]any{"Message": e.text, "TypeName": e.typ, "InnerError": nil})
		detail = string(b)
		inner = nil
	case ShapeInnerOnly:
		inner["internalexception"] = map[string]any{"message": e.text, "type": e.typ}
		message = "Invalid Operation"
	}
	w.Header().Set("X-ExceptionType", short)
	var details []map[string]any
	if detail != "" {
		details = []map[string]any{{"code": "Client", "target": "", "message": detail}}
	}
	writeODataError(w, status, code, message, map[string]any{"details": details, "innererror": inner})
}

// exceptionID mimics the Ex…-prefixed error id Exchange prints before the type.
func exceptionID(typ string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(typ))
	return fmt.Sprintf("Ex%06X", h.Sum32()&0xFFFFFF)
}

// writeODataError writes {"error":{code,message,...extra}}; nil extras are left out.
func writeODataError(w http.ResponseWriter, status int, code, message string, extra map[string]any) {
	body := map[string]any{"code": code, "message": message}
	for k, v := range extra {
		switch t := v.(type) {
		case nil:
		case []map[string]any:
			if t != nil {
				body[k] = t
			}
		case map[string]any:
			if t != nil {
				body[k] = t
			}
		default:
			body[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

// writeResult writes the success envelope, honouring ResultSize, Prefer: odata.maxpagesize
// and $select the way the service does: truncation comes with a warning and a nextLink.
func writeResult(w http.ResponseWriter, r *http.Request, res result) {
	values := res.values
	if values == nil {
		values = []any{}
	}
	warnings := append([]string{}, res.warnings...)
	var next string
	if res.pageable {
		limit := res.limit
		if limit == 0 {
			limit = 1000
		}
		if page := maxPageSize(r); page > 0 && (limit < 0 || page < limit) {
			limit = page
		}
		if limit > 0 && len(values) > limit {
			values = values[:limit]
			warnings = append(warnings, "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.")
			q := r.URL.Query()
			q.Set("$skiptoken", strconv.Itoa(limit))
			next = absoluteURL(r, r.URL.Path, q)
		}
	}
	if sel := r.URL.Query().Get("$select"); sel != "" {
		values = selectProps(values, strings.Split(sel, ","))
	}
	prefix := r.URL.Path[:strings.LastIndex(r.URL.Path, "/")]
	body := map[string]any{
		"@odata.context":     absoluteURL(r, prefix+"/$metadata", nil) + "#Collection(Exchange.GenericHashTable)",
		"@adminapi.warnings": warnings,
		"value":              values,
	}
	if next != "" {
		body["@odata.nextLink"] = next
	}
	if res.confirmation != "" {
		body["@adminapi.confirmationmessage"] = res.confirmation
	}
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
}

func maxPageSize(r *http.Request) int {
	for _, pref := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(pref, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.EqualFold(k, "odata.maxpagesize") {
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	return 0
}

func absoluteURL(r *http.Request, path string, q url.Values) string {
	u := url.URL{Scheme: "https", Host: r.Host, Path: path}
	if r.TLS == nil {
		u.Scheme = "http"
	}
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func selectProps(values []any, props []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		b, _ := json.Marshal(v)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		kept := map[string]any{}
		for _, p := range props {
			for k, x := range m {
				if strings.EqualFold(k, strings.TrimSpace(p)) {
					kept[k] = x
				}
			}
		}
		out[i] = kept
	}
	return out
}
